"""GuardDuty "Object Scan Result" parsing: AWS's sample shape in, one ScanResult out; malformed ones refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from landing.s3 import deliveries, notifications
from landing.s3.fields import InvalidEvent
from landing.s3.scans import MAX_CLOCK_SKEW
from tests.support.events import guardduty_event, load


def test_aws_sample_parses_to_one_scan_and_no_records():
    parsed = deliveries.from_guardduty(load("guardduty-scan-threats.json"))

    assert parsed.records == ()
    (scan,) = parsed.scans
    assert (scan.bucket, scan.key, scan.e_tag, scan.version_id) == (
        "example-bucket",
        "example-key",
        "b1946ac92492d2347c6235b4d2611184",
        "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
    )
    assert (scan.scan_status, scan.result, scan.threats) == (
        "COMPLETED",
        "THREATS_FOUND",
        ("EICAR-Test-File (not a virus)",),
    )
    assert scan.event_time == datetime(2021, 11, 12, 0, 0, 5, tzinfo=UTC)
    assert (scan.infected, scan.source) == (True, "eventbridge")


def test_detect_names_guardduty_events():
    assert deliveries.detect(load("guardduty-scan-clean.json")) == "guardduty"


def test_object_key_is_taken_as_is_not_url_decoded():
    (scan,) = deliveries.from_guardduty(guardduty_event("a+b%20c/d e.txt")).scans

    assert scan.key == "a+b%20c/d e.txt"


def test_quoted_etag_is_unquoted():
    (scan,) = deliveries.from_guardduty(guardduty_event("k", etag='"abc"')).scans

    assert scan.e_tag == "abc"


def sns_wrapped(event: dict) -> str:
    return json.dumps({"Type": "Notification", "MessageId": "x", "Message": json.dumps(event)})


@pytest.mark.parametrize("wrap", [json.dumps, sns_wrapped], ids=["plain", "sns"])
def test_a_scan_result_on_the_notification_queue_is_refused_naming_the_only_accepted_path(wrap):
    """Anyone with sqs:SendMessage could write such a body: verdicts come from EventBridge only."""
    with pytest.raises(InvalidEvent, match="accepted only from EventBridge"):
        deliveries.from_sqs_body(wrap(guardduty_event("k")))


def test_a_verdict_dated_beyond_the_clock_skew_is_refused():
    now = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)
    within = (now + MAX_CLOCK_SKEW).isoformat()
    beyond = (now + MAX_CLOCK_SKEW + timedelta(seconds=1)).isoformat()

    assert deliveries.from_guardduty(guardduty_event("k", time=within), now).scans
    with pytest.raises(InvalidEvent, match="dated in the future"):
        deliveries.from_guardduty(guardduty_event("k", time=beyond), now)
    with pytest.raises(InvalidEvent, match="dated in the future"):
        deliveries.from_guardduty(guardduty_event("k", time="2099-01-01T00:00:00Z"))


def test_other_guardduty_detail_types_are_skipped():
    event = guardduty_event("k")
    event["detail-type"] = "GuardDuty Malware Protection Resource Status Active"

    assert deliveries.from_guardduty(event) == notifications.Parsed((), skipped=1)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("id",), None, "no 'id'"),
        (("detail", "scanResultDetails", "scanResultStatus"), "MAYBE", "scanResultStatus"),
        (("detail", "scanStatus"), None, "scanStatus"),
        (("detail", "s3ObjectDetails", "objectKey"), "", "objectKey"),
        (("detail", "s3ObjectDetails", "objectKey"), "k\x00", "NUL"),
        (("detail", "s3ObjectDetails", "bucketName"), "no/such", "bucket name"),
        (("detail", "scanResultDetails", "threats"), "lots", "threats"),
        (("time",), "yesterday", "ISO-8601"),
    ],
)
def test_malformed_results_are_refused(path, value, message):
    event = guardduty_event("k")
    target = event
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value

    with pytest.raises(InvalidEvent, match=message):
        deliveries.from_guardduty(event)


def test_a_scan_result_delivered_by_sns_straight_to_the_function_is_refused():
    """S3 -> SNS -> function (Lambda's SNS event shape) carries S3 notifications only, never a verdict."""
    event = {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:uploads:0b5a2f0a-0000-4000-8000-000000000000",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
                    "TopicArn": "arn:aws:sns:us-east-1:123456789012:uploads",
                    "Subject": None,
                    "Message": json.dumps(guardduty_event("k", result="THREATS_FOUND")),
                    "Timestamp": "2021-11-12T00:00:06.000Z",
                    "SignatureVersion": "1",
                    "MessageAttributes": {},
                },
            }
        ]
    }

    assert deliveries.detect(event) == "sns"
    with pytest.raises(InvalidEvent, match="not an S3 notification"):
        deliveries.from_sns(event)
