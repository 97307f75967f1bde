"""Upload lifecycle through the handlers: ingest decides uploaded/rejected, the schedule expires, nothing goes back."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from urllib.parse import quote_plus

import pytest
from botocore.exceptions import ClientError
from sqlalchemy import event, text

from landing.db import engine as db
from landing.db.uow import session_scope, unit_of_work
from landing.handlers.ingest import handler as ingest
from landing.handlers.uploads import handler as uploads_handler
from landing.lambda_context import local_context
from landing.s3 import clients
from landing.settings import get_settings
from landing.uploads import expiry, lifecycle
from tests.conftest import rows
from tests.support.api import Api
from tests.support.events import load, s3_event, s3_record, sqs_event

BUCKET = "example-bucket"
DATA = b"hello, world"


@pytest.fixture
def api(s3, clean_db):
    clients.reset()
    yield Api("alice")
    clients.reset()


def announce(api: Api, size: int = len(DATA), content_type: str = "text/plain", **extra) -> dict:
    status, body = api.create(filename="hello.txt", content_type=content_type, size=size, **extra)
    assert status == 201, body
    return body


def put(s3, upload: dict, data: bytes = DATA, content_type: str = "text/plain", upload_id: str | None = None):
    """Write the object as a client would have (in-process moto does not check what was signed)."""
    answer = s3.put_object(
        Bucket=BUCKET,
        Key=upload["key"],
        Body=data,
        ContentType=content_type,
        Metadata={"upload-id": upload_id or upload["id"]},
    )
    return answer["ETag"].strip('"')


def created_event(
    upload: dict, size: int, etag: str, sequencer: str = "0A", at: str = "2026-11-26T10:00:01.000Z"
):
    return s3_event(
        s3_record(quote_plus(upload["key"]), size=size, etag=etag, sequencer=sequencer, event_time=at)
    )


def run_ingest(payload: dict) -> dict:
    return ingest(payload, local_context("IngestFunction"))


def run_schedule() -> dict:
    return uploads_handler(load("uploads-expire-schedule.json"), local_context("UploadsFunction"))


def upload_row(upload_id: str) -> dict:
    (row,) = rows("SELECT * FROM uploads WHERE id = CAST(:id AS uuid)", id=upload_id)
    return row


def exists(s3, key: str) -> bool:
    try:
        s3.head_object(Bucket=BUCKET, Key=key)
    except ClientError:
        return False
    return True


def make_due(upload_id: str) -> None:
    """Move the upload's expiry past the grace period, as if time had passed."""
    with db.require_engine().begin() as conn:
        conn.execute(
            text(
                "UPDATE uploads SET expires_at = now() - make_interval(secs => :grace + 60) "
                "WHERE id = CAST(:id AS uuid)"
            ),
            {"id": upload_id, "grace": get_settings().upload_grace_s},
        )


def test_matching_object_marks_the_upload_uploaded_and_links_it(api, s3):
    upload = announce(api)
    etag = put(s3, upload)

    run_ingest(created_event(upload, len(DATA), etag))

    row = upload_row(upload["id"])
    assert (row["status"], row["size"], row["rejection_reason"]) == ("uploaded", len(DATA), None)
    assert row["completed_at"] == datetime(2026, 11, 26, 10, 0, 1, tzinfo=UTC)
    (obj,) = rows("SELECT upload_id::text AS upload_id FROM objects WHERE key = :k", k=upload["key"])
    assert obj["upload_id"] == upload["id"]
    status, body = api.get(upload["id"])
    assert (status, body["status"], body["object_size"]) == (200, "uploaded", len(DATA))
    assert body["completed_at"] == "2026-11-26T10:00:01.000Z"


