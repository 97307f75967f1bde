"""GuardDuty Malware Protection for S3 "Object Scan Result" events (EventBridge) -> one ScanResult."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from landing.s3.fields import (
    InvalidEvent,
    bucket_name,
    checked_text,
    etag_of,
    mapping_of,
    optional_text,
    parse_time,
)

SOURCE = "aws.guardduty"
DETAIL_TYPE = "GuardDuty Malware Protection Object Scan Result"
# scanResultStatus values (the objects.scan_status contract); anything else is not a usable event.
RESULTS = frozenset({"NO_THREATS_FOUND", "THREATS_FOUND", "UNSUPPORTED", "ACCESS_DENIED", "FAILED"})
MAX_THREATS = 100
# How far ahead of this function's clock a verdict's time may be. EventBridge stamps `time` itself, so
# a later one is forged or a broken clock; taken as it comes, it would outrank every genuine verdict
# (the later scan wins) for good.
MAX_CLOCK_SKEW = timedelta(minutes=5)
# Results arrive only by GuardDuty's EventBridge rule (never from the S3 notification queue).
ScanSource = Literal["eventbridge"]


@dataclass(frozen=True, slots=True)
class ScanResult:
    """One verdict about one object body (bucket, key, eTag, version) at the event's time."""

    event_id: str
    bucket: str
    key: str
    e_tag: str | None
    version_id: str | None
    scan_status: str
    result: str
    threats: tuple[str, ...]
    event_time: datetime
    source: ScanSource

    @property
    def infected(self) -> bool:
        return self.result == "THREATS_FOUND"


def is_guardduty(payload: Mapping[str, Any]) -> bool:
    return payload.get("source") == SOURCE and "detail-type" in payload


def is_scan_result(payload: Mapping[str, Any]) -> bool:
    return is_guardduty(payload) and payload.get("detail-type") == DETAIL_TYPE


def _threats(raw: object) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) > MAX_THREATS:
        raise InvalidEvent(f"scanResultDetails.threats must be a list of at most {MAX_THREATS} threats")
    names = []
    for threat in raw:
        name = mapping_of(threat, "threat").get("name")
        names.append(checked_text(name, "threat name") if isinstance(name, str) else "unnamed threat")
    return tuple(names)


def from_guardduty(payload: Mapping[str, Any], now: datetime | None = None) -> ScanResult:
    """The scan result of one GuardDuty event; raises InvalidEvent for a malformed one or one dated
    more than MAX_CLOCK_SKEW after ``now`` (the current time by default).

    objectKey is used as it comes: unlike S3 notifications, GuardDuty names the object by its key,
    not a form-URL-encoded form of it.
    """
    event_id = payload.get("id")
    if not isinstance(event_id, str) or not event_id:
        raise InvalidEvent("GuardDuty event has no 'id'")
    detail = mapping_of(payload.get("detail"), "detail")
    obj = mapping_of(detail.get("s3ObjectDetails"), "detail.s3ObjectDetails")
    result_details = mapping_of(detail.get("scanResultDetails"), "detail.scanResultDetails")
    result = result_details.get("scanResultStatus")
    if result not in RESULTS:
        raise InvalidEvent(f"scanResultStatus must be one of {sorted(RESULTS)}, got {str(result)[:40]!r}")
    scan_status = detail.get("scanStatus")
    if not isinstance(scan_status, str) or not scan_status:
        raise InvalidEvent("detail.scanStatus is missing")
    key = obj.get("objectKey")
    if not isinstance(key, str) or not key:
        raise InvalidEvent("detail.s3ObjectDetails.objectKey must be a non-empty string")
    if len(key.encode("utf-8", errors="replace")) > 1024:
        raise InvalidEvent("objectKey is longer than 1024 bytes")
    event_time = parse_time(payload.get("time"))
    if event_time > (now or datetime.now(UTC)) + MAX_CLOCK_SKEW:
        raise InvalidEvent(f"GuardDuty event is dated in the future: {event_time.isoformat()}")
    return ScanResult(
        event_id=checked_text(event_id, "id"),
        bucket=bucket_name(obj.get("bucketName")),
        key=checked_text(key, "objectKey"),
        e_tag=etag_of(obj.get("eTag")),
        version_id=optional_text(obj.get("versionId"), "versionId"),
        scan_status=checked_text(scan_status, "scanStatus"),
        result=str(result),
        threats=_threats(result_details.get("threats")),
        event_time=event_time,
        source="eventbridge",
    )
