"""Forged malware verdicts (issue 24): through the notification queue, dated in the future, or a clean one
after a threat. Each attack is replayed through the ingest handler and judged by the database rows."""

from __future__ import annotations

import json
from urllib.parse import quote_plus

import pytest
from sqlalchemy import text

from landing.db import engine as db
from landing.handlers.ingest import handler as ingest
from landing.lambda_context import local_context
from landing.s3 import clients
from landing.s3.fields import InvalidEvent
from landing.settings import get_settings
from tests.conftest import rows
from tests.integration.test_uploads_lifecycle import announce, exists, put, upload_row
from tests.support.api import Api
from tests.support.events import guardduty_event, s3_event, s3_record, sqs_event

FORGED_TIME = "2099-01-01T00:00:00Z"


def run(payload: dict) -> dict:
    return ingest(payload, local_context("IngestFunction"))


def sns_wrapped(event: dict) -> str:
    return json.dumps({"Type": "Notification", "MessageId": "forged", "Message": json.dumps(event)})


def object_scan(key: str) -> tuple[str | None, object]:
    (row,) = rows("SELECT scan_status, scanned_at FROM objects WHERE key = :k", k=key)
    return row["scan_status"], row["scanned_at"]


@pytest.fixture
def api(s3, clean_db):
    clients.reset()
    yield Api("alice")
    clients.reset()


@pytest.fixture
def require_clean(monkeypatch):
    monkeypatch.setenv("REQUIRE_CLEAN_SCAN", "true")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def arrived(api: Api, s3) -> tuple[dict, str]:
    """An announced upload whose object arrived and passed the content checks."""
    upload = announce(api)
    etag = put(s3, upload)
    run(s3_event(s3_record(quote_plus(upload["key"]), size=12, etag=etag, sequencer="0A")))
    return upload, etag


def test_a_forged_clean_verdict_from_2099_on_the_queue_releases_nothing_and_the_real_threat_still_counts(
    api, s3, require_clean
):
    """The issue's attack: NO_THREATS_FOUND dated 2099 posted to the queue moved `scanning` to `uploaded`,
    and GuardDuty's genuine THREATS_FOUND was then ignored as older."""
    upload, etag = arrived(api, s3)
    assert upload_row(upload["id"])["status"] == "scanning"
    forged = guardduty_event(upload["key"], etag=etag, version_id=None, time=FORGED_TIME)
    batch = sqs_event(forged, sns_wrapped(forged))

    answer = run(batch)

    assert answer == {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in batch["Records"]]}
    row = upload_row(upload["id"])
    assert (row["status"], row["scan_status"]) == ("scanning", None)
    assert rows("SELECT event_id FROM object_scans") == []

    run(guardduty_event(upload["key"], result="THREATS_FOUND", etag=etag, version_id=None))

    row = upload_row(upload["id"])
    assert (row["status"], row["scan_status"]) == ("quarantined", "THREATS_FOUND")
    assert object_scan(upload["key"])[0] == "THREATS_FOUND"
    assert not exists(s3, upload["key"])


def test_a_verdict_dated_in_the_future_is_refused_even_on_the_eventbridge_path(api, s3, require_clean):
    upload, etag = arrived(api, s3)

    with pytest.raises(InvalidEvent, match="dated in the future"):
        run(guardduty_event(upload["key"], etag=etag, version_id=None, time=FORGED_TIME))

    assert (upload_row(upload["id"])["status"], object_scan(upload["key"])) == ("scanning", (None, None))
    assert rows("SELECT event_id FROM object_scans") == []


def test_a_forged_threat_on_the_queue_does_not_quarantine_another_owners_upload(api, s3):
    """The issue's second attack: a THREATS_FOUND body on the queue quarantined and deleted a clean upload."""
    upload, etag = arrived(api, s3)
    assert upload_row(upload["id"])["status"] == "uploaded"
    forged = guardduty_event(upload["key"], result="THREATS_FOUND", etag=etag, version_id=None)
    batch = sqs_event(forged, sns_wrapped(forged))

    answer = run(batch)

    assert len(answer["batchItemFailures"]) == 2
    row = upload_row(upload["id"])
    assert (row["status"], row["scan_status"], row["rejection_reason"]) == ("uploaded", None, None)
    assert object_scan(upload["key"]) == (None, None)
    assert exists(s3, upload["key"])


def test_a_later_clean_verdict_never_clears_a_threat_found_in_the_same_body(api, s3):
    upload, etag = arrived(api, s3)
    run(guardduty_event(upload["key"], result="THREATS_FOUND", etag=etag, version_id=None))

    run(guardduty_event(upload["key"], etag=etag, version_id=None, time="2021-11-12T00:30:00Z"))
    run(
        guardduty_event(
            upload["key"], result="FAILED", etag=etag, version_id=None, time="2021-11-12T00:40:00Z"
        )
    )

    row = upload_row(upload["id"])
    assert (row["status"], row["scan_status"]) == ("quarantined", "THREATS_FOUND")
    assert object_scan(upload["key"])[0] == "THREATS_FOUND"
    assert len(rows("SELECT event_id FROM object_scans")) == 3  # journalled, not applied


def test_a_later_clean_verdict_never_clears_a_threat_on_a_bucket_drop(s3, clean_db):
    run(s3_event(s3_record("drops/file.bin", etag="b1946ac92492d2347c6235b4d2611184")))
    run(guardduty_event("drops/file.bin", result="THREATS_FOUND", version_id=None))

    run(guardduty_event("drops/file.bin", version_id=None, time="2021-11-12T01:00:00Z"))

    assert object_scan("drops/file.bin")[0] == "THREATS_FOUND"


@pytest.mark.parametrize(
    ("source", "recorded_at"),
    [("sqs", "2021-11-12T00:00:05Z"), ("eventbridge", FORGED_TIME)],
    ids=["queued-before-the-upgrade", "future-dated"],
)
def test_journalled_verdicts_of_a_forgeable_path_are_never_applied_later(api, s3, source, recorded_at):
    """A verdict that reached the journal before these rules (from an SQS body, or dated ahead) stays
    history: when its object's event arrives, only EventBridge verdicts dated in time are applied."""
    upload = announce(api)
    etag = put(s3, upload)
    with db.require_engine().begin() as conn:
        conn.execute(
            text(
                "INSERT INTO object_scans (event_id, bucket, key, e_tag, scan_status, scan_result_status, "
                "threats, record_timestamp, source) VALUES ('old', 'example-bucket', :key, :etag, "
                "'COMPLETED', 'THREATS_FOUND', CAST(:threats AS jsonb), CAST(:at AS timestamptz), :source)"
            ),
            {
                "key": upload["key"],
                "etag": etag,
                "at": recorded_at,
                "source": source,
                "threats": '["forged"]',
            },
        )

    run(s3_event(s3_record(quote_plus(upload["key"]), size=12, etag=etag, sequencer="0A")))

    row = upload_row(upload["id"])
    assert (row["status"], row["scan_status"]) == ("uploaded", None)
    assert exists(s3, upload["key"])
