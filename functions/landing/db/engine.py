"""The module-level engine and sessionmaker: one pooled connection per execution environment."""

from __future__ import annotations

import ssl
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import QueuePool

from landing import errors
from landing.db import credentials, pgwire
from landing.db.health import install_disconnect_detection, install_idle_ping
from landing.settings import Settings, SettingsError, get_settings


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


def install_error_redaction(engine: Engine) -> None:
    """No row data in a database error: PostgreSQL's DETAIL repeats the values ``hide_parameters``
    hides (a unique violation names the whole key), so it is stripped from the driver's exception and
    SQLAlchemy's message is built again from what is left."""

    @event.listens_for(engine, "handle_error")
    def _redact(context: Any) -> BaseException | None:
        if not errors.redact_server_fields(context.original_exception):
            return None
        if getattr(context, "chained_exception", None) is not None or context.sqlalchemy_exception is None:
            return None
        rebuilt: BaseException = exc.DBAPIError.instance(
            context.statement,
            None,
            context.original_exception,
            context.dialect.loaded_dbapi.Error,
            hide_parameters=True,
            connection_invalidated=context.is_disconnect,
            dialect=context.dialect,
        )
        return rebuilt


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
        # A failed statement's exception (logged with its traceback) must not carry the values bound
        # to it: keys, file names, owners' identities.
        hide_parameters=True,
        # pg8000 with fewer round trips: one-round-trip COMMIT, BEGIN sent with the first statement.
        module=pgwire.dbapi(),
    )
    install_idle_ping(engine, settings.ping_after_idle_s)
    install_disconnect_detection(engine)
    install_error_redaction(engine)
    # IAM token or Secrets Manager password, handed to each new connection (never part of the URL).
    source = credentials.credential_source(settings)
    if source is not None:
        credentials.install(engine, source)
    # The hot-path write prepared once per connection, sent with its BEGIN and COMMIT.
    if settings.database_prepared_statements:
        pgwire.install(engine)
    return engine


def _engine_or_none() -> Engine | None:
    # A bad configuration must not fail the handler's import: require_engine() reports it per call.
    try:
        settings = get_settings()
    except SettingsError:
        return None
    return build_engine(settings) if settings.database_url else None


engine: Engine | None = _engine_or_none()

Session = sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)


def require_engine() -> Engine:
    """The module engine, or a clear error when DATABASE_URL is missing or the settings are invalid."""
    if engine is None:
        get_settings().url  # noqa: B018 - raises SettingsError with the explanation
    assert engine is not None
    return engine
