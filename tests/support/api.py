"""HTTP API (payload format 2.0) requests for the uploads handler, built from tests/events/uploads-create.json."""

from __future__ import annotations

import copy
import json
from typing import Any
from urllib.parse import urlencode

from tests.support import openapi
from tests.support.events import load

UNSET: Any = object()


def http_event(
    method: str,
    path: str,
    *,
    body: Any = None,
    raw_body: str | None = None,
    query: dict[str, str] | None = None,
    sub: str | None = UNSET,
    route: str | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API event for ``method path``; ``sub=None`` drops the JWT authorizer."""
    event = copy.deepcopy(load("uploads-create.json"))
    route_key = f"{method} {route or path}"
    event["routeKey"] = event["requestContext"]["routeKey"] = route_key
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    event.pop("body", None)
    if raw_body is not None:
        event["body"] = raw_body
    elif body is not None:
        event["body"] = json.dumps(body)
    if query:
        event["queryStringParameters"] = dict(query)
        event["rawQueryString"] = urlencode(query, errors="surrogatepass")
    if sub is None:
        del event["requestContext"]["authorizer"]
        del event["headers"]["authorization"]
    elif sub is not UNSET:
        event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = sub
    return event


class Api:
    """Calls landing.handlers.uploads.handler like API Gateway would, as one owner."""

    def __init__(self, sub: str | None = "alice") -> None:
        self.sub = sub

    def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, Any], dict[str, str]]:
        from landing.handlers.uploads import handler
        from landing.lambda_context import local_context

        response = handler(http_event(method, path, sub=self.sub, **kwargs), local_context("UploadsFunction"))
        body = json.loads(response["body"]) if response.get("body") else {}
        # Every answer any test sees is also checked against the published contract.
        openapi.check_response(method, path, response["statusCode"], body)
        if response["statusCode"] < 300 and isinstance(kwargs.get("body"), dict):
            openapi.check_request(method, path, kwargs["body"])
        return response["statusCode"], body, response.get("headers", {})

    def create(self, **request: Any) -> tuple[int, dict[str, Any]]:
        status, body, _ = self.call("POST", "/uploads", body=request)
        return status, body

    def get(self, upload_id: str) -> tuple[int, dict[str, Any]]:
        status, body, _ = self.call("GET", f"/uploads/{upload_id}")
        return status, body
