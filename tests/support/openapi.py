"""Check what the uploads handler really answers against its OpenAPI contract (functions/landing/uploads/openapi.json)."""

from __future__ import annotations

import re
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from landing.local.apigw import OPENAPI

_TEMPLATES = [
    (re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), path) for path in OPENAPI["paths"]
]


def operation(method: str, path: str) -> dict[str, Any] | None:
    """The spec's operation for a request, or None when no route matches (API Gateway's own 404)."""
    for pattern, template in _TEMPLATES:
        if pattern.match(path.split("?", 1)[0]):
            return OPENAPI["paths"][template].get(method.lower())  # type: ignore[no-any-return]
    return None


def _validate(schema: dict[str, Any], value: Any, what: str) -> None:
    validator = Draft202012Validator(
        {**schema, "components": OPENAPI["components"]}, format_checker=FormatChecker()
    )
    problems = sorted(validator.iter_errors(value), key=str)
    assert not problems, (
        f"{what} breaks the OpenAPI contract: {problems[0].message} at {list(problems[0].path)}"
    )


def check_response(method: str, path: str, status: int, body: Any) -> None:
    op = operation(method, path)
    if op is None or method.upper() == "OPTIONS":
        return
    documented = op["responses"]
    assert str(status) in documented, f"{method} {path} answered {status}, not in the OpenAPI responses"
    schema = documented[str(status)]["content"]["application/json"]["schema"]
    _validate(schema, body, f"{method} {path} -> {status}")


def check_request(method: str, path: str, body: Any) -> None:
    """A request the handler accepted must be one the contract describes."""
    op = operation(method, path)
    if op is None or "requestBody" not in op:
        return
    _validate(op["requestBody"]["content"]["application/json"]["schema"], body, f"{method} {path} request")
