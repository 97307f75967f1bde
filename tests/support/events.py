"""Sample events: the JSON files under tests/events/ and builders that copy AWS's documented shapes."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parent.parent / "events"


def load(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def s3_record(
    key: str,
    *,
    bucket: str = "example-bucket",
    event_name: str = "ObjectCreated:Put",
    sequencer: str | None = "0A1B2C3D4E5F678901",
    size: int | None = 1024,
    etag: str | None = "0123456789abcdef0123456789abcdef",
    version_id: str | None = None,
    event_time: str = "2026-11-26T10:00:00.000Z",
    request_id: str = "C3D13FE58DE4C810",
) -> dict[str, Any]:
    """One record shaped like https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html
    (``key`` must already be URL-encoded, as S3 sends it)."""
    obj: dict[str, Any] = {"key": key}
    if event_name.startswith("ObjectCreated"):
        if size is not None:
            obj["size"] = size
        if etag is not None:
            obj["eTag"] = etag
    if version_id is not None:
        obj["versionId"] = version_id
    if sequencer is not None:
        obj["sequencer"] = sequencer
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": event_time,
        "eventName": event_name,
        "userIdentity": {"principalId": "AWS:AIDAJDPLRKLG7UEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {
            "x-amz-request-id": request_id,
            "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD",
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "testConfigRule",
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                "arn": f"arn:aws:s3:::{bucket}",
            },
            "object": obj,
        },
    }


def s3_event(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": [copy.deepcopy(r) for r in records]}


def delete_record(key: str, sequencer: str | None, **kwargs: Any) -> dict[str, Any]:
    return s3_record(key, event_name="ObjectRemoved:Delete", sequencer=sequencer, **kwargs)


def sqs_event(*bodies: str | dict[str, Any]) -> dict[str, Any]:
    """An SQS batch as Lambda delivers it (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html)."""
    records = []
    for body in bodies:
        text = body if isinstance(body, str) else json.dumps(body)
        records.append(
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
                "body": text,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1545082649183",
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": "1545082649185",
                },
                "messageAttributes": {},
                "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:landing-ingest",
                "awsRegion": "us-east-1",
            }
        )
    return {"Records": records}


def eventbridge_event(
    key: str,
    *,
    detail_type: str = "Object Created",
    bucket: str = "example-bucket",
    sequencer: str = "617f08299329d189",
    size: int | None = 5,
    etag: str | None = "b1946ac92492d2347c6235b4d2611184",
    reason: str = "PutObject",
    version_id: str = "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
    deletion_type: str = "Permanently Deleted",
) -> dict[str, Any]:
    """Shaped like https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html."""
    obj: dict[str, Any] = {"key": key, "sequencer": sequencer, "version-id": version_id}
    if detail_type == "Object Created":
        obj.update({"size": size, "etag": etag})
    detail: dict[str, Any] = {
        "version": "0",
        "bucket": {"name": bucket},
        "object": obj,
        "request-id": "N4N7GDK58NMKJ12R",
        "requester": "123456789012",
        "source-ip-address": "1.2.3.4",
        "reason": reason,
    }
    if detail_type == "Object Deleted":
        detail["deletion-type"] = deletion_type
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2021-11-12T00:00:00Z",
        "region": "ca-central-1",
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": detail,
    }


def guardduty_event(
    key: str,
    *,
    result: str = "NO_THREATS_FOUND",
    bucket: str = "example-bucket",
    etag: str | None = "b1946ac92492d2347c6235b4d2611184",
    version_id: str | None = "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
    event_id: str | None = None,
    time: str = "2021-11-12T00:00:05Z",
    threats: list[str] | None = None,
) -> dict[str, Any]:
    """Shaped like AWS's "S3 object scan result" sample
    (https://docs.aws.amazon.com/guardduty/latest/ug/monitor-with-eventbridge-s3-malware-protection.html):
    ``key`` as GuardDuty sends it, not URL-encoded."""
    scan_status = {"NO_THREATS_FOUND": "COMPLETED", "THREATS_FOUND": "COMPLETED", "FAILED": "FAILED"}
    if result == "THREATS_FOUND" and threats is None:
        threats = ["EICAR-Test-File (not a virus)"]
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": "GuardDuty Malware Protection Object Scan Result",
        "source": "aws.guardduty",
        "account": "123456789012",
        "time": time,
        "region": "us-east-1",
        "resources": [
            "arn:aws:guardduty:us-east-1:123456789012:malware-protection-plan/b4c7f464ab3a4EXAMPLE"
        ],
        "detail": {
            "schemaVersion": "1.0",
            "scanStatus": scan_status.get(result, "SKIPPED"),
            "resourceType": "S3_OBJECT",
            "s3ObjectDetails": {
                "bucketName": bucket,
                "objectKey": key,
                "eTag": etag,
                "versionId": version_id,
                "s3Throttled": False,
            },
            "scanResultDetails": {
                "scanResultStatus": result,
                "threats": [{"name": name} for name in threats] if threats else None,
            },
        },
    }


def sns_event(*messages: str | dict[str, Any], topic: str = "landing-s3-events") -> dict[str, Any]:
    """S3 -> SNS -> Lambda as Lambda delivers it (https://docs.aws.amazon.com/lambda/latest/dg/with-sns.html):
    each message a JSON string in Records[].Sns.Message."""
    records = []
    for message in messages:
        records.append(
            {
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"arn:aws:sns:us-east-1:123456789012:{topic}:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55",
                "EventSource": "aws:sns",
                "Sns": {
                    "SignatureVersion": "1",
                    "Timestamp": "2026-11-26T10:00:01.000Z",
                    "Signature": "EXAMPLE",
                    "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-EXAMPLE.pem",
                    "MessageId": str(uuid.uuid4()),
                    "Message": message if isinstance(message, str) else json.dumps(message),
                    "MessageAttributes": {},
                    "Type": "Notification",
                    "UnsubscribeUrl": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&EXAMPLE",
                    "TopicArn": f"arn:aws:sns:us-east-1:123456789012:{topic}",
                    "Subject": "Amazon S3 Notification",
                },
            }
        )
    return {"Records": records}


def metadata_record(
    key: str,
    event_name: str,
    *,
    bucket: str = "example-bucket",
    etag: str | None = None,
    version_id: str | None = None,
    request_id: str = "8NZP164VNA76D82R",
    event_time: str = "2026-11-26T10:05:00.000Z",
) -> dict[str, Any]:
    """A metadata-update notification record (ObjectTagging:Put, ObjectAcl:Put, ObjectRestore:Post...):
    version 2.3 of AWS's documented structure (notification-content-structure.html), the object named by
    key, eTag and versionId and no sequencer ("only used with PUTs and DELETEs")."""
    record = s3_record(
        key,
        bucket=bucket,
        event_name=event_name,
        sequencer=None,
        version_id=version_id,
        request_id=request_id,
        event_time=event_time,
    )
    record["eventVersion"] = "2.3"
    if etag is not None:
        record["s3"]["object"]["eTag"] = etag
    return record
