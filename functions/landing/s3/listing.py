"""A bucket listing as a stream of pages of current-state entries (ListObjectVersions or ListObjectsV2)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# S3's maximum page size: fewer round trips, and still a bounded amount held at once.
MAX_PAGE_SIZE = 1000
# GetBucketVersioning answers with these when the role lacks s3:GetBucketVersioning.
DENIED_CODES = frozenset({"AccessDenied", "403", "Forbidden"})


@dataclass(frozen=True, slots=True)
class Entry:
    """The current state of one key as listed: an object, or (versioned buckets) a delete marker."""

    key: str
    last_modified: datetime
    e_tag: str | None = None
    size: int | None = None
    version_id: str | None = None
    storage_class: str | None = None
    is_delete_marker: bool = False
    # What the listing or inventory row says of S3 Metadata's columns (None: it does not say).
    is_multipart: bool | None = None
    checksum_algorithm: str | None = None
    encryption_status: str | None = None
    is_bucket_key_enabled: bool | None = None


@dataclass(frozen=True, slots=True)
class Page:
    """Entries sorted by key (byte order, as S3 lists), one per key.

    ``upper`` is the last key the page covers (inclusive); None means the listing ends with this page,
    so the page covers every key after the previous page's ``upper``.
    """

    entries: tuple[Entry, ...]
    upper: str | None


def is_versioned(client: S3Client, bucket: str) -> bool:
    """Versioning enabled or suspended: the current state must come from ListObjectVersions.

    Without s3:GetBucketVersioning the versions API is used: it lists unversioned buckets correctly
    too (every version is "null"), where ListObjectsV2 would miss delete markers in versioned ones.
    """
    from botocore.exceptions import ClientError

    try:
        status = client.get_bucket_versioning(Bucket=bucket).get("Status")
    except ClientError as error:
        if str(error.response.get("Error", {}).get("Code", "")) in DENIED_CODES:
            return True
        raise
    return status in ("Enabled", "Suspended")


def normalise_version(raw: object) -> str | None:
    """The "null" version is what writes to an unversioned bucket get: stored as no version."""
    return None if raw in (None, "", "null") else str(raw)


def _etag(raw: object) -> str | None:
    return (str(raw).strip('"') or None) if raw else None


def _time(raw: datetime) -> datetime:
    return raw.astimezone(UTC) if raw.tzinfo else raw.replace(tzinfo=UTC)


def _checksum(raw: object) -> str | None:
    """A listing's ChecksumAlgorithm is a list (one algorithm per object in practice)."""
    return str(raw[0]) if isinstance(raw, list) and raw else None


def _listed(item: Mapping[str, Any], **fields: Any) -> Entry:
    e_tag = _etag(item.get("ETag"))
    return Entry(
        key=item["Key"],
        last_modified=_time(item["LastModified"]),
        e_tag=e_tag,
        size=item.get("Size"),
        storage_class=item.get("StorageClass"),
        # A multipart upload's ETag ends in "-<parts>"; a listing says nothing of encryption.
        is_multipart=None if e_tag is None else "-" in e_tag,
        checksum_algorithm=_checksum(item.get("ChecksumAlgorithm")),
        **fields,
    )


def _v2_page(raw: Mapping[str, Any]) -> tuple[list[Entry], str | None]:
    entries = [_listed(item) for item in raw.get("Contents") or ()]
    return entries, entries[-1].key if entries else None


def _versions_page(raw: Mapping[str, Any]) -> tuple[list[Entry], str | None]:
    # Versions of a key are listed newest first, so the current one (IsLatest) is on the first page
    # that mentions the key; older versions spilling onto the next page are skipped there.
    entries = [
        _listed(item, version_id=normalise_version(item.get("VersionId")))
        for item in raw.get("Versions") or ()
        if item.get("IsLatest")
    ]
    entries += [
        Entry(
            key=item["Key"],
            last_modified=_time(item["LastModified"]),
            version_id=normalise_version(item.get("VersionId")),
            is_delete_marker=True,
        )
        for item in raw.get("DeleteMarkers") or ()
        if item.get("IsLatest")
    ]
    entries.sort(key=lambda entry: entry.key)
    keys = [item["Key"] for part in ("Versions", "DeleteMarkers") for item in raw.get(part) or ()]
    return entries, raw.get("NextKeyMarker") or (max(keys) if keys else None)


def pages(
    client: S3Client,
    bucket: str,
    prefix: str = "",
    *,
    versioned: bool,
    after_key: str | None = None,
    page_size: int = MAX_PAGE_SIZE,
) -> Iterator[Page]:
    """Pages of the current state of every key under ``prefix`` after ``after_key``, lazily.

    One request per ``next()``, never ahead of the caller (it reads its clock before asking), and
    never more than one response held. An empty page that S3 marks as truncated is merged into the
    next one.
    """
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
    params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    # Either paginator: the two operations are told apart by the parser, not by the type.
    paginator: Any
    if versioned:
        paginator = client.get_paginator("list_object_versions")
        if after_key:
            params["KeyMarker"] = after_key
        parse = _versions_page
    else:
        paginator = client.get_paginator("list_objects_v2")
        if after_key:
            params["StartAfter"] = after_key
        parse = _v2_page
    for raw in paginator.paginate(**params, PaginationConfig={"PageSize": page_size}):
        entries, last = parse(raw)
        truncated = bool(raw.get("IsTruncated"))
        del raw  # the entries are all that is kept while the caller works on the page
        if after_key is not None:
            # Some S3 implementations list the marker key itself again; it was reconciled already.
            entries = [entry for entry in entries if entry.key > after_key]
        if truncated and last is None:
            continue
        yield Page(tuple(entries), last if truncated else None)
