"""A local moto server (S3, SQS, EventBridge over HTTP) so presigned URLs and notifications are real requests."""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any

# Host names a browser uses for this machine; any other Host header is a DNS-rebinding attempt.
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def host_name(host: str) -> str:
    """The name part of a Host header (``[::1]:3000`` -> ``::1``), lower-cased."""
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return name.strip("[]").lower()


class Guard:
    """What stands between moto and the web pages this machine's browser opens.

    moto checks no credentials, so whoever can send it a request owns the local bucket and queues.
    A page on another site can send one from the developer's browser: a request naming another host
    (DNS rebinding) is refused, and so is one carrying an ``Origin`` other than the upload page's.
    Requests without an Origin (boto3, the CLI, a browser's plain navigation) pass: a browser's
    cross-origin request always carries one, and a request that cannot carry one cannot read the
    answer. moto's own CORS stays on behind this (it answers every origin the guard lets through):
    its bucket CORS leaves out the answer to a presigned POST, which the page must read.
    """

    def __init__(self, app: WsgiApp) -> None:
        self.app = app
        self.origins: frozenset[str] = frozenset()

    def allow_origins(self, origins: Iterable[str]) -> None:
        self.origins = self.origins | frozenset(origins)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if host_name(environ.get("HTTP_HOST", "")) not in LOOPBACK_HOSTS:
            return _refuse(start_response, "421 Misdirected Request", "this server only answers this machine")
        origin = environ.get("HTTP_ORIGIN")
        if origin is not None and origin not in self.origins:
            return _refuse(start_response, "403 Forbidden", "this origin may not use the local S3")
        return self.app(environ, start_response)


def _refuse(start_response: StartResponse, status: str, message: str) -> Iterable[bytes]:
    body = json.dumps({"error": {"code": "origin_not_allowed", "message": message}}).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


class LocalMoto:
    """moto's WSGI application behind a ``Guard``, served from a background thread on 127.0.0.1."""

    def __init__(self, port: int = 0) -> None:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        self.guard = Guard(DomainDispatcherApplication(create_backend_app))
        # moto's request handler keeps S3 metadata headers that contain underscores.
        self.server = make_server(
            "127.0.0.1", port, self.guard, threaded=True, request_handler=MotoRequestHandler
        )
        self.endpoint = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="moto", daemon=True)

    def allow_origins(self, origins: Iterable[str]) -> None:
        self.guard.allow_origins(origins)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def start(port: int | None = None) -> tuple[LocalMoto, str]:
    """Start moto in a background thread; returns (server, endpoint URL) and points boto3 at it."""
    import logging

    # werkzeug logs every request; keep the demo's output to what it wrote.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = LocalMoto(port or 0)
    server.thread.start()
    endpoint = server.endpoint
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    os.environ["S3_ENDPOINT_URL"] = endpoint
    return server, endpoint
