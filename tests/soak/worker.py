"""One soak worker: a Lambda execution environment. It imports the real handler (its own module-level
engine, connected through the fault proxy), then runs whatever invocation the broker hands it."""

from __future__ import annotations

import hashlib
import os
import resource
import time
import traceback
from typing import Any

from tests.soak.scenario import Scenario

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:landing-ingest"
RSS_EVERY = 100  # invocations between two memory samples


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def _sqs_event(batch: list[Any]) -> dict[str, Any]:
    """The SQS event Lambda's event source mapping hands the function (with-sqs.html shape)."""
    return {
        "Records": [
            {
                "messageId": m.id,
                "receiptHandle": m.receipt,
                "body": m.body,
                "attributes": {
                    "ApproximateReceiveCount": str(m.receive_count),
                    "SentTimestamp": str(int(m.sent_at * 1000)),
                    "SenderId": "AROAEXAMPLE:S3-PROD-END",
                    "ApproximateFirstReceiveTimestamp": str(int(m.first_received * 1000)),
                },
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(m.body.encode()).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": QUEUE_ARN,
                "awsRegion": "us-east-1",
            }
            for m in batch
        ]
    }


def main(conn: Any, worker: int, log_path: str, scenario: Scenario, clock: Any, throttle_until: Any) -> None:
    """Runs in a forked child that has not imported landing: the import below builds its engine from
    the environment the broker sends once the database path (the proxy) exists."""
    _, env = conn.recv()
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.environ.update(env)
    import json

    from sqlalchemy import event

    from landing.db import engine as db
    from landing.handlers.ingest import handler
    from landing.lambda_context import local_context
    from tests.soak.s3stub import HeadStub

    stub = HeadStub(scenario, clock, throttle_until)
    engine = db.require_engine()
    # Connections this environment holds at once: opened minus closed (a dead one is closed when the
    # pool invalidates it).
    live = {"opened": 0, "closed": 0, "most": 0}

    def on_connect(*args: Any) -> None:
        live["opened"] += 1
        live["most"] = max(live["most"], live["opened"] - live["closed"])

    def on_close(*args: Any) -> None:
        live["closed"] += 1

    event.listen(engine, "connect", on_connect)
    event.listen(engine.pool, "close", on_close)
    stats: dict[str, Any] = {"worker": worker, "invocations": 0, "rss": [], "errors": {}}
    result: dict[str, Any] | None = None
    conn.send(("ready", worker))
    while True:
        conn.send(("next", result))
        work = conn.recv()
        if work[0] == "stop":
            break
        if work[0] == "wait":
            time.sleep(work[1])
            result = None
            continue
        started = time.time()
        context = local_context("IngestFunction", timeout_s=30.0)
        error: str | None = None
        if work[0] == "sqs":
            batch = work[1]
            try:
                answer = handler(_sqs_event(batch), context)
                failed = [item["itemIdentifier"] for item in answer["batchItemFailures"]]
            except Exception as exc:  # the whole invocation failed: nothing is deleted
                error = f"{type(exc).__name__}: {str(exc)[:200]}"
                failed = [m.id for m in batch]
            result = {
                "kind": "sqs",
                "receipts": [m.receipt for m in batch],
                "failed": failed,
                "error": error,
                "started": started,
                "finished": time.time(),
            }
        else:
            _, invocation_id, payload = work
            try:
                handler(json.loads(payload), context)
                ok = True
            except Exception as exc:
                ok = False
                error = f"{type(exc).__name__}: {str(exc)[:200]}"
            result = {
                "kind": "direct",
                "id": invocation_id,
                "ok": ok,
                "error": error,
                "started": started,
                "finished": time.time(),
            }
        if error is not None:
            name = error.split(":", 1)[0]
            stats["errors"][name] = stats["errors"].get(name, 0) + 1
        stats["invocations"] += 1
        if stats["invocations"] % RSS_EVERY == 0:
            stats["rss"].append((stats["invocations"], round(_rss_mb(), 2)))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    stats.update(
        cpu_s=round(usage.ru_utime + usage.ru_stime, 1),
        connections_opened=live["opened"],
        most_connections=live["most"],
        head_calls=stub.calls,
        head_throttled=stub.throttled,
        rss_end=round(_rss_mb(), 2),
    )
    conn.send(("bye", stats))


def run(*args: Any) -> None:
    try:
        main(*args)
    except BaseException:
        traceback.print_exc()
        raise
