"""Companion's multipart routes after the create: sign a part, list the parts, complete, abort."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from landing.db.models import Upload
from landing.settings import Settings
from landing.uploads import intents, lifecycle, presign, reservations
from landing.uploads.errors import Conflict, TooLarge, UploadError, bad_request, not_found

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


# S3: part numbers 1..10,000; every part but the last at least 5 MiB.
MAX_PART_NUMBER = 10_000

PART_NUMBER = re.compile(r"[0-9]{1,5}")


def _open(session: Session, owner: str, raw_id: object, query: Mapping[str, str], now: datetime) -> Upload:
    """The caller's pending multipart upload named by uploadId and ?key=, locked."""
    key = query.get("key")
    if not key:
        raise bad_request("missing_key", 'the object key must be passed as a query parameter: "?key=..."')
    row = intents.open_multipart(session, owner, intents.parse_id(raw_id), now)
    if row.key != key:
        # The key is part of the name: a mismatch is another upload, which does not exist.
        raise not_found(raw_id)
    return row


def _part_number(raw: object) -> int:
    text = str(raw)
    # ASCII digits only: str.isdigit() also takes "²" and "٣", which int() refuses or reads.
    if not PART_NUMBER.fullmatch(text) or not 1 <= int(text) <= MAX_PART_NUMBER:
        raise bad_request("invalid_part_number", f"the part number must be 1 to {MAX_PART_NUMBER}")
    return int(text)


