"""`landing serve`: the uploads API and upload page over HTTP, Docker-free (a local `sam local start-api`)."""

from __future__ import annotations

import ipaddress
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from importlib import resources
from typing import Any

from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.middleware.shared_data import SharedDataMiddleware
from werkzeug.serving import WSGIRequestHandler
from werkzeug.wrappers import Request, Response

from landing.lambda_context import local_context
from landing_local import apigw
from landing_local.authorizer import JwtAuthorizer, unauthorized
from landing_local.moto_server import LOOPBACK_HOSTS

log = logging.getLogger("landing.serve")

UPLOADS_FUNCTION = "UploadsFunction"

# template.yaml: UploadsFunction's Timeout; each request gets a context with this much time.
UPLOADS_TIMEOUT_S = 15.0

SCHEDULED_EVENT = {
    "version": "0",
    "id": "00000000-0000-0000-0000-000000000000",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": apigw.ACCOUNT_ID,
    "region": "us-east-1",
    "resources": ["arn:aws:events:us-east-1:123456789012:rule/landing-local-expiry"],
    "detail": {},
}

# The anonymous owner's cap under `landing serve` (10 MiB in a deployed trial): room for multipart.
LOCAL_ANONYMOUS_MAX_SIZE = 1024**3

# Far above any API request (a multipart complete with 2,000 parts is ~200 KB); bytes go to S3.
MAX_BODY_BYTES = 1024**2

# Sent with every answer: no framing (clickjacking), no MIME sniffing, no referrer to other sites.
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]

StartResponse = Callable[..., Any]


def uploads_handler() -> Handler:
    from landing.handlers.uploads import handler

    return handler


class Invoker:
    """Runs handlers the way one Lambda execution environment does: one invocation at a time.

    Powertools' resolver keeps the current event on the app object and the logger keeps per-invocation
    keys, so, as in Lambda, two invocations never overlap in one process. Each invocation opens and
    closes its own session (the handler's unit of work).
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def invoke(self, handler: Handler, event: dict[str, Any], function: str, timeout_s: float) -> Any:
        with self.lock:
            return handler(event, local_context(function, timeout_s=timeout_s))


class LimitedRequest(Request):
    # One byte more than allowed: a chunked body has no length to check first, and werkzeug stops
    # reading it at this limit without a word, so reading one byte past it is how an overflow shows.
    max_content_length = MAX_BODY_BYTES + 1


# Codes for what http.server refuses itself, in the API's error vocabulary.
HTTP_ERROR_CODES = {400: "bad_request", 414: "uri_too_long", 431: "headers_too_large", 505: "bad_version"}


class JsonErrorsRequestHandler(WSGIRequestHandler):
    """Errors http.server answers before any WSGI app runs (a request line over 64 KiB, a malformed
    request line or header), in the API's JSON error shape instead of an HTML page."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        short = self.responses.get(code, ("error", ""))[0]
        body = json.dumps(
            {"error": {"code": HTTP_ERROR_CODES.get(code, f"http_{code}"), "message": message or short}}
        ).encode()
        self.log_error("code %d, message %s", code, message)
        self.send_response(code, short)
        self.send_header("Connection", "close")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and code >= 200 and code not in (204, 304):
            self.wfile.write(body)


def _refuse(status: int, code: str, message: str) -> Response:
    body = json.dumps({"error": {"code": code, "message": message}})
    return Response(body, status=status, content_type="application/json")


def page_policy(s3_origin: str | None) -> str:
    """The page's Content-Security-Policy: its own files, the API, and the local S3 it uploads to.

    blob: images are the Dashboard's thumbnails, made in the page from the chosen files.
    """
    uploads = f" {s3_origin}" if s3_origin else ""
    return (
        f"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        f"connect-src 'self'{uploads}; form-action 'self'{uploads}; base-uri 'none'; "
        "object-src 'none'; frame-ancestors 'none'"
    )


