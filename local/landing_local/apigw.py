"""HTTP requests to API Gateway HTTP API events (payload format 2.0) and Lambda results back to responses."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

# The uploads API's contract, one source for clients, this emulation and the tests.
OPENAPI: dict[str, Any] = json.loads(
    resources.files("landing.uploads").joinpath("openapi.json").read_text(encoding="utf-8")
)
_METHODS = ("get", "put", "post", "delete", "patch")
# Its routes in API Gateway's route key syntax (tests compare them with template.yaml and the handler).
ROUTE_KEYS = tuple(
    f"{method.upper()} {path}"
    for path, item in OPENAPI["paths"].items()
    for method in item
    if method in _METHODS
)
ACCOUNT_ID = "123456789012"
API_ID = "local"
# Bodies API Gateway passes as text; anything else reaches the function base64-encoded.
TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript")
TEXT_SUFFIXES = ("+json", "+xml")


@dataclass(frozen=True, slots=True)
class Route:
    key: str
    path_parameters: dict[str, str]


def _rule(route_key: str) -> Rule:
    method, path = route_key.split(" ", 1)
    # {name} (one path segment) in API Gateway is <name> in werkzeug; neither matches a slash.
    pattern = path.replace("{", "<").replace("}", ">")
    # OPTIONS reaches the function so that Powertools answers CORS preflights, as API Gateway's
    # CorsConfiguration does in AWS.
    return Rule(pattern, methods=[method, "OPTIONS"], endpoint=route_key, strict_slashes=False)


ROUTES = Map([_rule(key) for key in ROUTE_KEYS])


def match(request: Request) -> Route | None:
    """The route a request selects, or None (API Gateway answers 404 without invoking the function)."""
    adapter = ROUTES.bind("localhost", path_info=request.path)
    try:
        endpoint, arguments = adapter.match(method=request.method)
    except HTTPException:
        return None
    return Route(str(endpoint), {name: str(value) for name, value in arguments.items()})


def not_found() -> Response:
    """What API Gateway answers when no route matches (the function is not invoked)."""
    return Response(json.dumps({"message": "Not Found"}), status=404, content_type="application/json")


def _is_text(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media.startswith(TEXT_TYPES) or media.endswith(TEXT_SUFFIXES) or media == ""


def to_event(request: Request, route: Route, now: float | None = None) -> dict[str, Any]:
    """The payload-2.0 event API Gateway would send for ``request`` on ``route``.

    Header names lower-cased, repeated headers and query parameters joined with commas, cookies in
    their own list; no authorizer (locally every caller is anonymous, see Settings).
    """
    now = time.time() if now is None else now
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers.items():
        lower = name.lower()
        if lower == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        headers[lower] = f"{headers[lower]},{value}" if lower in headers else value
    query = {name: ",".join(values) for name, values in request.args.lists()}
    raw = request.get_data(cache=False)
    path = request.path
    request_id = base64.urlsafe_b64encode(uuid.uuid4().bytes[:10]).decode().rstrip("=") + "="
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.key,
        "rawPath": path,
        "rawQueryString": request.query_string.decode("latin-1"),
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": request.host,
            "domainPrefix": request.host.split(".", 1)[0].split(":", 1)[0],
            "http": {
                "method": request.method,
                "path": path,
                "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                "sourceIp": request.remote_addr or "127.0.0.1",
                "userAgent": request.headers.get("User-Agent", ""),
            },
            "requestId": request_id,
            "routeKey": route.key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if route.path_parameters:
        event["pathParameters"] = dict(route.path_parameters)
    if raw:
        text = _text_body(raw, headers.get("content-type", ""))
        event["body"] = text if text is not None else base64.b64encode(raw).decode("ascii")
        event["isBase64Encoded"] = text is None
    return event


def _text_body(raw: bytes, content_type: str) -> str | None:
    if not _is_text(content_type):
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def to_response(result: object) -> Response:
    """A Lambda result as API Gateway (payload 2.0) turns it into an HTTP response.

    A dict with statusCode is used as given (headers, cookies, isBase64Encoded); anything else is
    inferred as API Gateway does: a 200 whose JSON body is the result.
    """
    if not isinstance(result, Mapping) or "statusCode" not in result:
        return Response(json.dumps(result), status=200, content_type="application/json")
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode("utf-8")
    response = Response(data, status=int(result["statusCode"]))
    response.headers.pop("Content-Type", None)
    for name, value in (result.get("headers") or {}).items():
        response.headers[str(name)] = str(value)
    for cookie in result.get("cookies") or []:
        response.headers.add("Set-Cookie", str(cookie))
    return response