def test_oversized_object_is_rejected_deleted_from_s3_and_the_reason_kept(api, s3):
    upload = announce(api, size=5)
    etag = put(s3, upload, DATA)

    run_ingest(created_event(upload, len(DATA), etag))

    row = upload_row(upload["id"])
    assert row["status"] == "rejected"
    assert row["rejection_reason"] == f"object is {len(DATA)} bytes, more than the 5 announced"
    assert not exists(s3, upload["key"])
    assert api.get(upload["id"])[1]["rejection_reason"] == row["rejection_reason"]


def test_put_upload_with_a_shorter_body_is_rejected(api, s3):
    checksum = base64.b64encode(hashlib.sha256(DATA).digest()).decode()
    upload = announce(api, size=len(DATA), method="PUT", checksum_sha256=checksum)
    etag = put(s3, upload, DATA[:-1])

    run_ingest(created_event(upload, len(DATA) - 1, etag))

    assert upload_row(upload["id"])["status"] == "rejected"
    assert not exists(s3, upload["key"])


def test_object_with_another_content_type_is_rejected(api, s3):
    upload = announce(api)
    etag = put(s3, upload, content_type="text/html")

    run_ingest(created_event(upload, len(DATA), etag))

    row = upload_row(upload["id"])
    assert row["status"] == "rejected" and "text/html" in row["rejection_reason"]
    assert not exists(s3, upload["key"])


def test_object_naming_another_upload_is_rejected(api, s3):
    upload = announce(api)
    etag = put(s3, upload, upload_id="11111111-1111-1111-1111-111111111111")

    run_ingest(created_event(upload, len(DATA), etag))

    assert upload_row(upload["id"])["status"] == "rejected"


def test_redelivery_after_completion_changes_nothing(api, s3):
    upload = announce(api)
    etag = put(s3, upload)
    first = created_event(upload, len(DATA), etag)
    run_ingest(first)
    before = upload_row(upload["id"])

    for _ in range(3):
        run_ingest(first)
    run_ingest(sqs_event(first, first))
    # A later, different object at the same key (the presigned POST reused) is not judged again.
    etag = put(s3, upload, DATA * 2)
    run_ingest(created_event(upload, len(DATA) * 2, etag, sequencer="0B", at="2026-11-26T10:00:09.000Z"))

    assert upload_row(upload["id"]) == before
    assert rows("SELECT count(*) AS n FROM object_events WHERE key = :k", k=upload["key"]) == [{"n": 2}]


def test_reordered_older_event_does_not_move_the_upload_back(api, s3):
    upload = announce(api, size=100)
    good = put(s3, upload)
    run_ingest(created_event(upload, len(DATA), good, sequencer="0B", at="2026-11-26T10:00:05.000Z"))

    # An older event for the key arrives late, describing an object that would have been refused.
    run_ingest(created_event(upload, 500, "0" * 32, sequencer="0A", at="2026-11-26T10:00:01.000Z"))

    row = upload_row(upload["id"])
    assert (row["status"], row["size"]) == ("uploaded", len(DATA))
    assert exists(s3, upload["key"])


def test_object_sent_again_to_a_rejected_upload_is_deleted_too(api, s3):
    upload = announce(api, size=5)
    run_ingest(created_event(upload, len(DATA), put(s3, upload)))
    reason = upload_row(upload["id"])["rejection_reason"]

    etag = put(s3, upload, DATA[:5])
    run_ingest(created_event(upload, 5, etag, sequencer="0B", at="2026-11-26T10:00:09.000Z"))

    assert (upload_row(upload["id"])["status"], upload_row(upload["id"])["rejection_reason"]) == (
        "rejected",
        reason,
    )
    assert not exists(s3, upload["key"])


def test_schedule_expires_only_due_pending_uploads(api, s3):
    due = announce(api)
    fresh = announce(api)
    done = announce(api)
    run_ingest(created_event(done, len(DATA), put(s3, done)))
    make_due(due["id"])
    make_due(done["id"])

    result = run_schedule()

    assert result.items() >= {"expired": 1, "aborted": 0, "deleted": 0, "pruned": 0}.items()
    assert [upload_row(u["id"])["status"] for u in (due, fresh, done)] == ["expired", "pending", "uploaded"]
    assert run_schedule()["expired"] == 0


