"""The CloudWatch metrics each invocation emits, read from the EMF line Powertools prints to stdout."""

from __future__ import annotations

import json
from typing import Any

import pytest

from landing.errors import RetryableS3Error
from landing.handlers.ingest import handler as ingest
from landing.handlers.uploads import handler as uploads_handler
from landing.lambda_context import local_context
from tests.faults.test_head_object_faults import s3_outage
from tests.integration.test_uploads_lifecycle import make_due
from tests.support.api import Api
from tests.support.events import load, s3_event, s3_record, sqs_event

pytestmark = pytest.mark.usefixtures("clean_db", "s3")

NAMESPACE = "Landing"  # POWERTOOLS_METRICS_NAMESPACE in tests/conftest.py, as in template.yaml


def emitted(capsys: pytest.CaptureFixture[str]) -> dict[str, float]:
    """The metrics of the one EMF document printed since the last call: name -> total.

    Every value is also checked to be declared, with its unit, under the expected namespace: an
    undeclared key is just a log field to CloudWatch, not a metric.
    """
    documents = []
    for line in capsys.readouterr().out.splitlines():
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if isinstance(document, dict) and "_aws" in document:
            documents.append(document)
    (document,) = documents
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == NAMESPACE
    declared = {metric["Name"]: metric["Unit"] for metric in directive["Metrics"]}
    assert set(declared.values()) <= {"Count", "Seconds"}
    # A metric added more than once in an invocation is a list of values; CloudWatch sums them.
    return {name: sum(_values(document[name])) for name in declared}


def _values(raw: Any) -> list[float]:
    return [float(v) for v in raw] if isinstance(raw, list) else [float(raw)]


def put(key: str, sequencer: str) -> dict[str, Any]:
    return s3_record(key, sequencer=sequencer, etag=f"etag-{sequencer}", size=3)


def test_ingest_counts_written_duplicate_and_stale_events(capsys):
    ingest(s3_event(put("k.txt", "05")), local_context("IngestFunction"))
    assert emitted(capsys) == {"RecordsWritten": 1, "DuplicatesAbsorbed": 0, "StaleEventsIgnored": 0}

    # A redelivery of k v05, an older k v03 (journalled, not applied) and a new key.
    event = s3_event(put("k.txt", "05"), put("k.txt", "03"), put("j.txt", "01"))
    ingest(event, local_context("IngestFunction"))

    assert emitted(capsys) == {"RecordsWritten": 2, "DuplicatesAbsorbed": 1, "StaleEventsIgnored": 1}


def test_sqs_batch_counts_failed_messages_and_skipped_events(capsys):
    batch = sqs_event(
        s3_event(put("a.txt", "01")),
        "not json",
        load("s3-test-event.json"),
        s3_event(s3_record("b.txt", event_name="Replication:OperationFailedReplication")),
    )

    result = ingest(batch, local_context("IngestFunction"))

    assert len(result["batchItemFailures"]) == 1
    assert emitted(capsys) == {
        "RecordsWritten": 1,
        "DuplicatesAbsorbed": 0,
        "StaleEventsIgnored": 0,
        "EventsSkipped": 2,  # the s3:TestEvent and the restore notification
        "Failures": 1,  # "not json"
    }


def test_a_failed_direct_invocation_counts_one_failure_and_writes_nothing(capsys):
    with s3_outage(501, "a.txt"), pytest.raises(RetryableS3Error):
        ingest(s3_event(put("a.txt", "01")), local_context("IngestFunction"))

    assert emitted(capsys) == {"Failures": 1}


def test_uploads_count_requests_and_expiries(capsys):
    status, created = Api("alice").create(filename="a.txt", content_type="text/plain", size=3)
    assert status == 201
    assert emitted(capsys) == {"UploadsRequested": 1}

    make_due(created["id"])
    uploads_handler(load("uploads-expire-schedule.json"), local_context("UploadsFunction"))
    # No bus in this test: the expiry's event is discarded by the pass, nothing waits.
    assert emitted(capsys) == {
        "UploadsExpired": 1,
        "AcceptedBodiesReplaced": 0,
        "JournalPartitionsDropped": 0,
        "JournalDefaultPartitionRows": 0,
        "EventsPublished": 0,
        "EventPublishFailures": 0,
        "OutboxBacklog": 0,
        "OutboxOldestAgeSeconds": 0,
    }
