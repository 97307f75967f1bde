"""The module-level engine and sessionmaker: one pooled connection per execution environment."""

from __future__ import annotations

import ssl
import time
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import QueuePool

from landing.settings import Settings, get_settings

# Socket timeout used only for the liveness ping of an idle connection: a frozen Lambda environment
# may thaw with a connection whose peer vanished, and we want to know in ~2 s, not socket-timeout s.
PING_SOCKET_TIMEOUT_S = 2.0


def tls_context(settings: Settings) -> ssl.SSLContext | bool:
    """TLS with certificate and host name verification, or False for loopback/unix-socket databases.

    pg8000 treats ``ssl_context=None`` as "try TLS without verification, fall back to plaintext",
    so we never pass None.
    """
    if settings.database_tls == "disable":
        return False
    context = ssl.create_default_context(cafile=settings.database_ca_bundle)
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def connect_args(settings: Settings) -> dict[str, Any]:
    return {
        "timeout": settings.database_socket_timeout_s,
        "ssl_context": tls_context(settings),
        "tcp_keepalive": True,
        "application_name": "landing",
        # Server-side bounds for every statement; an invocation shortens them when it has less time.
        "startup_params": {
            "statement_timeout": str(settings.statement_timeout_ms),
            "lock_timeout": str(settings.statement_timeout_ms),
            "idle_in_transaction_session_timeout": str(max(settings.statement_timeout_ms * 6, 60_000)),
        },
    }


def _ping(dbapi_connection: Any) -> None:
    """SELECT 1 over the simple protocol (no implicit BEGIN), with a short socket timeout."""
    usock = getattr(dbapi_connection, "_usock", None)
    previous = usock.gettimeout() if usock is not None else None
    try:
        if usock is not None:
            usock.settimeout(PING_SOCKET_TIMEOUT_S)
        dbapi_connection.execute_simple("SELECT 1")
    finally:
        if usock is not None:
            usock.settimeout(previous)


def install_idle_ping(engine: Engine, ping_after_idle_s: float) -> None:
    """Pre-ping a pooled connection only when it has been idle long enough to have died.

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout, one extra round trip per invocation.
    Back-to-back warm invocations reuse a connection that answered milliseconds ago; a connection
    idle for longer (a frozen environment, a recycled NAT mapping, a restarted server) is pinged,
    and a dead one is replaced transparently by the pool (DisconnectionError -> reconnect).
    """

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < ping_after_idle_s:
            return
        try:
            _ping(dbapi_connection)
        except Exception as error:
            raise exc.DisconnectionError(f"pooled connection failed its liveness ping: {error}") from error


def build_engine(settings: Settings) -> Engine:
    engine = create_engine(
        settings.url,
        poolclass=QueuePool,
        # One Lambda execution environment runs one invocation at a time: one connection, no overflow.
        pool_size=settings.pool_size,
        max_overflow=0,
        pool_timeout=settings.database_socket_timeout_s,
        # Below the 350 s NAT/RDS Proxy idle timeout so we never reuse a silently dropped connection.
        pool_recycle=settings.pool_recycle_s,
        # Pre-ping is done by install_idle_ping, only for connections that sat idle.
        pool_pre_ping=False,
        connect_args=connect_args(settings),
    )
    install_idle_ping(engine, settings.ping_after_idle_s)
    return engine


def _engine_or_none() -> Engine | None:
    settings = get_settings()
    return build_engine(settings) if settings.database_url else None


engine: Engine | None = _engine_or_none()

Session = sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)


def require_engine() -> Engine:
    """The module engine, or a clear error when DATABASE_URL was not configured."""
    if engine is None:
        get_settings().url  # noqa: B018 - raises SettingsError with the explanation
    assert engine is not None
    return engine