def test_get_and_list_expire_lazily(api):
    first, second = announce(api), announce(api)
    make_due(first["id"])
    make_due(second["id"])

    assert api.get(first["id"])[1]["status"] == "expired"
    assert upload_row(first["id"])["status"] == "expired"
    status, page, _ = api.call("GET", "/uploads", query={"status": "pending"})
    assert (status, page["uploads"]) == (200, [])
    assert upload_row(second["id"])["status"] == "expired"


def test_a_late_event_for_an_expired_upload_still_records_it(api, s3):
    upload = announce(api)
    etag = put(s3, upload)
    make_due(upload["id"])
    run_schedule()
    assert upload_row(upload["id"])["status"] == "expired"

    run_ingest(created_event(upload, len(DATA), etag))

    assert upload_row(upload["id"])["status"] == "uploaded"


def test_expiry_never_touches_an_upload_ingest_decided(api, s3):
    upload = announce(api)
    make_due(upload["id"])
    run_ingest(created_event(upload, len(DATA), put(s3, upload)))

    assert run_schedule()["expired"] == 0
    assert upload_row(upload["id"])["status"] == "uploaded"


def test_schedule_aborts_the_parts_of_an_expired_multipart_upload(api, s3, monkeypatch):
    monkeypatch.setenv("MULTIPART_THRESHOLD", str(5 * 1024**2))
    get_settings.cache_clear()
    try:
        upload = announce(api, size=5 * 1024**2 + 1, content_type="application/octet-stream")
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    make_due(upload["id"])

    assert run_schedule().items() >= {"expired": 1, "aborted": 1, "deleted": 0, "pruned": 0}.items()

    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    row = upload_row(upload["id"])
    assert (row["status"], row["multipart_upload_id"]) == ("expired", None)
    assert run_schedule().items() >= {"expired": 0, "aborted": 0, "deleted": 0, "pruned": 0}.items()


def test_schedule_deletes_a_rejected_object_whose_delete_failed(api, s3):
    upload = announce(api)
    run_ingest(created_event(upload, len(DATA), put(s3, upload)))
    # As if the upload had been rejected and the delete after the commit had failed.
    with db.require_engine().begin() as conn:
        conn.execute(
            text("UPDATE uploads SET status = 'rejected' WHERE id = CAST(:id AS uuid)"), {"id": upload["id"]}
        )

    assert run_schedule()["deleted"] == 1
    assert not exists(s3, upload["key"])


def test_keys_outside_the_upload_prefix_cost_no_upload_statement(api, s3):
    statements: list[str] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    s3.put_object(Bucket=BUCKET, Key="reports/a.txt", Body=b"x")
    event.listen(db.require_engine(), "before_cursor_execute", capture)
    try:
        run_ingest(s3_event(s3_record("reports/a.txt", size=1, etag=None)))
        outside = [s for s in statements if "uploads" in s]
        statements.clear()
        run_ingest(s3_event(s3_record("uploads/alice/nobody/x.txt", size=1, etag=None)))
        inside = [s for s in statements if "uploads" in s]
    finally:
        event.remove(db.require_engine(), "before_cursor_execute", capture)

    assert outside == []
    assert len(inside) == 1 and inside[0].lstrip().startswith("SELECT")


def test_rejected_object_in_an_sqs_batch_is_deleted_after_the_commit(api, s3):
    bad = announce(api, size=5)
    good = announce(api)
    bad_event = created_event(bad, len(DATA), put(s3, bad))
    good_event = created_event(good, len(DATA), put(s3, good))

    result = run_ingest(sqs_event(bad_event, good_event, "not json"))

    assert len(result["batchItemFailures"]) == 1
    assert [upload_row(u["id"])["status"] for u in (bad, good)] == ["rejected", "uploaded"]
    assert (exists(s3, bad["key"]), exists(s3, good["key"])) == (False, True)


