"""How an invocation's payload arrived (direct S3, SQS, SNS, EventBridge, GuardDuty) and its records."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, Literal

from landing.s3 import scans
from landing.s3.fields import InvalidEvent, describe, is_mapping, mapping_of
from landing.s3.notifications import Parsed, S3Record, from_eventbridge, from_s3_notification, is_eventbridge

EventKind = Literal["s3", "sqs", "sns", "eventbridge", "guardduty", "s3-test"]


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
    if is_mapping(payload) and payload.get("Type") == "Notification" and "Message" in payload:
        if not unwrap_sns:
            raise InvalidEvent("SQS message body is an SNS notification wrapped in another")
        # S3 -> SNS -> SQS fan-out: the notification is the SNS message, as a JSON string.
        return from_sqs_body(payload.get("Message"), unwrap_sns=False)
    if not is_mapping(payload):
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
        if not is_mapping(raw) or raw.get("EventSource") != "aws:sns":
            raise InvalidEvent(f"{where}: not an SNS record among SNS records ({describe(raw)})")
        sns = mapping_of(raw.get("Sns"), f"{where}.Sns")
        message = sns.get("Message")
        if sns.get("Type") != "Notification" or not isinstance(message, str):
            raise InvalidEvent(f"{where}.Sns is not an SNS notification with a Message ({describe(sns)})")
        try:
            payload = json.loads(message)
        except (ValueError, RecursionError):
            raise InvalidEvent(
                f"{where}.Sns.Message from {sns.get('TopicArn')!r} is not JSON: {message[:120]!r}"
            ) from None
        if is_mapping(payload) and is_eventbridge(payload):
            parsed = from_eventbridge(payload)
        elif is_mapping(payload) and (
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
        message_id = message.get("messageId") if is_mapping(message) else None
        if not isinstance(message_id, str) or not message_id:
            # Without its id a message cannot be reported alone: fail the whole batch instead.
            raise InvalidEvent("SQS record without a messageId")
        yield message_id, message.get("body")
