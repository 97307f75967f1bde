"""Expiry: pending uploads whose presigned request ran out (after the grace period) become expired."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    update,
)
from sqlalchemy.orm import Session

from landing.db.models import Upload
from landing.settings import get_settings

if TYPE_CHECKING:
    pass
from landing.uploads.lifecycle import note_changed, uploads


def _due_before(now: datetime) -> datetime:
    """Presigned requests that expired before this instant (the grace period ago) are due."""
    return now - timedelta(seconds=get_settings().upload_grace_s)


def due_condition(now: datetime) -> Any:
    """Pending uploads whose presigned request expired more than the grace period ago."""
    return (uploads.c.status == "pending") & (uploads.c.expires_at < _due_before(now))


def is_due(upload: Upload, now: datetime) -> bool:
    """The same rule as due_condition, on a row already read: lets readers skip a useless UPDATE."""
    return upload.status == "pending" and upload.expires_at < _due_before(now)


def expire_due(
    session: Session, now: datetime, *, owner: str | None = None, upload_id: uuid.UUID | None = None
) -> int:
    """Mark due pending uploads expired (all, one owner's, or one); returns how many changed.

    The WHERE repeats status = 'pending', so an upload decided by ingest meanwhile is never moved back.
    """
    statement = update(uploads).where(due_condition(now)).values(status="expired")
    if owner is not None:
        statement = statement.where(uploads.c.owner == owner)
    if upload_id is not None:
        statement = statement.where(uploads.c.id == upload_id)
    expired = [row.id for row in session.execute(statement.returning(uploads.c.id))]
    note_changed(session, expired)
    return len(expired)
