"""The outbox table: rows the uploads_status_event trigger writes, claimed, deleted or marked failed here."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.orm import Session

from landing.db.models import EventOutbox

outbox: Table = EventOutbox.__table__  # type: ignore[assignment]
# Kept short in the table: enough to tell a missing bus from throttling.
MAX_ERROR_CHARS = 500


@dataclass(frozen=True, slots=True)
class Pending:
    id: int
    event_id: uuid.UUID
    detail_type: str
    detail: dict[str, Any]
    created_at: datetime


def claim(
    session: Session,
    limit: int,
    upload_ids: Collection[uuid.UUID] | None = None,
    after_id: int | None = None,
) -> list[Pending]:
    """Lock up to ``limit`` rows, oldest first (only those of ``upload_ids``, or after ``after_id``,
    when given: one pass tries each row once).

    SKIP LOCKED: a row another publisher holds is left to it, so two passes never send one row
    twice; the locks last until the caller's transaction ends, after the rows are deleted.
    """
    statement = (
        select(outbox.c.id, outbox.c.event_id, outbox.c.detail_type, outbox.c.detail, outbox.c.created_at)
        .order_by(outbox.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if upload_ids is not None:
        statement = statement.where(outbox.c.upload_id.in_(sorted(upload_ids)))
    if after_id is not None:
        statement = statement.where(outbox.c.id > after_id)
    return [Pending(*row) for row in session.execute(statement)]


def remove(session: Session, ids: Collection[int]) -> None:
    """Published (or discarded) rows leave the table: it only ever holds what is still owed."""
    if ids:
        session.execute(delete(outbox).where(outbox.c.id.in_(sorted(ids))))


def mark_failed(session: Session, failures: Mapping[int, str]) -> None:
    """Count the attempt and keep the last error on each row that EventBridge did not accept."""
    by_error: dict[str, list[int]] = {}
    for row_id, error in failures.items():
        by_error.setdefault(error[:MAX_ERROR_CHARS], []).append(row_id)
    for error, ids in by_error.items():
        session.execute(
            update(outbox)
            .where(outbox.c.id.in_(sorted(ids)))
            .values(attempts=outbox.c.attempts + 1, last_error=error)
        )


@dataclass(frozen=True, slots=True)
class Backlog:
    rows: int
    oldest_age_s: float


def backlog(session: Session) -> Backlog:
    """How many rows wait and how long the oldest has waited (database clock, no skew)."""
    count, age = session.execute(
        select(
            func.count(),
            func.coalesce(func.extract("epoch", func.now() - func.min(outbox.c.created_at)), 0),
        ).select_from(outbox)
    ).one()
    return Backlog(rows=int(count), oldest_age_s=max(float(age), 0.0))
