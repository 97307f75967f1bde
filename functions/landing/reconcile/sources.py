"""Where a reconcile run reads the bucket's state: the live listing or an S3 Inventory report."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from landing.s3 import clients, inventory, listing
from landing.s3.listing import Page


@dataclass(frozen=True, slots=True)
class Source:
    """Where the bucket's state comes from: the live listing, or an S3 Inventory report.

    ``pages(after_key, page_size)`` streams the current state in key order. ``taken_at`` is when an
    inventory was taken: the guard's listing time, so rows written by live events since the report
    are left alone however old it is. None (the live listing) reads the database clock before each page.
    """

    versioned: bool
    pages: Callable[[str | None, int], Iterator[Page]]
    taken_at: datetime | None = None
    description: str = ""
    bucket: str | None = None


def listing_source(bucket: str, prefix: str) -> Source:
    client = clients.s3_client()
    versioned = listing.is_versioned(client, bucket)
    api = "ListObjectVersions" if versioned else "ListObjectsV2"

    def pages(after_key: str | None, page_size: int) -> Iterator[Page]:
        return listing.pages(
            client, bucket, prefix, versioned=versioned, after_key=after_key, page_size=page_size
        )

    return Source(versioned, pages, None, f"with {api}", bucket)


def inventory_source(manifest_uri: str, prefix: str) -> Source:
    client = clients.s3_client()
    manifest = inventory.read_manifest(client, manifest_uri)

    def pages(after_key: str | None, page_size: int) -> Iterator[Page]:
        return inventory.pages(client, manifest, prefix, after_key=after_key, page_size=page_size)

    taken = f"from the inventory of {manifest.taken_at:%Y-%m-%d %H:%M} UTC ({manifest_uri})"
    return Source(manifest.versioned, pages, manifest.taken_at, taken, manifest.source_bucket)
