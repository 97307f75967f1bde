"""A row held FOR UPDATE elsewhere, and an invocation killed at the Lambda timeout: bounded, atomic, retried."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest
from sqlalchemy import text

from landing.db.uow import statement_budget_ms, unit_of_work
from landing.handlers.ingest import handler
from landing.lambda_context import local_context
from tests.faults.conftest import (
    APP_PASSWORD,
    APP_USER,
    DATABASE,
    SCHEDULING_MARGIN_S,
    row_locked,
    table_state,
)
from tests.support.clock import stop_context_clock
from tests.support.events import s3_event, s3_record, sqs_event

WAITING_ON_LOCK = (
    f"SELECT pid FROM pg_stat_activity WHERE usename = '{APP_USER}' AND wait_event_type = 'Lock'"
)


def put(key: str, sequencer: str, etag: str) -> dict:
    return s3_record(key, sequencer=sequencer, etag=etag, size=len(etag))


def _ms(setting: str) -> int:
    return (
        int(setting.removesuffix("ms")) if setting.endswith("ms") else int(setting.removesuffix("s")) * 1000
    )


@pytest.mark.parametrize(
    ("remaining_s", "low_ms", "high_ms"),
    [(60.0, 5000, 5000), (5.0, 3400, 3500), (3.0, 2000, 2000), (0.5, 2000, 2000)],
)
def test_statement_and_lock_timeouts_follow_the_remaining_time_with_a_2s_floor(
    remaining_s, low_ms, high_ms, fault_db, bind_landing, monkeypatch
):
    """The server-side bounds actually in force inside the unit of work, read back with SHOW."""
    bind_landing()
    # Stopped, so a slow connect on a busy machine cannot eat into the remaining time being checked.
    stop_context_clock(monkeypatch)
    context = local_context("IngestFunction", timeout_s=remaining_s)
    with unit_of_work(context) as session:
        lock = _ms(session.execute(text("SHOW lock_timeout")).scalar_one())
        statement = _ms(session.execute(text("SHOW statement_timeout")).scalar_one())
    assert low_ms <= lock == statement <= high_ms


@pytest.mark.parametrize("path", ["direct", "sqs"])
def test_row_held_for_update_fails_cleanly_within_the_budget_and_retry_converges(
    path, fault_db, bind_landing, s3, landing_logs
):
    # A connection default far above the 2 s budget: if the invocation's own bound were not applied,
    # the lock wait would last 10 s, well past the asserted bound.
    bind_landing(statement_timeout_ms=10_000)
    handler(s3_event(put("k.txt", "01", "v1")), local_context("IngestFunction"))
    before = table_state(fault_db)
    event = s3_event(put("k.txt", "02", "v2"), put("other.txt", "02", "o2"))
    event = sqs_event(event) if path == "sqs" else event
    # 3.5 s left: the budget is max(3.5 s - 1.5 s margin, 2 s floor) = 2 s.
    context = local_context("IngestFunction", timeout_s=3.5)
    budget_s = statement_budget_ms(context) / 1000
    landing_logs.clear()

    with row_locked(fault_db, "k.txt"):
        started = time.monotonic()
        try:
            outcome: object = handler(event, context)
        except Exception as error:
            outcome = error
        elapsed = time.monotonic() - started

    assert budget_s == 2.0
    assert elapsed < budget_s + SCHEDULING_MARGIN_S, f"blocked {elapsed:.1f}s"
    if path == "sqs":
        assert isinstance(outcome, dict) and len(outcome["batchItemFailures"]) == 1
    else:
        assert isinstance(outcome, Exception)
    (line,) = landing_logs.problems()
    # statement_timeout and lock_timeout carry the same bound; whichever fires, it is a timeout.
    assert (line["error_category"], line["retryable"]) == ("timeout", True)
    assert line["sqlstate"] in ("57014", "55P03")
    assert table_state(fault_db) == before  # neither other.txt nor the journal row of k.txt v2

    handler(event, local_context("IngestFunction"))
    state = table_state(fault_db)
    assert [(r[1], r[5]) for r in state["objects"]] == [("k.txt", "v2"), ("other.txt", "o2")]
    assert len(state["journal"]) == 3


CHILD = textwrap.dedent(
    """
    import json, sys
    from moto import mock_aws

    with mock_aws():
        import boto3
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="example-bucket")
        from landing.handlers.ingest import handler
        handler(json.loads(sys.argv[1]), None)
    """
)


def test_invocation_killed_at_the_lambda_timeout_leaves_nothing_and_retry_converges(
    fault_db, cluster, bind_landing, s3
):
    """Lambda ends a timed-out invocation by killing the runtime: all or nothing, and the retry converges."""
    bind_landing()
    handler(s3_event(put("k.txt", "01", "v1")), local_context("IngestFunction"))
    before = table_state(fault_db)
    event = s3_event(put("k.txt", "02", "v2"), put("other.txt", "02", "o2"))
    env = {
        **os.environ,
        "DATABASE_URL": cluster.url(DATABASE, user=APP_USER, password=APP_PASSWORD),
        "DATABASE_TLS": "disable",
    }

    with row_locked(fault_db, "k.txt"):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, json.dumps(event)], env=env, stderr=subprocess.DEVNULL
        )
        try:
            fault_db.wait_until(WAITING_ON_LOCK, DATABASE, timeout_s=20)
            ((orphan,),) = fault_db.sql(WAITING_ON_LOCK, DATABASE)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=10)
    # The orphaned backend gets the lock and finishes its statement. BEGIN, the write and COMMIT
    # were sent together, so it commits the whole unit of work (as it would have after any COMMIT
    # the client sent before dying) or, had the statement failed, nothing: never a part of it.
    fault_db.wait_until(
        f"SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = {orphan})", DATABASE
    )
    assert child.returncode == -signal.SIGKILL
    after_kill = table_state(fault_db)
    assert after_kill == before or converged(after_kill), after_kill

    handler(event, local_context("IngestFunction"))  # Lambda's retry of the same event
    assert converged(table_state(fault_db))


def converged(state: dict[str, Any]) -> bool:
    """Both events applied, each journalled once."""
    objects = [(r[1], r[5]) for r in state["objects"]]
    return objects == [("k.txt", "v2"), ("other.txt", "o2")] and len(state["journal"]) == 3
