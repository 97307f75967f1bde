"""Versioned buckets: every row of the event -> effect table, against moto with versioning on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from landing.errors import RetryableS3Error
from landing.handlers.ingest import handler
from landing.s3 import head as enrich
from tests.conftest import rows
from tests.support.events import eventbridge_event, s3_event, s3_record, sqs_event

BUCKET = "example-bucket"
KEY = "docs/report.txt"


@pytest.fixture
def bucket(s3: Any, clean_db: None) -> Iterator[Any]:
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    yield s3


def put(s3: Any, body: bytes, key: str = KEY) -> dict[str, Any]:
    answer = s3.put_object(Bucket=BUCKET, Key=key, Body=body, ContentType="text/plain")
    return {"version": answer["VersionId"], "etag": answer["ETag"].strip('"'), "size": len(body)}


def created(put: dict[str, Any], sequencer: str, key: str = KEY) -> dict[str, Any]:
    return s3_record(
        key, sequencer=sequencer, version_id=put["version"], etag=put["etag"], size=put["size"], bucket=BUCKET
    )


def removed(
    version: str | None, sequencer: str, event_name: str = "ObjectRemoved:Delete", key: str = KEY
) -> dict[str, Any]:
    return s3_record(key, event_name=event_name, sequencer=sequencer, version_id=version, bucket=BUCKET)


def marker(s3: Any, key: str = KEY) -> str:
    answer = s3.delete_object(Bucket=BUCKET, Key=key)
    assert answer["DeleteMarker"] is True
    return str(answer["VersionId"])


def row() -> dict[str, Any]:
    (found,) = rows(
        "SELECT version_id, sequence_number, size, e_tag, content_type, is_deleted, deleted_at, updated_at "
        "FROM objects"
    )
    return found


def journal() -> list[tuple[str, str, str | None]]:
    return [
        (r["record_type"], r["event_name"], r["version_id"])
        for r in rows(
            "SELECT record_type, event_name, version_id FROM object_events ORDER BY sequence_number"
        )
    ]


def seq(n: int) -> str:
    return f"{n:018X}"


def test_removing_a_noncurrent_version_leaves_the_object(bucket, lambda_context):
    v1, v2 = put(bucket, b"one"), put(bucket, b"second")
    handler(s3_event(created(v1, seq(1)), created(v2, seq(2))), lambda_context)
    before = row()
    bucket.delete_object(Bucket=BUCKET, Key=KEY, VersionId=v1["version"])

    handler(s3_event(removed(v1["version"], seq(3))), lambda_context)

    after = row()
    assert (after["version_id"], after["size"], after["e_tag"], after["is_deleted"]) == (
        v2["version"],
        6,
        v2["etag"],
        False,
    )
    assert after["updated_at"] == before["updated_at"]
    # The sequencer still moves on, so an older event delivered late stays stale.
    assert after["sequence_number"].startswith(seq(3))
    assert journal()[-1] == ("DELETE", "ObjectRemoved:Delete", v1["version"])


def test_removing_the_current_version_brings_the_previous_one_back(bucket, lambda_context):
    v1, v2 = put(bucket, b"one"), put(bucket, b"second")
    handler(s3_event(created(v1, seq(1)), created(v2, seq(2))), lambda_context)
    bucket.delete_object(Bucket=BUCKET, Key=KEY, VersionId=v2["version"])

    handler(s3_event(removed(v2["version"], seq(3))), lambda_context)

    after = row()
    assert (after["version_id"], after["size"], after["e_tag"], after["is_deleted"]) == (
        v1["version"],
        3,
        v1["etag"],
        False,
    )
    assert after["content_type"] == "text/plain"
    assert after["deleted_at"] is None


def test_removing_the_only_version_leaves_a_tombstone(bucket, lambda_context):
    v1 = put(bucket, b"one")
    handler(s3_event(created(v1, seq(1))), lambda_context)
    bucket.delete_object(Bucket=BUCKET, Key=KEY, VersionId=v1["version"])

    handler(s3_event(removed(v1["version"], seq(2))), lambda_context)

    after = row()
    assert (after["is_deleted"], after["version_id"], after["size"]) == (True, None, None)


def test_delete_marker_is_a_tombstone_carrying_the_marker_version(bucket, lambda_context):
    v1 = put(bucket, b"one")
    handler(s3_event(created(v1, seq(1))), lambda_context)
    dm = marker(bucket)

    handler(s3_event(removed(dm, seq(2), "ObjectRemoved:DeleteMarkerCreated")), lambda_context)

    after = row()
    assert (after["is_deleted"], after["version_id"]) == (True, dm)
    assert after["deleted_at"] is not None


def test_removing_the_delete_marker_brings_the_object_back(bucket, lambda_context):
    v1 = put(bucket, b"one")
    dm = marker(bucket)
    handler(
        s3_event(created(v1, seq(1)), removed(dm, seq(2), "ObjectRemoved:DeleteMarkerCreated")),
        lambda_context,
    )
    bucket.delete_object(Bucket=BUCKET, Key=KEY, VersionId=dm)

    handler(s3_event(removed(dm, seq(3))), lambda_context)

    after = row()
    assert (after["is_deleted"], after["version_id"], after["e_tag"]) == (False, v1["version"], v1["etag"])


def test_lifecycle_expiration_of_a_noncurrent_version_leaves_the_object(bucket, lambda_context):
    v1, v2 = put(bucket, b"one"), put(bucket, b"second")
    handler(s3_event(created(v1, seq(1)), created(v2, seq(2))), lambda_context)
    bucket.delete_object(Bucket=BUCKET, Key=KEY, VersionId=v1["version"])

    handler(s3_event(removed(v1["version"], seq(3), "LifecycleExpiration:Delete")), lambda_context)

    assert (row()["is_deleted"], row()["version_id"]) == (False, v2["version"])


def test_lifecycle_expiration_creating_a_delete_marker_is_a_tombstone(bucket, lambda_context):
    v1 = put(bucket, b"one")
    handler(s3_event(created(v1, seq(1))), lambda_context)
    dm = marker(bucket)

    handler(s3_event(removed(dm, seq(2), "LifecycleExpiration:DeleteMarkerCreated")), lambda_context)

    assert (row()["is_deleted"], row()["version_id"]) == (True, dm)


@pytest.mark.parametrize("version", [None, "null"])
def test_delete_without_a_version_or_of_the_null_version_is_a_tombstone(
    s3, clean_db, lambda_context, version
):
    """Unversioned (or suspended) buckets: no version to learn about, the key is gone."""
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"one")
    handler(s3_event(s3_record(KEY, sequencer=seq(1), version_id=version, size=3)), lambda_context)
    s3.delete_object(Bucket=BUCKET, Key=KEY)

    handler(s3_event(removed(version, seq(2))), lambda_context)

    assert (row()["is_deleted"], row()["version_id"]) == (True, None)
    # "null" is stored as no version, in the journal too, as reconcile's listing stores it.
    assert [version_id for _, _, version_id in journal()] == [None, None]


def test_eventbridge_delete_marker_created_is_a_tombstone(bucket, lambda_context):
    v1 = put(bucket, b"one")
    handler(s3_event(created(v1, seq(1))), lambda_context)
    dm = marker(bucket)

    handler(
        eventbridge_event(
            KEY,
            detail_type="Object Deleted",
            sequencer=seq(2),
            version_id=dm,
            deletion_type="Delete Marker Created",
        ),
        lambda_context,
    )

    assert (row()["is_deleted"], row()["version_id"]) == (True, dm)


def test_eventbridge_permanent_delete_of_a_noncurrent_version_leaves_the_object(bucket, lambda_context):
    v1, v2 = put(bucket, b"one"), put(bucket, b"second")
    handler(s3_event(created(v1, seq(1)), created(v2, seq(2))), lambda_context)
    bucket.delete_object(Bucket=BUCKET, Key=KEY, VersionId=v1["version"])

    handler(
        eventbridge_event(KEY, detail_type="Object Deleted", sequencer=seq(3), version_id=v1["version"]),
        lambda_context,
    )

    assert (row()["is_deleted"], row()["version_id"]) == (False, v2["version"])


def test_version_delete_before_its_creates_then_the_creates_stay_stale(bucket, lambda_context):
    v1, v2 = put(bucket, b"one"), put(bucket, b"second")
    bucket.delete_object(Bucket=BUCKET, Key=KEY, VersionId=v2["version"])

    handler(s3_event(removed(v2["version"], seq(3))), lambda_context)
    handler(s3_event(created(v2, seq(2))), lambda_context)
    handler(s3_event(created(v1, seq(1))), lambda_context)

    after = row()
    assert (after["is_deleted"], after["version_id"], after["size"]) == (False, v1["version"], 3)
    assert len(journal()) == 3


def test_removed_current_version_is_not_brought_back_by_its_late_create(bucket, lambda_context):
    """The row knew v1 only; v2 was written and removed before its create arrived."""
    v1 = put(bucket, b"one")
    handler(s3_event(created(v1, seq(1))), lambda_context)
    v2 = put(bucket, b"second")
    bucket.delete_object(Bucket=BUCKET, Key=KEY, VersionId=v2["version"])

    handler(sqs_event(s3_event(removed(v2["version"], seq(3)))), lambda_context)
    handler(sqs_event(s3_event(created(v2, seq(2)))), lambda_context)

    assert (row()["is_deleted"], row()["version_id"]) == (False, v1["version"])


def test_version_delete_is_retried_when_s3_cannot_say_what_is_current(bucket, lambda_context, monkeypatch):
    v1 = put(bucket, b"one")
    handler(s3_event(created(v1, seq(1))), lambda_context)

    def throttled(*args: Any) -> None:
        raise RetryableS3Error("SlowDown")

    monkeypatch.setattr(enrich, "head", throttled)
    with pytest.raises(RetryableS3Error):
        handler(s3_event(removed(v1["version"], seq(2))), lambda_context)
    failed = handler(sqs_event(s3_event(removed(v1["version"], seq(2)))), lambda_context)

    assert len(failed["batchItemFailures"]) == 1
    assert row()["is_deleted"] is False and len(journal()) == 1
