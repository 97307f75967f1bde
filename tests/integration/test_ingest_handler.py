"""The ingest handler end to end: real events in, rows in a real PostgreSQL out."""

from __future__ import annotations

import json

import pytest

from landing.handlers.ingest import handler
from landing.s3.fields import InvalidEvent
from tests.conftest import rows
from tests.support.events import delete_record, eventbridge_event, load, s3_event, s3_record, sqs_event

pytestmark = pytest.mark.usefixtures("clean_db", "s3")


def objects() -> list[dict]:
    return rows("SELECT key, is_deleted, e_tag, size, sequence_number FROM objects ORDER BY key")


def journal_count() -> int:
    return rows("SELECT count(*) AS n FROM object_events")[0]["n"]


def test_put_delivered_four_times_adds_one_journal_row(lambda_context):
    event = s3_event(s3_record("dup/key.txt", sequencer="0055AED6DCD90281E5"))
    results = [handler(event, lambda_context) for _ in range(4)]
    assert [r["journalled"] for r in results] == [1, 0, 0, 0]
    assert [r["duplicates"] for r in results] == [0, 1, 1, 1]
    assert journal_count() == 1
    assert len(objects()) == 1


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("a+b.txt", "a b.txt"),
        ("a%2Bb.txt", "a+b.txt"),
        ("d%C3%A9j%C3%A0/vu+%E2%98%83", "déjà/vu ☃"),
        ("x/y/z", "x/y/z"),
    ],
)
def test_keys_are_stored_decoded(raw, stored, lambda_context):
    handler(s3_event(s3_record(raw)), lambda_context)
    assert [o["key"] for o in objects()] == [stored]
    assert rows("SELECT key FROM object_events")[0]["key"] == stored


def test_stale_create_after_delete_keeps_the_tombstone(lambda_context):
    handler(s3_event(delete_record("k", "0000000000000000B0")), lambda_context)
    result = handler(s3_event(s3_record("k", sequencer="0000000000000000A0")), lambda_context)
    assert result["stale"] == 1
    (obj,) = objects()
    assert obj["is_deleted"] is True
    assert journal_count() == 2


def test_stale_delete_after_create_keeps_the_object(lambda_context):
    handler(s3_event(s3_record("k", sequencer="0000000000000000B0")), lambda_context)
    handler(s3_event(delete_record("k", "0000000000000000A0")), lambda_context)
    (obj,) = objects()
    assert obj["is_deleted"] is False and obj["size"] == 1024


def test_delete_without_size_or_etag_is_recorded(lambda_context):
    handler(load("s3-put.json"), lambda_context)
    handler(load("s3-delete.json"), lambda_context)
    (obj,) = objects()
    assert (obj["is_deleted"], obj["size"], obj["e_tag"]) == (True, None, None)
    deletes = rows("SELECT size, e_tag, version_id FROM object_events WHERE record_type = 'DELETE'")
    assert deletes == [{"size": None, "e_tag": None, "version_id": "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"}]


def test_head_enriches_when_etag_matches(s3, lambda_context):
    put = s3.put_object(
        Bucket="example-bucket",
        Key="data/a b.csv",
        Body=b"x,y\n",
        ContentType="text/csv",
        Metadata={"team": "x"},
    )
    etag = put["ETag"].strip('"')
    handler(s3_event(s3_record("data/a+b.csv", etag=etag, size=4)), lambda_context)
    (row,) = rows("SELECT content_type, user_metadata, storage_class, last_modified_date FROM objects")
    assert row["content_type"] == "text/csv"
    assert row["user_metadata"] == {"team": "x"}
    assert row["storage_class"] == "STANDARD"
    assert row["last_modified_date"] is not None


def test_head_answer_for_an_overwritten_object_is_ignored(s3, lambda_context):
    s3.put_object(Bucket="example-bucket", Key="k", Body=b"newer body", ContentType="text/plain")
    handler(s3_event(s3_record("k", etag="0123456789abcdef0123456789abcdef")), lambda_context)
    (row,) = rows("SELECT e_tag, content_type, user_metadata FROM objects")
    assert row == {"e_tag": "0123456789abcdef0123456789abcdef", "content_type": None, "user_metadata": None}


