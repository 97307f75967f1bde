"""What a warm environment holds: server connections, memory growth, throughput with N environments."""

from __future__ import annotations

import contextlib
import gc
import os
import time
from typing import Any

from tests.perf.environment import raw_connection
from tests.perf.report import Results
from tests.perf.timing import Sizes, quiet_stdout
from tests.perf.workload import HeadStub, invocation, s3_client


def connections(results: Results, url: str, sizes: Sizes, stub: HeadStub) -> None:
    """(3) server connections opened over N warm invocations in one process."""
    from sqlalchemy import event

    from landing.db import engine as db
    from landing.handlers import ingest as ingest_handler

    engine = db.require_engine()
    engine.dispose()  # start from an empty pool: the first invocation opens the connection
    opened: list[object] = []

    def on_connect(dbapi_connection: Any, record: Any) -> None:
        opened.append(dbapi_connection)

    event.listen(engine, "connect", on_connect)
    monitor = raw_connection(url)
    backends: set[tuple[Any, ...]] = set()
    sessions_before = _sessions(monitor)
    try:
        with s3_client(stub.client), quiet_stdout():
            for i in range(sizes.connections_invocations):
                ingest_handler.handler(*invocation("connections"))
                if i % 50 == 0 or i == sizes.connections_invocations - 1:
                    backends.update(
                        tuple(row)
                        for row in monitor.run(
                            "SELECT pid, backend_start FROM pg_stat_activity "
                            "WHERE datname = current_database() AND application_name = 'landing'"
                        )
                    )
            # Shared-memory statistics are flushed at most once a second per backend, at the end of
            # a transaction: wait, then one more invocation publishes the counts.
            time.sleep(1.2)
            ingest_handler.handler(*invocation("connections"))
        sessions_after = _sessions(monitor)
    finally:
        event.remove(engine, "connect", on_connect)
        monitor.close()
    sessions = "n/a" if sessions_before is None else str(sessions_after - sessions_before)
    results.row(
        f"Server connections opened over {sizes.connections_invocations:,} warm invocations",
        str(len(opened)),
        f"landing backends seen in pg_stat_activity: {len(backends)}; "
        f"pg_stat_database.sessions delta: {sessions}",
        str(len(opened)),
        "1",
        len(opened) == 1 and len(backends) == 1,
    )


def _sessions(monitor: Any) -> Any:
    with contextlib.suppress(Exception):
        return monitor.run("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")[0][0]
    return None


def memory(results: Results, sizes: Sizes, stub: HeadStub) -> None:
    """(6) RSS growth over N warm invocations."""
    import psutil

    from landing.handlers import ingest as ingest_handler

    process = psutil.Process()
    with s3_client(stub.client), quiet_stdout():
        for _ in range(sizes.memory_warmup):
            ingest_handler.handler(*invocation("memory"))
        gc.collect()
        before = process.memory_info().rss
        for _ in range(sizes.memory_invocations):
            ingest_handler.handler(*invocation("memory"))
        gc.collect()
        after = process.memory_info().rss
    growth = (after - before) / 2**20
    results.row(
        f"RSS growth over {sizes.memory_invocations:,} warm invocations",
        f"{growth:+.2f} MB",
        f"RSS after {sizes.memory_warmup:,} warm-up invocations: {before / 2**20:.1f} MB",
        f"{growth:+.2f} MB",
        "< 5 MB",
        growth < 5,
    )


def _worker(url: str, worker: int, seconds: float, ready: Any, go: Any, answers: Any) -> None:
    """One 'Lambda environment': its own process, module-level engine and a session per invocation."""
    os.environ["DATABASE_URL"] = url
    with quiet_stdout():
        stub = HeadStub()
        from landing.handlers import ingest as ingest_handler

        with s3_client(stub.client):
            for _ in range(20):
                ingest_handler.handler(*invocation(f"w{worker}"))
            ready.put(worker)
            go.wait()
            count = 0
            deadline = time.perf_counter() + seconds
            while time.perf_counter() < deadline:
                ingest_handler.handler(*invocation(f"w{worker}"))
                count += 1
    answers.put(count)


def concurrency(results: Results, url: str, sizes: Sizes) -> None:
    """(7) events/s with 1, 4, 16 worker processes, each with its own engine, against one server."""
    import multiprocessing

    from landing.db import engine as db

    db.require_engine().dispose()  # this process's pooled connection must not count as a worker's
    spawn = multiprocessing.get_context("spawn")
    monitor = raw_connection(url)
    baseline: float | None = None
    for workers in sizes.concurrency:
        ready, answers, go = spawn.Queue(), spawn.Queue(), spawn.Event()
        processes = [
            spawn.Process(target=_worker, args=(url, w, sizes.concurrency_seconds, ready, go, answers))
            for w in range(workers)
        ]
        for p in processes:
            p.start()
        for _ in processes:
            ready.get(timeout=300)
        go.set()
        peak = 0
        deadline = time.perf_counter() + sizes.concurrency_seconds
        while time.perf_counter() < deadline:
            rows = monitor.run(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = 'landing'"
            )
            peak = max(peak, int(rows[0][0]))
            time.sleep(min(0.1, sizes.concurrency_seconds / 5))
        total = sum(answers.get(timeout=300) for _ in processes)
        for p in processes:
            p.join(timeout=60)
        rate = total / sizes.concurrency_seconds
        baseline = baseline or rate
        results.row(
            f"Throughput, {workers} concurrent worker process(es), each its own engine + session",
            f"{rate:,.0f} events/s",
            f"server connections used: {peak}",
            f"{rate / baseline:.2f}x the {sizes.concurrency[0]}-worker rate",
            f"{workers} connection(s)",
            peak <= workers,
        )
    monitor.close()
