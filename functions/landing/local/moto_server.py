"""A local moto server (S3, SQS, EventBridge over HTTP) so presigned URLs and notifications are real requests."""

from __future__ import annotations

import os
import socket


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(port: int | None = None) -> tuple[object, str]:
    """Start moto in a background thread; returns (server, endpoint URL) and points boto3 at it."""
    import logging

    from moto.server import ThreadedMotoServer

    # werkzeug logs every request; keep the demo's output to what it wrote.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    port = port or free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    os.environ["S3_ENDPOINT_URL"] = endpoint
    return server, endpoint