class TestDeletesWaitForTheOutermostCommit:
    """What db/uow.py's after_commit queues follows the session's transactions, savepoints included, and
    runs once the unit of work has committed."""

    KEY = "uploads/alice/x/doomed.txt"

    @pytest.fixture(autouse=True)
    def doomed(self, s3):
        s3.put_object(Bucket=BUCKET, Key=self.KEY, Body=b"x")
        self.s3 = s3

    def queue(self, session) -> None:
        lifecycle.delete_after_commit(session, lifecycle.ObjectVersion(BUCKET, self.KEY, None))

    def test_rolled_back_transaction_deletes_nothing(self):
        with pytest.raises(RuntimeError), unit_of_work() as session:
            self.queue(session)
            raise RuntimeError("boom")
        assert exists(self.s3, self.KEY)

    def test_rolled_back_savepoint_deletes_nothing(self):
        with unit_of_work() as session:
            savepoint = session.begin_nested()
            self.queue(session)
            savepoint.rollback()
        assert exists(self.s3, self.KEY)

    def test_released_savepoint_deletes_only_after_the_outer_commit(self):
        with unit_of_work() as session:
            with session.begin_nested():
                self.queue(session)
            assert exists(self.s3, self.KEY)
        assert not exists(self.s3, self.KEY)

    def test_a_committed_transaction_keeps_its_delete_when_a_later_one_rolls_back(self):
        other = "uploads/alice/x/kept.txt"
        self.s3.put_object(Bucket=BUCKET, Key=other, Body=b"y")
        with session_scope() as work:
            with work.transaction() as session:
                self.queue(session)
            with pytest.raises(RuntimeError), work.transaction() as session:
                lifecycle.delete_after_commit(session, lifecycle.ObjectVersion(BUCKET, other, None))
                raise RuntimeError("boom")
            assert exists(self.s3, self.KEY)  # run once the scope is done, not in between
        assert not exists(self.s3, self.KEY)
        assert exists(self.s3, other)


@pytest.fixture
def per_worker_pool():
    """Like several Lambda environments: one connection per worker (the module pool holds one)."""
    import dataclasses

    from landing.db.engine import build_engine

    engine = build_engine(dataclasses.replace(get_settings(), pool_size=8))
    original = db.Session.kw["bind"]
    db.Session.configure(bind=engine)
    try:
        yield
    finally:
        db.Session.configure(bind=original)
        engine.dispose()


def test_redeliveries_racing_the_expiry_pass_all_end_uploaded(api, s3, per_worker_pool):
    import random
    from concurrent.futures import ThreadPoolExecutor

    announced = [announce(api) for _ in range(12)]
    events = [
        created_event(u, len(DATA), put(s3, u), sequencer=f"{i + 1:02X}") for i, u in enumerate(announced)
    ]
    for upload in announced[::2]:
        make_due(upload["id"])  # half of them are past their deadline before their event arrives
    schedule = load("uploads-expire-schedule.json")
    deliveries = [e for e in events for _ in range(3)] + [schedule] * 6
    random.Random(4).shuffle(deliveries)

    def invoke(payload: dict) -> dict:
        if payload is schedule:
            return uploads_handler(payload, local_context("UploadsFunction"))
        return ingest(payload, local_context("IngestFunction"))

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(invoke, deliveries))

    assert {upload_row(u["id"])["status"] for u in announced} == {"uploaded"}
    linked = rows("SELECT count(*) AS n FROM objects WHERE upload_id IS NOT NULL")
    assert linked == [{"n": len(announced)}]
    assert rows("SELECT count(*) AS n FROM object_events") == [{"n": len(announced)}]


