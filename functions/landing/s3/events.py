"""Direct S3, SQS-wrapped and EventBridge payloads -> one immutable S3Record type."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, TypeGuard
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes.s3_event import S3EventBridgeNotificationEvent

if TYPE_CHECKING:
    from landing.s3.scans import ScanResult

RecordType = Literal["CREATE", "DELETE", "UPDATE_METADATA"]
Source = Literal["s3", "sqs", "eventbridge", "reconcile"]
EventKind = Literal["s3", "sqs", "sns", "eventbridge", "guardduty", "s3-test"]

# Normalised sequencers are upper-case hex, right-padded with "0" to this width (AWS: "pad the
# shorter value with zeros on the right, then compare lexicographically").
SEQUENCER_WIDTH = 32
MAX_KEY_BYTES = 1024
# Longest value accepted for names, ids and tags carried by an event (S3's own are far shorter).
MAX_FIELD_CHARS = 1024
MAX_SIZE = 2**63 - 1  # the objects.size column is a bigint
# Bucket names, including legacy us-east-1 ones (upper case, "_", up to 255 characters).
_BUCKET = re.compile(r"[A-Za-z0-9._-]{1,255}")
_HEX = re.compile(r"[0-9A-Fa-f]+")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")

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


class InvalidEvent(ValueError):
    """A payload or record that is not a usable S3 event; the message says what and where."""


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


def decode_key(raw: object) -> str:
    """Decode an S3 notification key (form-URL-encoded: '+' is a space, '%2B' a plus), strictly."""
    if not isinstance(raw, str) or raw == "":
        raise InvalidEvent(f"object key must be a non-empty string, got {type(raw).__name__}")
    if _BAD_PERCENT.search(raw):
        raise InvalidEvent(f"object key has an invalid percent escape: {raw[:200]!r}")
    try:
        key = unquote_plus(raw, errors="strict")
    except UnicodeDecodeError:
        raise InvalidEvent(f"object key is not valid UTF-8 once decoded: {raw[:200]!r}") from None
    if "\x00" in key:
        raise InvalidEvent(f"object key contains a NUL character: {raw[:200]!r}")
    if not _is_utf8(key):
        raise InvalidEvent(f"object key is not valid UTF-8 (lone surrogate): {raw[:200]!r}")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise InvalidEvent(f"object key is longer than {MAX_KEY_BYTES} bytes: {raw[:100]!r}...")
    return key


def _is_utf8(text: str) -> bool:
    """False for strings holding lone surrogates (JSON "\\udcff"), which no database column accepts."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _text(raw: str, name: str) -> str:
    """A string field that PostgreSQL text can hold and a log line can show: no NUL, valid UTF-8."""
    if "\x00" in raw or not _is_utf8(raw):
        raise InvalidEvent(f"{name} contains a NUL or is not valid UTF-8: {raw[:100]!r}")
    if len(raw) > MAX_FIELD_CHARS:
        raise InvalidEvent(f"{name} is longer than {MAX_FIELD_CHARS} characters: {raw[:100]!r}...")
    return raw


def parse_time(raw: object) -> datetime:
    if not isinstance(raw, str):
        raise InvalidEvent(f"event time must be an ISO-8601 string, got {type(raw).__name__}")
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidEvent(f"event time is not ISO-8601: {raw[:64]!r}") from None
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def normalise_sequencer(raw: object, event_time: datetime) -> str:
    """Upper-case, right-pad to SEQUENCER_WIDTH; without a sequencer, derive one from the event time.

    The fallback (moto, hand-made events) is the event time in microseconds since the epoch as 16
    hex digits, padded the same way: later events still sort later, but two events for one key in
    the same microsecond cannot be ordered, and the DELETE wins such a tie.
    """
    if raw is None or raw == "":
        micros = int(event_time.timestamp() * 1_000_000)
        return f"{max(micros, 0):016X}".ljust(SEQUENCER_WIDTH, "0")
    if not isinstance(raw, str) or not _HEX.fullmatch(raw) or len(raw) > SEQUENCER_WIDTH:
        raise InvalidEvent(f"sequencer must be hex of at most {SEQUENCER_WIDTH} digits, got {raw!r}")
    return raw.upper().ljust(SEQUENCER_WIDTH, "0")


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


