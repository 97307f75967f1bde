"""Reconcile from an S3 Inventory report: the same repairs as the listing reconcile, from a manifest."""

from __future__ import annotations

import csv
import gzip
import io
import json
import time
from collections.abc import Iterator
from urllib.parse import quote_plus

import pytest
from sqlalchemy import text

from landing import cli
from landing.db import engine as db
from landing.handlers.ingest import handler as ingest
from landing.reconcile import run as reconcile_run
from landing.reconcile import sources
from landing.s3 import inventory
from tests.conftest import _truncate, rows
from tests.support.events import s3_event, s3_record

BUCKET = "example-bucket"
REPORTS = "inventory-reports"
SCHEMA = "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag, StorageClass"
OBJECT_COLUMNS = (
    "key, version_id, sequence_number, size, e_tag, content_type, storage_class, user_metadata, "
    "is_deleted, deleted_at, last_modified_date"
)
JOURNAL_COLUMNS = (
    "key, record_type, event_name, sequence_number, record_timestamp, version_id, size, e_tag, source"
)


@pytest.fixture(autouse=True)
def _clean(clean_db: None) -> Iterator[None]:
    with db.require_engine().begin() as conn:
        conn.execute(text("TRUNCATE reconcile_state"))
    yield


def put(s3, key: str, body: bytes) -> dict:
    return s3.put_object(Bucket=BUCKET, Key=key, Body=body)


def bucket_with_history(s3) -> None:
    """Versions, overwrites, a delete marker over an object, a key that is only a delete marker."""
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    for key in ("in/new.txt", "in/new.txt", "in/keep.txt", "in/changed.txt", "in/marked.txt"):
        put(s3, key, key.encode() + b"-" + str(time.monotonic_ns()).encode())
    put(s3, "odd name+plus/ü.txt", b"odd")
    s3.delete_object(Bucket=BUCKET, Key="in/marked.txt")
    put(s3, "only-marker.txt", b"x")
    s3.delete_object(Bucket=BUCKET, Key="only-marker.txt")


def seed_catalog(s3, lambda_context) -> None:
    """What the catalog knew before events were lost: one key right, one stale, one gone from S3."""
    for n, key in enumerate(("in/keep.txt", "in/changed.txt", "in/marked.txt", "zz/gone.txt"), start=1):
        head = s3.head_object(Bucket=BUCKET, Key=key) if not key.startswith(("zz/", "in/marked")) else {}
        etag = "stale" if key == "in/changed.txt" else head.get("ETag", '"e"').strip('"')
        record = s3_record(
            quote_plus(key, safe="/"),
            sequencer=f"{n:02X}",
            etag=etag,
            size=head.get("ContentLength", 1),
            version_id=head.get("VersionId"),
        )
        ingest(s3_event(record), lambda_context)


def write_inventory(s3, files: int = 2) -> str:
    """A CSV inventory with versions of BUCKET, as S3 writes it: gzip data files sorted by key, and a
    manifest naming them; versions of one key may straddle two files."""
    s3.create_bucket(Bucket=REPORTS)
    raw = s3.list_object_versions(Bucket=BUCKET)
    lines = []
    for item in raw.get("Versions", []):
        lines.append(
            [
                BUCKET,
                quote_plus(item["Key"], safe="/"),
                item["VersionId"],
                str(item["IsLatest"]).lower(),
                "false",
                str(item["Size"]),
                item["LastModified"].strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                item["ETag"].strip('"'),
                item.get("StorageClass", "STANDARD"),
            ]
        )
    for item in raw.get("DeleteMarkers", []):
        lines.append(
            [
                BUCKET,
                quote_plus(item["Key"], safe="/"),
                item["VersionId"],
                str(item["IsLatest"]).lower(),
                "true",
                "",
                item["LastModified"].strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                "",
                "",
            ]
        )
    lines.sort(key=lambda line: line[1])
    keys = []
    for part in range(files):
        chunk = lines[part::files]
        buffer = io.StringIO()
        csv.writer(buffer, quoting=csv.QUOTE_ALL).writerows(chunk)
        key = f"{BUCKET}/daily/data/{part}.csv.gz"
        s3.put_object(Bucket=REPORTS, Key=key, Body=gzip.compress(buffer.getvalue().encode()))
        keys.append({"key": key, "size": 1, "MD5checksum": "0"})
    time.sleep(0.01)  # the report is taken after every catalog write above
    manifest = {
        "sourceBucket": BUCKET,
        "destinationBucket": f"arn:aws:s3:::{REPORTS}",
        "version": "2016-11-30",
        "creationTimestamp": str(int(time.time() * 1000)),
        "fileFormat": "CSV",
        "fileSchema": SCHEMA,
        "files": keys,
    }
    s3.put_object(Bucket=REPORTS, Key=f"{BUCKET}/daily/manifest.json", Body=json.dumps(manifest).encode())
    return f"s3://{REPORTS}/{BUCKET}/daily/manifest.json"


def catalog() -> tuple[list[dict], list[dict]]:
    return (
        rows(f"SELECT {OBJECT_COLUMNS} FROM objects ORDER BY key"),
        rows(f"SELECT {JOURNAL_COLUMNS} FROM object_events ORDER BY key, sequence_number, record_type"),
    )


def absent_since(state: tuple[list[dict], list[dict]]) -> dict:
    return {row["key"]: row["deleted_at"] for row in state[0] if row["is_deleted"] and not row["version_id"]}


def without_absent_times(state: tuple[list[dict], list[dict]]) -> tuple[list[dict], list[dict]]:
    absent = set(absent_since(state))
    objects = [{**row, "deleted_at": None} if row["key"] in absent else row for row in state[0]]
    events = [
        {**row, "record_timestamp": None} if row["key"] in absent and row["source"] == "reconcile" else row
        for row in state[1]
    ]
    return objects, events


