"""Lifecycle events: every upload status change is published once to EventBridge, through the outbox."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote_plus

import jsonschema
import pytest
from botocore.exceptions import EndpointConnectionError
from sqlalchemy import event, text

from landing.db import engine as db
from landing.db.uow import session_scope
from landing.handlers.ingest import handler as ingest_handler
from landing.lambda_context import local_context
from landing.observability import metrics
from landing.outbox import publisher
from landing.s3 import clients
from landing.settings import get_settings
from tests.conftest import rows
from tests.integration.test_uploads_lifecycle import (
    DATA,
    announce,
    created_event,
    make_due,
    put,
    run_ingest,
    run_schedule,
    upload_row,
)
from tests.support.api import Api
from tests.support.bus import BUS, DETAIL_SCHEMA, Bus, new_bus
from tests.support.events import guardduty_event, s3_event, s3_record, sqs_event


def configure(monkeypatch: pytest.MonkeyPatch, bus_name: str | None) -> None:
    if bus_name is None:
        monkeypatch.delenv("EVENT_BUS_NAME", raising=False)
    else:
        monkeypatch.setenv("EVENT_BUS_NAME", bus_name)
    get_settings.cache_clear()
    publisher.reset()


@pytest.fixture(autouse=True)
def no_metrics_left() -> Iterator[None]:
    """Passes run here outside a handler leave metrics no log_metrics flushed; drop them."""
    yield
    metrics.clear_metrics()


@pytest.fixture
def api(s3, clean_db):
    clients.reset()
    yield Api("alice")
    clients.reset()


@pytest.fixture
def bus(s3, monkeypatch) -> Iterator[Bus]:
    configure(monkeypatch, BUS)
    yield new_bus()
    monkeypatch.undo()  # the environment and any stand-in client, before the cached ones are dropped
    get_settings.cache_clear()
    publisher.reset()


def outbox() -> list[dict[str, Any]]:
    return rows("SELECT upload_id::text AS upload_id, detail_type, attempts, last_error FROM event_outbox")


class Flaky:
    """The real (moto) client behind a switch: whole calls fail, or chosen entries are refused."""

    def __init__(self, fail_calls: int = 0, refuse: int = 0, refuse_detail_type: str | None = None):
        self.real = publisher.events_client()
        self.fail_calls = fail_calls
        self.refuse = refuse
        self.refuse_detail_type = refuse_detail_type
        self.calls: list[int] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(len(Entries))
        if self.fail_calls:
            self.fail_calls -= 1
            raise EndpointConnectionError(endpoint_url="https://events.us-east-1.amazonaws.com")
        answers: list[dict[str, Any] | None] = [None] * len(Entries)
        passed = []
        for i, entry in enumerate(Entries):
            if self.refuse and entry["DetailType"] == self.refuse_detail_type:
                self.refuse -= 1
                answers[i] = {"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded"}
            else:
                passed.append(i)
        if passed:
            accepted = self.real.put_events(Entries=[Entries[i] for i in passed])["Entries"]
            for i, answer in zip(passed, accepted, strict=True):
                answers[i] = answer
        return {"FailedEntryCount": sum(1 for a in answers if a and "ErrorCode" in a), "Entries": answers}


def use(monkeypatch: pytest.MonkeyPatch, client: Any) -> None:
    monkeypatch.setattr(publisher, "events_client", lambda: client)


def test_a_completed_event_names_the_accepted_version_in_a_versioned_bucket(api, s3, bus):
    s3.put_bucket_versioning(Bucket="example-bucket", VersioningConfiguration={"Status": "Enabled"})
    upload = announce(api)
    written = s3.put_object(
        Bucket="example-bucket", Key=upload["key"], Body=DATA, Metadata={"upload-id": upload["id"]}
    )
    version, etag = written["VersionId"], written["ETag"].strip('"')

    run_ingest(s3_event(s3_record(quote_plus(upload["key"]), size=len(DATA), etag=etag, version_id=version)))

    (published,) = bus.received()
    jsonschema.validate(published["detail"], DETAIL_SCHEMA, format_checker=jsonschema.FormatChecker())
    assert (published["detail"]["version_id"], published["detail"]["e_tag"]) == (version, etag)


def test_each_status_change_publishes_one_event_with_the_upload_in_its_detail(api, s3, bus):
    done, bad, late = announce(api), announce(api, size=5), announce(api)
    run_ingest(created_event(done, len(DATA), put(s3, done)))
    run_ingest(created_event(bad, len(DATA), put(s3, bad)))
    make_due(late["id"])
    run_schedule()

    received = {e["detail"]["upload_id"]: e for e in bus.received()}
    for published in received.values():
        jsonschema.validate(published["detail"], DETAIL_SCHEMA, format_checker=jsonschema.FormatChecker())

    assert {k: (e["source"], e["detail-type"]) for k, e in received.items()} == {
        done["id"]: ("landing.uploads", "Upload Completed"),
        bad["id"]: ("landing.uploads", "Upload Rejected"),
        late["id"]: ("landing.uploads", "Upload Expired"),
    }
    completed = received[done["id"]]["detail"]
    assert (
        completed.items()
        >= {
            "bucket": "example-bucket",
            "key": done["key"],
            "status": "uploaded",
            "previous_status": "pending",
            "size": len(DATA),
            "content_type": "text/plain",
            "owner": "alice",
            "rejection_reason": None,
        }.items()
    )
    # The body it was decided on, so a consumer reads that one and not whatever the key holds later.
    assert (completed["e_tag"], completed["version_id"]) == (upload_row(done["id"])["e_tag"], None)
    assert completed["e_tag"] == s3.head_object(Bucket="example-bucket", Key=done["key"])["ETag"].strip('"')
    assert received[done["id"]]["resources"] == [f"arn:aws:s3:::example-bucket/{done['key']}"]
    assert received[bad["id"]]["detail"]["rejection_reason"] == upload_row(bad["id"])["rejection_reason"]
    assert len({e["detail"]["event_id"] for e in received.values()}) == 3
    assert outbox() == []


def test_the_event_is_published_before_the_ingest_invocation_returns(api, s3, bus):
    upload = announce(api)
    run_ingest(sqs_event(created_event(upload, len(DATA), put(s3, upload))))

    assert [e["detail-type"] for e in bus.received()] == ["Upload Completed"]
    assert outbox() == []


def test_an_aborted_multipart_upload_publishes_upload_expired(api, s3, bus, monkeypatch):
    monkeypatch.setenv("MULTIPART_THRESHOLD", str(5 * 1024**2))
    get_settings.cache_clear()
    upload = announce(api, size=5 * 1024**2 + 1, content_type="application/octet-stream")

    status, _, _ = api.call("DELETE", f"/uploads/{upload['id']}")

    assert status == 200
    (received,) = bus.received()
    assert received["detail-type"] == "Upload Expired"
    assert received["detail"]["rejection_reason"] == "aborted by the client"


def test_redelivered_s3_events_publish_nothing_new(api, s3, bus):
    upload = announce(api)
    first = created_event(upload, len(DATA), put(s3, upload))
    run_ingest(first)
    assert len(bus.received()) == 1

    for _ in range(3):
        run_ingest(first)
    run_ingest(sqs_event(first, first))
    run_schedule()

    assert bus.received() == []
    assert rows("SELECT count(*) AS n FROM event_outbox") == [{"n": 0}]


def test_a_late_completion_after_expiry_is_a_second_event(api, s3, bus):
    upload = announce(api)
    etag = put(s3, upload)
    make_due(upload["id"])
    run_schedule()

    run_ingest(created_event(upload, len(DATA), etag))

    assert [e["detail"]["status"] for e in bus.received()] == ["expired", "uploaded"]


def test_the_event_is_written_in_the_transaction_of_the_change(api, s3, bus):
    upload = announce(api)
    with pytest.raises(RuntimeError), db.Session() as session, session.begin():
        session.execute(
            text("UPDATE uploads SET status = 'expired' WHERE id = CAST(:id AS uuid)"), {"id": upload["id"]}
        )
        assert session.execute(text("SELECT count(*) FROM event_outbox")).scalar() == 1
        raise RuntimeError("rolled back")

    assert outbox() == []
    assert upload_row(upload["id"])["status"] == "pending"


def test_keys_outside_the_upload_prefix_cost_no_outbox_statement(api, s3, bus):
    statements: list[str] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    s3.put_object(Bucket="example-bucket", Key="reports/a.txt", Body=b"x")
    event.listen(db.require_engine(), "before_cursor_execute", capture)
    try:
        run_ingest(s3_event(s3_record("reports/a.txt", size=1, etag=None)))
    finally:
        event.remove(db.require_engine(), "before_cursor_execute", capture)

    assert statements and not [s for s in statements if "event_outbox" in s]


@pytest.mark.parametrize("failure", ["missing bus", "whole call", "entry refused"])
def test_a_publish_failure_leaves_the_upload_decided_and_the_next_pass_publishes_it_once(
    api, s3, bus, monkeypatch, failure
):
    if failure == "missing bus":
        configure(monkeypatch, "landing-not-created-yet")
    elif failure == "whole call":
        use(monkeypatch, Flaky(fail_calls=1))
    else:
        use(monkeypatch, Flaky(refuse=publisher.ENTRY_ATTEMPTS, refuse_detail_type="Upload Completed"))
    upload = announce(api)

    run_ingest(created_event(upload, len(DATA), put(s3, upload)))

    assert upload_row(upload["id"])["status"] == "uploaded"
    ((waiting),) = outbox()
    assert (waiting["upload_id"], waiting["detail_type"], waiting["attempts"]) == (
        upload["id"],
        "Upload Completed",
        1,
    )
    assert waiting["last_error"]
    assert bus.received() == []

    if failure == "missing bus":
        configure(monkeypatch, BUS)
    pass_result = run_schedule()

    assert pass_result["events"]["published"] == 1
    (received,) = bus.received()
    assert received["detail"]["upload_id"] == upload["id"]
    assert outbox() == []
    assert run_schedule()["events"]["published"] == 0
    assert bus.received() == []


def test_a_refused_entry_is_retried_alone_and_the_others_are_published(api, s3, bus, monkeypatch):
    flaky = Flaky(refuse=1, refuse_detail_type="Upload Rejected")
    use(monkeypatch, flaky)
    good, bad = announce(api), announce(api, size=5)

    run_ingest(
        sqs_event(
            created_event(good, len(DATA), put(s3, good)),
            created_event(bad, len(DATA), put(s3, bad)),
        )
    )

    assert sorted(e["detail-type"] for e in bus.received()) == ["Upload Completed", "Upload Rejected"]
    assert outbox() == []


def test_a_large_backlog_goes_out_in_calls_of_at_most_ten_entries(api, s3, bus, monkeypatch):
    uploads = [announce(api) for _ in range(23)]
    configure(monkeypatch, "landing-not-created-yet")
    for upload in uploads:
        make_due(upload["id"])
    run_schedule()
    assert len(outbox()) == 23
    configure(monkeypatch, BUS)
    flaky = Flaky()
    use(monkeypatch, flaky)

    assert run_schedule()["events"].items() >= {"published": 23, "failed": 0, "backlog": 0}.items()

    assert max(flaky.calls) <= publisher.MAX_ENTRIES and sum(flaky.calls) == 23
    assert sorted(e["detail"]["upload_id"] for e in bus.received()) == sorted(u["id"] for u in uploads)


def test_the_scheduled_pass_is_bounded_and_reports_the_backlog(api, s3, bus, monkeypatch):
    uploads = [announce(api) for _ in range(5)]
    configure(monkeypatch, "landing-not-created-yet")
    for upload in uploads:
        make_due(upload["id"])
    run_schedule()
    configure(monkeypatch, BUS)
    monkeypatch.setenv("EVENT_PUBLISH_LIMIT", "3")
    get_settings.cache_clear()

    first = run_schedule()["events"]

    assert (first["published"], first["backlog"]) == (3, 2)
    assert first["oldest_age_s"] >= 0
    assert run_schedule()["events"].items() >= {"published": 2, "backlog": 0, "oldest_age_s": 0}.items()
    assert len(bus.received()) == 5


def test_without_a_bus_nothing_is_published_and_the_pass_discards_the_outbox(api, s3, monkeypatch):
    configure(monkeypatch, None)
    upload = announce(api)
    make_due(upload["id"])

    result = run_schedule()["events"]

    assert result.items() >= {"published": 0, "discarded": 1, "backlog": 0}.items()
    assert outbox() == []


@pytest.fixture
def per_worker_pool() -> Iterator[None]:
    """Like two Lambda environments: a connection per worker (the module pool holds one)."""
    engine = db.build_engine(dataclasses.replace(get_settings(), pool_size=4))
    original = db.Session.kw["bind"]
    db.Session.configure(bind=engine)
    try:
        yield
    finally:
        db.Session.configure(bind=original)
        engine.dispose()


def test_two_concurrent_scheduled_passes_never_publish_a_row_twice(
    api, s3, bus, monkeypatch, per_worker_pool
):
    uploads = [announce(api) for _ in range(40)]
    configure(monkeypatch, "landing-not-created-yet")
    for upload in uploads:
        make_due(upload["id"])
    run_schedule()
    configure(monkeypatch, BUS)
    monkeypatch.setattr(publisher, "PASS_CHUNK", 10)
    real = publisher.events_client()
    # Both passes hold their claimed rows at the same moment: each waits for the other inside its
    # first PutEvents call, so the second claim runs while the first one's locks are held.
    meeting = threading.Barrier(2)
    met: set[int] = set()

    class Meeting:
        def put_events(self, Entries):
            me = threading.get_ident()
            if me not in met:
                met.add(me)
                meeting.wait(timeout=30)
            return real.put_events(Entries=Entries)

    use(monkeypatch, Meeting())
    results: list[Any] = []
    errors: list[BaseException] = []

    def one_pass() -> None:
        try:
            with session_scope(local_context("UploadsFunction")) as work:
                results.append(publisher.drain(work.session, None))
        except BaseException as error:
            errors.append(error)

    workers = [threading.Thread(target=one_pass) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert errors == []
    assert not meeting.broken
    event_ids = [e["detail"]["event_id"] for e in bus.received()]
    assert len(event_ids) == len(set(event_ids)) == 40
    assert sum(r.published for r in results) == 40
    assert all(r.published for r in results)
    assert outbox() == []


def test_only_the_four_announced_statuses_write_an_event(api, s3, bus):
    upload = announce(api)
    with db.require_engine().begin() as conn:
        for status in ("expired", "pending", "pending", "uploaded"):
            conn.execute(
                text("UPDATE uploads SET status = :s WHERE id = CAST(:id AS uuid)"),
                {"s": status, "id": upload["id"]},
            )

    assert [r["detail_type"] for r in rows("SELECT detail_type FROM event_outbox ORDER BY id")] == [
        "Upload Expired",
        "Upload Completed",
    ]


def deliver_verdict(upload: dict, etag: str, result: str) -> None:
    run_ingest(guardduty_event(upload["key"], result=result, etag=etag, version_id=None))


def test_a_quarantine_publishes_upload_quarantined_once(api, s3, bus):
    upload = announce(api)
    etag = put(s3, upload)
    run_ingest(created_event(upload, len(DATA), etag))

    deliver_verdict(upload, etag, "THREATS_FOUND")
    deliver_verdict(upload, etag, "THREATS_FOUND")

    published = bus.received()
    assert [(e["detail-type"], e["detail"]["previous_status"]) for e in published] == [
        ("Upload Completed", "pending"),
        ("Upload Quarantined", "uploaded"),
    ]
    quarantined = published[1]["detail"]
    assert (quarantined["status"], quarantined["scan_status"]) == ("quarantined", "THREATS_FOUND")
    assert quarantined["rejection_reason"] == upload_row(upload["id"])["rejection_reason"]
    jsonschema.validate(quarantined, DETAIL_SCHEMA, format_checker=jsonschema.FormatChecker())
    assert outbox() == []


def test_waiting_for_a_clean_verdict_publishes_only_the_decision(api, s3, bus, monkeypatch):
    monkeypatch.setenv("REQUIRE_CLEAN_SCAN", "true")
    get_settings.cache_clear()
    upload = announce(api)
    etag = put(s3, upload)
    run_ingest(created_event(upload, len(DATA), etag))
    assert upload_row(upload["id"])["status"] == "scanning"
    assert bus.received() == []

    deliver_verdict(upload, etag, "NO_THREATS_FOUND")

    (published,) = bus.received()
    assert (published["detail-type"], published["detail"]["previous_status"]) == (
        "Upload Completed",
        "scanning",
    )


def test_an_invocation_near_its_deadline_leaves_the_event_to_the_scheduled_pass(api, s3, bus):
    upload = announce(api)
    short = local_context("IngestFunction", timeout_s=publisher.RESERVE_MS / 1000 - 1)

    ingest_handler(created_event(upload, len(DATA), put(s3, upload)), short)

    assert upload_row(upload["id"])["status"] == "uploaded"
    assert [(r["upload_id"], r["attempts"]) for r in outbox()] == [(upload["id"], 0)]
    assert bus.received() == []
    assert run_schedule()["events"]["published"] == 1
    assert [e["detail"]["upload_id"] for e in bus.received()] == [upload["id"]]
