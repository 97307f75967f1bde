"""S3 notifications and S3 EventBridge events -> one immutable S3Record type; the event identity."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from aws_lambda_powertools.utilities.data_classes.s3_event import S3EventBridgeNotificationEvent

from landing.s3.fields import (
    SEQUENCER_WIDTH,
    InvalidEvent,
    bucket_name,
    checked_size,
    checked_text,
    decode_key,
    describe,
    etag_of,
    mapping_of,
    normalise_sequencer,
    optional_text,
    parse_time,
    section_of,
    version_of,
)
from landing.s3.scans import ScanResult

RecordType = Literal["CREATE", "DELETE", "UPDATE_METADATA"]
Source = Literal["s3", "sqs", "eventbridge", "reconcile"]

CREATE_PREFIXES = ("ObjectCreated:",)
DELETE_PREFIXES = ("ObjectRemoved:", "LifecycleExpiration:")
# Metadata updates, by notification event name and by EventBridge detail-type, each mapped to the
# change it is: the same change reaching us by both paths has one journal identity (see
# metadata_sequence).
METADATA_EVENTS = {
    "ObjectTagging:Put": "tags-put",
    "ObjectTagging:Delete": "tags-delete",
    "ObjectAcl:Put": "acl",
    "ObjectRestore:Post": "restore-initiated",
    "ObjectRestore:Completed": "restore-completed",
    "ObjectRestore:Delete": "restore-expired",
    "LifecycleTransition": "storage-class",
    "IntelligentTiering": "access-tier",
}
EVENTBRIDGE_METADATA = {
    "Object Tags Added": "tags-put",
    "Object Tags Deleted": "tags-delete",
    "Object ACL Updated": "acl",
    "Object Restore Initiated": "restore-initiated",
    "Object Restore Completed": "restore-completed",
    "Object Restore Expired": "restore-expired",
    "Object Storage Class Changed": "storage-class",
    "Object Access Tier Changed": "access-tier",
}
EVENTBRIDGE_TYPES: dict[str, RecordType] = {
    "Object Created": "CREATE",
    "Object Deleted": "DELETE",
    **dict.fromkeys(EVENTBRIDGE_METADATA, "UPDATE_METADATA"),
}
# A delete that hides the key behind a delete marker (notification suffix / EventBridge deletion-type).
DELETE_MARKER_SUFFIX = ":DeleteMarkerCreated"
EVENTBRIDGE_DELETE_MARKER = "Delete Marker Created"


# An event's identity in the journal (bucket, key, normalised sequencer, record type): a redelivery,
# or the same event by a second path, has the same one (uq_object_events_identity).
Identity = tuple[str, str, str, str]


@dataclass(frozen=True, slots=True)
class S3Record:
    bucket: str
    key: str
    event_name: str
    record_type: RecordType
    event_time: datetime
    sequencer: str
    version_id: str | None
    size: int | None
    e_tag: str | None
    request_id: str | None
    source: Source
    # A permanent delete of one version (ObjectRemoved:Delete / LifecycleExpiration:Delete with a
    # version id): what a reader gets afterwards must be learnt from S3, it is not a tombstone.
    removes_version: bool = False
    # Who made the request and from where (notification userIdentity.principalId and
    # requestParameters.sourceIPAddress; EventBridge detail.requester and detail.source-ip-address).
    requester: str | None = None
    source_ip_address: str | None = None
    # A DELETE that left a delete marker (DeleteMarkerCreated / deletion-type "Delete Marker Created").
    delete_marker: bool = False

    @property
    def identity(self) -> Identity:
        """The journal's unique identity of this event."""
        return (self.bucket, self.key, self.sequencer, self.record_type)


@dataclass(frozen=True, slots=True)
class Parsed:
    """Records of one payload plus how many were skipped on purpose (TestEvent, other event types);
    a GuardDuty payload carries its malware scan result instead of records."""

    records: tuple[S3Record, ...]
    skipped: int = 0
    scans: tuple[ScanResult, ...] = ()


def metadata_sequence(
    change: str, request_id: str | None, version_id: str | None, event_time: datetime
) -> str:
    """The journal sequence_number of a metadata update: S3 sends these without a sequencer (or, by
    one path, with one and by the other without), so it is derived from what both paths carry alike:
    the change (tags put, restore completed...), S3's request id and the version, hashed to
    SEQUENCER_WIDTH hex digits. A redelivery, or the same change by notification and by EventBridge,
    gets the same one; without a request id the event time in whole seconds stands in for it. It
    orders nothing: a metadata update never moves the objects row's sequence_number.
    """
    basis = request_id or event_time.replace(microsecond=0).isoformat()
    digest = hashlib.sha256(f"{change}\n{basis}\n{version_id or ''}".encode()).hexdigest()
    return digest[:SEQUENCER_WIDTH].upper()


def _removes_version(record_type: RecordType, version_id: str | None, marker: bool) -> bool:
    return record_type == "DELETE" and version_id is not None and not marker


def record_type_of(event_name: str) -> RecordType | None:
    # S3 sends names without the "s3:" of its configuration; some samples (aws-lambda-go's) keep it.
    name = event_name.removeprefix("s3:")
    if name.startswith(CREATE_PREFIXES):
        return "CREATE"
    if name.startswith(DELETE_PREFIXES):
        return "DELETE"
    if name in METADATA_EVENTS:
        return "UPDATE_METADATA"
    return None


