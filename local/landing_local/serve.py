"""`landing serve`: wire the local database, S3 and bus, print the banner, run the server until stopped."""

from __future__ import annotations

import logging
import signal
import sys
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

from landing_local import apigw
from landing_local.authorizer import JwtAuthorizer
from landing_local.background import Background
from landing_local.moto_server import LOOPBACK_HOSTS
from landing_local.server import (
    LOCAL_ANONYMOUS_MAX_SIZE,
    Application,
    Invoker,
    JsonErrorsRequestHandler,
    allowed_hosts,
    log,
)


def banner(
    url: str,
    endpoint: str,
    bucket: str,
    queue_url: str,
    database: str,
    event_bus: str = "",
    authorizer: JwtAuthorizer | None = None,
) -> str:
    routes = ", ".join(apigw.ROUTE_KEYS)
    return "\n".join(
        [
            "",
            "landing serve: the uploads API (UploadsFunction) in-process, Docker-free",
            f"  routes     {routes}",
            f"  S3 + SQS   {endpoint} (moto): bucket {bucket} -> queue {queue_url.rsplit('/', 1)[-1]}"
            " -> IngestFunction",
            f"  events     EventBridge bus {event_bus} (moto) -> rule -> queue, shown below as published",
            f"  database   {database}",
            "  caller     anonymous (no JWT authorizer locally)"
            if authorizer is None
            else f"  caller     JWT authorizer: Bearer HS256 token from --jwt-secret-file, iss {authorizer.issuer}",
            f"  uploads    {limits_line()}",
            "",
            f"Open {url}/ to upload files. Press Ctrl+C to stop.",
            "",
        ]
    )


def limits_line() -> str:
    """What a client must know to choose single or multipart (GET /s3/limits answers the same)."""
    from landing.settings import get_settings
    from landing.uploads import keys, reservations

    settings = get_settings()
    mib = 1024**2
    return (
        f"one request up to {reservations.single_bound(settings, keys.ANONYMOUS) / mib:g} MiB, multipart "
        f"above (parts of 5 MiB or more), at most {reservations.upload_bound(settings, keys.ANONYMOUS) / mib:g} "
        "MiB a file (GET /s3/limits)"
    )


def page_origins(host: str, port: int) -> list[str]:
    """The origins a browser on this machine gives the page: its loopback names, and the bound address."""
    names = ["127.0.0.1", "localhost", "[::1]"]
    bound = host.strip("[]").lower()
    if bound not in LOOPBACK_HOSTS and allowed_hosts(host) is not None:
        names.append(f"[{bound}]" if ":" in bound else bound)
    return [f"http://{name}:{port}" for name in names]


def exposed_warning(host: str) -> str:
    line = "!" * 78
    return "\n".join(
        [
            line,
            f"WARNING: landing serve is listening on {host}, beyond this machine's loopback.",
            "Anyone who can reach it acts as the one local owner 'anonymous': they can list, upload and",
            "abort every upload, with no authentication. It is a development server; use 127.0.0.1.",
            line,
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


def run(
    host: str = "127.0.0.1", port: int = 3000, sweep_s: float = 60.0, authorizer: JwtAuthorizer | None = None
) -> int:
    """Bootstrap moto (bucket with CORS, queue) and the database, then serve until interrupted.

    The caller has set DATABASE_URL (or started the embedded database) before landing.db.engine is imported.
    """
    import os

    import boto3
    from sqlalchemy.engine import make_url

    from landing_local import bus, demo, moto_server

    _log_requests()
    moto, endpoint = moto_server.start()
    bucket = os.environ.setdefault("BUCKET_NAME", demo.DEMO_BUCKET)
    # Every local caller is the anonymous owner: let it go past the multipart threshold, so multipart
    # uploads (Uppy's, `landing upload`'s) can be tried here. The environment still wins.
    os.environ.setdefault("ANONYMOUS_UPLOAD_MAX_SIZE", str(LOCAL_ANONYMOUS_MAX_SIZE))
    from landing.db import engine as db
    from landing.db import migrate
    from landing.settings import get_settings

    get_settings.cache_clear()
    migrate.upgrade(db.require_engine())
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=get_settings().aws_region)
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name=get_settings().aws_region)
    queue_url = demo.setup_bucket(s3, sqs, bucket=bucket)
    events = boto3.client("events", endpoint_url=endpoint, region_name=get_settings().aws_region)
    events_queue_url = bus.setup(events, sqs)

    invoker = Invoker()
    application = Application(
        invoker, allowed_hosts=allowed_hosts(host), s3_origin=endpoint, authorizer=authorizer
    )
    server: BaseWSGIServer = make_server(
        host, port, application, threaded=True, request_handler=JsonErrorsRequestHandler
    )
    url = f"http://{host}:{server.server_port}"
    # Only the page may drive moto from a browser, and only as the bucket's CORS allows (moto_server.Guard).
    origins = page_origins(host, server.server_port)
    moto.allow_origins(origins)
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=demo.bucket_cors(origins))
    background = Background(invoker, sqs, queue_url, sweep_s=sweep_s, events_queue_url=events_queue_url)
    background.start()
    database = make_url(get_settings().url).render_as_string(hide_password=True)
    print(banner(url, endpoint, bucket, queue_url, database, bus.LOCAL_BUS, authorizer), flush=True)
    if host.strip("[]") not in LOOPBACK_HOSTS:
        warning = exposed_warning(host)
        print(warning, file=sys.stderr, flush=True)
        log.warning(warning)
    _stop_on_sigterm()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        background.stop()
        moto.stop()
        print("landing serve: stopped", flush=True)
    return 0
