"""Owner-scoped, cursor-paginated API reads: the caller's uploads and the objects those uploads wrote."""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from landing.db.models import UPLOAD_STATUSES, Object, Upload
from landing.settings import Settings
from landing.uploads import expiry, intents, keys
from landing.uploads.errors import UploadError, bad_request

DEFAULT_LIMIT = 50
MAX_LIMIT = 100
# ASCII digits only: str.isdigit() is also true for superscripts, circled and Arabic-Indic digits.
LIMIT = re.compile(r"[0-9]{1,3}")
# An S3 key is at most 1024 bytes, so at most 1024 characters.
MAX_KEY_CHARS = 1024
# The longest cursor this API issues: a 1024-byte key, every character JSON-escaped, in base64.
MAX_CURSOR_CHARS = 8 * 1024 + 64


def parse_limit(raw: str | None) -> int:
    """Absent is the default; anything but 1 to MAX_LIMIT in ASCII digits (an empty value too) is a 400."""
    if raw is None:
        return DEFAULT_LIMIT
    if not LIMIT.fullmatch(raw) or not 1 <= int(raw) <= MAX_LIMIT:
        raise bad_request("invalid_limit", f"limit must be an integer from 1 to {MAX_LIMIT}")
    return int(raw)


def parse_status(raw: str | None) -> str | None:
    if raw is None:
        return None
    if raw not in UPLOAD_STATUSES:
        raise bad_request("invalid_status", f"status must be one of {', '.join(UPLOAD_STATUSES)}")
    return raw


def is_text(value: str, max_chars: int = MAX_KEY_CHARS) -> bool:
    """Text PostgreSQL can store and compare: no NUL (22021), no lone surrogate (not UTF-8), bounded."""
    if len(value) > max_chars or "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def encode_cursor(*values: str) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode().rstrip("=")


def _bad_cursor() -> UploadError:
    return bad_request("invalid_cursor", "cursor is not one this API returned")


def decode_cursor(raw: str | None, size: int) -> list[str] | None:
    """The position a previous page ended at; a cursor we did not issue is a 400, not a 500.

    Bounded before it is decoded (size), while decoding (RecursionError: JSON nested thousands
    deep) and after (each value text the database can take), so nothing odd reaches a query.
    """
    if raw is None:
        return None
    if not raw or len(raw) > MAX_CURSOR_CHARS:
        raise _bad_cursor()
    try:
        values = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, RecursionError):
        values = None
    if (
        not isinstance(values, list)
        or len(values) != size
        or not all(isinstance(v, str) and is_text(v) for v in values)
    ):
        raise _bad_cursor()
    return values


def _timestamp(raw: str) -> datetime:
    """A cursor's time, in UTC: one the database can compare (no offset that overflows year 1 or 9999)."""
    try:
        value = datetime.fromisoformat(raw)
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise _bad_cursor() from None


def list_uploads(
    session: Session, owner: str, query: Mapping[str, str], now: datetime | None = None
) -> dict[str, Any]:
    """GET /uploads?status=&limit=&cursor=: the caller's uploads, newest first.

    Due pending uploads are expired first (lazily), so the list never reports a stale pending.
    """
    status = parse_status(query.get("status"))
    limit = parse_limit(query.get("limit"))
    cursor = decode_cursor(query.get("cursor"), 2)
    expiry.expire_due(session, now or datetime.now(UTC), owner=owner)
    statement = select(Upload).where(Upload.owner == owner)
    if status is not None:
        statement = statement.where(Upload.status == status)
    if cursor is not None:
        created_at, last_id = _timestamp(cursor[0]), _uuid(cursor[1])
        statement = statement.where(
            or_(Upload.created_at < created_at, and_(Upload.created_at == created_at, Upload.id < last_id))
        )
    rows = list(
        session.execute(statement.order_by(Upload.created_at.desc(), Upload.id.desc()).limit(limit + 1))
        .scalars()
        .all()
    )
    page = rows[:limit]
    next_cursor = (
        encode_cursor(page[-1].created_at.isoformat(), str(page[-1].id)) if len(rows) > limit else None
    )
    return {"uploads": [intents.view(row) for row in page], "next_cursor": next_cursor}


def _uuid(raw: str) -> uuid.UUID:
    if not intents.CANONICAL_UUID.fullmatch(raw):
        raise _bad_cursor()
    return uuid.UUID(raw)


def object_view(row: Object, upload: Upload) -> dict[str, Any]:
    """An object as its upload accepted it: ``e_tag`` and ``version_id`` name the accepted body, so a
    reader gets those bytes (GetObject VersionId / If-Match) even while a replay it sent again is
    still current at the key (until ingest or the scheduled pass removes it)."""
    return {
        "key": row.key,
        "size": upload.size if upload.e_tag else row.size,
        "e_tag": upload.e_tag or row.e_tag,
        "version_id": upload.version_id if upload.e_tag else row.version_id,
        "content_type": row.content_type,
        "last_modified_date": intents.iso(row.last_modified_date),
        "updated_at": intents.iso(row.updated_at),
        "upload_id": str(row.upload_id) if row.upload_id else None,
    }


def list_objects(
    session: Session, settings: Settings, owner: str, query: Mapping[str, str]
) -> dict[str, Any]:
    """GET /objects?prefix=&limit=&cursor=: the caller's current (not deleted) objects, by key.

    Ownership is what the database recorded, not what a key looks like: an object is listed only
    when it is the very key of an upload whose owner is the caller. ``prefix`` is matched against the
    full key and only narrows the caller's own area (uploads/<owner>/).
    """
    area = keys.owner_prefix(settings, owner)
    prefix = query.get("prefix") or ""
    if not is_text(prefix):
        raise bad_request(
            "invalid_prefix", f"prefix must be UTF-8 text without NUL, at most {MAX_KEY_CHARS} characters"
        )
    limit = parse_limit(query.get("limit"))
    cursor = decode_cursor(query.get("cursor"), 1)
    if prefix.startswith(area):
        area = prefix
    elif not area.startswith(prefix):
        return {"objects": [], "next_cursor": None}
    statement = (
        select(Object, Upload)
        .join(Upload, Upload.id == Object.upload_id)
        .where(
            Upload.owner == owner,
            Upload.bucket == Object.bucket,
            Upload.key == Object.key,
            Object.bucket == settings.bucket_name,
            Object.key.startswith(area, autoescape=True),
            Object.is_deleted.is_(False),
        )
    )
    if cursor is not None:
        statement = statement.where(Object.key > cursor[0])
    rows = list(session.execute(statement.order_by(Object.key).limit(limit + 1)).all())
    page = rows[:limit]
    next_cursor = encode_cursor(page[-1][0].key) if len(rows) > limit else None
    return {"objects": [object_view(row, upload) for row, upload in page], "next_cursor": next_cursor}
