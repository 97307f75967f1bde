"""The unit of work: one Session per invocation, with statement and lock timeouts bounded by its deadline."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from sqlalchemy import String, bindparam, event, select
from sqlalchemy import func as sql_func
from sqlalchemy.orm import Session, SessionTransaction

from landing.db import engine as db
from landing.db.pgwire import COMMIT_WITH_STATEMENT, prepared
from landing.settings import get_settings

# Time kept back from the Lambda deadline to roll back, log and answer.
DEADLINE_MARGIN_MS = 1500

AfterCommit = Callable[[Session, Any], None]
# Work that must wait until a transaction has committed for good (an S3 delete of a rejected object,
# publishing the outbox rows a status change wrote): queued with the transaction or savepoint open now,
# forgotten if that rolls back, and run by the unit of work (or session scope) once its block is done,
# outside any transaction, on the still-open session. Features queue here so this module never imports
# them; an action must not raise, the work it follows is already committed.
_QUEUED = "landing.db.uow.queued"
_READY = "landing.db.uow.ready"
_LISTENING = "landing.db.uow.listening"


def after_commit(session: Session, action: AfterCommit) -> None:
    """Run ``action(session, context)`` once the transaction open now on ``session`` has committed."""
    if not session.info.get(_LISTENING):
        session.info[_LISTENING] = True
        event.listen(session, "after_commit", _committed_transaction)
        event.listen(session, "after_soft_rollback", _rolled_back)
    transaction = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_QUEUED, []).append((transaction, action))


def _within(transaction: SessionTransaction | None, ancestor: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False


def _rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    """Forget what was queued inside a transaction or savepoint that rolled back."""
    queued = session.info.get(_QUEUED) or []
    session.info[_QUEUED] = [(t, action) for t, action in queued if not _within(t, previous_transaction)]


def _committed_transaction(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint was released; the outer transaction may still roll back
    queued = session.info.pop(_QUEUED, None) or []
    session.info.setdefault(_READY, []).extend(action for _, action in queued)


def _run_committed(session: Session, context: Any | None) -> None:
    for action in session.info.pop(_READY, None) or []:
        action(session, context)


def statement_budget_ms(context: Any | None) -> int:
    """Statement/lock timeout for this invocation: the configured bound, shortened to fit the
    remaining time, but never below the configured minimum (2 s by default)."""
    settings = get_settings()
    budget = settings.statement_timeout_ms
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        with suppress(TypeError, ValueError):
            budget = min(budget, int(remaining()) - DEADLINE_MARGIN_MS)
    return max(budget, settings.min_statement_timeout_ms)


# Built once: building the select per call cost more client CPU than running it.
# Prepared: one round trip, BEGIN included.
SET_LOCAL_TIMEOUTS = prepared(
    select(
        sql_func.set_config("statement_timeout", bindparam("value", type_=String), True),
        sql_func.set_config("lock_timeout", bindparam("value", type_=String), True),
    )
)


def bound_statements(session: Session, budget_ms: int) -> None:
    """SET LOCAL the timeouts when the invocation has less time than the connection's default."""
    if budget_ms >= get_settings().statement_timeout_ms:
        return  # the connection's startup parameters already carry this bound: no round trip
    session.execute(SET_LOCAL_TIMEOUTS, {"value": f"{budget_ms}ms"})


class Work:
    """One invocation's session, for work that needs more than one transaction on it (an SQS batch
    redone per message, a reconcile batch that reads, calls S3, then writes). Each transaction gets
    the time bound the invocation has left when it starts."""

    def __init__(self, session: Session, context: Any | None) -> None:
        self.session = session
        self._context = context

    @contextmanager
    def transaction(self, one_statement: bool = False) -> Iterator[Session]:
        """Commits when the block succeeds, rolls back when it raises; the session stays open.
        ``one_statement`` as for ``unit_of_work``: COMMIT travels with the block's one statement."""
        with self.session.begin():
            bound_statements(self.session, statement_budget_ms(self._context))
            if one_statement:
                self.session.connection().execution_options(**{COMMIT_WITH_STATEMENT: True})
            yield self.session


@contextmanager
def session_scope(context: Any | None = None) -> Iterator[Work]:
    """The session, then transactions: ``with session_scope(ctx) as work, work.transaction() as s:``.
    Closes the session (returning the connection to the module-level pool) however the block ends."""
    db.require_engine()
    with db.Session() as session:
        yield Work(session, context)
        _run_committed(session, context)


@contextmanager
def unit_of_work(context: Any | None = None, one_statement: bool = False) -> Iterator[Session]:
    """``with Session() as session, session.begin():`` plus the invocation's time bound.

    Commits when the block succeeds (then runs what was queued with ``after_commit``), rolls back when it raises,
    always closes (returning the connection to the module-level pool). With ``one_statement`` the
    block promises to run exactly one (prepared) statement: COMMIT is sent with it, so BEGIN, the
    statement and COMMIT cost one round trip, and a second statement raises instead of running
    outside the transaction.
    """
    db.require_engine()
    with db.Session() as session:
        with session.begin():
            bound_statements(session, statement_budget_ms(context))
            if one_statement:
                session.connection().execution_options(**{COMMIT_WITH_STATEMENT: True})
            yield session
        _run_committed(session, context)
