"""Check what the uploads handler really answers against its OpenAPI contract (functions/landing/uploads/openapi.json)."""

from __future__ import annotations

import re
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from landing_local.apigw import OPENAPI

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
    answer = documented[str(status)]
    if "$ref" in answer:  # a shared answer under components/responses
        answer = OPENAPI["components"]["responses"][answer["$ref"].rsplit("/", 1)[-1]]
    schema = answer["content"]["application/json"]["schema"]
    _validate(schema, body, f"{method} {path} -> {status}")


def check_request(method: str, path: str, body: Any) -> None:
    """A request the handler accepted must be one the contract describes."""
    op = operation(method, path)
    if op is None or "requestBody" not in op:
        return
    from landing.settings import DEFAULT_CONTENT_TYPES, get_settings

    configured = {t.lower() for t in get_settings().allowed_content_types}
    if isinstance(body, dict) and "content_type" in body and configured != set(DEFAULT_CONTENT_TYPES):
        # The document describes a default deploy's types; a test that configured others (Office
        # files, say) still has the rest of its request checked.
        body = {**body, "content_type": "application/octet-stream"}
    _validate(op["requestBody"]["content"]["application/json"]["schema"], body, f"{method} {path} request")


def content_type_pattern(types: tuple[str, ...]) -> str:
    """The OpenAPI pattern for content_type that accepts exactly what the server's rule accepts for
    ``types``: names case-insensitive, at most one charset parameter, spaces only as separators.
    Written for both Python's re and the ECMA-262 regexes JSON Schema validators use."""

    def spelled(name: str) -> str:
        return "".join(
            f"[{c.upper()}{c.lower()}]" if c.isalpha() else "\\" + c if c in ".+" else c for c in name
        )

    charset = "[Cc][Hh][Aa][Rr][Ss][Ee][Tt]"
    value = "[A-Za-z0-9._:+-]{1,40}"
    alternatives = "|".join(spelled(t) for t in types)
    return f'^ *(?:{alternatives})(?: *; *{charset}=(?:{value}|"{value}"))? *$'
