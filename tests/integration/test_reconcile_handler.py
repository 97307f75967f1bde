"""ReconcileFunction: stops before its deadline, resumes from the continuation token in the database."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from sqlalchemy import text

from landing import cli
from landing.db import engine as db
from landing.db.engine import build_engine
from landing.handlers.reconcile import handler
from landing.reconcile import lease
from landing.reconcile import run as reconcile_run
from landing.s3 import listing
from landing.settings import get_settings
from tests.conftest import rows
from tests.support.events import EVENTS, load

BUCKET = "example-bucket"
KEYS = [f"r/{i:02d}.txt" for i in range(20)]


@pytest.fixture(autouse=True)
def _clean(clean_db: None) -> Iterator[None]:
    with db.require_engine().begin() as conn:
        conn.execute(text("TRUNCATE reconcile_state"))
    yield
    # Short simulated deadlines prepare the SET LOCAL timeouts statement on the pooled connection;
    # later tests expect a connection that only ever ran their own statements.
    db.require_engine().dispose()


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Two keys per listing page, and a record of where each listing started."""
    starts: list[dict] = []
    original = listing.pages

    def pages(*args, **kwargs):
        starts.append({"after_key": kwargs.get("after_key")})
        return original(*args, **{**kwargs, "page_size": 2})

    monkeypatch.setattr(listing, "pages", pages)
    return starts


@dataclass
class SimulatedContext:
    """A Lambda context whose clock advances ``step_ms`` every time the remaining time is asked."""

    remaining_ms: int
    step_ms: int = 0
    function_name: str = "ReconcileFunction"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:ReconcileFunction"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        self.remaining_ms -= self.step_ms
        return self.remaining_ms


def fill(s3) -> None:
    for key in KEYS:
        s3.put_object(Bucket=BUCKET, Key=key, Body=key.encode())


def state() -> dict:
    (row,) = rows("SELECT * FROM reconcile_state")
    return row


def test_an_invocation_short_of_time_stops_cleanly_and_the_next_resumes_from_the_token(s3, small_pages):
    fill(s3)
    short = SimulatedContext(remaining_ms=20_000, step_ms=1_000)

    first = handler({"bucket": BUCKET}, short)

    assert first["status"] == "in_progress"
    assert 0 < first["invocation"]["scanned"] < len(KEYS)
    assert short.remaining_ms > 0  # stopped with time to spare, releasing the run included
    token = state()["after_key"]
    assert token == first["after_key"] == KEYS[first["invocation"]["scanned"] - 1]
    assert state()["finished_at"] is None

    second = handler({"bucket": BUCKET}, SimulatedContext(remaining_ms=900_000))

    assert second["status"] == "complete"
    assert json.loads(json.dumps(second)) == second  # what the Lambda runtime does with the response
    assert second["resumed"] is True
    assert small_pages[-1] == {"after_key": token}  # the listing restarted after the stored key
    # Every key listed once across the two invocations, every object inserted once.
    assert first["invocation"]["scanned"] + second["invocation"]["scanned"] == len(KEYS)
    assert second["run"]["scanned"] == len(KEYS)
    assert second["run"]["inserted"] == len(KEYS)
    assert rows("SELECT count(*) AS n FROM objects")[0]["n"] == len(KEYS)
    creates = rows("SELECT key, count(*) AS n FROM object_events GROUP BY key HAVING count(*) > 1")
    assert creates == []
    done = state()
    assert (done["after_key"], done["finished_at"] is not None) == (None, True)


def test_after_a_complete_run_the_next_invocation_starts_over(s3, small_pages):
    fill(s3)
    handler({"bucket": BUCKET}, SimulatedContext(remaining_ms=900_000))
    s3.delete_object(Bucket=BUCKET, Key=KEYS[0])

    again = handler({"bucket": BUCKET}, SimulatedContext(remaining_ms=900_000))

    assert again["status"] == "complete"
    assert again["resumed"] is False
    assert small_pages[-1] == {"after_key": None}
    assert again["run"]["scanned"] == len(KEYS) - 1
    assert (again["run"]["deleted"], again["run"]["inserted"]) == (1, 0)


