"""The benchmark's database (a scratch one, migrated), raw pg8000 connections to it, and the machine."""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "example-bucket"


def prepare_environment(revision: str = "head") -> tuple[str, str, Callable[[], None]]:
    """A fresh database migrated to ``revision``; returns (its URL, a label for the table, cleanup)."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("BUCKET_NAME", BUCKET)
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Landing")
    for name in ("AWS_ENDPOINT_URL", "S3_ENDPOINT_URL", "AWS_PROFILE", "AWS_LAMBDA_FUNCTION_NAME"):
        os.environ.pop(name, None)
    from landing_local import embedded

    server = os.environ.get("DATABASE_URL") or embedded.server_url()
    name = f"landing_bench_{os.getpid()}"
    url = embedded.ensure_database(server, name)
    os.environ["DATABASE_URL"] = url

    def cleanup() -> None:
        from landing.db import engine as db

        db.require_engine().dispose()
        embedded.drop_database(server, name)

    from landing.db import engine as db
    from landing.db import migrate

    migrate.upgrade(db.require_engine(), revision)
    return url, database_label(url), cleanup


def database_label(url: str) -> str:
    from sqlalchemy import text

    from landing.db import engine as db

    with db.require_engine().connect() as conn:
        version = conn.execute(text("SHOW server_version")).scalar()
    parsed = url_parts(url)
    where = (
        f"unix socket (embedded server), {parsed['unix_sock']}"
        if parsed.get("unix_sock")
        else f"TCP {parsed['host']}:{parsed['port']}"
    )
    return f"PostgreSQL {version}, {where}"


def url_parts(url: str) -> dict[str, Any]:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return {
        "user": parsed.username or "postgres",
        "password": parsed.password,
        "host": parsed.host or "localhost",
        "port": parsed.port or 5432,
        "database": parsed.database,
        "unix_sock": parsed.query.get("unix_sock"),
    }


def raw_connection(url: str) -> Any:
    """A plain pg8000 native connection (autocommit) to the benchmark database, with the product's
    TLS choice (pg8000's default would build a default SSL context and try TLS first)."""
    import pg8000.native

    from landing.db.engine import tls_context
    from landing.settings import get_settings

    p = url_parts(url)
    ssl_context = tls_context(get_settings())
    if p["unix_sock"]:
        return pg8000.native.Connection(
            p["user"],
            password=p["password"],
            database=p["database"],
            unix_sock=p["unix_sock"],
            ssl_context=ssl_context,
        )
    return pg8000.native.Connection(
        p["user"],
        password=p["password"],
        host=p["host"],
        port=p["port"],
        database=p["database"],
        ssl_context=ssl_context,
    )


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )
