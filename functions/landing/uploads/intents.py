"""Upload intents: validate what a client announces, generate its key, presign, record and report it."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from landing.db.models import Upload
from landing.settings import Settings
from landing.uploads import content, lifecycle, presign, quotas
from landing.uploads.errors import (
    Conflict,
    NotConfigured,
    OverQuota,
    TooLarge,
    Unauthorized,
    UnsupportedType,
    bad_request,
    not_found,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ANONYMOUS = "anonymous"
REQUEST_FIELDS = frozenset({"filename", "content_type", "size", "checksum_sha256", "metadata", "method"})
MAX_FILENAME_CHARS = 1024
# Room left in a 1024-byte key for the file name once prefix, owner and uuid are in.
MAX_KEY_NAME_BYTES = 200
MAX_EXTENSION_CHARS = 16
# S3 allows 2 KB of user metadata (names + values) and the upload id takes its share: 10 names of at
# most 64 and values of at most 128 characters stay within it, a rule JSON Schema can state exactly.
MAX_METADATA_ENTRIES = 10
MAX_METADATA_VALUE_CHARS = 128
METADATA_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]*")
# A file name must show something: one character that is whitespace to neither Python nor the
# ECMA-262 regexes of JSON Schema validators (the OpenAPI document carries this very class).
FILENAME_VISIBLE = re.compile(
    "[^\t\n\x0b\x0c\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"
)
HASHED_OWNER = "h-"
# RFC 9562's string form (hex case-insensitive on input), the only one the document names for ids.
CANONICAL_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
MAX_OWNER_CHARS = 2048
OWNER_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")
MAX_CONTENT_TYPE_CHARS = 255
MEDIA_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
# RFC 6838 type/subtype names and at most one charset parameter (plain or quoted). Only the space
# separates (never tab, CR/LF or a Unicode separator), so an accepted value is always a safe header.
CONTENT_TYPE = re.compile(
    rf"(?P<type>{MEDIA_NAME}/{MEDIA_NAME})"
    r"(?: *; *(?i:charset)=(?P<quote>\"?)[A-Za-z0-9._:+-]{1,40}(?P=quote))?"
)


@dataclass(frozen=True, slots=True)
class Intent:
    """A validated upload request."""

    filename: str
    content_type: str
    size: int
    method: str
    checksum_sha256: str | None
    metadata: dict[str, str]


def iso(value: datetime | None) -> str | None:
    """ISO-8601 in UTC with a Z, milliseconds precision (what JavaScript's Date parses)."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _string(body: Mapping[str, Any], name: str, required: bool = True, code: str = "") -> str | None:
    """A string field; an optional one may be left out, but null is not a string (the document says so)."""
    if name not in body and not required:
        return None
    value = body.get(name)
    if not isinstance(value, str):
        got = "missing" if name not in body else "null" if value is None else f"a {type(value).__name__}"
        raise bad_request(code or f"invalid_{name}", f"{name} must be a string, got {got}")
    return value


def _integer(value: object) -> int | None:
    """A JSON integer: 5, or 5.0 (JSON Schema's integer is any number without a fraction); never true."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, int) else None


def parse_intent(body: object, settings: Settings) -> Intent:
    """Validate a POST /uploads body; raises UploadError (400/413/415) naming the first problem."""
    if not isinstance(body, Mapping):
        raise bad_request("invalid_body", "the body must be a JSON object")
    unknown = sorted(set(body) - REQUEST_FIELDS)
    if unknown:
        raise bad_request("unknown_field", f"unknown field(s): {', '.join(map(str, unknown))[:200]}")
    filename = _string(body, "filename")
    assert filename is not None
    if not FILENAME_VISIBLE.search(filename) or len(filename) > MAX_FILENAME_CHARS:
        raise bad_request("invalid_filename", f"filename must have 1 to {MAX_FILENAME_CHARS} characters")
    content_type = parse_content_type(_string(body, "content_type") or "", settings)
    size = _integer(body.get("size"))
    if size is None:
        raise bad_request("invalid_size", "size must be an integer number of bytes")
    if size <= 0:
        raise bad_request("invalid_size", "size must be at least 1 byte")
    if size > settings.upload_max_size:
        raise TooLarge("too_large", f"size {size} is above the maximum of {settings.upload_max_size} bytes")
    # Exactly as the document spells it: "post" is not a method this API names.
    method = _string(body, "method", required=False) or "POST"
    if method not in ("POST", "PUT"):
        raise bad_request("invalid_method", "method must be POST or PUT")
    if size > settings.multipart_threshold:
        method = "MULTIPART"
    checksum = _parse_checksum(
        _string(body, "checksum_sha256", required=False, code="invalid_checksum"), method
    )
    metadata = parse_metadata(body["metadata"]) if "metadata" in body else {}
    return Intent(filename, content_type, size, method, checksum, metadata)


def parse_content_type(raw: str, settings: Settings) -> str:
    value = raw.strip(" ")
    match = CONTENT_TYPE.fullmatch(value) if len(raw) <= MAX_CONTENT_TYPE_CHARS else None
    allowed = {media.lower() for media in settings.allowed_content_types}
    if match is None or match.group("type").lower() not in allowed:
        raise UnsupportedType(
            "unsupported_media_type",
            f"content_type {value[:100]!r} is not allowed: at most {MAX_CONTENT_TYPE_CHARS} ASCII "
            f"characters, type/subtype with at most a charset parameter; allowed types: "
            f"{', '.join(sorted(allowed))}",
        )
    return value


def _parse_checksum(raw: str | None, method: str) -> str | None:
    if raw is None:
        if method == "PUT":
            # Without a signed checksum a replayed PUT URL could carry any bytes of the signed length.
            raise bad_request(
                "checksum_required",
                'a PUT upload signs the body\'s SHA-256: send "checksum_sha256" (base64) or use POST',
            )
        return None
    try:
        digest = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != hashlib.sha256().digest_size:
        raise bad_request(
            "invalid_checksum", "checksum_sha256 must be the base64 of a 32-byte SHA-256 digest"
        )
    if method != "PUT":
        # S3 verifies a full-object SHA-256 on PUT only; accepting it elsewhere would promise a check
        # that never happens.
        raise bad_request(
            "checksum_unsupported",
            "checksum_sha256 is verified by S3 only for PUT uploads up to the multipart threshold; "
            'send "method": "PUT" or leave the checksum out',
        )
    return raw


def parse_metadata(raw: object) -> dict[str, str]:
    if not isinstance(raw, Mapping) or len(raw) > MAX_METADATA_ENTRIES:
        raise bad_request(
            "invalid_metadata", f"metadata must be an object of at most {MAX_METADATA_ENTRIES} string values"
        )
    metadata: dict[str, str] = {}
    for name, value in raw.items():
        if not isinstance(name, str) or not METADATA_NAME.fullmatch(name):
            raise bad_request(
                "invalid_metadata", f"metadata name {str(name)[:64]!r} must match {METADATA_NAME.pattern}"
            )
        if name == presign.UPLOAD_ID_META:
            raise bad_request("invalid_metadata", f"metadata name {name!r} is reserved")
        if (
            not isinstance(value, str)
            or not PRINTABLE_ASCII.fullmatch(value)
            or len(value) > MAX_METADATA_VALUE_CHARS
        ):
            raise bad_request(
                "invalid_metadata",
                f"metadata {name!r} must be printable ASCII text of at most {MAX_METADATA_VALUE_CHARS} characters",
            )
        metadata[name] = value
    return metadata


def sanitise_filename(filename: str) -> str:
    """A safe last key segment: base name only, no control or path characters, bounded length.

    '../../etc/passwd' -> 'passwd'; 'a\\x00b.txt' -> 'ab.txt'; '..' -> 'file'.
    """
    name = unicodedata.normalize("NFC", filename)
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")  # control, format, unassigned
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(c if c.isalnum() or c in "-_.() " else "_" for c in name)
    name = re.sub(r"\s+", " ", name).strip(" .")
    if not name:
        return "file"
    if len(name.encode("utf-8")) > MAX_KEY_NAME_BYTES:
        stem, dot, extension = name.rpartition(".")
        if not dot or not stem or len(extension) > MAX_EXTENSION_CHARS:
            stem, extension = name, ""
        suffix = f".{extension}" if extension else ""
        budget = MAX_KEY_NAME_BYTES - len(suffix.encode("utf-8"))
        stem = stem.encode("utf-8")[:budget].decode("utf-8", errors="ignore").rstrip(" .")
        name = (stem or "file") + suffix
    return name


def checked_owner(owner: str) -> str:
    """An identity the database can store and compare exactly; anything else is refused (401)."""
    if len(owner) > MAX_OWNER_CHARS or any(unicodedata.category(c) == "Cc" for c in owner):
        raise Unauthorized("unauthorized", "the caller's identity is not usable as an owner")
    return owner


def owner_segment(owner: str) -> str:
    """The owner as one key segment: itself when plainly safe, else a digest of it.

    The two forms never meet: a digest always starts with "h-" and an owner that itself starts with
    "h-" is always digested, so no `sub` can name the folder another owner's digest produced.
    """
    if OWNER_SEGMENT.fullmatch(owner) and not owner.startswith(HASHED_OWNER):
        return owner
    return HASHED_OWNER + hashlib.sha256(owner.encode("utf-8")).hexdigest()[:40]


def owner_prefix(settings: Settings, owner: str) -> str:
    return f"{settings.upload_prefix}{owner_segment(owner)}/"


def new_key(settings: Settings, owner: str, upload_id: uuid.UUID, filename: str, content_type: str) -> str:
    """uploads/<owner>/<uuid>/<sanitised filename>: chosen by the server, unique per upload.

    The name's extension follows the declared type (content.stored_name), and a name Windows or a
    desktop would run when opened (.exe, .hta, .bat, .js, .lnk...) is refused (400) unless the type
    itself is an executable one: the bytes of most script formats cannot tell them from text, so the
    name is what must not say "run me". Content-Disposition repeats this name (presign.py).
    """
    name = sanitise_filename(filename)
    if content.executable_name(name, content_type):
        raise bad_request(
            "executable_filename",
            f"files named *.{content.extension(name)} are run when opened and are not accepted as "
            f"{content.media_type(content_type)}",
        )
    name = sanitise_filename(content.stored_name(name, content_type))
    return f"{owner_prefix(settings, owner)}{upload_id}/{name}"


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
    common = {
        "bucket": settings.bucket_name,
        "key": key,
        "content_type": intent.content_type,
        "upload_id": str(upload_id),
        "metadata": intent.metadata,
        "expires_s": expires_s,
    }
    if intent.method == "MULTIPART":
        signed = presign.multipart(
            client,
            size=intent.size,
            part_size=presign.part_size_for(intent.size, settings.multipart_part_size),
            **common,  # type: ignore[arg-type]
        )
    elif intent.method == "PUT":
        signed = presign.put(client, size=intent.size, checksum_sha256=intent.checksum_sha256, **common)  # type: ignore[arg-type]
    else:
        signed = presign.post(client, max_size=intent.size, **common)  # type: ignore[arg-type]
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
    if lifecycle.is_due(row, now) and lifecycle.expire_due(session, now, owner=owner, upload_id=upload_id):
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
    assert row.multipart_upload_id is not None
    from botocore.exceptions import ClientError

    # The row stays locked while S3 assembles the parts, so a concurrent abort or expiry waits.
    try:
        presign.complete_multipart(
            client, bucket=row.bucket, key=row.key, multipart_upload_id=row.multipart_upload_id, parts=parts
        )
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", "S3Error"))
        raise bad_request("s3_" + re.sub(r"(?<!^)(?=[A-Z])", "_", code).lower(), str(error)) from None
    return view(row)


def _parse_parts(body: object) -> list[tuple[int, str]]:
    message = 'the body must be {"parts": [{"part_number": 1, "etag": "..."}, ...]}'
    if not isinstance(body, Mapping) or not isinstance(body.get("parts"), list) or not body["parts"]:
        raise bad_request("invalid_parts", message)
    parts = []
    for part in body["parts"]:
        number = _integer(part.get("part_number")) if isinstance(part, Mapping) else None
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
    if lifecycle.is_due(row, now) and lifecycle.expire_due(session, now, owner=owner, upload_id=upload_id):
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