def test_no_time_for_a_batch_means_no_work_and_the_token_is_kept(s3, small_pages):
    fill(s3)
    handler({"bucket": BUCKET}, SimulatedContext(remaining_ms=20_000, step_ms=1_000))
    token = state()["after_key"]

    result = handler({"bucket": BUCKET}, SimulatedContext(remaining_ms=reconcile_run.MIN_MARGIN_MS - 1))

    assert result["status"] == "in_progress"
    assert result["invocation"]["scanned"] == 0
    assert state()["after_key"] == token


def test_an_invocation_finds_the_run_held_by_another_and_does_nothing(s3):
    fill(s3)
    with db.Session() as session, session.begin():
        assert lease.claim(session, BUCKET, "", "another-invocation", lease_s=600) is not None

    result = handler({"bucket": BUCKET}, SimulatedContext(remaining_ms=900_000))

    assert result["status"] == "busy"
    assert rows("SELECT count(*) AS n FROM objects")[0]["n"] == 0
    assert state()["owner"] == "another-invocation"


def test_a_run_whose_lease_was_taken_over_stops_without_writing(s3, small_pages, monkeypatch):
    fill(s3)
    original = lease.save_progress
    other = build_engine(get_settings())  # another invocation's own connection

    def taken_over(session, bucket, prefix, owner, batch, lease_s):
        with other.begin() as conn:
            conn.execute(text("UPDATE reconcile_state SET owner = 'usurper'"))
        original(session, bucket, prefix, owner, batch, lease_s)

    monkeypatch.setattr(lease, "save_progress", taken_over)

    try:
        with pytest.raises(lease.LeaseLost):
            handler({"bucket": BUCKET}, SimulatedContext(remaining_ms=900_000))
    finally:
        other.dispose()
    assert rows("SELECT count(*) AS n FROM objects")[0]["n"] == 0  # the batch rolled back with it


def test_a_plain_scheduled_event_reconciles_bucket_name(s3, monkeypatch):
    fill(s3)
    monkeypatch.setenv("BUCKET_NAME", BUCKET)

    result = handler(load("eventbridge-scheduled.json"), SimulatedContext(remaining_ms=900_000))

    assert (result["bucket"], result["status"]) == (BUCKET, "complete")
    assert rows("SELECT count(*) AS n FROM objects")[0]["n"] == len(KEYS)


def test_the_event_names_the_bucket_and_prefix(s3):
    s3.create_bucket(Bucket="other-bucket")
    s3.put_object(Bucket="other-bucket", Key="in/a.txt", Body=b"a")
    s3.put_object(Bucket="other-bucket", Key="out/b.txt", Body=b"b")

    result = handler({"bucket": "other-bucket", "prefix": "in/"}, SimulatedContext(remaining_ms=900_000))

    assert (result["bucket"], result["prefix"], result["status"]) == ("other-bucket", "in/", "complete")
    assert rows("SELECT bucket, key FROM objects") == [{"bucket": "other-bucket", "key": "in/a.txt"}]
    assert rows("SELECT bucket, prefix FROM reconcile_state") == [{"bucket": "other-bucket", "prefix": "in/"}]


def test_a_bad_event_is_a_clear_error(s3, monkeypatch):
    monkeypatch.setattr(
        "landing.handlers.reconcile.get_settings", lambda: type("S", (), {"bucket_name": None})
    )
    with pytest.raises(ValueError, match="no bucket to reconcile"):
        handler({}, SimulatedContext(remaining_ms=900_000))
    with pytest.raises(ValueError, match="prefix must be a string"):
        handler({"bucket": BUCKET, "prefix": 3}, SimulatedContext(remaining_ms=900_000))


def test_landing_invoke_runs_the_function_on_the_sample_event(s3, capsys, monkeypatch):
    fill(s3)
    monkeypatch.setenv("BUCKET_NAME", BUCKET)

    status = cli.main(["invoke", "ReconcileFunction", str(EVENTS / "eventbridge-scheduled.json")])

    assert status == 0
    printed = capsys.readouterr().out
    assert json.loads(printed[printed.index("{") :])["status"] == "complete"
