"""How many bytes an upload without an announced size may have, and its share of the owner's daily quota."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from landing.db.models import Upload
from landing.settings import SINGLE_REQUEST_MAX, Settings
from landing.uploads import quotas
from landing.uploads.errors import OverQuota
from landing.uploads.keys import ANONYMOUS


def single_bound(settings: Settings, owner: str) -> int:
    """The most bytes one POST form from GET /s3/params accepts: larger files go multipart."""
    return min(settings.multipart_threshold, SINGLE_REQUEST_MAX, upload_bound(settings, owner))


def upload_bound(settings: Settings, owner: str) -> int:
    """The most bytes one upload may have, however it is sent."""
    bound = min(settings.upload_max_size, settings.upload_max_bytes_per_day)
    return min(bound, settings.anonymous_max_size) if owner == ANONYMOUS else bound


def reserve(session: Session, settings: Settings, owner: str, wanted: int, now: datetime) -> int:
    """Under the owner's quota lock: refuse a new upload beyond the open-uploads quota, and reserve up to
    ``wanted`` bytes of the day's quota (less when less is left; none left is a 429)."""
    try:
        quotas.lock(session, owner)
        quotas.check_open(session, settings, owner, now)
        granted = min(wanted, quotas.available(session, settings, owner, now))
        if granted < 1:
            quotas.check_bytes(session, settings, owner, 1, now)
    except quotas.QuotaExceeded as exceeded:
        raise OverQuota("quota_exceeded", exceeded.message, exceeded.retry_after_s) from None
    return granted


def grow(session: Session, settings: Settings, row: Upload, size: int, now: datetime) -> None:
    """Raise the bytes an upload reserves to ``size``, within the owner's daily quota (429 otherwise)."""
    if size <= row.max_size:
        return
    try:
        quotas.lock(session, row.owner)
        quotas.check_bytes(session, settings, row.owner, size - row.max_size, now)
    except quotas.QuotaExceeded as exceeded:
        raise OverQuota("quota_exceeded", exceeded.message, exceeded.retry_after_s) from None
    row.max_size = size
