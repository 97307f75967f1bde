"""A network path that goes silent (no FIN, no RST, bytes vanish): fail fast, recover when it is back."""

from __future__ import annotations

import time

import pytest

from landing.handlers.ingest import handler
from landing.lambda_context import local_context
from tests.faults.conftest import SCHEDULING_MARGIN_S, table_state
from tests.support.events import s3_event, s3_record, sqs_event

# Shorter than the production default (8 s) so each case runs in seconds; the bound asserted below
# is derived from it the same way the production bound is derived from the default. Long enough that
# a ping without its own short timeout (waiting the socket timeout: 6 + 6 s) overruns the bound.
SOCKET_TIMEOUT_S = 6
PING_AFTER_IDLE_S = 1


def put(key: str, sequencer: str) -> dict:
    return s3_event(s3_record(key, sequencer=sequencer))


def succeeded(path: str, result: dict) -> bool:
    return result == {"batchItemFailures": []} if path == "sqs" else result["journalled"] == 1


def bound_s() -> float:
    """Worst case: the idle ping times out (connection_health.PING_SOCKET_TIMEOUT_S), then one connect attempt
    times out (socket timeout); plus the scheduling margin measured for a loaded 2-core machine."""
    from landing.db.health import PING_SOCKET_TIMEOUT_S

    return PING_SOCKET_TIMEOUT_S + SOCKET_TIMEOUT_S + SCHEDULING_MARGIN_S


@pytest.mark.parametrize("idle", ["back-to-back", "idle"])
@pytest.mark.parametrize("path", ["direct", "sqs"])
def test_silent_path_fails_fast_and_next_invocation_succeeds_once_back(
    idle, path, fault_db, bind_landing, proxy, s3
):
    bind_landing(
        port=proxy.port, database_socket_timeout_s=SOCKET_TIMEOUT_S, ping_after_idle_s=PING_AFTER_IDLE_S
    )
    wrap = sqs_event if path == "sqs" else (lambda e: e)
    handler(wrap(put("warm.txt", "01")), local_context("IngestFunction"))
    proxy.silence()
    if idle == "idle":
        time.sleep(PING_AFTER_IDLE_S + 0.1)  # long enough that checkout pings the pooled connection

    started = time.monotonic()
    outcome: object
    try:
        outcome = handler(wrap(put("lost.txt", "02")), local_context("IngestFunction"))
    except Exception as error:
        outcome = error
    elapsed = time.monotonic() - started

    assert elapsed < bound_s(), f"took {elapsed:.1f}s"
    if path == "sqs":
        assert isinstance(outcome, dict) and len(outcome["batchItemFailures"]) == 1, outcome
    else:
        assert isinstance(outcome, Exception), outcome

    proxy.restore()
    result = handler(wrap(put("lost.txt", "02")), local_context("IngestFunction"))
    assert succeeded(path, result)
    assert [row[1] for row in table_state(fault_db)["objects"]] == ["lost.txt", "warm.txt"]


def test_silent_path_at_cold_start_fails_fast(fault_db, bind_landing, proxy, s3):
    bind_landing(port=proxy.port, database_socket_timeout_s=SOCKET_TIMEOUT_S)
    proxy.silence()

    started = time.monotonic()
    result = handler(sqs_event(put("cold.txt", "01")), local_context("IngestFunction"))
    elapsed = time.monotonic() - started

    assert elapsed < bound_s(), f"took {elapsed:.1f}s"
    assert len(result["batchItemFailures"]) == 1
    proxy.restore()
    assert handler(sqs_event(put("cold.txt", "01")), local_context("IngestFunction")) == {
        "batchItemFailures": []
    }


@pytest.mark.parametrize("path", ["direct", "sqs"])
def test_connection_dropped_silently_while_idle_is_replaced_and_the_invocation_succeeds(
    path, fault_db, bind_landing, proxy, s3
):
    """The common frozen-environment case: the NAT forgot the idle connection, new ones work."""
    bind_landing(
        port=proxy.port, database_socket_timeout_s=SOCKET_TIMEOUT_S, ping_after_idle_s=PING_AFTER_IDLE_S
    )
    wrap = sqs_event if path == "sqs" else (lambda e: e)
    handler(wrap(put("warm.txt", "01")), local_context("IngestFunction"))
    proxy.silence()
    proxy.restore()  # the pooled link stays dead; a new connection goes through
    time.sleep(PING_AFTER_IDLE_S + 0.1)

    started = time.monotonic()
    result = handler(wrap(put("thawed.txt", "02")), local_context("IngestFunction"))
    elapsed = time.monotonic() - started

    assert succeeded(path, result)
    from landing.db.health import PING_SOCKET_TIMEOUT_S

    assert elapsed < PING_SOCKET_TIMEOUT_S + SCHEDULING_MARGIN_S, f"took {elapsed:.1f}s"
    assert [row[1] for row in table_state(fault_db)["objects"]] == ["thawed.txt", "warm.txt"]