def _size(raw: object) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= MAX_SIZE:
        raise InvalidEvent(f"object size must be an integer from 0 to 2^63-1, got {repr(raw)[:40]}")
    return raw


def _optional_str(raw: object, name: str) -> str | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise InvalidEvent(f"{name} must be a string, got {type(raw).__name__}")
    return _text(raw, name)


def _version(raw: object, name: str) -> str | None:
    """A version id; "null" (the version of writes to an unversioned bucket) is stored as no version,
    as reconcile's listing stores it, so both sides describe such an object the same way."""
    value = _optional_str(raw, name)
    return None if value == "null" else value


def _removes_version(record_type: RecordType, version_id: str | None, marker: bool) -> bool:
    return record_type == "DELETE" and version_id is not None and not marker


def _etag(raw: object) -> str | None:
    value = _optional_str(raw, "eTag")
    return value.strip('"') if value else None


def _bucket(raw: object) -> str:
    if not isinstance(raw, str) or not _BUCKET.fullmatch(raw):
        shown = repr(raw[:100]) if isinstance(raw, str) else type(raw).__name__
        raise InvalidEvent(f"bucket name must be 1-255 of [A-Za-z0-9._-], got {shown}")
    return raw


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


def _is_mapping(raw: object) -> TypeGuard[Mapping[str, Any]]:
    # dict is what json.loads and Lambda hand us; the Mapping ABC check costs several times more.
    return type(raw) is dict or isinstance(raw, Mapping)


def _mapping(raw: object, what: str) -> Mapping[str, Any]:
    if not _is_mapping(raw):
        raise InvalidEvent(f"{what} must be an object, got {type(raw).__name__}")
    return raw


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
    raw = _mapping(raw, "record")
    if raw.get("eventSource") not in (None, "aws:s3"):
        raise InvalidEvent(f"eventSource is {raw.get('eventSource')!r}, not aws:s3")
    event_name = raw.get("eventName")
    if not isinstance(event_name, str):
        raise InvalidEvent(f"eventName is missing: not an S3 notification record ({describe(raw)})")
    event_name = _text(event_name, "eventName")
    record_type = record_type_of(event_name)
    if record_type is None:
        return None  # replication, reduced-redundancy loss... events do not change the catalog
    s3 = _mapping(raw.get("s3"), "s3")
    obj = _mapping(s3.get("object"), "s3.object")
    bucket = _mapping(s3.get("bucket"), "s3.bucket")
    response = _section(raw, "responseElements")
    event_time = parse_time(raw.get("eventTime"))
    version_id = _version(obj.get("versionId"), "versionId")
    request_id = _optional_str(response.get("x-amz-request-id"), "x-amz-request-id")
    marker = event_name.endswith(DELETE_MARKER_SUFFIX)
    change = METADATA_EVENTS.get(event_name.removeprefix("s3:"))
    return S3Record(
        bucket=_bucket(bucket.get("name")),
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
        size=_size(obj.get("size")) if record_type != "DELETE" else None,
        e_tag=_etag(obj.get("eTag")) if record_type != "DELETE" else None,
        request_id=request_id,
        source=source,
        removes_version=_removes_version(record_type, version_id, marker),
        requester=_optional_str(_section(raw, "userIdentity").get("principalId"), "principalId"),
        source_ip_address=_optional_str(
            _section(raw, "requestParameters").get("sourceIPAddress"), "sourceIPAddress"
        ),
        delete_marker=record_type == "DELETE" and marker,
    )


