"""Connection health for the pooled engine: idle liveness ping, dead-peer detection, disconnect errors."""

from __future__ import annotations

import logging
import select
import ssl
import time
from typing import Any

from sqlalchemy import Engine, event, exc

from landing import errors

# Socket timeout used only for the liveness ping of an idle connection: a frozen Lambda environment
# may thaw with a connection whose peer vanished, and we want to know in ~2 s, not socket-timeout s.
PING_SOCKET_TIMEOUT_S = 2.0


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


def _has_unread_input(dbapi_connection: Any) -> bool:
    """True when bytes or EOF wait on an idle connection: most likely the server has said goodbye.

    An idle PostgreSQL session sends nothing unasked; pg_terminate_backend, a restart or an idle
    timeout leave a FATAL ErrorResponse and a FIN behind. One zero-timeout poll (no round trip)
    catches that even for a connection checked in milliseconds ago, which the idle ping skips.
    Anything else readable (a NOTICE, TLS records) is consumed harmlessly by the ping it triggers.
    """
    usock = getattr(dbapi_connection, "_usock", None)
    if usock is None:
        return True
    try:
        if isinstance(usock, ssl.SSLSocket) and usock.pending():
            return True
        readable, _, _ = select.select([usock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def install_disconnect_detection(engine: Engine) -> None:
    """Treat every error that ends the session as a disconnect, and wrap raw socket errors.

    SQLAlchemy's pg8000 dialect only recognises "network error"/"connection is closed", so a
    terminated backend (SQLSTATE 57P01) stayed in the pool; and pg8000 1.31 lets a socket timeout
    escape its first read as a bare TimeoutError (outside its OSError -> InterfaceError wrapping),
    which SQLAlchemy neither wraps nor counts as a disconnect. Both now invalidate the connection
    at once and surface as sqlalchemy.exc.OperationalError.

    Any other non-DBAPI error raised inside the driver (a parameter it cannot encode, such as a
    lone surrogate) may leave half a protocol message on the wire: SQLAlchemy used to return that
    connection to the pool and the next invocations read garbage (NoResultFound). It is discarded
    too, and surfaces as sqlalchemy.exc.DataError, a per-record error.
    """

    @event.listens_for(engine, "handle_error")
    def _on_error(context: Any) -> BaseException | None:
        error = context.original_exception
        driver_raw = context.sqlalchemy_exception is None and not isinstance(error, exc.SQLAlchemyError)
        if errors.ends_session(error):
            context.is_disconnect = True
            if not driver_raw:
                return None
            return exc.OperationalError(
                context.statement, None, error, hide_parameters=True, connection_invalidated=True
            )
        if not driver_raw:
            return None
        context.is_disconnect = True
        if isinstance(error, (ValueError, TypeError, OverflowError)):
            return exc.DataError(
                context.statement, None, error, hide_parameters=True, connection_invalidated=True
            )
        return None


class _QuietDeadConnectionCleanup(logging.Filter):
    """Drop the pool's ERROR + traceback for failing to close or reset a connection already dead.

    pg8000 cannot send its Terminate/ROLLBACK on a dead socket, and SQLAlchemy logs that through the
    root logger (which Lambda prints). The failure that killed the connection is logged once,
    classified, by the handler; this second, unstructured line is noise. Other pool errors pass.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return error is None or not errors.ends_session(error)


logging.getLogger("sqlalchemy.pool.impl.QueuePool").addFilter(_QuietDeadConnectionCleanup())


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
        if idle_since is None:
            return
        if time.monotonic() - idle_since < ping_after_idle_s and not _has_unread_input(dbapi_connection):
            return
        try:
            _ping(dbapi_connection)
        except Exception as error:
            raise exc.DisconnectionError(f"pooled connection failed its liveness ping: {error}") from error
