"""One invocation of the scheduled reconcile: claim the run, continue it to the time margin, release."""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from landing.db.uow import unit_of_work
from landing.reconcile import lease
from landing.reconcile.run import ROW_LIMIT, Batch, run
from landing.s3 import listing


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def resume(
    bucket: str,
    prefix: str,
    context: Any,
    *,
    page_size: int = listing.MAX_PAGE_SIZE,
    row_limit: int = ROW_LIMIT,
) -> dict[str, Any]:
    """One invocation of the scheduled reconcile: claim the run, continue it until the time margin,
    checkpoint after every batch, release. The next invocation resumes from the stored ``after_key``.
    """
    owner = str(context.aws_request_id)

    def lease_s() -> float:
        # Our lease ends with the invocation: a crashed one frees the run by its own deadline.
        return float(context.get_remaining_time_in_millis()) / 1000

    with unit_of_work(context) as session:
        held = lease.claim(session, bucket, prefix, owner, lease_s())
    if held is None:
        return {"bucket": bucket, "prefix": prefix, "status": "busy"}

    def checkpoint(session: Session, batch: Batch) -> None:
        lease.save_progress(session, bucket, prefix, owner, batch, lease_s())

    try:
        outcome = run(
            bucket,
            prefix,
            after_key=held.after_key,
            page_size=page_size,
            row_limit=row_limit,
            context=context,
            remaining_ms=context.get_remaining_time_in_millis,
            checkpoint=checkpoint,
        )
    finally:
        # If the database is what failed, the lease still ends at our deadline: keep the first error.
        with suppress(SQLAlchemyError), unit_of_work(context) as session:
            lease.release(session, bucket, prefix, owner)
    with unit_of_work(context) as session:
        state = lease.state_of(session, bucket, prefix) or {}
    totals = outcome.totals
    return {
        "bucket": bucket,
        "prefix": prefix,
        "status": "complete" if outcome.complete else "in_progress",
        "resumed": held.resumed,
        "after_key": outcome.after_key,
        "invocation": {
            "scanned": totals.scanned,
            "inserted": totals.inserted,
            "updated": totals.updated,
            "deleted": totals.deleted,
            "left_alone": totals.left_alone,
            "batches": totals.batches,
        },
        # Lambda serialises the response with json: timestamps as ISO 8601 text.
        "run": {name: _plain(state.get(name)) for name in ("run_started_at", "finished_at", *lease.COUNTERS)},
    }
