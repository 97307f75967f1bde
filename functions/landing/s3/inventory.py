"""An S3 Inventory report (CSV, gzip) as the same stream of listing pages a bucket listing gives."""

from __future__ import annotations

import csv
import gzip
import heapq
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus, urlparse

from landing.s3.listing import MAX_PAGE_SIZE, Entry, Page, normalise_version

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

REQUIRED_FIELDS = ("Bucket", "Key", "Size", "LastModifiedDate", "ETag")


class InventoryError(ValueError):
    """The manifest or a data file is not an inventory this command can compare."""


@dataclass(frozen=True, slots=True)
class Manifest:
    """What manifest.json says: the inventoried bucket, when the snapshot was taken, its data files."""

    source_bucket: str
    destination_bucket: str
    taken_at: datetime
    schema: tuple[str, ...]
    files: tuple[str, ...]

    @property
    def versioned(self) -> bool:
        """An inventory of all versions: current state from IsLatest rows, delete markers included."""
        return "VersionId" in self.schema


def parse_uri(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc or not parsed.path.strip("/"):
        raise InventoryError(f"expected s3://bucket/.../manifest.json, got {uri!r}")
    return parsed.netloc, parsed.path.lstrip("/")


def read_manifest(client: S3Client, uri: str) -> Manifest:
    bucket, key = parse_uri(uri)
    try:
        raw: dict[str, Any] = json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
        if raw.get("fileFormat", "CSV").upper() != "CSV":
            raise InventoryError(f"only CSV inventories are read, this one is {raw['fileFormat']}")
        schema = tuple(part.strip() for part in raw["fileSchema"].split(","))
        destination = str(raw.get("destinationBucket") or bucket).removeprefix("arn:aws:s3:::")
        manifest = Manifest(
            source_bucket=str(raw["sourceBucket"]),
            destination_bucket=destination,
            taken_at=datetime.fromtimestamp(int(raw["creationTimestamp"]) / 1000, tz=UTC),
            schema=schema,
            files=tuple(str(item["key"]) for item in raw["files"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, InventoryError):
            raise
        raise InventoryError(f"{uri} is not an S3 Inventory manifest: {error!r}") from None
    missing = [name for name in REQUIRED_FIELDS if name not in schema]
    if missing:
        raise InventoryError(f"the inventory lacks the fields {missing}: enable them in its configuration")
    return manifest


def _time(raw: str) -> datetime:
    parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _flag(raw: str | None) -> bool | None:
    return None if not raw else raw.lower() == "true"


def _bucket_key(raw: str | None) -> bool | None:
    return None if not raw else raw.upper() == "ENABLED"


def _entries(client: S3Client, manifest: Manifest, file_key: str) -> Iterator[Entry]:
    """One data file's current-state rows, streamed: gzip and CSV decoded as the bytes arrive."""
    body = client.get_object(Bucket=manifest.destination_bucket, Key=file_key)["Body"]
    index = {name: position for position, name in enumerate(manifest.schema)}
    with gzip.GzipFile(fileobj=body) as unzipped, io.TextIOWrapper(unzipped, encoding="utf-8") as text:
        for row in csv.reader(text):
            value = dict(zip(manifest.schema, row, strict=False))
            if "IsLatest" in index and value.get("IsLatest", "true").lower() != "true":
                continue  # an older version: the current one is its key's IsLatest row
            deleted = value.get("IsDeleteMarker", "false").lower() == "true"
            encryption = value.get("EncryptionStatus") or None
            yield Entry(
                # Inventory keys are URL-encoded; decoded the way event keys are.
                key=unquote_plus(value["Key"]),
                last_modified=_time(value["LastModifiedDate"]),
                e_tag=None if deleted else (value.get("ETag") or "").strip('"') or None,
                size=None if deleted or not value.get("Size") else int(value["Size"]),
                version_id=normalise_version(value.get("VersionId")),
                storage_class=None if deleted else value.get("StorageClass") or None,
                is_delete_marker=deleted,
                is_multipart=None if deleted else _flag(value.get("IsMultipartUploaded")),
                checksum_algorithm=None if deleted else value.get("ChecksumAlgorithm") or None,
                # S3 Inventory says NOT-SSE where S3 Metadata leaves encryption_status null.
                encryption_status=None if deleted or encryption == "NOT-SSE" else encryption,
                is_bucket_key_enabled=None if deleted else _bucket_key(value.get("BucketKeyStatus")),
            )


def _in_key_order(entries: Iterator[Entry]) -> Iterator[Entry]:
    """Checks the merge is strictly increasing: a report out of order would make keys look absent
    (and be tombstoned), so it stops the run instead."""
    previous: str | None = None
    for entry in entries:
        if previous is not None and entry.key <= previous:
            raise InventoryError(f"inventory rows out of key order at {entry.key!r} (after {previous!r})")
        previous = entry.key
        yield entry


def pages(
    client: S3Client,
    manifest: Manifest,
    prefix: str = "",
    *,
    after_key: str | None = None,
    page_size: int = MAX_PAGE_SIZE,
) -> Iterator[Page]:
    """Pages of the inventory's current state under ``prefix`` after ``after_key``, lazily.

    Each data file is sorted by key; they are merged (one row per file held), so memory stays
    bounded by the page size whatever the bucket holds. A resumed run reads the files again from
    the start and skips to ``after_key``: no state but the key is needed.
    """
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
    streams = [_entries(client, manifest, key) for key in manifest.files]
    merged = _in_key_order(heapq.merge(*streams, key=lambda entry: entry.key))
    page: list[Entry] = []
    for entry in merged:
        if not entry.key.startswith(prefix) or (after_key is not None and entry.key <= after_key):
            continue
        page.append(entry)
        if len(page) == page_size:
            yield Page(tuple(page), page[-1].key)
            page = []
    yield Page(tuple(page), None)
