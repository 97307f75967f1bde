"""Companion's S3 routes that start an upload (limits, a single-request form, a multipart create), as Uppy calls them.

Uppy never says how big a file is: a single upload gets a POST form whose policy caps it at the
single-request bound, and a multipart upload is bounded when each part is signed (by the part number
and the parts S3 already holds) and fixed to the exact sum of its parts at completion.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from landing.db.models import Upload
from landing.settings import Settings
from landing.uploads import keys, presign, reservations, validation
from landing.uploads.errors import NotConfigured, bad_request

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
from landing.uploads.multipart import MAX_PART_NUMBER

PARAMS_QUERY = frozenset({"filename", "type"})

METADATA_PARAMETER = re.compile(r"metadata\[([^\]]*)\]")

CREATE_FIELDS = frozenset({"filename", "type", "metadata"})

# Uppy sends every meta field of a file by default; these repeat the filename and type given anyway.
UPPY_META = frozenset({"name", "type"})


def limits(settings: Settings, owner: str) -> dict[str, Any]:
    """GET /s3/limits: what a client must respect, so it can choose single or multipart and a part size."""
    return {
        "single_max_size": reservations.single_bound(settings, owner),
        "max_size": reservations.upload_bound(settings, owner),
        "min_part_size": presign.MIN_PART_SIZE,
        "max_parts": MAX_PART_NUMBER,
        "part_size": settings.multipart_part_size,
        "max_bytes_per_day": settings.upload_max_bytes_per_day,
        "allowed_content_types": sorted(settings.allowed_content_types),
    }


def _filename(value: object) -> str:
    if (
        not isinstance(value, str)
        or not validation.FILENAME_VISIBLE.search(value)
        or len(value) > validation.MAX_FILENAME_CHARS
    ):
        raise bad_request(
            "invalid_filename",
            f"filename must be a string of 1 to {validation.MAX_FILENAME_CHARS} characters",
        )
    return value


def _metadata(raw: Mapping[str, object], *, from_query: bool) -> dict[str, str]:
    """Uppy's meta fields as S3 metadata: names lower-cased (S3 stores them so), the repeated name and
    type left out, and a missing value (JSON null; the text "null" in a query string, which is how
    Uppy writes it there) left out; everything else follows POST /uploads' rules."""
    kept: dict[str, object] = {}
    for name, value in raw.items():
        lowered = name.lower()
        if lowered in UPPY_META or value is None or (from_query and value == "null"):
            continue
        kept[lowered] = value
    return validation.parse_metadata(kept)


def _new_upload(
    settings: Settings, owner: str, filename: str, content_type: str, metadata: dict[str, str], now: datetime
) -> Upload:
    if not settings.bucket_name:
        raise NotConfigured("not_configured", "BUCKET_NAME is not configured")
    upload_id = uuid.uuid4()
    return Upload(
        id=upload_id,
        bucket=settings.bucket_name,
        key=keys.new_key(settings, owner, upload_id, filename, content_type),
        content_type=content_type,
        owner=owner,
        status="pending",
        created_at=now,
        filename="".join(c for c in filename if c.isprintable()),
        user_metadata=metadata or None,
        size_announced=False,
    )


def params(
    session: Session,
    client: S3Client,
    settings: Settings,
    owner: str,
    query: Mapping[str, str],
    now: datetime | None = None,
) -> dict[str, Any]:
    """GET /s3/params?filename=&type=&metadata[name]=: a pending upload and its presigned POST form.

    The policy allows 1..single_bound bytes (less when less of the day's quota is left), the exact
    key, the type and the metadata; the upload reserves that bound until its object arrives.
    """
    metadata_raw: dict[str, object] = {}
    for name, value in query.items():
        match = METADATA_PARAMETER.fullmatch(name)
        if match:
            metadata_raw[match.group(1)] = value
        elif name not in PARAMS_QUERY:
            raise bad_request("unknown_parameter", f"unknown query parameter {name[:64]!r}")
    filename = _filename(query.get("filename"))
    content_type = validation.parse_content_type(query.get("type") or "", settings)
    metadata = _metadata(metadata_raw, from_query=True)
    now = now or datetime.now(UTC)
    row = _new_upload(settings, owner, filename, content_type, metadata, now)
    row.max_size = reservations.reserve(
        session, settings, owner, reservations.single_bound(settings, owner), now
    )
    row.method = "POST"
    # A form cannot be made conditional (If-None-Match): it lives only as long as sending needs.
    expires_s = settings.post_presign_expires_s
    row.expires_at = now + timedelta(seconds=expires_s)
    signed = presign.post(
        client,
        bucket=row.bucket,
        key=row.key,
        content_type=content_type,
        max_size=row.max_size,
        upload_id=str(row.id),
        metadata=metadata,
        expires_s=expires_s,
    )
    session.add(row)
    session.flush()
    return {"method": "POST", "url": signed.url, "fields": signed.fields, "headers": {}, "expires": expires_s}


def create_multipart(
    session: Session,
    client: S3Client,
    settings: Settings,
    owner: str,
    body: object,
    now: datetime | None = None,
) -> dict[str, Any]:
    """POST /s3/multipart {filename, type, metadata}: a pending multipart upload; {key, uploadId, bucket}.

    uploadId is the upload's id (GET /uploads/{id} tells its verdict); S3's own id never leaves the
    server. It reserves one minimal part of the day's quota until parts are signed.
    """
    if not isinstance(body, Mapping):
        raise bad_request("invalid_body", "the body must be a JSON object")
    unknown = sorted(set(body) - CREATE_FIELDS)
    if unknown:
        raise bad_request("unknown_field", f"unknown field(s): {', '.join(map(str, unknown))[:200]}")
    filename = _filename(body.get("filename"))
    raw_type = body.get("type")
    if not isinstance(raw_type, str):
        raise bad_request("invalid_content_type", "type must be a string")
    content_type = validation.parse_content_type(raw_type, settings)
    raw_metadata = body.get("metadata")
    if raw_metadata is not None and not isinstance(raw_metadata, Mapping):
        raise bad_request("invalid_metadata", "metadata must be an object of string values")
    metadata = _metadata(raw_metadata or {}, from_query=False)
    now = now or datetime.now(UTC)
    row = _new_upload(settings, owner, filename, content_type, metadata, now)
    row.max_size = reservations.reserve(
        session, settings, owner, min(reservations.upload_bound(settings, owner), presign.MIN_PART_SIZE), now
    )
    row.method = "MULTIPART"
    row.expires_at = now + timedelta(seconds=settings.multipart_presign_expires_s)
    row.multipart_upload_id = presign.create_multipart(
        client,
        bucket=row.bucket,
        key=row.key,
        content_type=content_type,
        upload_id=str(row.id),
        metadata=metadata,
    )
    session.add(row)
    session.flush()
    return {"key": row.key, "uploadId": str(row.id), "bucket": row.bucket}
