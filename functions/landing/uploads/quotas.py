"""Per-owner quotas on announced uploads: open presigned requests at once, and bytes announced per day."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from landing.db.models import Upload
from landing.settings import Settings

DAY = timedelta(days=1)


class QuotaExceeded(Exception):
    """A quota is used up; ``retry_after_s`` is when the same request can succeed at the earliest."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after_s = retry_after_s


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


def lock(session: Session, owner: str) -> None:
    """A transaction-scoped lock per owner, so concurrent requests of one owner are counted one after
    another and cannot all slip under a limit together (other owners never wait)."""
    session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended("landing.quota:" + owner, 0))))


def check_open(session: Session, settings: Settings, owner: str, now: datetime) -> None:
    """Raise QuotaExceeded when the owner already has as many open uploads as allowed."""
    # Open = its presigned request still works; one that expired can no longer send bytes.
    pending = session.execute(
        select(func.count(), func.min(Upload.expires_at)).where(
            Upload.owner == owner, Upload.status == "pending", Upload.expires_at > now
        )
    ).one()
    if pending[0] >= settings.upload_max_pending_per_owner:
        raise QuotaExceeded(
            f"{pending[0]} uploads are still open (at most {settings.upload_max_pending_per_owner}); "
            "finish or abort one, or wait until one expires",
            _seconds_until(pending[1], now),
        )


def _counted(session: Session, owner: str, now: datetime) -> list[Any]:
    """The owner's uploads of the last day with the bytes each counts: what it announced or reserved,
    or, once its object arrived, the bytes that landed when fewer (an upload through the /s3 routes
    reserves up to its bound before anyone knows its size)."""
    counted = func.least(Upload.max_size, func.coalesce(Upload.size, Upload.max_size))
    return list(
        session.execute(
            select(Upload.created_at, counted.label("bytes"))
            .where(Upload.owner == owner, Upload.created_at > now - DAY)
            .order_by(Upload.created_at)
        ).all()
    )


def available(session: Session, settings: Settings, owner: str, now: datetime) -> int:
    """Bytes the owner may still announce or reserve in the current 24 hours (call lock() first)."""
    return settings.upload_max_bytes_per_day - sum(int(row.bytes) for row in _counted(session, owner, now))


def check_bytes(session: Session, settings: Settings, owner: str, size: int, now: datetime) -> None:
    """Raise QuotaExceeded when ``size`` (at most the daily quota) more bytes would break the owner's
    daily byte quota; Retry-After is when enough of the last day's uploads have aged out."""
    limit = settings.upload_max_bytes_per_day
    announced = _counted(session, owner, now)
    used = sum(row.bytes for row in announced)
    if used + size <= limit:
        return
    # The earliest moment enough of the last day's announcements have aged out for this one to fit
    # (a day from now when even that is not enough: a reservation growing past the whole quota).
    retry_at, freed = now + DAY, 0
    for row in announced:
        freed += row.bytes
        if used - freed + size <= limit:
            retry_at = row.created_at + DAY
            break
    raise QuotaExceeded(
        f"{used} of the {limit} bytes an owner may announce per day are taken",
        _seconds_until(retry_at, now),
    )


def check(session: Session, settings: Settings, owner: str, size: int, now: datetime) -> None:
    """Raise QuotaExceeded when announcing ``size`` (at most the daily quota) more bytes would break
    one of the owner's quotas (open uploads, bytes per day), counted under the owner's lock."""
    lock(session, owner)
    check_open(session, settings, owner, now)
    check_bytes(session, settings, owner, size, now)
