"""Reconcile against moto S3 and a real PostgreSQL: lost events, deleted and changed objects, reruns."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from landing import cli
from landing.db import engine as db
from landing.handlers.ingest import handler as ingest
from landing.reconcile import run as reconcile_run
from landing.reconcile.compare import FLOOR_SEQUENCE
from landing.s3 import clients
from tests.conftest import rows
from tests.support.events import delete_record, s3_event, s3_record

BUCKET = "example-bucket"


@pytest.fixture(autouse=True)
def _clean(clean_db: None) -> Iterator[None]:
    with db.require_engine().begin() as conn:
        conn.execute(text("TRUNCATE reconcile_state"))
    yield


def put(s3, key: str, body: bytes = b"data", **kwargs) -> str:
    return s3.put_object(Bucket=BUCKET, Key=key, Body=body, **kwargs)["ETag"].strip('"')


def objects() -> dict[str, dict]:
    found = rows(
        "SELECT key, size, e_tag, is_deleted, sequence_number, content_type, user_metadata, "
        "version_id, updated_at FROM objects ORDER BY key"
    )
    return {row.pop("key"): row for row in found}


def journal() -> list[dict]:
    return rows(
        "SELECT key, record_type, event_name, sequence_number, source, size, e_tag, version_id "
        "FROM object_events ORDER BY id"
    )


def reconcile(**kwargs) -> reconcile_run.Outcome:
    kwargs.setdefault("page_size", 2)
    return reconcile_run.run(BUCKET, **kwargs)


def test_objects_whose_events_were_never_delivered_are_inserted_with_head_details(s3):
    etag = put(s3, "in/a.csv", b"a,b\n", ContentType="text/csv", Metadata={"owner": "ops"})
    put(s3, "in/b.txt", b"bb")
    put(s3, "in/c d+e.txt", b"ccc")

    outcome = reconcile()

    assert outcome.complete
    assert (outcome.totals.scanned, outcome.totals.inserted) == (3, 3)
    state = objects()
    assert state["in/a.csv"]["e_tag"] == etag
    assert state["in/a.csv"]["size"] == 4
    assert state["in/a.csv"]["content_type"] == "text/csv"
    assert state["in/a.csv"]["user_metadata"] == {"owner": "ops"}
    assert state["in/c d+e.txt"]["size"] == 3
    assert {row["sequence_number"] for row in state.values()} == {FLOOR_SEQUENCE}
    assert [(j["key"], j["record_type"], j["source"]) for j in journal()] == [
        ("in/a.csv", "CREATE", "reconcile"),
        ("in/b.txt", "CREATE", "reconcile"),
        ("in/c d+e.txt", "CREATE", "reconcile"),
    ]
    assert {j["event_name"] for j in journal()} == {"ObjectCreated:Reconcile"}


def test_rows_for_deleted_objects_become_tombstones(s3, lambda_context):
    ingest(s3_event(s3_record("keep.txt", sequencer="0A", etag=put(s3, "keep.txt"), size=4)), lambda_context)
    ingest(s3_event(s3_record("gone/one.txt", sequencer="0B")), lambda_context)
    ingest(s3_event(s3_record("gone/two.txt", sequencer="0C")), lambda_context)

    outcome = reconcile()

    assert outcome.totals.deleted == 2
    state = objects()
    assert state["keep.txt"]["is_deleted"] is False
    assert state["gone/one.txt"]["is_deleted"] is True
    assert state["gone/one.txt"]["size"] is None
    # The tombstone sorts just after the last event seen for the key: its sequence plus one.
    assert state["gone/one.txt"]["sequence_number"] == "0B".ljust(31, "0") + "1"
    deletes = [j for j in journal() if j["source"] == "reconcile"]
    assert [(j["key"], j["record_type"], j["event_name"]) for j in deletes] == [
        ("gone/one.txt", "DELETE", "ObjectRemoved:Reconcile"),
        ("gone/two.txt", "DELETE", "ObjectRemoved:Reconcile"),
    ]
    assert rows("SELECT count(*) AS n FROM objects WHERE is_deleted AND deleted_at IS NULL")[0]["n"] == 0


def test_changed_objects_are_updated(s3, lambda_context):
    ingest(s3_event(s3_record("report.pdf", sequencer="0A", etag="old", size=1)), lambda_context)
    etag = put(s3, "report.pdf", b"new content", ContentType="application/pdf")

    outcome = reconcile()

    assert outcome.totals.updated == 1
    row = objects()["report.pdf"]
    assert (row["e_tag"], row["size"], row["content_type"]) == (etag, 11, "application/pdf")
    assert row["sequence_number"] == "0A".ljust(31, "0") + "1"
    assert journal()[-1] == {
        "key": "report.pdf",
        "record_type": "CREATE",
        "event_name": "ObjectCreated:Reconcile",
        "sequence_number": "0A".ljust(31, "0") + "1",
        "source": "reconcile",
        "size": 11,
        "e_tag": etag,
        "version_id": None,
    }


def test_object_present_in_s3_but_tombstoned_in_the_catalog_comes_back(s3, lambda_context):
    etag = put(s3, "back.txt", b"back")
    ingest(s3_event(delete_record("back.txt", "0D")), lambda_context)

    assert reconcile().totals.updated == 1

    row = objects()["back.txt"]
    assert (row["is_deleted"], row["e_tag"]) == (False, etag)


def test_running_it_twice_changes_nothing_the_second_time(s3, lambda_context):
    put(s3, "a.txt")
    put(s3, "b.txt", b"changed")
    ingest(s3_event(s3_record("b.txt", sequencer="0A", etag="stale", size=1)), lambda_context)
    ingest(s3_event(s3_record("c.txt", sequencer="0B")), lambda_context)
    first = reconcile()
    state, events = objects(), journal()

    second = reconcile()

    assert first.totals.repaired == 3
    assert (second.totals.repaired, second.totals.planned) == (0, 0)
    assert objects() == state  # updated_at included: not even rewritten
    assert journal() == events


def test_a_live_event_after_a_repair_still_wins_and_an_older_redelivery_does_not(s3, lambda_context):
    put(s3, "k.txt", b"one")
    ingest(s3_event(s3_record("k.txt", sequencer="0055AED6DCD90281E5", etag="v0", size=1)), lambda_context)
    reconcile()  # repairs the etag: sequence 0055AED6DCD90281E5...01

    ingest(s3_event(s3_record("k.txt", sequencer="0055AED6DCD90281E5", etag="v0", size=1)), lambda_context)
    assert objects()["k.txt"]["e_tag"] != "v0"  # the redelivered older event lost
    ingest(s3_event(delete_record("k.txt", "0055AED6DCD90281E6")), lambda_context)
    assert objects()["k.txt"]["is_deleted"] is True  # the later real event won


def test_prefix_limits_what_is_compared(s3, lambda_context):
    put(s3, "in/new.txt")
    put(s3, "out/new.txt")
    ingest(s3_event(s3_record("out/gone.txt", sequencer="0A")), lambda_context)
    ingest(s3_event(s3_record("in_other/gone.txt", sequencer="0A")), lambda_context)

    outcome = reconcile(prefix="in/")

    assert (outcome.totals.scanned, outcome.totals.repaired) == (1, 1)
    assert sorted(objects()) == ["in/new.txt", "in_other/gone.txt", "out/gone.txt"]
    assert not any(row["is_deleted"] for row in objects().values())


def test_more_catalog_rows_than_a_batch_holds_are_walked_in_chunks(s3, lambda_context):
    put(s3, "m/5.txt")
    for i in range(9):
        ingest(s3_event(s3_record(f"m/{i}.txt", sequencer="0A")), lambda_context)

    outcome = reconcile(row_limit=3)

    assert outcome.totals.deleted == 8
    assert outcome.totals.updated == 1  # m/5.txt: the event's etag is not the object's
    assert outcome.totals.batches >= 3
    assert [k for k, row in objects().items() if not row["is_deleted"]] == ["m/5.txt"]


def test_versioned_bucket_is_listed_by_version_with_delete_markers(s3, lambda_context):
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    put(s3, "v/a.txt", b"1")
    latest = s3.put_object(Bucket=BUCKET, Key="v/a.txt", Body=b"22")
    b_etag = put(s3, "v/b.txt", b"b")
    ingest(s3_event(s3_record("v/b.txt", sequencer="0A", etag=b_etag, size=1)), lambda_context)
    marker = s3.delete_object(Bucket=BUCKET, Key="v/b.txt")

    outcome = reconcile(page_size=1)

    assert outcome.versioned
    state = objects()
    assert (state["v/a.txt"]["version_id"], state["v/a.txt"]["size"]) == (latest["VersionId"], 2)
    assert state["v/b.txt"]["is_deleted"] is True
    delete = [j for j in journal() if j["record_type"] == "DELETE"]
    assert [(j["key"], j["version_id"]) for j in delete] == [("v/b.txt", marker["VersionId"])]
    assert reconcile(page_size=1).totals.planned == 0


def test_dry_run_writes_nothing(s3, lambda_context):
    put(s3, "new.txt")
    put(s3, "changed.txt", b"changed")
    ingest(s3_event(s3_record("changed.txt", sequencer="0A", etag="stale", size=1)), lambda_context)
    ingest(s3_event(s3_record("gone.txt", sequencer="0B")), lambda_context)
    state, events = objects(), journal()
    out, err = io.StringIO(), io.StringIO()

    from landing.reconcile import command as reconcile_cli

    status = reconcile_cli.main(BUCKET, dry_run=True, page_size=2, out=out, err=err)

    assert status == 0
    assert objects() == state
    assert journal() == events
    assert rows("SELECT count(*) AS n FROM reconcile_state")[0]["n"] == 0
    printed = out.getvalue()
    assert "would insert new.txt: missing from the catalog" in printed
    assert "would update changed.txt: etag stale in the catalog" in printed
    assert "would delete gone.txt: no longer in S3" in printed
    assert "to repair    3" in printed


def test_command_line_prints_progress_and_a_summary(s3, capsys):
    for i in range(5):
        put(s3, f"cli/{i}.txt")

    status = cli.main(["reconcile", "--bucket", BUCKET, "--page-size", "2"])

    captured = capsys.readouterr()
    assert status == 0
    assert "scanned 5  repaired 5" in captured.err
    assert "/s" in captured.err
    assert f"reconcile s3://{BUCKET}/" in captured.out
    assert "inserted     5 (missing from the catalog)" in captured.out
    assert len(objects()) == 5


def test_command_line_reports_a_missing_bucket(s3, capsys):
    status = cli.main(["reconcile", "--bucket", "no-such-bucket"])

    assert status == 1
    assert "NoSuchBucket" in capsys.readouterr().err


def test_an_object_headobject_cannot_read_is_recorded_from_the_listing_alone(s3, monkeypatch):
    from botocore.exceptions import ClientError

    etag = put(s3, "sealed.bin", b"secret", ContentType="application/x-sealed")

    def forbidden(**params):
        raise ClientError(
            {"Error": {"Code": "403"}, "ResponseMetadata": {"HTTPStatusCode": 403}}, "HeadObject"
        )

    monkeypatch.setattr(clients.s3_client(), "head_object", forbidden)

    outcome = reconcile()

    assert (outcome.totals.inserted, outcome.totals.unenriched) == (1, 1)
    row = objects()["sealed.bin"]
    assert (row["e_tag"], row["size"], row["content_type"]) == (etag, 6, None)


def test_a_throttled_headobject_stops_the_run_before_writing_its_batch(s3, monkeypatch):
    from botocore.exceptions import ClientError

    from landing.errors import RetryableS3Error

    put(s3, "a.txt")

    def throttled(**params):
        raise ClientError(
            {"Error": {"Code": "SlowDown"}, "ResponseMetadata": {"HTTPStatusCode": 503}}, "HeadObject"
        )

    monkeypatch.setattr(clients.s3_client(), "head_object", throttled)

    with pytest.raises(RetryableS3Error):
        reconcile()
    assert objects() == {}


def test_command_line_rejects_a_page_size_s3_cannot_serve(s3, capsys):
    assert cli.main(["reconcile", "--bucket", BUCKET, "--page-size", "0"]) == 2
    assert "page_size must be between 1 and 1000" in capsys.readouterr().err


def test_rows_from_before_revision_0010_get_their_s3_metadata_columns_filled(s3):
    etag = put(s3, "old/tagged.txt", b"x", Tagging="team=ops", StorageClass="STANDARD_IA")
    ingest(s3_event(s3_record("old%2Ftagged.txt", etag=etag, size=1)), None)
    columns = ("object_tags", "is_delete_marker", "is_multipart", "storage_class")
    with db.require_engine().begin() as conn:
        # What a row written before the migration looks like: none of S3 Metadata's columns.
        conn.execute(
            text(
                "UPDATE objects SET object_tags = NULL, is_delete_marker = NULL, is_multipart = NULL, "
                "encryption_status = NULL, updated_at = now() - interval '1 hour'"
            )
        )

    outcome = reconcile()

    assert outcome.totals.updated == 1
    (found,) = rows(f"SELECT {', '.join(columns)} FROM objects")
    assert found == {
        "object_tags": {"team": "ops"},
        "is_delete_marker": False,
        "is_multipart": False,
        "storage_class": "STANDARD_IA",
    }
    assert reconcile().totals.updated == 0


def test_a_storage_class_changed_without_an_event_is_repaired_from_the_listing(s3):
    etag = put(s3, "cold.txt", b"x")
    ingest(s3_event(s3_record("cold.txt", etag=etag, size=1)), None)
    s3.copy_object(
        Bucket=BUCKET,
        Key="cold.txt",
        CopySource={"Bucket": BUCKET, "Key": "cold.txt"},
        StorageClass="GLACIER",
    )
    with db.require_engine().begin() as conn:
        conn.execute(text("UPDATE objects SET updated_at = now() - interval '1 hour'"))

    assert reconcile().totals.updated == 1
    assert rows("SELECT storage_class FROM objects") == [{"storage_class": "GLACIER"}]
