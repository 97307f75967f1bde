"""HeadObject for creates (enrichment) and version deletes (what is current now): plain data, thread-safe."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from typing import Any

from landing.s3.clients import s3_client
from landing.s3.events import Identity, S3Record
from landing.settings import get_settings

# 404/403 and friends: the object is gone or hidden from us; the row is recorded from the event.
GONE_CODES = frozenset(
    {"404", "403", "NoSuchKey", "NoSuchBucket", "NoSuchVersion", "NotFound", "AccessDenied", "Forbidden"}
)
CHECKSUM_FIELDS = ("ChecksumCRC64NVME", "ChecksumCRC32C", "ChecksumCRC32", "ChecksumSHA256", "ChecksumSHA1")


class RetryableS3Error(RuntimeError):
    """HeadObject was throttled or failed server-side: the record must be retried, not guessed."""


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
    # How a reader is told to decode the body (gzip...): the bytes sniffed are not what it gets.
    content_encoding: str | None = None


@cache
def _executor(workers: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="head")


def head(bucket: str, key: str, version_id: str | None, expected_etag: str | None) -> Head | None:
    """HeadObject for one create; None when the answer cannot describe the event's object."""
    from botocore.exceptions import BotoCoreError, ClientError

    params: dict[str, Any] = {"Bucket": bucket, "Key": key, "ChecksumMode": "ENABLED"}
    if version_id and version_id != "null":
        params["VersionId"] = version_id
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
    return Head(
        version_id=None if version in (None, "", "null") else str(version),
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
    )


def first_bytes(bucket: str, key: str, version_id: str | None, e_tag: str | None, limit: int) -> bytes | None:
    """A ranged GET of the object's first ``limit`` bytes, of the event's body only (If-Match on its
    eTag); None when that body is gone or was replaced. Same client and time bounds as HeadObject."""
    from botocore.exceptions import BotoCoreError, ClientError

    params: dict[str, Any] = {"Bucket": bucket, "Key": key, "Range": f"bytes=0-{limit - 1}"}
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
            return b""  # an empty object has no byte 0
        if code in GONE_CODES or code == "PreconditionFailed" or status in (400, 403, 404, 412):
            return None
        raise RetryableS3Error(
            f"GetObject s3://{bucket}/{key} (first bytes) failed: {code or status}"
        ) from error
    except BotoCoreError as error:
        raise RetryableS3Error(f"GetObject s3://{bucket}/{key} (first bytes) failed: {error}") from error


HeadOutcome = Head | None | RetryableS3Error


def needs_head(record: S3Record) -> bool:
    return record.record_type == "CREATE" or record.removes_version


def sniffed(record: S3Record) -> bool:
    """Creates whose first bytes are read: announced uploads' keys, and bucket drops only when
    DETECT_BUCKET_DROPS is on (otherwise they pay nothing for the content checks)."""
    settings = get_settings()
    return record.record_type == "CREATE" and (
        record.key.startswith(settings.upload_prefix) or settings.detect_bucket_drops
    )


def head_many(records: Sequence[S3Record]) -> dict[Identity, HeadOutcome]:
    """HEAD every create and version delete, in a small thread pool when there are several; sniffed
    creates also get their first bytes, in the same worker, right after their HEAD.

    A create asks for its own version and eTag; a version delete asks for no version, i.e. for
    whatever a reader of the key gets now (None: nothing, the key is gone or hidden by a delete
    marker). Failures are returned, not raised.
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
            return replace(found, first_bytes=data)
        except RetryableS3Error as error:
            return error

    if len(creates) <= 1:
        return {identity: one(record) for identity, record in creates.items()}
    pool = _executor(get_settings().head_workers)
    return dict(zip(creates, pool.map(one, creates.values()), strict=True))
