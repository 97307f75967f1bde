"""Sample events shaped like AWS sends them (`landing event`, the Docker-free `sam local generate-event`)."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

ACCOUNT = "123456789012"
KINDS = (
    "s3-put",
    "s3-delete",
    "sqs",
    "eventbridge-created",
    "eventbridge-deleted",
    "guardduty-scan",
    "schedule",
)
SCAN_RESULTS = ("NO_THREATS_FOUND", "THREATS_FOUND", "UNSUPPORTED", "ACCESS_DENIED", "FAILED")
# scanStatus that goes with each scanResultStatus in GuardDuty's samples.
_SCAN_STATUS = {"NO_THREATS_FOUND": "COMPLETED", "THREATS_FOUND": "COMPLETED", "FAILED": "FAILED"}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _sequencer() -> str:
    # S3 sequencers are hex and grow with time for one key; successive generated events keep that order.
    return f"{time.time_ns():016X}"


def _request_id() -> str:
    return secrets.token_hex(8).upper()


def encode_key(key: str) -> str:
    """Keys in S3 notifications are form-URL-encoded (space -> '+', '+' -> '%2B'); '/' stays."""
    return quote_plus(key, safe="/")


def s3_notification(
    bucket: str,
    key: str,
    *,
    delete: bool = False,
    size: int = 1024,
    etag: str | None = None,
    version_id: str | None = None,
    sequencer: str | None = None,
    region: str = "us-east-1",
) -> dict[str, Any]:
    """One-record notification as in the S3 user guide's "event message structure"."""
    obj: dict[str, Any] = {"key": encode_key(key)}
    if not delete:
        obj["size"] = size
        obj["eTag"] = etag or hashlib.md5(key.encode(), usedforsecurity=False).hexdigest()
    if version_id:
        obj["versionId"] = version_id
    obj["sequencer"] = sequencer or _sequencer()
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region,
                "eventTime": _now(),
                "eventName": "ObjectRemoved:Delete" if delete else "ObjectCreated:Put",
                "userIdentity": {"principalId": "AWS:AIDAJDPLRKLG7UEXAMPLE"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {
                    "x-amz-request-id": _request_id(),
                    "x-amz-id-2": secrets.token_urlsafe(48),
                },
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "landing-ingest",
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": obj,
                },
            }
        ]
    }


def sqs_batch(*bodies: dict[str, Any], region: str = "us-east-1") -> dict[str, Any]:
    """An SQS event as Lambda's event source mapping delivers it, one message per body."""
    records = []
    for body in bodies:
        text = json.dumps(body)
        sent = str(int(time.time() * 1000))
        records.append(
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": secrets.token_urlsafe(96),
                "body": text,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": sent,
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": sent,
                },
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(text.encode(), usedforsecurity=False).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{region}:{ACCOUNT}:landing-IngestQueue",
                "awsRegion": region,
            }
        )
    return {"Records": records}


def eventbridge(
    bucket: str,
    key: str,
    *,
    delete: bool = False,
    size: int = 1024,
    etag: str | None = None,
    version_id: str | None = None,
    sequencer: str | None = None,
    region: str = "us-east-1",
) -> dict[str, Any]:
    """EventBridge "Object Created" / "Object Deleted", as in the S3 user guide's message structure."""
    obj: dict[str, Any] = {"key": encode_key(key)}
    if not delete:
        obj["size"] = size
        obj["etag"] = etag or hashlib.md5(key.encode(), usedforsecurity=False).hexdigest()
    if version_id:
        obj["version-id"] = version_id
    obj["sequencer"] = sequencer or _sequencer()
    detail: dict[str, Any] = {
        "version": "0",
        "bucket": {"name": bucket},
        "object": obj,
        "request-id": _request_id(),
        "requester": ACCOUNT,
        "source-ip-address": "127.0.0.1",
        "reason": "DeleteObject" if delete else "PutObject",
    }
    if delete:
        detail["deletion-type"] = "Delete Marker Created" if version_id else "Permanently Deleted"
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Object Deleted" if delete else "Object Created",
        "source": "aws.s3",
        "account": ACCOUNT,
        "time": _now().replace(".000Z", "Z"),
        "region": region,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": detail,
    }


def guardduty_scan(
    bucket: str,
    key: str,
    *,
    result: str = "NO_THREATS_FOUND",
    etag: str | None = None,
    version_id: str | None = None,
    threat: str = "EICAR-Test-File (not a virus)",
    region: str = "us-east-1",
    **_: Any,
) -> dict[str, Any]:
    """GuardDuty Malware Protection for S3 "Object Scan Result", as in its user guide's samples
    (the key is not URL-encoded; the eTag must be the object's for the verdict to apply)."""
    if result not in SCAN_RESULTS:
        raise ValueError(f"unknown scan result {result!r}; choose from {', '.join(SCAN_RESULTS)}")
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "GuardDuty Malware Protection Object Scan Result",
        "source": "aws.guardduty",
        "account": ACCOUNT,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [
            f"arn:aws:guardduty:{region}:{ACCOUNT}:malware-protection-plan/{secrets.token_hex(10)}"
        ],
        "detail": {
            "schemaVersion": "1.0",
            "scanStatus": _SCAN_STATUS.get(result, "SKIPPED"),
            "resourceType": "S3_OBJECT",
            "s3ObjectDetails": {
                "bucketName": bucket,
                "objectKey": key,
                "eTag": etag or hashlib.md5(key.encode(), usedforsecurity=False).hexdigest(),
                "versionId": version_id,
                "s3Throttled": False,
            },
            "scanResultDetails": {
                "scanResultStatus": result,
                "threats": [{"name": threat}] if result == "THREATS_FOUND" else None,
            },
        },
    }


def schedule(rule: str = "landing-expire-uploads", region: str = "us-east-1") -> dict[str, Any]:
    """The event an EventBridge schedule rule sends (UploadsFunction's expiry pass, ReconcileFunction)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{ACCOUNT}:rule/{rule}"],
        "detail": {},
    }


def generate(kind: str, bucket: str, key: str, **fields: Any) -> dict[str, Any]:
    if kind == "s3-put":
        return s3_notification(bucket, key, **fields)
    if kind == "s3-delete":
        return s3_notification(bucket, key, delete=True, **fields)
    if kind == "sqs":
        return sqs_batch(s3_notification(bucket, key, **fields), region=fields.get("region", "us-east-1"))
    if kind == "eventbridge-created":
        return eventbridge(bucket, key, **fields)
    if kind == "eventbridge-deleted":
        return eventbridge(bucket, key, delete=True, **fields)
    if kind == "guardduty-scan":
        return guardduty_scan(bucket, key, **fields)
    if kind == "schedule":
        return schedule(region=fields.get("region", "us-east-1"))
    raise ValueError(f"unknown event kind {kind!r}; choose from {', '.join(KINDS)}")
