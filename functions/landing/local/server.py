"""`landing serve`: the uploads API and upload page over HTTP, Docker-free (a local `sam local start-api`)."""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable
from importlib import resources
from typing import Any

from werkzeug.middleware.shared_data import SharedDataMiddleware
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from landing.lambda_context import local_context
from landing.local import apigw

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


class Application:
    """WSGI app: the page at /, its files under /static/, every API route to the uploads handler."""

    def __init__(self, invoker: Invoker, handler: Handler | None = None) -> None:
        self.invoker = invoker
        self.handler = handler
        self.page = resources.files("landing.local").joinpath("static/index.html").read_bytes()
        self.wsgi = SharedDataMiddleware(
            self._dispatch,
            {"/static": ("landing.local", "static")},
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
        request = Request(environ)
        return self.respond(request)(environ, start_response)  # type: ignore[no-any-return]

    def respond(self, request: Request) -> Response:
        if request.path == "/" and request.method in ("GET", "HEAD"):
            return Response(self.page, content_type="text/html; charset=utf-8")
        if request.path == "/openapi.json" and request.method in ("GET", "HEAD"):
            return Response(json.dumps(apigw.OPENAPI), content_type="application/json")
        route = apigw.match(request)
        if route is None:
            return apigw.not_found()
        event = apigw.to_event(request, route)
        handler = self.handler or uploads_handler()
        result = self.invoker.invoke(handler, event, UPLOADS_FUNCTION, UPLOADS_TIMEOUT_S)
        return apigw.to_response(result)


class Background(threading.Thread):
    """What AWS does between requests: the SQS event source mapping and the expiry schedule.

    Drains the bucket's notification queue into the ingest handler every ``poll_s`` (so an upload's
    status moves on as in AWS), and invokes the uploads function's scheduled pass every ``sweep_s``.
    """

    def __init__(
        self, invoker: Invoker, sqs: Any, queue_url: str, poll_s: float = 0.2, sweep_s: float = 60.0
    ) -> None:
        super().__init__(name="landing-background", daemon=True)
        self.invoker = invoker
        self.sqs = sqs
        self.queue_url = queue_url
        self.poll_s = poll_s
        self.sweep_s = sweep_s
        self.stopping = threading.Event()

    def drain_once(self) -> dict[str, int]:
        from landing.local.queue import drain

        # drain() invokes the ingest handler per batch; holding the invoker's lock keeps it from
        # overlapping an API request (short: ReceiveMessage does not wait on an empty queue).
        with self.invoker.lock:
            totals = drain(self.sqs, self.queue_url, max_batches=10)
        if totals["messages"]:
            log.info(
                "IngestFunction: %d message(s) from the queue, %d failed",
                totals["messages"],
                totals["failed"],
            )
        return totals

    def sweep_once(self) -> Any:
        result = self.invoker.invoke(uploads_handler(), dict(SCHEDULED_EVENT), UPLOADS_FUNCTION, 60.0)
        if any(result.values()):
            log.info("UploadsFunction scheduled pass: %s", json.dumps(result))
        return result

    def run(self) -> None:
        next_sweep = time.monotonic() + self.sweep_s
        while not self.stopping.is_set():
            busy = False
            try:
                busy = self.drain_once()["messages"] > 0
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + self.sweep_s
                    self.sweep_once()
            except Exception:
                # The loop outlives a failed batch, as the event source mapping does; SQS redelivers.
                log.exception("background invocation failed")
            if not busy:
                self.stopping.wait(self.poll_s)

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=10)


def banner(url: str, endpoint: str, bucket: str, queue_url: str, database: str) -> str:
    routes = ", ".join(apigw.ROUTE_KEYS)
    return "\n".join(
        [
            "",
            "landing serve: the uploads API (UploadsFunction) in-process, Docker-free",
            f"  routes     {routes}",
            f"  S3 + SQS   {endpoint} (moto): bucket {bucket} -> queue {queue_url.rsplit('/', 1)[-1]}"
            " -> IngestFunction",
            f"  database   {database}",
            "  caller     anonymous (no JWT authorizer locally)",
            "",
            f"Open {url}/ to upload files. Press Ctrl+C to stop.",
            "",
        ]
    )


def _log_requests() -> None:
    """One line per request on stderr (werkzeug's own access log is silenced in its favour)."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


def _stop_on_sigterm() -> None:
    """`kill` (SIGTERM) stops the server like Ctrl+C: the background thread and moto end cleanly."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def run(host: str = "127.0.0.1", port: int = 3000, sweep_s: float = 60.0) -> int:
    """Bootstrap moto (bucket with CORS, queue) and the database, then serve until interrupted.

    The caller has set DATABASE_URL (or started the embedded database) before landing.db.engine is imported.
    """
    import os

    import boto3
    from sqlalchemy.engine import make_url

    from landing.local import demo, moto_server

    _log_requests()
    moto, endpoint = moto_server.start()
    bucket = os.environ.setdefault("BUCKET_NAME", demo.DEMO_BUCKET)
    from landing.db import engine as db
    from landing.db import migrate
    from landing.settings import get_settings

    get_settings.cache_clear()
    migrate.upgrade(db.require_engine())
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=get_settings().aws_region)
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name=get_settings().aws_region)
    queue_url = demo.setup_bucket(s3, sqs, bucket=bucket)

    invoker = Invoker()
    server: BaseWSGIServer = make_server(host, port, Application(invoker), threaded=True)
    url = f"http://{host}:{server.server_port}"
    background = Background(invoker, sqs, queue_url, sweep_s=sweep_s)
    background.start()
    database = make_url(get_settings().url).render_as_string(hide_password=True)
    print(banner(url, endpoint, bucket, queue_url, database), flush=True)
    _stop_on_sigterm()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        background.stop()
        moto.stop()  # type: ignore[attr-defined]
        print("landing serve: stopped", flush=True)
    return 0
