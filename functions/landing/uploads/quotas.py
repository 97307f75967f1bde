"""Per-owner quotas on announced uploads: open presigned requests at once, and bytes announced per day."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

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


def check(session: Session, settings: Settings, owner: str, size: int, now: datetime) -> None:
    """Raise QuotaExceeded when announcing ``size`` (at most the daily quota) more bytes would break
    one of the owner's quotas.

    Takes a transaction-scoped lock per owner first, so concurrent requests of one owner are counted
    one after another and cannot all slip under the limit together (other owners never wait).
    """
    session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended("landing.quota:" + owner, 0))))
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
    limit = settings.upload_max_bytes_per_day
    announced = session.execute(
        select(Upload.created_at, Upload.max_size)
        .where(Upload.owner == owner, Upload.created_at > now - DAY)
        .order_by(Upload.created_at)
    ).all()
    used = sum(row.max_size for row in announced)
    if used + size <= limit:
        return
    # The earliest moment enough of the last day's announcements have aged out for this one to fit
    # (the caller refused a size above the whole daily quota, so one always does).
    freed = 0
    for row in announced:
        freed += row.max_size
        if used - freed + size <= limit:
            break
    raise QuotaExceeded(
        f"{used} of the {limit} bytes an owner may announce per day are taken",
        _seconds_until(row.created_at + DAY, now),
    )
