"""Benchmark of the ingest hot path as ratios measured in one run: `python -m tests.perf.bench [--smoke]`.

Absolute times on a shared machine are noise; every figure that matters is a ratio between two
things measured interleaved in the same process, against the same database, with the same rows,
in wall time and in client CPU time. The database is DATABASE_URL's server when set (a scratch
database is created on it and dropped afterwards), otherwise the embedded PostgreSQL (unix socket).
The landing modules build their engine at import, so nothing from `landing` is imported before the
scratch database exists. What each module measures: per_event (direct invocations, layer by
layer), batching (SQS batches), resources (connections, memory, concurrency), cold_start, and cost
(the estimated bill per million events from the measured CPU).
"""

from __future__ import annotations

import argparse
import sys
import time

from tests.perf.environment import ROOT, prepare_environment
from tests.perf.report import Results, render
from tests.perf.timing import FULL, SMOKE

_last = [time.perf_counter()]


def progress(section: str) -> None:
    """One line per finished section on stderr: a full run takes minutes."""
    now = time.perf_counter()
    print(f"bench: {section} done in {now - _last[0]:.1f} s", file=sys.stderr, flush=True)
    _last[0] = now


SECTIONS = ("per-event", "batch", "connections", "memory", "cold-start", "concurrency")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks that it runs, not speed")
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections to run (default: all of {','.join(SECTIONS)})",
    )
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    if not only <= set(SECTIONS):
        parser.error(f"unknown section in --only: {', '.join(sorted(only - set(SECTIONS)))}")
    sizes = SMOKE if args.smoke else FULL
    sys.path.insert(0, str(ROOT))
    url, label, cleanup = prepare_environment()
    results = Results(
        database=label,
        head_mode="stubbed at botocore's before-call hook (no HTTP) unless a line says moto; "
        "moto runs in-process",
    )
    try:
        from moto import mock_aws

        from tests.perf import batching, cold_start, cost, per_event, resources
        from tests.perf.workload import (
            HeadStub,
            MotoObjects,
            context,
            delete_invocation,
            s3_client,
            sqs_deletes,
            unique_key,
        )

        stub = HeadStub()
        progress("setup")
        with mock_aws():
            moto = MotoObjects()
            if "per-event" in only:
                per_event.per_event(results, url, sizes, stub)
                progress("per-event")
            if "batch" in only:
                batching.batch(results, url, sizes, stub, moto)
                progress("batch")
        if {"per-event", "batch"} <= only:
            with s3_client(stub.client):
                log_bytes = {
                    "direct": cost.handler_output_bytes(*delete_invocation("log-bytes")),
                    "sqs": cost.handler_output_bytes(
                        sqs_deletes([unique_key("log-bytes") for _ in range(sizes.batch_size)]),
                        context(),
                    ),
                }
            cost.cost_table(results, log_bytes)
        if "connections" in only:
            resources.connections(results, url, sizes, stub)
            progress("connections")
        if "memory" in only:
            resources.memory(results, sizes, stub)
            progress("memory")
        if "cold-start" in only:
            cold_start.cold_start(results, sizes)
            progress("cold-start")
        if "concurrency" in only:
            resources.concurrency(results, url, sizes)
            progress("concurrency")
    finally:
        cleanup()
    print(render(results, sizes, args.smoke))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
