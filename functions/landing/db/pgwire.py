"""A pg8000 connection that runs the hot-path statement, with its BEGIN and COMMIT, in one round trip."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from types import ModuleType
from typing import Any, TypeVar

import pg8000
from pg8000 import core, legacy
from pg8000.converters import make_params
from pg8000.core import BIND, EXECUTE_MSG, IDLE, NULL_BYTE, PARSE, SYNC_MSG, Context, H_pack, i_pack
from pg8000.dbapi import convert_paramstyle
from sqlalchemy import Engine, event
from sqlalchemy.sql.base import Executable

# Execution option that marks a statement for a server-side prepared statement on each connection.
# Only statements whose result columns never change belong here (a prepared statement keeps its
# result type across migrations); everything else runs as pg8000 normally runs it. These are
# protocol-level (Parse/Bind) statements, not SQL PREPARE; RDS Proxy multiplexes the extended query
# protocol since 2023 but may still pin a client connection that holds named prepared statements
# (docs/operations.md: watch DatabaseConnectionsCurrentlySessionPinned; DATABASE_PREPARED_STATEMENTS
# turns this off).
PREPARE = "landing_prepare"
# Bound per connection, so a process that builds statements dynamically cannot grow it without end.
MAX_PREPARED = 32
# SQLSTATEs after which a cached statement is dropped, so the next invocation prepares it again.
STALE_STATEMENT_CODES = frozenset({"26000", "0A000"})
# Connection-level execution option set by a unit of work that runs exactly one more statement:
# COMMIT travels in that statement's Sync group, and the transaction's commit costs no round trip.
COMMIT_WITH_STATEMENT = "landing_commit_with_statement"
# pg8000 asks the server for UTF8 in its startup message, and nothing here changes client_encoding.
CLIENT_ENCODING = "utf-8"

E = TypeVar("E", bound=Executable)


def prepared(statement: E) -> E:
    """``statement`` marked to run prepared: its text and result columns must never change."""
    return statement.execution_options(**{PREPARE: True})


def _send(connection: legacy.Connection, payload: bytes) -> None:
    """Write whole protocol messages (ending in Sync) to the server in one write, and flush.

    The one place that touches pg8000's private surface (its socket and write helpers): the driver's
    public ``send_*`` methods write each message, with a Flush after it, separately, and none puts
    BEGIN, a statement and COMMIT in one Sync group. ``make test-driver`` (part of CI) runs the
    round-trip and fault tests against the newest pg8000 release, so a change here shows the day it ships.
    """
    sock = getattr(connection, "_sock", None)
    if sock is None:
        raise legacy.InterfaceError("connection is closed")
    core._write(sock, payload)
    core._flush(sock)


def _message(code: bytes, body: bytes) -> bytes:
    length: bytes = i_pack(len(body) + 4)
    return code + length + body


def _unnamed(sql: str) -> bytes:
    """Parse/Bind/Execute of a parameterless statement: built once, sent as they are."""
    parse = _message(PARSE, NULL_BYTE + sql.encode("ascii") + NULL_BYTE + H_pack(0))
    bind = _message(BIND, NULL_BYTE + NULL_BYTE + H_pack(0) + H_pack(0) + H_pack(0))
    execute: bytes = EXECUTE_MSG
    return parse + bind + execute


BEGIN_MESSAGES = _unnamed("begin transaction")
COMMIT_MESSAGES = _unnamed("commit")
NULL_PARAMETER = i_pack(-1)


def _bind(name: bytes, params: Sequence[str | None]) -> bytes:
    """A Bind message of text parameters (what pg8000's send_BIND sends, without its Flush)."""
    parts = [NULL_BYTE, name, H_pack(0), H_pack(len(params))]
    for value in params:
        if value is None:
            parts.append(NULL_PARAMETER)
        else:
            encoded = value.encode(CLIENT_ENCODING)
            parts.append(i_pack(len(encoded)))
            parts.append(encoded)
    parts.append(H_pack(0))
    return _message(BIND, b"".join(parts))


class Cursor(legacy.Cursor):  # type: ignore[misc]
    """pg8000's cursor that can also hold the result of a statement the connection ran prepared."""

    def __init__(self, connection: Connection, paramstyle: str | None = None) -> None:
        super().__init__(connection, paramstyle)
        self.owner = connection
        self._held: Context | None = None
        self._held_rows: Iterator[Any] = iter(())

    def hold(self, context: Context) -> None:
        """Serve ``context``'s rows and description until the next ``execute``."""
        self._held = context
        self._held_rows = iter(context.rows or ())

    def execute(self, operation: str, args: Any = (), stream: Any = None) -> Any:
        self._held = None
        return super().execute(operation, args, stream)

    def executemany(self, operation: str, param_sets: Any) -> Any:
        self._held = None
        return super().executemany(operation, param_sets)

    @property
    def rowcount(self) -> int:
        if self._held is None:
            count: int = super().rowcount
            return count
        return int(self._held.row_count)

    @property
    def description(self) -> list[tuple[Any, ...]] | None:
        if self._held is None:
            return super().description  # type: ignore[no-any-return]
        columns = self._held.columns
        if not columns:
            return None
        return [(c["name"], c["type_oid"], None, None, None, None, None) for c in columns]

    def __next__(self) -> Any:
        if self._held is None:
            return super().__next__()
        return next(self._held_rows)


class Connection(legacy.Connection):  # type: ignore[misc]
    """pg8000's DB-API connection with fewer round trips on the hot path.

    pg8000 runs every parameterised statement, COMMIT included, as Parse/Sync, Describe/Sync,
    Bind/Execute/Sync: three round trips, and the server parses and plans the statement again each
    time. Here COMMIT and ROLLBACK use the simple protocol (one round trip), and statements marked
    with ``PREPARE`` are prepared once per connection (``prepare_statement``) and then sent as one
    Bind/Execute/Sync, with the transaction's BEGIN in the same Sync group (so if BEGIN failed the
    statement would not run). A unit of work that declares its last statement (``COMMIT_WITH_STATEMENT``)
    gets COMMIT in that group too: if the statement fails, the server skips the COMMIT and the
    transaction is left aborted for the usual ROLLBACK; if COMMIT fails, its error is the statement's.
    """

    # What the server said in its last ReadyForQuery: inside a transaction block (or a failed one).
    in_transaction = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._prepared: dict[str, tuple[bytes, Any, Any, str]] = {}
        # Set when COMMIT travelled with a statement: the transaction is over on the server, so the
        # DB-API commit() that follows is a no-op, and any statement before it is a bug (it would
        # run in a second transaction, outside the unit of work that was promised atomicity).
        self._committed_with_statement = False

    def handle_READY_FOR_QUERY(self, data: bytes, context: Any) -> None:
        super().handle_READY_FOR_QUERY(data, context)
        self.in_transaction = data != IDLE

    def cursor(self) -> Cursor:
        if self._committed_with_statement:
            raise legacy.InterfaceError(
                "the unit of work committed with its last statement; no statement may follow it"
            )
        return Cursor(self)

    def commit(self) -> None:
        # Outside a transaction (COMMIT already sent with the statement, or no statement ran) the
        # server has nothing to commit: no round trip.
        self._committed_with_statement = False
        if self.in_transaction:
            self.execute_simple("commit")

    def rollback(self) -> None:
        # After a COMMIT that travelled with the statement there is nothing left to roll back: the
        # block raised after its last statement, and Lambda's retry finds every event journalled.
        self._committed_with_statement = False
        if self.in_transaction:
            self.execute_simple("rollback")

    def execute_prepared(
        self, cursor: Cursor, operation: str, args: Sequence[Any], commit: bool = False
    ) -> None:
        """Run ``operation`` (pg8000 "format" paramstyle) on ``cursor`` as a prepared statement;
        with ``commit``, the transaction commits in the same round trip."""
        entry = self._prepared.get(operation)
        if entry is None:
            entry = self._prepare(operation, args)
        name, columns, input_funcs, statement = entry
        context = Context(statement, columns=columns, input_funcs=input_funcs)
        commit = commit and not self.autocommit
        try:
            # The whole Sync group in one buffer and one write: pg8000's send_* methods build and
            # write each message (and a Flush after each) separately, a third of the driver's CPU.
            begin = BEGIN_MESSAGES if not self.in_transaction and not self.autocommit else b""
            bind = _bind(name, make_params(self.py_types, args))
            _send(self, b"".join((begin, bind, EXECUTE_MSG, COMMIT_MESSAGES if commit else b"", SYNC_MSG)))
            self.handle_messages(context)
            self._committed_with_statement = commit
        except legacy.DatabaseError as error:
            fields = error.args[0] if error.args else None
            if isinstance(fields, dict) and fields.get("C") in STALE_STATEMENT_CODES:
                self._prepared.pop(operation, None)
            raise _as_legacy_error(error) from error
        cursor.hold(context)

    def _prepare(self, operation: str, args: Sequence[Any]) -> tuple[bytes, Any, Any, str]:
        if len(self._prepared) >= MAX_PREPARED:
            oldest = next(iter(self._prepared))
            self.close_prepared_statement(self._prepared.pop(oldest)[0])
        statement, _ = convert_paramstyle("format", operation, args)
        try:
            name, columns, input_funcs = self.prepare_statement(statement, ())
        except legacy.DatabaseError as error:
            raise _as_legacy_error(error) from error
        entry = self._prepared[operation] = (name, columns, input_funcs, statement)
        return entry


def _as_legacy_error(error: Exception) -> Exception:
    """The exception class pg8000's own cursor would raise, so SQLAlchemy maps it the same way."""
    fields = error.args[0] if error.args else None
    code = fields.get("C") if isinstance(fields, dict) else None
    error_class: type[Exception] = legacy.ProgrammingError
    if code == "28000":
        error_class = legacy.InterfaceError
    elif code == "23505":
        error_class = legacy.IntegrityError
    return error_class(fields)


def dbapi() -> ModuleType:
    """pg8000's DB-API module whose ``connect`` opens a ``Connection``, for ``create_engine(module=...)``.

    SQLAlchemy calls it after every ``do_connect`` listener has had its say (credentials set user and
    password there), and a listener that opens a connection of its own still wins.
    """
    module = ModuleType(pg8000.__name__)
    module.__dict__.update(vars(pg8000))
    module.connect = Connection  # type: ignore[attr-defined]
    return module


def install(engine: Engine) -> None:
    """Run statements marked ``PREPARE`` prepared on ``engine``'s ``Connection``s."""

    @event.listens_for(engine, "do_execute")
    def _execute(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
        if not context.execution_options.get(PREPARE) or not isinstance(cursor, Cursor):
            return False
        options = context.execution_options
        cursor.owner.execute_prepared(cursor, statement, parameters, bool(options.get(COMMIT_WITH_STATEMENT)))
        return True
