"""Failures classified for handling and logging: retryable or permanent, whose fault, and why."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any, Literal

Category = Literal[
    "unavailable",  # the database cannot be reached or refuses new sessions
    "connection-lost",  # an established session died (terminated, reset, silent network)
    "timeout",  # a statement or lock wait hit its bound
    "conflict",  # serialization failure or deadlock
    "data",  # the database rejected this data (SQLSTATE classes 22 and 23)
    "configuration",  # credentials, database name, permissions, missing tables
    "s3",  # HeadObject throttled or failed server-side
    "unexpected",
]

# SQLSTATEs (https://www.postgresql.org/docs/current/errcodes-appendix.html) by meaning.
SESSION_ENDED = frozenset({"57P01", "57P02", "57P03", "57P05", "25P03"})
UNAVAILABLE = frozenset({"53300", "53400", "57P03", "08001", "08004", "08006"})
TIMEOUT = frozenset({"57014", "55P03"})
CONFLICT = frozenset({"40001", "40P01"})
CONFIGURATION_CLASSES = ("28", "3D", "42")
DATA_CLASSES = ("22", "23")


class RetryableS3Error(RuntimeError):
    """An S3 read (HeadObject, GetObjectTagging) was throttled or failed server-side: the record must be
    retried, not guessed. Declared here, below s3/, so classifying it imports nothing above."""


@dataclass(frozen=True, slots=True)
class Classified:
    category: Category
    retryable: bool
    sqlstate: str | None
    detail: str

    def log_fields(self) -> dict[str, Any]:
        """Structured log context: never the SQL, its parameters, or the connection URL."""
        return {
            "error_category": self.category,
            "retryable": self.retryable,
            "sqlstate": self.sqlstate,
            "error": self.detail,
        }


def server_fields(error: BaseException | None) -> dict[str, str]:
    """The ErrorResponse fields (C, M, S...) pg8000 puts in args[0] of a server error, if any."""
    seen = 0
    while error is not None and seen < 5:
        args = getattr(error, "args", ())
        if args and isinstance(args[0], dict):
            return {str(k): str(v) for k, v in args[0].items()}
        error = getattr(error, "orig", None) or error.__cause__
        seen += 1
    return {}


# The ErrorResponse fields a log may carry: what failed and where in the schema, never row data.
# Dropped: D (DETAIL: "Key (bucket, key)=(...) already exists", "Failing row contains (...)"),
# W (context: PL/pgSQL lines, COPY data), P/p/q (positions and internal queries).
LOGGABLE_SERVER_FIELDS = frozenset("SVCMHstcdnFLR")


def redact_server_fields(error: BaseException | None) -> bool:
    """Strip row data from every PostgreSQL error in ``error``'s chain, in place; True if any had some.

    ``hide_parameters`` keeps bound values out of SQLAlchemy's message, but the server repeats them in
    DETAIL, which pg8000 puts in the exception's text, and so in tracebacks and Lambda's error log.
    """
    redacted, seen = False, 0
    while error is not None and seen < 5:
        args = getattr(error, "args", ())
        if args and isinstance(args[0], dict) and not set(args[0]) <= LOGGABLE_SERVER_FIELDS:
            fields = args[0]
            for name in set(fields) - LOGGABLE_SERVER_FIELDS:
                del fields[name]
            redacted = True
        error = getattr(error, "orig", None) or error.__cause__ or error.__context__
        seen += 1
    return redacted


def sqlstate(error: BaseException | None) -> str | None:
    return server_fields(error).get("C")


def _root(error: BaseException) -> BaseException:
    """The driver-level exception under SQLAlchemy's wrapper."""
    orig = getattr(error, "orig", None)
    return orig if isinstance(orig, BaseException) else error


