"""The scheduled reconcile's state row: a lease on (bucket, prefix), its checkpoint and counters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, case, func, literal_column, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from landing.db.models import ReconcileState
from landing.reconcile.run import Batch

reconcile_state: Table = ReconcileState.__table__  # type: ignore[assignment]


class LeaseLost(RuntimeError):
    """Another invocation took over this run (ours outlived its lease): stop without writing."""


@dataclass(frozen=True, slots=True)
class Claim:
    """The run this invocation holds: where it resumes, and when the run began."""

    after_key: str | None
    run_started_at: datetime
    resumed: bool


COUNTERS = ("scanned", "inserted", "updated", "deleted", "left_alone")


def _lease(seconds: float) -> Any:
    return func.now() + func.make_interval(0, 0, 0, 0, 0, 0, max(seconds, 1.0))


def claim(session: Session, bucket: str, prefix: str, owner: str, lease_s: float) -> Claim | None:
    """Take the run for (bucket, prefix): resume an unfinished one, or start over after a finished one.

    None when another invocation holds an unexpired lease on it.
    """
    state = reconcile_state.c
    upsert = insert(reconcile_state).values(
        bucket=bucket, prefix=prefix, owner=owner, lease_expires_at=_lease(lease_s)
    )
    unfinished = state.finished_at.is_(None)
    fresh = {name: case((unfinished, state[name]), else_=0) for name in COUNTERS}
    statement = upsert.on_conflict_do_update(
        index_elements=[state.bucket, state.prefix],
        set_={
            "owner": upsert.excluded.owner,
            "lease_expires_at": upsert.excluded.lease_expires_at,
            "after_key": case((unfinished, state.after_key), else_=None),
            "run_started_at": case((unfinished, state.run_started_at), else_=func.now()),
            "finished_at": None,
            "updated_at": func.now(),
            **fresh,
        },
        where=(
            state.lease_expires_at.is_(None)
            | (state.lease_expires_at < func.now())
            | (state.owner == upsert.excluded.owner)
        ),
    ).returning(state.after_key, state.run_started_at, state.scanned > 0)
    row = session.execute(statement).first()
    if row is None:
        return None
    after_key, run_started_at, progressed = row
    return Claim(after_key, run_started_at, resumed=bool(after_key) or bool(progressed))


def save_progress(
    session: Session, bucket: str, prefix: str, owner: str, batch: Batch, lease_s: float
) -> None:
    """Record a batch's resume point and counts, in the batch's own transaction; raises LeaseLost."""
    state = reconcile_state.c
    counts = {
        "scanned": batch.scanned,
        "inserted": batch.result.inserted,
        "updated": batch.result.updated,
        "deleted": batch.result.deleted,
        "left_alone": len(batch.comparison.left_alone) + batch.skipped_by_guard,
    }
    statement: Any = (
        update(reconcile_state)
        .where(
            state.bucket == bucket,
            state.prefix == prefix,
            state.owner == owner,
            state.finished_at.is_(None),
        )
        .values(
            after_key=batch.upper,
            finished_at=func.now() if batch.upper is None else None,
            lease_expires_at=_lease(lease_s),
            updated_at=func.now(),
            **{name: state[name] + value for name, value in counts.items()},
        )
        .returning(literal_column("1"))
    )
    if session.execute(statement).first() is None:
        raise LeaseLost(f"reconcile of s3://{bucket}/{prefix} is now held by another invocation")


def release(session: Session, bucket: str, prefix: str, owner: str) -> None:
    """Let the next invocation take the run at once instead of waiting for the lease to expire."""
    state = reconcile_state.c
    session.execute(
        update(reconcile_state)
        .where(state.bucket == bucket, state.prefix == prefix, state.owner == owner)
        .values(lease_expires_at=func.now(), updated_at=func.now())
    )


def state_of(session: Session, bucket: str, prefix: str) -> dict[str, Any] | None:
    state = reconcile_state.c
    row = session.execute(
        select(reconcile_state).where(state.bucket == bucket, state.prefix == prefix)
    ).first()
    return dict(row._mapping) if row is not None else None