class Application:
    """WSGI app: the page at /, its files under /static/, every API route to the uploads handler.

    Only for this machine's browser: a Host other than ``allowed_hosts`` (DNS rebinding) is refused,
    API requests with a body must be application/json (a cross-site form or text/plain POST cannot
    be sent without a preflight, and no preflight is ever granted), bodies are capped, and the page
    may not be framed.
    """

    def __init__(
        self,
        invoker: Invoker,
        handler: Handler | None = None,
        *,
        allowed_hosts: frozenset[str] | None = LOOPBACK_HOSTS,
        s3_origin: str | None = None,
        authorizer: JwtAuthorizer | None = None,
    ) -> None:
        self.invoker = invoker
        self.authorizer = authorizer
        self.handler = handler
        self.allowed_hosts = allowed_hosts
        self.csp = page_policy(s3_origin)
        self.page = resources.files("landing_local").joinpath("static/index.html").read_bytes()
        self.wsgi = SharedDataMiddleware(
            self._dispatch,
            {"/static": ("landing_local", "static")},
            cache_timeout=0,
            fallback_mimetype="text/plain",
        )

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        status: list[str] = []

        def recording(code: str, headers: Any, *rest: Any) -> Any:
            status.append(code)
            return start_response(code, headers, *rest)

        try:
            return self.wsgi(environ, recording)  # type: ignore[no-any-return]
        finally:
            query = environ.get("QUERY_STRING")
            path = environ.get("PATH_INFO", "") + (f"?{query}" if query else "")
            log.info(
                "%s %s -> %s (%.0f ms)",
                environ.get("REQUEST_METHOD"),
                path,
                status[0].split(" ", 1)[0] if status else "-",
                (time.perf_counter() - started) * 1000,
            )

    def _dispatch(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            response = self.respond(LimitedRequest(environ))
        except Exception:
            # What API Gateway answers when an integration fails, in JSON: never werkzeug's HTML page.
            log.exception("request failed in landing serve")
            response = _refuse(500, "internal_error", "the request failed; try again later")
        response.headers.extend(SECURITY_HEADERS)
        return response(environ, start_response)  # type: ignore[no-any-return]

    def _host_allowed(self, request: Request) -> bool:
        if self.allowed_hosts is None:
            return True
        host = request.host.rsplit(":", 1)[0] if not request.host.endswith("]") else request.host
        return host.strip("[]").lower() in self.allowed_hosts

    def respond(self, request: Request) -> Response:
        if not self._host_allowed(request):
            return _refuse(421, "host_not_allowed", "this server only answers requests for this machine")
        if request.path == "/" and request.method in ("GET", "HEAD"):
            page = Response(self.page, content_type="text/html; charset=utf-8")
            page.headers["Content-Security-Policy"] = self.csp
            return page
        if request.path == "/openapi.json" and request.method in ("GET", "HEAD"):
            return Response(json.dumps(apigw.OPENAPI), content_type="application/json")
        route = apigw.match(request)
        if route is None:
            return apigw.not_found()
        # POST is the one API method a cross-site page may send without a preflight (as a form or
        # text/plain); DELETE and the rest always preflight, and no preflight is granted.
        if request.method == "POST" and request.mimetype != "application/json":
            return _refuse(415, "json_required", "send the body as application/json")
        too_large = _refuse(413, "body_too_large", f"the body is larger than {MAX_BODY_BYTES} bytes")
        if (request.content_length or 0) > MAX_BODY_BYTES:
            return too_large
        try:
            # Read (and cached for to_event) here, whatever the framing: Content-Length or chunked.
            body = request.get_data(cache=True)
        except RequestEntityTooLarge:
            return too_large
        except BadRequest:  # chunked framing that does not parse, or a body cut short
            return _refuse(400, "invalid_body_framing", "the body's chunked framing or length is malformed")
        if len(body) > MAX_BODY_BYTES:
            return too_large
        event = apigw.to_event(request, route)
        if self.authorizer is not None and request.method != "OPTIONS":
            # As API Gateway: the authorizer runs before the function, a CORS preflight needs no token.
            context = self.authorizer.authorize(request.headers.get("Authorization"))
            if context is None:
                return unauthorized()
            event["requestContext"]["authorizer"] = context
        handler = self.handler or uploads_handler()
        result = self.invoker.invoke(handler, event, UPLOADS_FUNCTION, UPLOADS_TIMEOUT_S)
        return with_reason(apigw.to_response(result))


def with_reason(response: Response) -> Response:
    """An error's message as the HTTP reason phrase: Uppy shows only a failed Companion call's status
    text ("Companion request failed: <statusText>"). HTTP/1.1 carries it; API Gateway cannot set one
    (docs/uppy.md says what a deployed page does instead)."""
    if response.status_code < 400 or response.mimetype != "application/json":
        return response
    try:
        message = json.loads(response.get_data())["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return response
    # A reason phrase is visible ASCII and spaces only (RFC 9112), so nothing can break the status line.
    reason = " ".join("".join(c if " " < c <= "~" else " " for c in str(message)).split())[:200]
    if reason:
        response.status = f"{response.status_code} {reason}"
    return response


def allowed_hosts(host: str) -> frozenset[str] | None:
    """Host headers to answer: loopback names, plus the address it was bound to (any, for a wildcard)."""
    bound = host.strip("[]").lower()
    try:
        wildcard = ipaddress.ip_address(bound).is_unspecified
    except ValueError:
        wildcard = bound == ""
    return None if wildcard else LOOPBACK_HOSTS | {bound}
