"""Event normalisation: every source becomes the same immutable record, keys decoded once."""

from __future__ import annotations

import dataclasses
import json

import pytest

from landing.s3 import deliveries, fields, notifications
from landing.s3.fields import InvalidEvent
from landing.s3.notifications import S3Record
from tests.support.events import delete_record, eventbridge_event, load, s3_event, s3_record, sqs_event


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("a+b", "a b"),
        ("a%2Bb", "a+b"),
        ("test%2Fkey", "test/key"),
        ("nested/deep/file.txt", "nested/deep/file.txt"),
        ("unicod%C3%A9/na%C3%AFve+%E2%98%83.txt", "unicodé/naïve ☃.txt"),
        ("100%25+done", "100% done"),
    ],
)
def test_keys_are_form_url_decoded(raw, decoded):
    (record,) = notifications.from_s3_notification(s3_event(s3_record(raw)), source="s3").records
    assert record.key == decoded


def test_record_is_immutable_and_carries_every_field():
    event = s3_event(s3_record("a+b", size=7, etag='"abc"', version_id="v1", request_id="REQ1"))
    (record,) = notifications.from_s3_notification(event, source="s3").records
    assert record == S3Record(
        bucket="example-bucket",
        key="a b",
        event_name="ObjectCreated:Put",
        record_type="CREATE",
        event_time=record.event_time,
        sequencer="0A1B2C3D4E5F678901".ljust(32, "0"),
        version_id="v1",
        size=7,
        e_tag="abc",
        request_id="REQ1",
        source="s3",
        requester="AWS:AIDAJDPLRKLG7UEXAMPLE",
        source_ip_address="127.0.0.1",
    )
    assert record.event_time.isoformat() == "2026-11-26T10:00:00+00:00"
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.key = "other"  # type: ignore[misc]


def test_sequencers_of_different_lengths_compare_after_right_padding():
    short = fields.normalise_sequencer("0A1B", fields.parse_time("2026-01-01T00:00:00Z"))
    long = fields.normalise_sequencer("0a1b2c", fields.parse_time("2026-01-01T00:00:00Z"))
    assert len(short) == len(long) == fields.SEQUENCER_WIDTH
    assert long > short
    assert long == "0A1B2C".ljust(32, "0")


def test_missing_sequencer_falls_back_to_event_time_in_order():
    early = fields.normalise_sequencer(None, fields.parse_time("2026-01-01T00:00:00.001Z"))
    late = fields.normalise_sequencer("", fields.parse_time("2026-01-01T00:00:00.002Z"))
    assert early < late and len(early) == fields.SEQUENCER_WIDTH


@pytest.mark.parametrize("name", ["ObjectRemoved:Delete", "ObjectRemoved:DeleteMarkerCreated"])
def test_deletes_carry_no_size_or_etag(name):
    record_json = s3_record("k", event_name=name, size=None, etag=None)
    (record,) = notifications.from_s3_notification(s3_event(record_json), source="s3").records
    assert (record.record_type, record.size, record.e_tag) == ("DELETE", None, None)


@pytest.mark.parametrize("name", ["LifecycleExpiration:Delete", "LifecycleExpiration:DeleteMarkerCreated"])
def test_lifecycle_expirations_are_deletes(name):
    (record,) = notifications.from_s3_notification(s3_event(s3_record("k", event_name=name)), "s3").records
    assert record.record_type == "DELETE"


def test_other_event_types_are_skipped_not_failed():
    parsed = notifications.from_s3_notification(
        s3_event(s3_record("k", event_name="Replication:OperationFailedReplication"), s3_record("k2")),
        source="s3",
    )
    assert parsed.skipped == 1
    assert [r.key for r in parsed.records] == ["k2"]


def test_test_event_is_skipped():
    assert deliveries.detect(load("s3-test-event.json")) == "s3-test"
    assert notifications.from_s3_notification(load("s3-test-event.json"), source="s3").records == ()


def test_eventbridge_created_and_deleted():
    created = notifications.from_eventbridge(eventbridge_event("my+file%2B1.txt")).records[0]
    deleted = notifications.from_eventbridge(
        eventbridge_event("my+file%2B1.txt", detail_type="Object Deleted", sequencer="617f08299329d18a")
    ).records[0]
    assert (created.key, created.record_type, created.size, created.e_tag) == (
        "my file+1.txt",
        "CREATE",
        5,
        "b1946ac92492d2347c6235b4d2611184",
    )
    assert (deleted.record_type, deleted.size, deleted.source) == ("DELETE", None, "eventbridge")
    assert created.request_id == "N4N7GDK58NMKJ12R"
    assert deleted.sequencer > created.sequencer


def test_eventbridge_other_detail_types_are_skipped():
    parsed = notifications.from_eventbridge(eventbridge_event("k", detail_type="Async Copy Completion"))
    assert parsed.records == () and parsed.skipped == 1


def test_sqs_body_can_be_sns_wrapped():
    inner = json.dumps(s3_event(s3_record("from+sns")))
    body = json.dumps({"Type": "Notification", "MessageId": "x", "Message": inner})
    assert deliveries.from_sqs_body(body).records[0].key == "from sns"


@pytest.mark.parametrize("body", ["not json", "{}", "[]", '"text"', '{"Records": "nope"}'])
def test_sqs_bodies_that_are_not_notifications_are_invalid(body):
    with pytest.raises(InvalidEvent):
        deliveries.from_sqs_body(body)


