"""HeadObject for creates and metadata updates (enrichment) and version deletes (what is current now):
plain data, thread-safe."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import cache
from typing import Any

from landing.errors import RetryableS3Error
from landing.s3.clients import s3_client
from landing.s3.notifications import Identity, S3Record
from landing.settings import get_settings

# 404/403 and friends: the object is gone or hidden from us; the row is recorded from the event.
GONE_CODES = frozenset(
    {"404", "403", "NoSuchKey", "NoSuchBucket", "NoSuchVersion", "NotFound", "AccessDenied", "Forbidden"}
)
CHECKSUM_FIELDS = ("ChecksumCRC64NVME", "ChecksumCRC32C", "ChecksumCRC32", "ChecksumSHA256", "ChecksumSHA1")
# HeadObject's ServerSideEncryption as S3 Metadata's encryption_status names it.
ENCRYPTION_STATUS = {"AES256": "SSE-S3", "aws:kms": "SSE-KMS", "aws:kms:dsse": "DSSE-KMS"}
# x-amz-restore: ongoing-request="false", expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"
_RESTORE_ONGOING = re.compile(r'ongoing-request="(true|false)"')
_RESTORE_EXPIRY = re.compile(r'expiry-date="([^"]+)"')


# One OLE directory entry: what ``follow`` asks to read (s3/sniffing.py reads it).
DIRECTORY_ENTRY_BYTES = 128


@dataclass(frozen=True, slots=True)
class Head:
    e_tag: str | None
    content_type: str | None
    user_metadata: dict[str, str]
    storage_class: str
    checksum_algorithm: str | None
    last_modified: datetime | None
    # What a version delete learns about the version that is current now.
    version_id: str | None = None
    size: int | None = None
    # The object's first bytes (content sniffing), for the creates that are sniffed.
    first_bytes: bytes | None = None
    # An OLE file's root directory entry when it lies past the first bytes (an MSI's can): read there.
    root_entry: bytes | None = None
    # How a reader is told to decode the body (gzip...): the bytes sniffed are not what it gets.
    content_encoding: str | None = None
    # S3 Metadata's columns; object_tags is None when the tags could not be read (GetObjectTagging
    # denied), {} when the object has none.
    object_tags: dict[str, str] | None = None
    encryption_status: str | None = None
    is_bucket_key_enabled: bool | None = None
    kms_key_arn: str | None = None
    restore_status: str | None = None
    restore_expiry_date: datetime | None = None
    # When HeadObject was sent: the answer describes the object as of this moment or later.
    read_at: datetime | None = None


def is_multipart(e_tag: str | None) -> bool | None:
    """A multipart upload's ETag is the parts' digest with a "-<part count>" suffix."""
    return None if e_tag is None else "-" in e_tag


def encryption_status(response: Mapping[str, Any]) -> str | None:
    if response.get("SSECustomerAlgorithm"):
        return "SSE-C"
    algorithm = response.get("ServerSideEncryption")
    return ENCRYPTION_STATUS.get(str(algorithm), str(algorithm)) if algorithm else None


def restore_state(header: object) -> tuple[str | None, datetime | None]:
    """(restore_status, restore_expiry_date) from HeadObject's Restore (x-amz-restore) header."""
    if not isinstance(header, str):
        return None, None
    ongoing = _RESTORE_ONGOING.search(header)
    expiry = _RESTORE_EXPIRY.search(header)
    status = None if ongoing is None else "IN_PROGRESS" if ongoing.group(1) == "true" else "COMPLETED"
    try:
        expires = parsedate_to_datetime(expiry.group(1)).astimezone(UTC) if expiry else None
    except (TypeError, ValueError):
        expires = None
    return status, expires


def tags(bucket: str, key: str, version_id: str | None) -> dict[str, str] | None:
    """GetObjectTagging of one version; None when it cannot be read (denied, gone)."""
    from botocore.exceptions import BotoCoreError, ClientError

    params: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version_id:
        params["VersionId"] = version_id
    try:
        response = s3_client().get_object_tagging(**params)
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in GONE_CODES or status in (400, 403, 404, 405):
            return None
        raise RetryableS3Error(f"GetObjectTagging s3://{bucket}/{key} failed: {code or status}") from error
    except BotoCoreError as error:
        raise RetryableS3Error(f"GetObjectTagging s3://{bucket}/{key} failed: {error}") from error
    return {str(tag["Key"]): str(tag["Value"]) for tag in response.get("TagSet") or ()}


@cache
def _executor(workers: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="head")