def _section(raw: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """An optional object of a record (responseElements, userIdentity...): {} when absent or not one."""
    value = raw.get(name)
    return value if _is_mapping(value) else {}


def describe(raw: object) -> str:
    """What a refused payload is, for the error message: its type, or its first keys and the fields
    that say where it came from (eventSource, source, detail-type, Type...)."""
    if not _is_mapping(raw):
        return f"a JSON {type(raw).__name__}"
    keys = sorted(str(name) for name in raw)[:8]
    said = [
        f"{name}={str(raw[name])[:60]!r}"
        for name in ("eventSource", "EventSource", "source", "detail-type", "Type", "Event", "TopicArn")
        if name in raw and isinstance(raw[name], str)
    ]
    return ", ".join([f"keys {keys}", *said])


def from_eventbridge(payload: Mapping[str, Any], source: Source = "eventbridge") -> Parsed:
    """Records of an EventBridge "Object Created" / "Object Deleted" event; other types are skipped."""
    event = S3EventBridgeNotificationEvent(dict(payload))
    record_type = EVENTBRIDGE_TYPES.get(str(payload.get("detail-type")))
    if record_type is None:
        return Parsed((), skipped=1)
    detail = _mapping(payload.get("detail"), "detail")
    obj = _mapping(detail.get("object"), "detail.object")
    bucket = _mapping(detail.get("bucket"), "detail.bucket")
    event_time = parse_time(event.get("time"))
    version_id = _version(obj.get("version-id"), "version-id")
    marker = detail.get("deletion-type") == EVENTBRIDGE_DELETE_MARKER
    request_id = _optional_str(detail.get("request-id"), "request-id")
    change = EVENTBRIDGE_METADATA.get(event.detail_type)
    return Parsed(
        (
            S3Record(
                bucket=_bucket(bucket.get("name")),
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
                size=_size(obj.get("size")) if record_type != "DELETE" else None,
                e_tag=_etag(obj.get("etag")) if record_type != "DELETE" else None,
                request_id=request_id,
                source=source,
                removes_version=_removes_version(record_type, version_id, marker),
                requester=_optional_str(detail.get("requester"), "requester"),
                source_ip_address=_optional_str(detail.get("source-ip-address"), "source-ip-address"),
                delete_marker=record_type == "DELETE" and marker,
            ),
        )
    )


def is_eventbridge(payload: Mapping[str, Any]) -> bool:
    return "detail-type" in payload and payload.get("source") == "aws.s3"


def detect(event: object) -> EventKind:
    """Which kind of invocation this is; raises InvalidEvent for anything else."""
    if not isinstance(event, Mapping):
        raise InvalidEvent(f"event must be a JSON object, got {type(event).__name__}")
    if event.get("Event") == "s3:TestEvent":
        return "s3-test"
    if is_eventbridge(event):
        return "eventbridge"
    if event.get("source") == "aws.guardduty" and "detail-type" in event:
        return "guardduty"
    records = event.get("Records")
    if isinstance(records, list):
        first = records[0] if records else {}
        if isinstance(first, Mapping) and first.get("eventSource") == "aws:sqs":
            return "sqs"
        if isinstance(first, Mapping) and first.get("EventSource") == "aws:sns":
            return "sns"
        return "s3"
    if "detail-type" in event:
        raise InvalidEvent(
            f"an EventBridge event this function does not take (only source aws.s3 and aws.guardduty): "
            f"{describe(event)}"
        )
    raise InvalidEvent(
        f"not an S3 notification, SQS batch, SNS message or EventBridge event: {describe(event)}"
    )


def from_guardduty(payload: Mapping[str, Any], now: datetime | None = None) -> Parsed:
    """A GuardDuty "Object Scan Result" (delivered by its EventBridge rule) as a Parsed with one scan;
    other GuardDuty events are skipped."""
    from landing.s3 import scans

    if not scans.is_scan_result(payload):
        return Parsed((), skipped=1)
    return Parsed((), scans=(scans.from_guardduty(payload, now),))


def from_sqs_body(body: object, unwrap_sns: bool = True) -> Parsed:
    """Records in one SQS message body: an S3 notification, possibly SNS-wrapped, or EventBridge."""
    if not isinstance(body, str):
        raise InvalidEvent("SQS message body is missing")
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser's stack
        raise InvalidEvent(f"SQS message body is not JSON: {body[:120]!r}") from None
    if _is_mapping(payload) and payload.get("Type") == "Notification" and "Message" in payload:
        if not unwrap_sns:
            raise InvalidEvent("SQS message body is an SNS notification wrapped in another")
        # S3 -> SNS -> SQS fan-out: the notification is the SNS message, as a JSON string.
        return from_sqs_body(payload.get("Message"), unwrap_sns=False)
    if not _is_mapping(payload):
        raise InvalidEvent(f"SQS message body is JSON {type(payload).__name__}, not an S3 notification")
    if is_eventbridge(payload):
        return from_eventbridge(payload, source="sqs")
    if payload.get("source") == "aws.guardduty" and "detail-type" in payload:
        # Only the bucket may send to the notification queue (its policy), but a verdict must not
        # depend on that: GuardDuty's results are taken from its EventBridge rule alone, never
        # from a body anyone with sqs:SendMessage could have written.
        raise InvalidEvent(
            "SQS message body is a GuardDuty event: scan results are accepted only from EventBridge "
            "(source aws.guardduty), never from the S3 notification queue"
        )
    if payload.get("Event") == "s3:TestEvent" or isinstance(payload.get("Records"), list):
        return from_s3_notification(payload, source="sqs")
    raise InvalidEvent(f"SQS message body is not an S3 notification: {describe(payload)}")


def from_sns(event: Mapping[str, Any]) -> Parsed:
    """S3 -> SNS -> this function, subscribed directly: each record's Sns.Message is an S3
    notification (or an S3 EventBridge event, or S3's test message). Delivered like a direct S3
    notification (an async invoke: Lambda retries it, then its on-failure destination keeps it), so
    it is one unit of work, all or nothing. Malware verdicts never come this way (EventBridge only).
    """
    records: list[S3Record] = []
    skipped = 0
    for index, raw in enumerate(event.get("Records") or ()):
        where = f"Records[{index}]"
        if not _is_mapping(raw) or raw.get("EventSource") != "aws:sns":
            raise InvalidEvent(f"{where}: not an SNS record among SNS records ({describe(raw)})")
        sns = _mapping(raw.get("Sns"), f"{where}.Sns")
        message = sns.get("Message")
        if sns.get("Type") != "Notification" or not isinstance(message, str):
            raise InvalidEvent(f"{where}.Sns is not an SNS notification with a Message ({describe(sns)})")
        try:
            payload = json.loads(message)
        except (ValueError, RecursionError):
            raise InvalidEvent(
                f"{where}.Sns.Message from {sns.get('TopicArn')!r} is not JSON: {message[:120]!r}"
            ) from None
        if _is_mapping(payload) and is_eventbridge(payload):
            parsed = from_eventbridge(payload)
        elif _is_mapping(payload) and (
            payload.get("Event") == "s3:TestEvent" or isinstance(payload.get("Records"), list)
        ):
            try:
                parsed = from_s3_notification(payload, source="s3")
            except InvalidEvent as error:
                raise InvalidEvent(f"{where}.Sns.Message: {error}") from None
        else:
            raise InvalidEvent(
                f"{where}.Sns.Message from {sns.get('TopicArn')!r} is not an S3 notification: "
                f"{describe(payload)}"
            )
        records.extend(parsed.records)
        skipped += parsed.skipped
    return Parsed(tuple(records), skipped)


def sqs_messages(event: Mapping[str, Any]) -> Iterator[tuple[str, object]]:
    """(messageId, body) of each SQS record (the shape Powertools' SQSEvent reads, without a
    wrapper object per message)."""
    records = event.get("Records")
    for message in records if isinstance(records, list) else ():
        message_id = message.get("messageId") if _is_mapping(message) else None
        if not isinstance(message_id, str) or not message_id:
            # Without its id a message cannot be reported alone: fail the whole batch instead.
            raise InvalidEvent("SQS record without a messageId")
        yield message_id, message.get("body")