def test_head_404_records_the_row_from_the_event(lambda_context):
    handler(s3_event(s3_record("gone.txt", size=99)), lambda_context)
    (row,) = rows("SELECT size, content_type, is_deleted FROM objects")
    assert row == {"size": 99, "content_type": None, "is_deleted": False}


def test_head_for_another_bucket_is_like_404(lambda_context):
    handler(s3_event(s3_record("k", bucket="someone-elses-bucket")), lambda_context)
    assert rows("SELECT bucket FROM objects") == [{"bucket": "someone-elses-bucket"}]


def test_test_event_is_acknowledged_without_rows(lambda_context):
    assert handler(load("s3-test-event.json"), lambda_context)["records"] == 0
    assert objects() == []


def test_direct_event_is_all_or_nothing(lambda_context):
    bad = s3_record("second")
    bad["s3"]["object"]["size"] = "huge"
    with pytest.raises(InvalidEvent):
        handler(s3_event(s3_record("first"), bad), lambda_context)
    assert objects() == [] and journal_count() == 0


def test_sqs_batch_reports_only_the_bad_messages(lambda_context):
    good_a = s3_event(s3_record("a.txt", sequencer="01"))
    good_b = s3_event(s3_record("b.txt", sequencer="02"), delete_record("c.txt", "03"))
    event = sqs_event(good_a, "this is not json", load("s3-test-event.json"), good_b, "{}", "[]")
    ids = [r["messageId"] for r in event["Records"]]

    result = handler(event, lambda_context)

    assert result == {"batchItemFailures": [{"itemIdentifier": i} for i in (ids[1], ids[4], ids[5])]}
    assert [(o["key"], o["is_deleted"]) for o in objects()] == [
        ("a.txt", False),
        ("b.txt", False),
        ("c.txt", True),
    ]
    assert rows("SELECT DISTINCT source FROM object_events") == [{"source": "sqs"}]


def test_sqs_batch_all_good_returns_empty_failures(lambda_context):
    assert handler(load("sqs-s3-batch.json"), lambda_context) == {"batchItemFailures": []}
    assert [o["key"] for o in objects()] == ["incoming/data file.csv"]


def test_same_event_by_sqs_and_direct_is_journalled_once(lambda_context):
    event = s3_event(s3_record("twice", sequencer="0A"))
    handler(event, lambda_context)
    handler(sqs_event(event), lambda_context)
    assert journal_count() == 1


def test_eventbridge_create_then_delete(lambda_context):
    handler(load("eventbridge-object-created.json"), lambda_context)
    handler(load("eventbridge-object-deleted.json"), lambda_context)
    (obj,) = objects()
    assert obj["key"] == "example-key" and obj["is_deleted"] is True
    events = rows("SELECT record_type, event_name, source, request_id FROM object_events ORDER BY id")
    assert [(e["record_type"], e["source"]) for e in events] == [
        ("CREATE", "eventbridge"),
        ("DELETE", "eventbridge"),
    ]
    assert events[0]["request_id"] == "N4N7GDK58NMKJ12R"


def test_eventbridge_keys_are_decoded(lambda_context):
    handler(eventbridge_event("folder/my+file%2B1.txt"), lambda_context)
    assert [o["key"] for o in objects()] == ["folder/my file+1.txt"]


def test_one_event_naming_a_key_twice(lambda_context):
    event = s3_event(s3_record("k", sequencer="02", etag="new"), s3_record("k", sequencer="01", etag="old"))
    handler(event, lambda_context)
    assert objects()[0]["e_tag"] == "new" and journal_count() == 2


def test_handler_accepts_a_missing_context():
    assert handler(s3_event(s3_record("no-context")), None)["journalled"] == 1


def test_unknown_payload_raises():
    with pytest.raises(InvalidEvent):
        handler(json.loads('{"foo": 1}'), None)
