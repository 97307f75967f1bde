"""Reconcile of 10,000 objects: page by page, in memory far below what holding the listing takes."""

from __future__ import annotations

import hashlib
import itertools
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from sqlalchemy import text

from landing.db import engine as db
from landing.reconcile import run as reconcile_run
from landing.s3 import clients
from tests.conftest import rows

BUCKET = "example-bucket"
OBJECTS = 10_000
BODY = b"x"
ETAG = hashlib.md5(BODY).hexdigest()  # S3's ETag of a single-part object
T = TypeVar("T")


@pytest.fixture(autouse=True)
def _clean(clean_db: None) -> Iterator[None]:
    with db.require_engine().begin() as conn:
        conn.execute(text("TRUNCATE reconcile_state"))
    yield


def fill_bucket() -> None:
    """Straight into moto's in-process backend: 10,000 PutObject calls through boto3 would take ~10 s."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["global"]
    for i in range(OBJECTS):
        backend.put_object(BUCKET, f"bulk/{i:05d}.bin", BODY)


def fill_catalog() -> None:
    """Rows for 9,900 of the objects (every 100th missing, every 200th with a stale etag) and 50 rows
    for objects deleted since, spread evenly so that every listing page has repairs to make."""
    with db.require_engine().begin() as conn:
        conn.execute(
            text(
                "INSERT INTO objects (bucket, key, sequence_number, size, e_tag, last_modified_date, "
                "storage_class, is_delete_marker, is_multipart) "
                "SELECT :bucket, 'bulk/' || lpad(i::text, 5, '0') || '.bin', rpad('0A', 32, '0'), 1, "
                "CASE WHEN mod(i, 200) = 0 THEN 'stale' ELSE :etag END, now(), 'STANDARD', false, false "
                "FROM generate_series(0, :n - 1) AS i WHERE mod(i, 100) <> 99"
            ),
            {"bucket": BUCKET, "etag": ETAG, "n": OBJECTS},
        )
        conn.execute(
            text(
                "INSERT INTO objects (bucket, key, sequence_number, size, e_tag, last_modified_date, "
                "storage_class, is_delete_marker, is_multipart) "
                "SELECT :bucket, 'bulk/' || lpad(i::text, 5, '0') || '.gone', rpad('0B', 32, '0'), 1, "
                ":etag, now(), 'STANDARD', false, false FROM generate_series(0, :n - 1, 200) AS i"
            ),
            {"bucket": BUCKET, "etag": ETAG, "n": OBJECTS},
        )


def peak_bytes(work: Callable[[], T]) -> tuple[T, int]:
    tracemalloc.start()
    try:
        result = work()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def check_repairs(
    outcome: reconcile_run.Outcome,
    compared: int = 9_950,
    inserted: int = 100,
    updated: int = 50,
    deleted: int = 50,
) -> None:
    totals = outcome.totals
    assert outcome.complete
    assert (totals.scanned, totals.rows) == (OBJECTS, compared)
    assert (totals.inserted, totals.updated, totals.deleted) == (inserted, updated, deleted)
    assert totals.batches == OBJECTS // 1000  # one per listing page: a page's rows fit in a batch
    present = rows(
        "SELECT count(*) AS n FROM objects WHERE bucket = :b AND NOT is_deleted AND e_tag = :e",
        b=BUCKET,
        e=ETAG,
    )
    assert present[0]["n"] == OBJECTS
    journalled = rows(
        "SELECT count(*) AS n FROM object_events WHERE bucket = :b AND source = 'reconcile'", b=BUCKET
    )
    assert journalled[0]["n"] == 200


@pytest.mark.slow
def test_ten_thousand_objects_in_moto_are_reconciled_in_ten_pages(s3):
    fill_bucket()
    fill_catalog()

    check_repairs(reconcile_run.run(BUCKET))

    assert reconcile_run.run(BUCKET).totals.planned == 0


class GeneratedS3:
    """ListObjectsV2 and HeadObject answers for a bucket of ``count`` objects, in boto3's shapes.

    Under tracemalloc, moto would dominate what is measured: it renders every listing page from the
    whole bucket (~13 s traced for 10,000 keys) and keeps ~3 KB per request it served. Generated
    answers leave only what the reconcile itself allocates in the trace. Pages are produced one at a
    time and, as botocore's paginator does, the current page stays referenced while it is consumed.
    """

    modified = datetime(2026, 1, 1, tzinfo=UTC)

    def __init__(self, count: int) -> None:
        self.count = count

    def get_paginator(self, operation: str) -> GeneratedS3:
        assert operation == "list_objects_v2"
        return self

    def paginate(self, **params: Any) -> Iterator[dict[str, Any]]:
        size = params["PaginationConfig"]["PageSize"]
        after, prefix = params.get("StartAfter", ""), params.get("Prefix", "")
        keys = (f"bulk/{i:05d}.bin" for i in range(self.count))
        keys = (key for key in keys if key > after and key.startswith(prefix))
        last = f"bulk/{self.count - 1:05d}.bin"
        while page := list(itertools.islice(keys, size)):
            contents = [
                {"Key": k, "LastModified": self.modified, "ETag": f'"{ETAG}"', "Size": 1} for k in page
            ]
            yield {"Contents": contents, "IsTruncated": page[-1] < last, "KeyCount": len(contents)}

    def head_object(self, **params: Any) -> dict[str, Any]:
        return {"ETag": f'"{ETAG}"', "ContentLength": 1, "LastModified": self.modified, "Metadata": {}}


@pytest.mark.slow
def test_ten_thousand_objects_are_reconciled_in_memory_far_below_the_listing(s3, monkeypatch, capsys):
    fill_catalog()
    client = clients.s3_client()
    generated = GeneratedS3(OBJECTS)
    monkeypatch.setattr(client, "head_object", generated.head_object)
    # Imports, compiled statements, botocore's models, the HEAD thread pool: paid once per process
    # whatever the bucket holds, so paid before measuring, on a bucket of four objects.
    monkeypatch.setattr(client, "get_paginator", GeneratedS3(4).get_paginator)
    s3.create_bucket(Bucket="warm-up")
    assert reconcile_run.run("warm-up").totals.inserted == 4
    monkeypatch.setattr(client, "get_paginator", generated.get_paginator)

    one_page, one_page_peak = peak_bytes(lambda: reconcile_run.run(BUCKET, "bulk/01"))
    outcome, reconcile_peak = peak_bytes(lambda: reconcile_run.run(BUCKET))

    def hold_listing() -> list[dict[str, Any]]:
        pages = generated.paginate(Bucket=BUCKET, PaginationConfig={"PageSize": 1000})
        return [item for page in pages for item in page["Contents"]]

    held, holding_peak = peak_bytes(hold_listing)
    assert len(held) == OBJECTS
    assert one_page.totals.scanned == 1000
    # The first run repaired bulk/01...: 10 inserted (now compared too), 5 updated, 5 deleted.
    check_repairs(outcome, compared=9_960, inserted=90, updated=45, deleted=45)
    with capsys.disabled():
        print(
            f"\ntraced peak: reconcile of 1,000 objects {one_page_peak / 1e6:.2f} MB, of {OBJECTS:,} "
            f"{reconcile_peak / 1e6:.2f} MB; holding the listing of {OBJECTS:,}: {holding_peak / 1e6:.2f} MB"
        )
    # Ten times the objects, not ten times the memory; and well below holding the listing.
    assert reconcile_peak < 1.25 * one_page_peak
    assert reconcile_peak < holding_peak / 2
