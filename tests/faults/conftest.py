"""Fault-test fixtures: a throwaway cluster we may stop, a proxy we may silence, landing.db.engine bound to them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from landing.db import engine as db
from landing.db import migrate
from landing.settings import get_settings
from tests.support.logs import Logs, capture_logs
from tests.support.pgcluster import Cluster
from tests.support.proxy import Proxy

DATABASE = "landing"
SUPERUSER_PASSWORD = "superuser-pw-not-for-logs"
APP_USER = "ingest"
APP_PASSWORD = "s3cr3t-ingest-pw-never-logged"
TABLES = ("object_events", "objects", "uploads")

# Added to every time bound these tests assert (the designed wait: a socket, ping or lock timeout).
# Measured on this project's 2-core machine at load average 12-15 (other suites plus two busy
# loops), the invocations overran their designed wait by at most 0.35 s (idle reconnect 2.35 s for
# 2 s, lock 2.24 s for 2 s, silent path 5.13 s for 5 s): 2.5 s is seven times that. The tests' own
# timeouts are chosen so that each breakage they guard against overruns the bound by seconds more.
SCHEDULING_MARGIN_S = 2.5


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """A migrated database on a private cluster; the application role has a password and a limit."""
    server = Cluster(superuser_password=SUPERUSER_PASSWORD).init()
    server.start()
    try:
        server.sql(f'CREATE DATABASE "{DATABASE}"')
        server.sql(f"CREATE ROLE {APP_USER} LOGIN PASSWORD '{APP_PASSWORD}' CONNECTION LIMIT 4")
        admin = create_engine(server.url(DATABASE), poolclass=NullPool)
        try:
            migrate.upgrade(admin)
        finally:
            admin.dispose()
        server.sql(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_USER}; "
            f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {APP_USER}",
            DATABASE,
        )
        yield server
    finally:
        server.destroy()


@pytest.fixture
def proxy(cluster: Cluster) -> Iterator[Proxy]:
    link = Proxy("127.0.0.1", cluster.port)
    yield link
    link.close()


@pytest.fixture
def fault_db(cluster: Cluster) -> Iterator[Cluster]:
    """Empty tables on the throwaway cluster, before and after; restarts it if a test left it down."""
    if not cluster.is_running():
        cluster.start()
    cluster.sql(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE", DATABASE)
    yield cluster
    if not cluster.is_running():
        cluster.start()
    cluster.sql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :u", DATABASE, u=APP_USER
    )
    cluster.sql(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE", DATABASE)


Bind = Callable[..., Engine]


@pytest.fixture
def bind_landing(cluster: Cluster) -> Iterator[Bind]:
    """Point landing.db.engine's engine and sessionmaker at the cluster (or a proxy port) for one test.

    Built with landing.db.engine.build_engine, so pool, idle ping, socket timeout and TLS rules are the
    product's own; only the URL and the overrides passed here differ. Restored afterwards.
    """
    original_engine = db.engine
    built: list[Engine] = []

    def bind(port: int | None = None, **overrides: Any) -> Engine:
        url = cluster.url(DATABASE, user=APP_USER, password=APP_PASSWORD, port=port)
        settings = replace(get_settings(), database_url=url, database_tls="disable", **overrides)
        engine = db.build_engine(settings)
        built.append(engine)
        db.engine = engine
        db.Session.configure(bind=engine)
        return engine

    yield bind
    db.engine = original_engine
    db.Session.configure(bind=original_engine)
    for engine in built:
        engine.dispose()


def cluster_rows(cluster: Cluster, sql: str, **params: Any) -> list[dict[str, Any]]:
    engine = create_engine(cluster.url(DATABASE), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(text(sql), params)]
    finally:
        engine.dispose()


def table_state(cluster: Cluster) -> dict[str, list[tuple[Any, ...]]]:
    """What a reader sees: every object row and every journal identity, in a stable order."""
    objects = cluster_rows(
        cluster, "SELECT bucket, key, sequence_number, is_deleted, size, e_tag FROM objects ORDER BY 1, 2"
    )
    journal = cluster_rows(
        cluster,
        "SELECT bucket, key, sequence_number, record_type FROM object_events ORDER BY 1, 2, 3, 4",
    )
    return {"objects": [tuple(r.values()) for r in objects], "journal": [tuple(r.values()) for r in journal]}


@pytest.fixture
def landing_logs() -> Iterator[Logs]:
    with capture_logs() as logs:
        yield logs


@contextmanager
def row_locked(cluster: Cluster, key: str, bucket: str = "example-bucket") -> Iterator[None]:
    """Another client holds the (existing) objects row for ``key`` FOR UPDATE until the block ends."""
    engine = create_engine(cluster.url(DATABASE), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(text("SET application_name = 'faults-locker'"))
            locked = conn.execute(
                text("SELECT 1 FROM objects WHERE bucket = :b AND key = :k FOR UPDATE"),
                {"b": bucket, "k": key},
            ).first()
            assert locked, f"no objects row for {key!r} to lock"
            yield
            conn.rollback()
    finally:
        engine.dispose()