def _parts(client: S3Client, row: Upload) -> list[dict[str, Any]]:
    from botocore.exceptions import ClientError

    assert row.multipart_upload_id is not None
    try:
        return presign.list_parts(
            client, bucket=row.bucket, key=row.key, multipart_upload_id=row.multipart_upload_id
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "NoSuchUpload":
            raise
        # S3 dropped it (the bucket's rule for incomplete uploads, or an abort outside the API).
        raise Conflict(
            "upload_gone", f"S3 no longer holds the parts of upload {row.id}; start it again"
        ) from None


def sign_part(
    session: Session,
    client: S3Client,
    settings: Settings,
    owner: str,
    raw_id: object,
    raw_number: object,
    query: Mapping[str, str],
    now: datetime | None = None,
) -> dict[str, Any]:
    """GET /s3/multipart/{uploadId}/{partNumber}?key=: a presigned UploadPart; {url, expires}.

    An announced size signs the part's exact length. Without one, no part is signed that the upload
    could only need beyond its bound (every earlier part is at least 5 MiB), nor once the parts S3
    already holds reach it, and the upload's reservation grows with them within the daily quota.
    """
    number = _part_number(raw_number)
    now = now or datetime.now(UTC)
    row = _open(session, owner, raw_id, query, now)
    length: int | None = None
    if row.size_announced:
        part_size = presign.part_size_for(row.max_size, settings.multipart_part_size)
        if number > math.ceil(row.max_size / part_size):
            raise bad_request(
                "invalid_part_number", f"upload {row.id} has {math.ceil(row.max_size / part_size)} parts"
            )
        length = min(part_size, row.max_size - (number - 1) * part_size)
    else:
        bound = reservations.upload_bound(settings, owner)
        if (number - 1) * presign.MIN_PART_SIZE >= bound:
            raise TooLarge(
                "too_large",
                f"part {number} would make the upload at least {(number - 1) * presign.MIN_PART_SIZE + 1} "
                f"bytes (every part but the last has 5 MiB or more): above the maximum of {bound} bytes",
            )
        sizes = {int(part["PartNumber"]): int(part["Size"]) for part in _parts(client, row)}
        held = sum(size for part, size in sizes.items() if part != number)
        if held >= bound:
            raise TooLarge(
                "too_large", f"the parts sent add up to {held} bytes: the maximum is {bound} bytes"
            )
        largest = max([presign.MIN_PART_SIZE, *sizes.values()])
        reservations.grow(session, settings, row, min(bound, held + largest), now)
    expires_s = settings.multipart_presign_expires_s
    # A freshly signed part keeps the upload open as long as its URL works.
    row.expires_at = max(row.expires_at, now + timedelta(seconds=expires_s))
    assert row.multipart_upload_id is not None
    url = presign.part_url(
        client,
        bucket=row.bucket,
        key=row.key,
        multipart_upload_id=row.multipart_upload_id,
        part_number=number,
        expires_s=expires_s,
        length=length,
    )
    session.flush()
    return {"url": url, "expires": expires_s}


def list_parts(
    session: Session,
    client: S3Client,
    owner: str,
    raw_id: object,
    query: Mapping[str, str],
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """GET /s3/multipart/{uploadId}?key=: the parts S3 holds, [{PartNumber, Size, ETag}] (ETag quoted,
    as S3 lists it), so a client resumes where it stopped."""
    row = _open(session, owner, raw_id, query, now or datetime.now(UTC))
    return [
        {"PartNumber": int(part["PartNumber"]), "Size": int(part["Size"]), "ETag": str(part["ETag"])}
        for part in _parts(client, row)
    ]


def _completed_parts(body: object) -> list[tuple[int, str]]:
    message = 'the body must be {"parts": [{"PartNumber": 1, "ETag": "..."}, ...]}, part numbers ascending'
    if not isinstance(body, Mapping) or set(body) != {"parts"} or not isinstance(body["parts"], list):
        raise bad_request("invalid_parts", message)
    parts: list[tuple[int, str]] = []
    for part in body["parts"]:
        if not isinstance(part, Mapping) or set(part) != {"PartNumber", "ETag"}:
            raise bad_request("invalid_parts", message)
        number, etag = part["PartNumber"], part["ETag"]
        if isinstance(number, bool) or not isinstance(number, int) or not isinstance(etag, str) or not etag:
            raise bad_request("invalid_parts", message)
        if parts and number <= parts[-1][0]:
            raise bad_request("invalid_parts", message)
        parts.append((number, etag))
    if not parts:
        raise bad_request("invalid_parts", message)
    return parts


def object_url(client: S3Client, bucket: str, key: str) -> str:
    """The object's URL in the client's addressing style (what S3's Location says), unsigned."""
    signed = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=1)
    return signed.split("?", 1)[0]


def complete(
    session: Session,
    client: S3Client,
    settings: Settings,
    owner: str,
    raw_id: object,
    query: Mapping[str, str],
    body: object,
    now: datetime | None = None,
) -> dict[str, Any] | UploadError:
    """POST /s3/multipart/{uploadId}/complete?key= {parts}: {location, key, bucket}.

    The parts' sizes come from S3 (ListParts), never from the client: their sum is the upload's exact
    size from now on (ingest rejects any other), checked against the bound and the daily quota.
    Parts above the bound end the upload: it is aborted in S3 and rejected, and the refusal is
    *returned* so that the caller commits that decision before answering it.
    """
    parts = _completed_parts(body)
    now = now or datetime.now(UTC)
    row = _open(session, owner, raw_id, query, now)
    sizes = {int(part["PartNumber"]): int(part["Size"]) for part in _parts(client, row)}
    missing = [number for number, _ in parts if number not in sizes]
    if missing:
        raise bad_request("invalid_parts", f"S3 holds no part {missing[0]} of this upload")
    total = sum(sizes[number] for number, _ in parts)
    if row.size_announced:
        if total != row.max_size:
            raise bad_request(
                "invalid_parts", f"the parts add up to {total} bytes, not the {row.max_size} announced"
            )
    else:
        bound = reservations.upload_bound(settings, owner)
        if total > bound:
            return _reject_too_large(
                session, client, row, f"the parts add up to {total} bytes, more than the maximum of {bound}"
            )
        reservations.grow(session, settings, row, total, now)
        row.max_size = total
    session.flush()
    intents.assemble(client, row, parts)
    return {"location": object_url(client, row.bucket, row.key), "key": row.key, "bucket": row.bucket}


def _reject_too_large(session: Session, client: S3Client, row: Upload, reason: str) -> UploadError:
    assert row.multipart_upload_id is not None
    presign.abort_multipart(
        client, bucket=row.bucket, key=row.key, multipart_upload_id=row.multipart_upload_id
    )
    rejected = session.execute(
        update(Upload)
        .where(Upload.id == row.id, Upload.status == "pending")
        .values(status="rejected", multipart_upload_id=None, rejection_reason=reason)
        .returning(Upload.id)
    ).scalars()
    lifecycle.note_changed(session, rejected)
    return TooLarge("too_large", f"{reason}; the upload is rejected and its parts deleted")


def abort(
    session: Session,
    client: S3Client,
    owner: str,
    raw_id: object,
    query: Mapping[str, str],
    now: datetime | None = None,
) -> dict[str, Any]:
    """DELETE /s3/multipart/{uploadId}?key=: abort in S3 (parts deleted); the upload becomes expired."""
    now = now or datetime.now(UTC)
    _open(session, owner, raw_id, query, now)
    intents.abort(session, client, owner, raw_id, now)
    return {}