def test_inventory_reconcile_repairs_exactly_what_the_listing_reconcile_does(s3, lambda_context, capsys):
    bucket_with_history(s3)
    seed_catalog(s3, lambda_context)
    listed = reconcile_run.run(BUCKET, page_size=2)
    by_listing = catalog()
    assert listed.totals.repaired >= 4  # not vacuous: inserts, an update, two deletes

    _truncate()
    seed_catalog(s3, lambda_context)
    manifest = write_inventory(s3)
    status = cli.main(["reconcile", "--inventory", manifest, "--page-size", "2"])

    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "from the inventory of" in captured.out
    by_inventory = catalog()
    # A key absent from the source is deleted "when the source was taken": the listing's clock for
    # the listing, the report's creation time for the inventory. Everything else is identical.
    taken_at = inventory.read_manifest(s3, manifest).taken_at
    assert absent_since(by_inventory) == {"zz/gone.txt": taken_at}
    assert without_absent_times(by_inventory) == without_absent_times(by_listing)
    # A second pass over the same report finds nothing left to do.
    again = reconcile_run.run(BUCKET, page_size=2, source=sources.inventory_source(manifest, ""))
    assert again.totals.planned == 0


def test_rows_written_after_the_report_was_taken_are_left_alone(s3, lambda_context):
    bucket_with_history(s3)
    manifest = write_inventory(s3)
    # A live event after the report: the object is not in it, yet it must not be tombstoned.
    ingest(s3_event(s3_record("late/arrival.txt", sequencer="0F")), lambda_context)

    outcome = reconcile_run.run(BUCKET, page_size=2, source=sources.inventory_source(manifest, ""))

    assert outcome.totals.left_alone == 1
    assert rows("SELECT is_deleted FROM objects WHERE key = 'late/arrival.txt'") == [{"is_deleted": False}]


def test_a_run_resumes_after_a_key_and_honours_the_prefix(s3, lambda_context, capsys):
    bucket_with_history(s3)
    manifest = write_inventory(s3, files=3)

    status = cli.main(["reconcile", "--inventory", manifest, "--prefix", "in/", "--after", "in/keep.txt"])

    assert status == 0, capsys.readouterr().err
    assert [r["key"] for r in rows("SELECT key FROM objects ORDER BY key")] == ["in/new.txt"]


def test_an_inventory_of_another_bucket_or_out_of_order_is_refused(s3, lambda_context, capsys):
    bucket_with_history(s3)
    manifest = write_inventory(s3, files=1)
    assert cli.main(["reconcile", "--inventory", manifest, "--bucket", "other"]) == 2
    assert "not other" in capsys.readouterr().err

    unordered = gzip.compress(
        f'"{BUCKET}","b","","true","false","1","2026-11-30T00:00:00.000Z","e","STANDARD"\n'
        f'"{BUCKET}","a","","true","false","1","2026-11-30T00:00:00.000Z","e","STANDARD"\n'.encode()
    )
    s3.put_object(Bucket=REPORTS, Key=f"{BUCKET}/daily/data/0.csv.gz", Body=unordered)
    with pytest.raises(inventory.InventoryError, match="out of key order"):
        list(inventory.pages(s3, inventory.read_manifest(s3, manifest)))
    assert rows("SELECT count(*) AS n FROM objects") == [{"n": 0}]


def test_inventory_fields_for_s3_metadata_columns_are_read(s3):
    """EncryptionStatus, BucketKeyStatus, IsMultipartUploaded and ChecksumAlgorithm, as S3 Inventory
    writes them (NOT-SSE is S3 Metadata's null)."""
    s3.create_bucket(Bucket=REPORTS)
    schema = "Bucket, Key, Size, LastModifiedDate, ETag, StorageClass, IsMultipartUploaded, EncryptionStatus, BucketKeyStatus, ChecksumAlgorithm"
    lines = [
        [
            BUCKET,
            "a.txt",
            "5",
            "2026-11-26T10:00:00.000Z",
            "e1",
            "GLACIER",
            "false",
            "SSE-KMS",
            "ENABLED",
            "CRC32",
        ],
        [
            BUCKET,
            "b.bin",
            "9",
            "2026-11-26T10:00:00.000Z",
            "e2-3",
            "STANDARD",
            "true",
            "NOT-SSE",
            "DISABLED",
            "",
        ],
    ]
    buffer = io.StringIO()
    csv.writer(buffer, quoting=csv.QUOTE_ALL).writerows(lines)
    s3.put_object(Bucket=REPORTS, Key="data/0.csv.gz", Body=gzip.compress(buffer.getvalue().encode()))
    manifest = {
        "sourceBucket": BUCKET,
        "destinationBucket": f"arn:aws:s3:::{REPORTS}",
        "creationTimestamp": str(int(time.time() * 1000)),
        "fileFormat": "CSV",
        "fileSchema": schema,
        "files": [{"key": "data/0.csv.gz", "size": 1, "MD5checksum": "0"}],
    }
    s3.put_object(Bucket=REPORTS, Key="manifest.json", Body=json.dumps(manifest).encode())

    read = inventory.read_manifest(s3, f"s3://{REPORTS}/manifest.json")
    (page,) = inventory.pages(s3, read)
    first, second = page.entries
    assert (first.storage_class, first.is_multipart, first.encryption_status) == ("GLACIER", False, "SSE-KMS")
    assert (first.is_bucket_key_enabled, first.checksum_algorithm) == (True, "CRC32")
    assert (second.is_multipart, second.encryption_status, second.is_bucket_key_enabled) == (
        True,
        None,
        False,
    )
    assert second.checksum_algorithm is None