def test_detect_each_source():
    assert deliveries.detect(load("s3-put.json")) == "s3"
    assert deliveries.detect(load("sqs-s3-batch.json")) == "sqs"
    assert deliveries.detect(load("eventbridge-object-created.json")) == "eventbridge"
    with pytest.raises(InvalidEvent):
        deliveries.detect({"hello": "world"})


@pytest.mark.parametrize(
    "mutate",
    [
        lambda r: r["s3"]["object"].pop("key"),
        lambda r: r["s3"]["object"].update(size="12"),
        lambda r: r["s3"]["object"].update(size=-1),
        lambda r: r["s3"]["object"].update(sequencer="XYZ"),
        lambda r: r["s3"]["object"].update(key="bad%zzescape"),
        lambda r: r["s3"]["object"].update(key="nul%00byte"),
        lambda r: r["s3"]["object"].update(key="%FF%FE"),
        lambda r: r["s3"]["object"].update(key="k" * 1025),
        lambda r: r.update(eventTime="yesterday"),
        lambda r: r["s3"]["bucket"].pop("name"),
    ],
)
def test_malformed_records_are_rejected_with_a_clear_error(mutate):
    record = s3_record("ok")
    mutate(record)
    with pytest.raises(InvalidEvent, match=r"Records\[0\]"):
        notifications.from_s3_notification(s3_event(record), source="s3")


def test_sqs_messages_yield_ids_and_bodies():
    event = sqs_event(s3_event(delete_record("k", "01")))
    ((message_id, body),) = list(deliveries.sqs_messages(event))
    assert message_id == event["Records"][0]["messageId"]
    assert deliveries.from_sqs_body(body).records[0].record_type == "DELETE"


@pytest.mark.parametrize(
    ("event_name", "version_id", "removes_version"),
    [
        ("ObjectRemoved:Delete", "v1", True),
        ("LifecycleExpiration:Delete", "v1", True),
        ("ObjectRemoved:DeleteMarkerCreated", "dm1", False),
        ("LifecycleExpiration:DeleteMarkerCreated", "dm1", False),
        ("ObjectRemoved:Delete", None, False),
        ("ObjectRemoved:Delete", "null", False),
        ("ObjectCreated:Put", "v1", False),
    ],
)
def test_only_a_delete_of_a_named_version_removes_a_version(event_name, version_id, removes_version):
    record = notifications.from_s3_notification(
        s3_event(s3_record("k", event_name=event_name, version_id=version_id)), source="s3"
    ).records[0]
    assert record.removes_version is removes_version


def test_null_version_is_stored_as_no_version():
    record = notifications.from_s3_notification(
        s3_event(s3_record("k", version_id="null")), source="s3"
    ).records[0]
    assert record.version_id is None


@pytest.mark.parametrize(
    ("deletion_type", "removes_version"),
    [("Permanently Deleted", True), ("Delete Marker Created", False)],
)
def test_eventbridge_deletion_type_says_whether_a_version_was_removed(deletion_type, removes_version):
    event = eventbridge_event("k", detail_type="Object Deleted", version_id="v1", deletion_type=deletion_type)
    assert notifications.from_eventbridge(event).records[0].removes_version is removes_version


def test_refusal_of_a_foreign_eventbridge_event_names_its_source_and_type():
    event = {"version": "0", "source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification"}
    with pytest.raises(fields.InvalidEvent) as refused:
        deliveries.detect(event)
    assert "'aws.ec2'" in str(refused.value)
    assert "EC2 Instance State-change Notification" in str(refused.value)


def test_refusal_of_a_record_without_event_name_says_what_it_got():
    with pytest.raises(fields.InvalidEvent) as refused:
        notifications.from_s3_notification({"Records": [{"EventSource": "aws:kinesis", "kinesis": {}}]}, "s3")
    assert "Records[0]" in str(refused.value)
    assert "aws:kinesis" in str(refused.value) and "kinesis" in str(refused.value)


def test_sns_records_carry_the_s3_notification_in_their_message():
    from tests.support.events import sns_event

    event = sns_event(s3_event(s3_record("via+sns")))
    assert deliveries.detect(event) == "sns"
    (record,) = deliveries.from_sns(event).records
    assert (record.key, record.source) == ("via sns", "s3")


@pytest.mark.parametrize(
    "message",
    [
        "not json",
        json.dumps({"AlarmName": "cpu", "NewStateValue": "ALARM"}),
        json.dumps(
            {"source": "aws.guardduty", "detail-type": "GuardDuty Malware Protection Object Scan Result"}
        ),
    ],
)
def test_sns_message_that_is_not_an_s3_notification_is_refused_naming_the_topic(message):
    from tests.support.events import sns_event

    with pytest.raises(fields.InvalidEvent) as refused:
        deliveries.from_sns(sns_event(message, topic="alarms"))
    assert "Records[0].Sns.Message" in str(refused.value) and "alarms" in str(refused.value)


def test_metadata_updates_have_a_sequence_shared_by_both_paths():
    notification = notifications.from_s3_notification(
        s3_event(s3_record("k", event_name="ObjectTagging:Put", sequencer=None, request_id="R1")), "s3"
    ).records[0]
    bridged = eventbridge_event("k", detail_type="Object Tags Added")
    bridged["detail"]["request-id"] = "R1"
    bridged["detail"]["object"].pop("version-id")
    eventbridge = notifications.from_eventbridge(bridged).records[0]
    assert notification.record_type == eventbridge.record_type == "UPDATE_METADATA"
    assert notification.sequencer == eventbridge.sequencer and len(notification.sequencer) == 32