def head(bucket: str, key: str, version_id: str | None, expected_etag: str | None) -> Head | None:
    """HeadObject for one create; None when the answer cannot describe the event's object."""
    from botocore.exceptions import BotoCoreError, ClientError

    params: dict[str, Any] = {"Bucket": bucket, "Key": key, "ChecksumMode": "ENABLED"}
    if version_id and version_id != "null":
        params["VersionId"] = version_id
    read_at = datetime.now(UTC)
    try:
        response = s3_client().head_object(**params)
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in GONE_CODES or status in (400, 403, 404):
            return None
        raise RetryableS3Error(f"HeadObject s3://{bucket}/{key} failed: {code or status}") from error
    except BotoCoreError as error:
        raise RetryableS3Error(f"HeadObject s3://{bucket}/{key} failed: {error}") from error
    e_tag = str(response.get("ETag") or "").strip('"') or None
    if expected_etag and e_tag != expected_etag:
        return None  # overwritten since the event: this answer describes another object
    version = response.get("VersionId")
    current = None if version in (None, "", "null") else str(version)
    restore_status, restore_expiry = restore_state(response.get("Restore"))
    # GetObjectTagging only when HeadObject counts tags: most objects have none, and they cost nothing.
    tag_count = response.get("TagCount") or 0
    return Head(
        version_id=current,
        size=response.get("ContentLength"),
        e_tag=e_tag,
        content_type=response.get("ContentType"),
        content_encoding=response.get("ContentEncoding"),
        user_metadata=dict(response.get("Metadata") or {}),
        storage_class=response.get("StorageClass") or "STANDARD",
        checksum_algorithm=next(
            (name.removeprefix("Checksum") for name in CHECKSUM_FIELDS if response.get(name)), None
        ),
        last_modified=response.get("LastModified"),
        object_tags=tags(bucket, key, current) if tag_count else {},
        encryption_status=encryption_status(response),
        is_bucket_key_enabled=bool(response.get("BucketKeyEnabled")),
        kms_key_arn=response.get("SSEKMSKeyId"),
        restore_status=restore_status,
        restore_expiry_date=restore_expiry,
        read_at=read_at,
    )


def first_bytes(
    bucket: str, key: str, version_id: str | None, e_tag: str | None, limit: int, start: int = 0
) -> bytes | None:
    """A ranged GET of the object's first ``limit`` bytes (from ``start``), of the event's body only
    (If-Match on its eTag); None when that body is gone or was replaced, b"" past its end. Same client
    and time bounds as HeadObject."""
    from botocore.exceptions import BotoCoreError, ClientError

    params: dict[str, Any] = {"Bucket": bucket, "Key": key, "Range": f"bytes={start}-{start + limit - 1}"}
    if version_id and version_id != "null":
        params["VersionId"] = version_id
    if e_tag:
        params["IfMatch"] = f'"{e_tag}"'
    try:
        response = s3_client().get_object(**params)
        return response["Body"].read(limit)
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code == "InvalidRange" or status == 416:
            return b""  # an empty object has no byte 0, a short one none past its end
        if code in GONE_CODES or code == "PreconditionFailed" or status in (400, 403, 404, 412):
            return None
        raise RetryableS3Error(
            f"GetObject s3://{bucket}/{key} (first bytes) failed: {code or status}"
        ) from error
    except BotoCoreError as error:
        raise RetryableS3Error(f"GetObject s3://{bucket}/{key} (first bytes) failed: {error}") from error


HeadOutcome = Head | None | RetryableS3Error


def needs_head(record: S3Record) -> bool:
    # A metadata update carries no tags or storage class of its own: S3 is asked what holds now.
    return record.record_type != "DELETE" or record.removes_version


def sniffed(record: S3Record) -> bool:
    """Creates whose first bytes are read: announced uploads' keys, and bucket drops only when
    DETECT_BUCKET_DROPS is on (otherwise they pay nothing for the content checks)."""
    settings = get_settings()
    return record.record_type == "CREATE" and (
        record.key.startswith(settings.upload_prefix) or settings.detect_bucket_drops
    )


def head_many(
    records: Sequence[S3Record], follow: Callable[[bytes], int | None] | None = None
) -> dict[Identity, HeadOutcome]:
    """HEAD every create, metadata update and version delete, in a small thread pool when there are several; sniffed
    creates also get their first bytes, in the same worker, right after their HEAD.

    A create or metadata update asks for its own version and eTag; a version delete asks for no version, i.e. for
    whatever a reader of the key gets now (None: nothing, the key is gone or hidden by a delete
    marker). Failures are returned, not raised. ``follow`` says where, given the first bytes, the
    content checks need the next DIRECTORY_ENTRY_BYTES (an OLE file's root entry, often past them).
    """
    creates = {r.identity: r for r in records if needs_head(r)}

    def one(record: S3Record) -> HeadOutcome:
        try:
            if record.removes_version:
                return head(record.bucket, record.key, None, None)
            found = head(record.bucket, record.key, record.version_id, record.e_tag)
            if found is None or not sniffed(record):
                return found
            data = first_bytes(
                record.bucket, record.key, record.version_id, found.e_tag, get_settings().sniff_bytes
            )
            offset = follow(data) if follow is not None and data else None
            if offset is None or offset + DIRECTORY_ENTRY_BYTES <= len(data or b""):
                return replace(found, first_bytes=data)
            entry = first_bytes(
                record.bucket, record.key, record.version_id, found.e_tag, DIRECTORY_ENTRY_BYTES, offset
            )
            return replace(found, first_bytes=data, root_entry=entry)
        except RetryableS3Error as error:
            return error

    if len(creates) <= 1:
        return {identity: one(record) for identity, record in creates.items()}
    pool = _executor(get_settings().head_workers)
    return dict(zip(creates, pool.map(one, creates.values()), strict=True))
