"""Upload intents: create (presign and record), get, complete and abort an announced upload."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from landing.db.models import Upload
from landing.settings import Settings
from landing.uploads import expiry, lifecycle, presign, quotas
from landing.uploads.errors import (
    Conflict,
    NotConfigured,
    OverQuota,
    TooLarge,
    bad_request,
    not_found,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
from landing.uploads.keys import ANONYMOUS, new_key
from landing.uploads.validation import parse_intent, whole_number

# RFC 9562's string form (hex case-insensitive on input), the only one the document names for ids.
CANONICAL_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def iso(value: datetime | None) -> str | None:
    """ISO-8601 in UTC with a Z, milliseconds precision (what JavaScript's Date parses)."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def view(row: Upload) -> dict[str, Any]:
    """The public representation of an upload (GET /uploads/{id})."""
    return {
        "id": str(row.id),
        "status": row.status,
        "key": row.key,
        "size": row.max_size,
        "object_size": row.size,
        "content_type": row.content_type,
        "filename": row.filename,
        "method": row.method,
        "created_at": iso(row.created_at),
        "expires_at": iso(row.expires_at),
        "completed_at": iso(row.completed_at),
        "rejection_reason": row.rejection_reason,
        "detected_type": row.detected_type,
        "scan_status": row.scan_status,
        "scanned_at": iso(row.scanned_at),
    }


def create(
    session: Session,
    client: S3Client,
    settings: Settings,
    owner: str,
    body: object,
    now: datetime | None = None,
) -> dict[str, Any]:
    """POST /uploads: validate, presign, and add the pending row to the caller's unit of work.

    Nothing is written for a refused request. The row is flushed only after presigning succeeded.
    """
    intent = parse_intent(body, settings)
    if owner == ANONYMOUS and intent.size > settings.anonymous_max_size:
        # Everyone shares the anonymous owner: keep what one unauthenticated caller can park small.
        raise TooLarge(
            "too_large",
            f"size {intent.size} is above the anonymous maximum of {settings.anonymous_max_size} bytes",
        )
    if intent.size > settings.upload_max_bytes_per_day:
        raise TooLarge(
            "too_large",
            f"size {intent.size} is above the {settings.upload_max_bytes_per_day} bytes an owner may "
            "announce per day",
        )
    if not settings.bucket_name:
        raise NotConfigured("not_configured", "BUCKET_NAME is not configured")
    now = now or datetime.now(UTC)
    try:
        quotas.check(session, settings, owner, intent.size, now)
    except quotas.QuotaExceeded as exceeded:
        raise OverQuota("quota_exceeded", exceeded.message, exceeded.retry_after_s) from None
    upload_id = uuid.uuid4()
    key = new_key(settings, owner, upload_id, intent.filename, intent.content_type)
    # A presigned request lives only as long as a client needs to start sending. A POST form takes no
    # If-None-Match: it can be sent again until it expires, so it is the shortest. A PUT writes only
    # an empty key; part URLs die with their multipart upload, so they may live longer.
    expires_s = {
        "MULTIPART": settings.multipart_presign_expires_s,
        "PUT": settings.presign_expires_s,
    }.get(intent.method, settings.post_presign_expires_s)
    # Computed before signing, so the recorded expiry is never later than the signature's.
    expires_at = now + timedelta(seconds=expires_s)
    target: presign.Target = {
        "bucket": settings.bucket_name,
        "key": key,
        "content_type": intent.content_type,
        "upload_id": str(upload_id),
        "metadata": intent.metadata,
        "expires_s": expires_s,
    }
    if intent.method == "MULTIPART":
        part_size = presign.part_size_for(intent.size, settings.multipart_part_size)
        signed = presign.multipart(client, size=intent.size, part_size=part_size, **target)
    elif intent.method == "PUT":
        assert intent.checksum_sha256 is not None  # validation requires one for a PUT
        signed = presign.put(client, size=intent.size, checksum_sha256=intent.checksum_sha256, **target)
    else:
        signed = presign.post(client, max_size=intent.size, **target)
    session.add(
        Upload(
            id=upload_id,
            bucket=settings.bucket_name,
            key=key,
            content_type=intent.content_type,
            max_size=intent.size,
            owner=owner,
            status="pending",
            created_at=now,
            expires_at=expires_at,
            filename="".join(c for c in intent.filename if c.isprintable()),
            method=intent.method,
            checksum_sha256=intent.checksum_sha256,
            user_metadata=intent.metadata or None,
            multipart_upload_id=signed.multipart_upload_id,
        )
    )
    session.flush()
    answer: dict[str, Any] = {
        "id": str(upload_id),
        "key": key,
        "method": signed.method,
        "url": signed.url,
        "fields": signed.fields,
        "headers": signed.headers,
        "expires_at": iso(expires_at),
    }
    if signed.method == "MULTIPART":
        answer["part_size"] = signed.part_size
        answer["parts"] = signed.parts
    return answer


def parse_id(raw: object) -> uuid.UUID:
    """An upload id from a path, in the form the API writes it (8-4-4-4-12 hex digits); anything else,
    urn:uuid:..., {...} or 32 bare digits included, is simply an unknown upload."""
    if not isinstance(raw, str) or not CANONICAL_UUID.fullmatch(raw):
        raise not_found(raw)
    return uuid.UUID(raw)


def owned(session: Session, owner: str, upload_id: uuid.UUID, *, lock: bool = False) -> Upload:
    statement = select(Upload).where(Upload.id == upload_id, Upload.owner == owner)
    if lock:
        statement = statement.with_for_update()
    row = session.execute(statement).scalar_one_or_none()
    if row is None:
        # Another owner's upload answers exactly like a missing one.
        raise not_found(upload_id)
    return row


def get(session: Session, owner: str, raw_id: object, now: datetime | None = None) -> dict[str, Any]:
    """GET /uploads/{id}: the caller's upload, expired first if its time is up (lazy expiry)."""
    upload_id = parse_id(raw_id)
    now = now or datetime.now(UTC)
    row = owned(session, owner, upload_id)
    if expiry.is_due(row, now) and expiry.expire_due(session, now, owner=owner, upload_id=upload_id):
        session.refresh(row)
    return view(row)


def complete(
    session: Session,
    client: S3Client,
    settings: Settings,
    owner: str,
    raw_id: object,
    body: object,
    now: datetime | None = None,
) -> dict[str, Any]:
    """POST /uploads/{id}/complete: finish a multipart upload with the client's part ETags.

    The status stays pending: the object's S3 event decides uploaded or rejected, as for every method.
    """
    upload_id = parse_id(raw_id)
    now = now or datetime.now(UTC)
    parts = _parse_parts(body)
    row = open_multipart(session, owner, upload_id, now)
    if not row.size_announced:
        raise Conflict(
            "size_not_announced",
            f"upload {upload_id} was started without a size: complete it with "
            f"POST /s3/multipart/{upload_id}/complete",
        )
    expected = _part_count(row, settings)
    if [number for number, _ in parts] != list(range(1, expected + 1)):
        raise bad_request(
            "invalid_parts", f"parts must list part_number 1..{expected} once each, in order, with their etag"
        )
    assemble(client, row, parts)
    return view(row)


def assemble(client: S3Client, row: Upload, parts: list[tuple[int, str]]) -> None:
    """CompleteMultipartUpload for a locked pending row; S3's refusal as a 400 naming its code.

    The row stays locked while S3 assembles the parts, so a concurrent abort or expiry waits.
    """
    assert row.multipart_upload_id is not None
    from botocore.exceptions import ClientError

    try:
        presign.complete_multipart(
            client, bucket=row.bucket, key=row.key, multipart_upload_id=row.multipart_upload_id, parts=parts
        )
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", "S3Error"))
        raise bad_request("s3_" + re.sub(r"(?<!^)(?=[A-Z])", "_", code).lower(), str(error)) from None


def _parse_parts(body: object) -> list[tuple[int, str]]:
    message = 'the body must be {"parts": [{"part_number": 1, "etag": "..."}, ...]}'
    if not isinstance(body, Mapping) or not isinstance(body.get("parts"), list) or not body["parts"]:
        raise bad_request("invalid_parts", message)
    parts = []
    for part in body["parts"]:
        number = whole_number(part.get("part_number")) if isinstance(part, Mapping) else None
        etag = part.get("etag") if isinstance(part, Mapping) else None
        if number is None or not isinstance(etag, str) or not etag:
            raise bad_request("invalid_parts", message)
        parts.append((number, etag))
    return parts


def _part_count(row: Upload, settings: Settings) -> int:
    part_size = presign.part_size_for(row.max_size, settings.multipart_part_size)
    return -(-row.max_size // part_size)


def open_multipart(session: Session, owner: str, upload_id: uuid.UUID, now: datetime) -> Upload:
    """The caller's multipart upload, locked, still pending and in time; refuses anything else."""
    row = owned(session, owner, upload_id, lock=True)
    if row.method != "MULTIPART":
        raise Conflict(
            "not_multipart",
            "only multipart uploads can be completed or aborted; a presigned POST or PUT "
            "cannot be revoked and simply expires",
        )
    if expiry.is_due(row, now) and expiry.expire_due(session, now, owner=owner, upload_id=upload_id):
        session.refresh(row)
    if row.status != "pending" or row.multipart_upload_id is None:
        raise Conflict(f"upload_{row.status}", f"upload {upload_id} is {row.status}")
    return row


def abort(
    session: Session, client: S3Client, owner: str, raw_id: object, now: datetime | None = None
) -> dict[str, Any]:
    """DELETE /uploads/{id}: abort a pending multipart upload in S3 and mark it expired."""
    upload_id = parse_id(raw_id)
    now = now or datetime.now(UTC)
    row = open_multipart(session, owner, upload_id, now)
    assert row.multipart_upload_id is not None
    presign.abort_multipart(
        client, bucket=row.bucket, key=row.key, multipart_upload_id=row.multipart_upload_id
    )
    aborted = session.execute(
        update(Upload)
        .where(Upload.id == upload_id, Upload.status == "pending")
        .values(status="expired", multipart_upload_id=None, rejection_reason=lifecycle.ABORTED_BY_CLIENT)
        .returning(Upload.id)
    ).scalars()
    lifecycle.note_changed(session, aborted)
    session.refresh(row)
    return view(row)