def from_s3_notification(payload: Mapping[str, Any], source: Source) -> Parsed:
    """Records of an S3 notification ({"Records": [...]}) or an s3:TestEvent (nothing to record)."""
    if payload.get("Event") == "s3:TestEvent":
        return Parsed((), skipped=1)
    raw_records = payload.get("Records")
    if not isinstance(raw_records, list):
        raise InvalidEvent("S3 notification has no 'Records' list")
    records: list[S3Record] = []
    skipped = 0
    # The raw records, not Powertools' S3Event wrappers: every field is read and checked below,
    # and the wrappers (a dict copy and an object per record) were a fifth of a batch's parsing.
    for index, raw in enumerate(raw_records):
        try:
            record = _from_s3_record(raw, source)
        except InvalidEvent as error:
            raise InvalidEvent(f"Records[{index}]: {error}") from None
        if record is None:
            skipped += 1
        else:
            records.append(record)
    return Parsed(tuple(records), skipped)


def _from_s3_record(raw: Mapping[str, Any], source: Source) -> S3Record | None:
    raw = mapping_of(raw, "record")
    if raw.get("eventSource") not in (None, "aws:s3"):
        raise InvalidEvent(f"eventSource is {raw.get('eventSource')!r}, not aws:s3")
    event_name = raw.get("eventName")
    if not isinstance(event_name, str):
        raise InvalidEvent(f"eventName is missing: not an S3 notification record ({describe(raw)})")
    event_name = checked_text(event_name, "eventName")
    record_type = record_type_of(event_name)
    if record_type is None:
        return None  # replication, reduced-redundancy loss... events do not change the catalog
    s3 = mapping_of(raw.get("s3"), "s3")
    obj = mapping_of(s3.get("object"), "s3.object")
    bucket = mapping_of(s3.get("bucket"), "s3.bucket")
    response = section_of(raw, "responseElements")
    event_time = parse_time(raw.get("eventTime"))
    version_id = version_of(obj.get("versionId"), "versionId")
    request_id = optional_text(response.get("x-amz-request-id"), "x-amz-request-id")
    marker = event_name.endswith(DELETE_MARKER_SUFFIX)
    change = METADATA_EVENTS.get(event_name.removeprefix("s3:"))
    return S3Record(
        bucket=bucket_name(bucket.get("name")),
        key=decode_key(obj.get("key")),
        event_name=event_name,
        record_type=record_type,
        event_time=event_time,
        sequencer=(
            metadata_sequence(change, request_id, version_id, event_time)
            if change
            else normalise_sequencer(obj.get("sequencer"), event_time)
        ),
        version_id=version_id,
        # moto (and nothing real) puts size/eTag on deletes; a delete never carries them here.
        size=checked_size(obj.get("size")) if record_type != "DELETE" else None,
        e_tag=etag_of(obj.get("eTag")) if record_type != "DELETE" else None,
        request_id=request_id,
        source=source,
        removes_version=_removes_version(record_type, version_id, marker),
        requester=optional_text(section_of(raw, "userIdentity").get("principalId"), "principalId"),
        source_ip_address=optional_text(
            section_of(raw, "requestParameters").get("sourceIPAddress"), "sourceIPAddress"
        ),
        delete_marker=record_type == "DELETE" and marker,
    )


def from_eventbridge(payload: Mapping[str, Any], source: Source = "eventbridge") -> Parsed:
    """Records of an EventBridge "Object Created" / "Object Deleted" event; other types are skipped."""
    event = S3EventBridgeNotificationEvent(dict(payload))
    record_type = EVENTBRIDGE_TYPES.get(str(payload.get("detail-type")))
    if record_type is None:
        return Parsed((), skipped=1)
    detail = mapping_of(payload.get("detail"), "detail")
    obj = mapping_of(detail.get("object"), "detail.object")
    bucket = mapping_of(detail.get("bucket"), "detail.bucket")
    event_time = parse_time(event.get("time"))
    version_id = version_of(obj.get("version-id"), "version-id")
    marker = detail.get("deletion-type") == EVENTBRIDGE_DELETE_MARKER
    request_id = optional_text(detail.get("request-id"), "request-id")
    change = EVENTBRIDGE_METADATA.get(event.detail_type)
    return Parsed(
        (
            S3Record(
                bucket=bucket_name(bucket.get("name")),
                # EventBridge keys are encoded like notification keys; Powertools decodes them the
                # same way (unquote_plus), and so do we, strictly.
                key=decode_key(obj.get("key")),
                event_name=event.detail_type,
                record_type=record_type,
                event_time=event_time,
                sequencer=(
                    metadata_sequence(change, request_id, version_id, event_time)
                    if change
                    else normalise_sequencer(obj.get("sequencer"), event_time)
                ),
                version_id=version_id,
                size=checked_size(obj.get("size")) if record_type != "DELETE" else None,
                e_tag=etag_of(obj.get("etag")) if record_type != "DELETE" else None,
                request_id=request_id,
                source=source,
                removes_version=_removes_version(record_type, version_id, marker),
                requester=optional_text(detail.get("requester"), "requester"),
                source_ip_address=optional_text(detail.get("source-ip-address"), "source-ip-address"),
                delete_marker=record_type == "DELETE" and marker,
            ),
        )
    )


def is_eventbridge(payload: Mapping[str, Any]) -> bool:
    return "detail-type" in payload and payload.get("source") == "aws.s3"