def is_socket_failure(error: BaseException) -> bool:
    """A transport failure: timeout, reset, refused, or pg8000's "network error"/closed connection."""
    root = _root(error)
    if isinstance(root, (OSError, socket.timeout)):
        return True
    text = str(root)
    return type(root).__name__ == "InterfaceError" and (
        "network error" in text
        or "connection is closed" in text
        or "communication error" in text
        or "Can't create a connection" in text
        or "timed out" in text
    )


def ends_session(error: BaseException) -> bool:
    """True when the connection that raised ``error`` can never be used again."""
    code = sqlstate(error)
    if code is not None:
        return code in SESSION_ENDED or code.startswith("08")
    return is_socket_failure(error)


def classify(error: BaseException) -> Classified:
    """Retryable (transient: report for retry, it will likely pass) or permanent (it will fail the
    same way: still reported, so the event ends in the DLQ instead of being lost)."""
    from sqlalchemy import exc

    if isinstance(error, RetryableS3Error):
        return Classified("s3", True, None, _short(str(error)))
    fields = server_fields(error)
    code = fields.get("C")
    message = _short(fields.get("M") or str(_root(error)) or type(_root(error)).__name__)
    if code is not None:
        if code in UNAVAILABLE or code.startswith("08"):
            return Classified("unavailable", True, code, message)
        if code in SESSION_ENDED:
            return Classified("connection-lost", True, code, message)
        if code in TIMEOUT:
            return Classified("timeout", True, code, message)
        if code in CONFLICT:
            return Classified("conflict", True, code, message)
        if code.startswith(DATA_CLASSES):
            return Classified("data", False, code, message)
        if code.startswith(CONFIGURATION_CLASSES):
            return Classified("configuration", False, code, message)
        return Classified("unexpected", False, code, message)
    if _is_unencodable(error):
        root = _root(error)
        return Classified(
            "data", False, None, _short(f"cannot encode a parameter: {type(root).__name__}: {root}")
        )
    if isinstance(error, exc.TimeoutError):  # the pool had no connection to give within its timeout
        return Classified("unavailable", True, None, "connection pool exhausted")
    if is_socket_failure(error):
        root = _root(error)
        # Unwrapped socket errors only escape pg8000 while it connects (db/health.py wraps the others).
        connecting = root is error or "Can't create a connection" in str(root)
        if connecting:
            return Classified("unavailable", True, None, "cannot connect: " + _describe_socket(root))
        return Classified("connection-lost", True, None, _describe_socket(root))
    if isinstance(error, (exc.DisconnectionError, exc.InvalidatePoolError)):
        return Classified("connection-lost", True, None, message)
    return Classified("unexpected", False, None, f"{type(_root(error)).__name__}: {message}")


def is_record_error(error: BaseException) -> bool:
    """The rows themselves are at fault (a value the database refused or the driver could not
    encode): only their message fails, the rest of the batch can commit."""
    code = sqlstate(error)
    if code is not None:
        return code.startswith(DATA_CLASSES)
    return _is_unencodable(error)


def _is_unencodable(error: BaseException) -> bool:
    from sqlalchemy import exc

    return isinstance(error, exc.DataError) and isinstance(
        _root(error), (ValueError, TypeError, OverflowError)
    )


def _describe_socket(root: BaseException) -> str:
    if isinstance(root, socket.timeout):
        return "no answer within the socket timeout"
    text = str(root) if type(root).__name__ == "InterfaceError" else f"{type(root).__name__}: {root}"
    cause = root.__cause__
    if cause is not None:
        text = f"{text} ({type(cause).__name__}: {cause})"
    return _short(text)


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _database_errors() -> tuple[type[BaseException], ...]:
    from sqlalchemy.exc import SQLAlchemyError

    return (SQLAlchemyError, OSError)


# What a database call can raise: SQLAlchemy's errors, plus the socket errors (TimeoutError,
# ConnectionResetError...) that pg8000 1.31 lets escape unwrapped while it opens a connection.
DATABASE_ERRORS: tuple[type[BaseException], ...] = _database_errors()
