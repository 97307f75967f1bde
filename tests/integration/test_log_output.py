"""What the ingest handler writes to stdout (what CloudWatch Logs bills): at the deployed level (INFO) a plain
success writes its metrics line and nothing else; every failure and rejection still writes a line with its context."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from landing.errors import RetryableS3Error
from landing.handlers.ingest import handler
from landing.observability import logger
from landing.s3 import clients
from tests.support.events import delete_record, s3_event, s3_record, sqs_event
from tests.support.logs import Logs, capture_logs

LOGS: list[Logs] = []


def written(capfd: pytest.CaptureFixture[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(log lines as Powertools formatted them, EMF metric lines printed) since the last call."""
    logs = LOGS[-1].lines
    LOGS[-1].clear()
    printed = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith("{")]
    return logs, [line for line in printed if "_aws" in line]


@pytest.fixture(autouse=True)
def deployed_level(clean_db: None) -> Iterator[None]:
    """The template's default LogLevel (INFO), whatever the environment running the tests says; the
    logger's records captured through its own formatter."""
    previous = logger.log_level
    logger.setLevel("INFO")
    with capture_logs() as logs:
        LOGS.append(logs)
        yield
    LOGS.clear()
    logger.setLevel(previous)


def test_a_successful_direct_event_writes_only_its_metrics_line(capfd, lambda_context):
    capfd.readouterr()
    handler(s3_event(delete_record("plain/success.txt", "0A")), lambda_context)

    logs, metrics = written(capfd)
    assert logs == []
    assert len(metrics) == 1
    assert metrics[0]["RecordsWritten"] == 1 and metrics[0]["service"] == "landing"


def test_a_successful_sqs_batch_writes_only_its_metrics_line(capfd, lambda_context):
    batch = sqs_event(*(s3_event(delete_record(f"plain/{n}.txt", "0A")) for n in range(5)))
    capfd.readouterr()
    assert handler(batch, lambda_context) == {"batchItemFailures": []}

    logs, metrics = written(capfd)
    assert logs == []
    assert [m["RecordsWritten"] for m in metrics] == [5]


def test_summaries_are_there_for_whoever_turns_debug_on(capfd, lambda_context):
    logger.setLevel("DEBUG")
    capfd.readouterr()
    handler(s3_event(delete_record("plain/debug.txt", "0A")), lambda_context)

    logs, _ = written(capfd)
    assert [(line["level"], line["message"], line["journalled"]) for line in logs] == [
        ("DEBUG", "recorded events", 1)
    ]


def test_an_unusable_sqs_message_is_logged_with_its_id_and_reason(capfd, lambda_context):
    batch = sqs_event("not json at all", s3_event(delete_record("plain/fine.txt", "0A")))
    bad_id = batch["Records"][0]["messageId"]
    capfd.readouterr()
    assert handler(batch, lambda_context) == {"batchItemFailures": [{"itemIdentifier": bad_id}]}

    logs, metrics = written(capfd)
    warning = next(line for line in logs if line["message"] == "unusable SQS message")
    assert warning["level"] == "WARNING" and warning["message_id"] == bad_id
    assert "not JSON" in warning["error"] and warning["function_request_id"] == lambda_context.aws_request_id
    summary = next(line for line in logs if line["message"] == "recorded batch, some messages failed")
    assert (summary["level"], summary["failed_messages"], summary["journalled"]) == ("INFO", 1, 1)
    assert metrics[0]["Failures"] == 1


def test_a_rejected_direct_event_is_logged_with_the_reason(capfd, lambda_context):
    capfd.readouterr()
    with pytest.raises(ValueError):
        handler({"detail-type": "nonsense"}, lambda_context)

    logs, _ = written(capfd)
    assert [(line["level"], line["message"]) for line in logs] == [
        ("ERROR", "event rejected: not a usable S3 event")
    ]
    assert "nonsense" in logs[0]["error"]  # it names what was received


class _Empty:
    def stream(self, **kwargs: Any) -> Iterator[bytes]:
        yield b""


def test_a_throttled_head_object_is_logged_as_a_retryable_failure(capfd, s3, lambda_context):
    def throttled(request: Any, **kwargs: Any) -> AWSResponse:
        return AWSResponse(request.url, 503, {"x-amz-request-id": "THROTTLED"}, _Empty())

    events = clients.s3_client().meta.events
    events.register_first("before-send.s3.HeadObject", throttled)
    capfd.readouterr()
    try:
        with pytest.raises(RetryableS3Error):
            handler(s3_event(s3_record("plain/throttled.txt", etag=None)), lambda_context)
    finally:
        events.unregister("before-send.s3.HeadObject", throttled)

    logs, metrics = written(capfd)
    assert [(line["level"], line["message"]) for line in logs] == [
        ("ERROR", "HeadObject failed, the invocation will be retried")
    ]
    assert logs[0]["records"] == 1 and logs[0]["retryable"] is True
    assert metrics[0]["Failures"] == 1
