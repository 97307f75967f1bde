"""The pooled connection is ended by the server, between invocations or in the middle of one."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest

from landing.handlers.ingest import handler
from landing.lambda_context import local_context
from tests.faults.conftest import APP_USER, DATABASE, row_locked, table_state
from tests.support.events import s3_event, s3_record, sqs_event

TERMINATE = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :u"
NO_APP_BACKEND = f"SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE usename = '{APP_USER}')"
WAITING_ON_LOCK = (
    f"SELECT pid FROM pg_stat_activity WHERE usename = '{APP_USER}' AND wait_event_type = 'Lock'"
)


def put(key: str, sequencer: str, etag: str = "e1") -> dict[str, Any]:
    return s3_record(key, sequencer=sequencer, etag=etag, size=len(etag))


def invoke_in_thread(event: dict[str, Any]) -> tuple[threading.Thread, dict[str, Any]]:
    """Run the handler in a worker thread (its own session); the test thread injects the fault."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = handler(event, local_context("IngestFunction"))
        except Exception as error:
            outcome["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


@pytest.mark.parametrize("path", ["direct", "sqs"])
def test_backend_terminated_between_invocations_next_invocation_succeeds(
    path, fault_db, bind_landing, s3, lambda_context
):
    bind_landing()
    wrap = (lambda e: sqs_event(e)) if path == "sqs" else (lambda e: e)
    handler(wrap(s3_event(put("first.txt", "01"))), lambda_context)
    fault_db.sql(TERMINATE, DATABASE, u=APP_USER)
    # pg_terminate_backend only signals: "between invocations" means once the backend has gone.
    # (Terminated while the next invocation is already starting, it is the mid-unit-of-work case.)
    fault_db.wait_until(NO_APP_BACKEND, DATABASE)

    # Straight away: a warm environment's next invocation often comes within milliseconds.
    result = handler(wrap(s3_event(put("second.txt", "02"))), lambda_context)

    if path == "sqs":
        assert result == {"batchItemFailures": []}
    else:
        assert result["journalled"] == 1
    assert [row[1] for row in table_state(fault_db)["objects"]] == ["first.txt", "second.txt"]


def test_server_restart_between_invocations_next_invocation_succeeds(
    fault_db, bind_landing, s3, lambda_context
):
    bind_landing()
    handler(s3_event(put("first.txt", "01")), lambda_context)
    fault_db.stop("fast")
    fault_db.start()

    result = handler(s3_event(put("second.txt", "02")), lambda_context)

    assert result["journalled"] == 1
    assert len(table_state(fault_db)["journal"]) == 2


@pytest.mark.parametrize("path", ["direct", "sqs"])
@pytest.mark.parametrize("fault", ["terminated", "network-reset"])
def test_connection_dying_mid_unit_of_work_writes_nothing_and_retry_converges(
    path, fault, fault_db, bind_landing, proxy, s3, lambda_context, landing_logs, caplog
):
    """The write is blocked on a row lock (so the fault lands mid-transaction), then the link dies."""
    bind_landing(port=proxy.port)
    handler(s3_event(put("k.txt", "01", etag="v1")), lambda_context)
    before = table_state(fault_db)
    retry = s3_event(put("k.txt", "02", etag="v2"), put("other.txt", "02"))
    event = sqs_event(retry) if path == "sqs" else retry

    with row_locked(fault_db, "k.txt"):
        thread, outcome = invoke_in_thread(event)
        fault_db.wait_until(WAITING_ON_LOCK, DATABASE)
        if fault == "terminated":
            fault_db.sql(TERMINATE, DATABASE, u=APP_USER)
        else:
            proxy.cut()
        thread.join(timeout=30)

    assert not thread.is_alive()
    if path == "sqs":
        assert "error" not in outcome, outcome
        assert len(outcome["result"]["batchItemFailures"]) == 1
    else:
        assert "error" in outcome
    # Nothing half-written. BEGIN, the write and COMMIT travel in one exchange, so a link lost while
    # the statement waits leaves the outcome to the server, as a link lost after any COMMIT was sent
    # does: either nothing was written or all of it was, and the retry below converges either way.
    after_failure = table_state(fault_db)
    assert after_failure == before or _converged(after_failure), after_failure
    (line,) = landing_logs.problems()  # logged once, classified; SQLAlchemy adds no error of its own
    assert (line["error_category"], line["retryable"]) == ("connection-lost", True)
    assert [r for r in caplog.records if r.name.startswith("sqlalchemy") and r.levelno >= logging.ERROR] == []

    handler(event, lambda_context)  # the retry (Lambda async retry or SQS redelivery)
    assert _converged(table_state(fault_db))


def _converged(state: dict[str, Any]) -> bool:
    """Both events of the retried invocation applied, each journalled once."""
    objects = [(row[1], row[5]) for row in state["objects"]]
    return objects == [("k.txt", "v2"), ("other.txt", "e1")] and len(state["journal"]) == 3


def test_a_healthy_pooled_connection_is_reused_back_to_back_and_after_idle(fault_db, bind_landing, s3):
    """The liveness checks must not cost a reconnect when nothing is wrong: one backend throughout."""
    bind_landing(ping_after_idle_s=1)
    backends = f"SELECT pid FROM pg_stat_activity WHERE usename = '{APP_USER}'"

    handler(s3_event(put("one.txt", "01")), local_context("IngestFunction"))
    first = fault_db.sql(backends, DATABASE)
    handler(s3_event(put("two.txt", "02")), local_context("IngestFunction"))  # poll only
    time.sleep(1.1)
    handler(s3_event(put("three.txt", "03")), local_context("IngestFunction"))  # poll + ping

    assert len(first) == 1
    assert fault_db.sql(backends, DATABASE) == first
