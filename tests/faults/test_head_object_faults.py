"""HeadObject throttled or failing server-side: the record is retried, never written from a guess."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from botocore.awsrequest import AWSResponse

from landing.errors import RetryableS3Error
from landing.handlers.ingest import handler
from landing.s3 import clients
from tests.conftest import rows
from tests.support.events import s3_event, s3_record, sqs_event


class _Body:
    def stream(self) -> Iterator[bytes]:
        yield b""  # a HEAD answer has no body, so botocore knows the error only by its status


class S3Outage:
    """Answers HeadObject for the chosen keys with an HTTP error at botocore's send step (before
    any socket), so botocore's own retry policy and our error mapping both run for real."""

    def __init__(self, status: int, keys: set[str]) -> None:
        self.status = status
        self.keys = keys
        self.calls: dict[str, int] = {}

    def __call__(self, request, **kwargs):  # botocore "before-send" hook
        key = request.url.split("?")[0].rsplit("/", 1)[-1]
        if key not in self.keys:
            return None
        self.calls[key] = self.calls.get(key, 0) + 1
        return AWSResponse(request.url, self.status, {"x-amz-request-id": "STUB"}, _Body())


@contextmanager
def s3_outage(status: int, *keys: str) -> Iterator[S3Outage]:
    outage = S3Outage(status, set(keys))
    events = clients.s3_client().meta.events
    events.register_first("before-send.s3.HeadObject", outage)
    try:
        yield outage
    finally:
        events.unregister("before-send.s3.HeadObject", outage)


def put(key: str, sequencer: str = "01") -> dict:
    return s3_record(key, sequencer=sequencer, etag=None, size=5)


@pytest.fixture
def objects_in_s3(s3):
    for key in ("slow.txt", "fine.txt"):
        s3.put_object(Bucket="example-bucket", Key=key, Body=b"hello", ContentType="text/plain")
    return s3


@pytest.mark.parametrize("status", [503, 500])
def test_direct_invocation_raises_when_head_object_keeps_failing_and_writes_nothing(
    status, clean_db, objects_in_s3, lambda_context
):
    event = s3_event(put("slow.txt"), put("fine.txt"))
    with s3_outage(status, "slow.txt") as outage, pytest.raises(RetryableS3Error):
        handler(event, lambda_context)

    # Three attempts in all (Config retries total_max_attempts counts the first try).
    assert outage.calls == {"slow.txt": 3}
    assert rows("SELECT key FROM objects") == []  # all or nothing: fine.txt waits for the retry too
    assert rows("SELECT key FROM object_events") == []

    handler(event, lambda_context)  # Lambda's retry, S3 healthy again
    assert rows("SELECT key, content_type, size FROM objects ORDER BY key") == [
        {"key": "fine.txt", "content_type": "text/plain", "size": 5},
        {"key": "slow.txt", "content_type": "text/plain", "size": 5},
    ]


def test_sqs_message_whose_head_object_is_throttled_is_reported_and_others_commit(
    clean_db, objects_in_s3, lambda_context
):
    batch = sqs_event(s3_event(put("slow.txt")), s3_event(put("fine.txt")))
    slow_id = batch["Records"][0]["messageId"]

    with s3_outage(503, "slow.txt"):
        result = handler(batch, lambda_context)

    assert result == {"batchItemFailures": [{"itemIdentifier": slow_id}]}
    # No row for slow.txt rather than a row without its content type and metadata.
    assert rows("SELECT key, content_type FROM objects") == [
        {"key": "fine.txt", "content_type": "text/plain"}
    ]

    redelivery = sqs_event(s3_event(put("slow.txt")))
    assert handler(redelivery, lambda_context) == {"batchItemFailures": []}
    assert rows("SELECT key, content_type FROM objects ORDER BY key") == [
        {"key": "fine.txt", "content_type": "text/plain"},
        {"key": "slow.txt", "content_type": "text/plain"},
    ]
    assert len(rows("SELECT 1 FROM object_events")) == 2


def test_head_object_of_a_vanished_object_is_not_a_failure(clean_db, s3, lambda_context):
    """404 is an answer, not an outage: the row is recorded from the event (contrast with 503)."""
    with s3_outage(404, "gone.txt") as outage:
        result = handler(s3_event(put("gone.txt")), lambda_context)
    assert outage.calls == {"gone.txt": 1}  # not retried
    assert result["journalled"] == 1
    assert rows("SELECT key, content_type FROM objects") == [{"key": "gone.txt", "content_type": None}]