def set_expiry(upload_id: str, sql_instant: str, **params: object) -> None:
    with db.require_engine().begin() as conn:
        conn.execute(
            text(f"UPDATE uploads SET expires_at = {sql_instant} WHERE id = CAST(:id AS uuid)"),
            {"id": upload_id, **params},
        )


def test_upload_grace_boundary_on_a_fixed_clock(api):
    """UPLOAD_GRACE exactly: pending through expiry + grace, expired from just past it (no wall clock)."""
    from datetime import timedelta

    from landing.db.models import Upload
    from landing.db.uow import unit_of_work

    upload = announce(api)
    expired_at = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    set_expiry(upload["id"], ":at", at=expired_at)
    grace = timedelta(seconds=get_settings().upload_grace_s)
    assert grace > timedelta(seconds=1)  # the cases below are apart only if there is a grace
    inside = [
        expired_at + timedelta(seconds=1),
        expired_at + grace - timedelta(seconds=1),
        expired_at + grace,
    ]
    just_past = expired_at + grace + timedelta(milliseconds=1)

    for now in inside:
        with unit_of_work() as session:
            row = session.get(Upload, upload["id"])
            assert row is not None and not expiry.is_due(row, now), now
            assert expiry.expire_due(session, now, upload_id=row.id) == 0, now
        assert upload_row(upload["id"])["status"] == "pending"

    with unit_of_work() as session:
        row = session.get(Upload, upload["id"])
        assert row is not None and expiry.is_due(row, just_past)
        assert expiry.expire_due(session, just_past, upload_id=row.id) == 1
    assert upload_row(upload["id"])["status"] == "expired"


def test_inside_the_grace_the_schedule_and_get_leave_the_upload_pending_just_past_they_expire(api, s3):
    inside, past = announce(api), announce(api)
    grace = get_settings().upload_grace_s
    # Presign expired long ago but the grace has two minutes left (minutes, so a slow run cannot
    # cross it); the other's grace ran out a second ago (time only moves it further past).
    set_expiry(inside["id"], "now() - make_interval(secs => :s)", s=grace - 120)
    set_expiry(past["id"], "now() - make_interval(secs => :s)", s=grace + 1)

    assert run_schedule()["expired"] == 1
    assert api.get(inside["id"])[1]["status"] == "pending"
    assert [upload_row(u["id"])["status"] for u in (inside, past)] == ["pending", "expired"]


def age(upload_id: str, days: int) -> None:
    """As if the upload's presigned request had expired ``days`` ago."""
    with db.require_engine().begin() as conn:
        conn.execute(
            text(
                "UPDATE uploads SET expires_at = now() - make_interval(days => :days) WHERE id = CAST(:id AS uuid)"
            ),
            {"id": upload_id, "days": days},
        )


def test_schedule_prunes_decided_rows_past_retention_but_keeps_what_owns_a_current_object(
    api, s3, monkeypatch
):
    monkeypatch.setenv("UPLOAD_RETENTION_DAYS", "30")
    get_settings.cache_clear()
    try:
        stale = announce(api)  # never sent: expires, then ages out
        make_due(stale["id"])
        assert run_schedule()["expired"] == 1
        kept = announce(api)  # uploaded: its row is what says who owns the object
        run_ingest(created_event(kept, len(DATA), put(s3, kept)))
        recent = announce(api)  # expired, but only yesterday
        for upload, days in ((stale, 31), (kept, 400), (recent, 1)):
            age(upload["id"], days)
        with db.require_engine().begin() as conn:
            conn.execute(
                text("UPDATE uploads SET status = 'expired' WHERE id = CAST(:id AS uuid)"),
                {"id": recent["id"]},
            )

        assert run_schedule()["pruned"] == 1

        remaining = {str(r["id"]) for r in rows("SELECT id FROM uploads")}
        assert remaining == {kept["id"], recent["id"]}
        assert [o["key"] for o in api.call("GET", "/objects")[1]["objects"]] == [kept["key"]]
    finally:
        get_settings.cache_clear()
