"""Growth benchmark: ingest cost, database size and the time to drop a month as the journal grows.

`python -m tests.perf.bench_scale [--objects N] [--levels 0,10000000,50000000]` (`make bench-scale`).
A scratch database (DATABASE_URL's server, else the embedded one) gets ``--objects`` rows in
``objects`` and, level by level, a journal of that many rows spread over the last twelve months,
all made by generate_series on the server. At each level it times the catalog write (the one
statement ingest runs, HeadObject excluded) for single events and for 100-event batches, and reads
the sizes; at the end it times dropping the oldest month. Prints a markdown table (docs/journal.md).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.perf import environment

CHUNK = 1_000_000  # rows per generate_series statement: each commits, so progress is kept
MONTHS = 12


def _sql(statement: str, **params: Any) -> Any:
    from sqlalchemy import text

    from landing.db import engine as db

    with db.require_engine().begin() as conn:
        conn.execute(text("SET LOCAL statement_timeout = 0"))
        return conn.execute(text(statement), params)


def populate_objects(count: int) -> None:
    for low in range(0, count, CHUNK):
        _sql(
            """
            INSERT INTO objects (bucket, key, version_id, sequence_number, size, e_tag, storage_class,
                                 last_modified_date, is_deleted)
            SELECT 'bench', 'bench/' || n, NULL, lpad(to_hex(n), 32, '0'), n, md5(n::text), 'STANDARD',
                   now() - mod(n, 365) * interval '1 day', false
            FROM generate_series(CAST(:low AS bigint), CAST(:high AS bigint)) AS n
            """,
            low=low,
            high=min(low + CHUNK, count) - 1,
        )


def grow_journal(start: int, stop: int, objects: int) -> None:
    """Journal rows start..stop-1 for existing keys, their event times spread over twelve months."""
    for low in range(start, stop, CHUNK):
        _sql(
            """
            INSERT INTO object_events (bucket, key, sequence_number, record_type, event_name,
                                       record_timestamp, version_id, size, e_tag, request_id, source,
                                       record_month)
            SELECT bucket, key, sequence_number, 'CREATE', 'ObjectCreated:Put', ts, NULL, n, md5(n::text),
                   'R' || n, 's3', date_trunc('month', ts AT TIME ZONE 'UTC')::date
            FROM (SELECT n, 'bench' AS bucket, 'bench/' || mod(n, CAST(:objects AS bigint)) AS key,
                         lpad(to_hex(n), 24, '0') || '00000000' AS sequence_number,
                         now() - mod(n * 7919, 360 * 86400) * interval '1 second' AS ts
                  FROM generate_series(CAST(:low AS bigint), CAST(:high AS bigint)) AS n) AS generated
            """,
            objects=max(objects, 1),
            low=low,
            high=min(low + CHUNK, stop) - 1,
        )
    _sql("ANALYZE object_events")
    _sql("ANALYZE objects")


def _records(count: int, objects: int, serial: list[int]) -> list[Any]:
    from landing.s3.notifications import S3Record

    now = datetime.now(UTC)
    made = []
    for _ in range(count):
        serial[0] += 1
        n = serial[0]
        made.append(
            S3Record(
                bucket="bench",
                key=f"bench/{(n * 2654435761) % max(objects, 1)}",
                event_name="ObjectCreated:Put",
                record_type="CREATE",
                event_time=now,
                sequencer=f"F{n:023X}00000000",
                version_id=None,
                size=n,
                e_tag="e",
                request_id="R",
                source="s3",
            )
        )
    return made


def time_writes(calls: int, per_call: int, objects: int, serial: list[int]) -> list[float]:
    from landing.db.uow import unit_of_work
    from landing.ingest import catalog

    timings = []
    for _ in range(calls):
        records = _records(per_call, objects, serial)
        started = time.perf_counter()
        with unit_of_work() as session:
            catalog.record_events(session, records)
        timings.append(time.perf_counter() - started)
    return timings


def sizes() -> dict[str, int]:
    row = _sql(
        """
        SELECT pg_database_size(current_database()) AS database,
               (SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('object_events')) AS journal,
               pg_total_relation_size('objects') AS objects
        """
    ).one()
    return {name: int(value or 0) for name, value in row._mapping.items()}


def drop_oldest_month() -> tuple[str, int, float]:
    from landing.db import engine as db
    from landing.db import journal

    with db.require_engine().connect() as conn:
        months = journal.partitions(conn)
    oldest = next(p for p in months if _count(p.name))
    rows = _count(oldest.name)
    cutoff = datetime.combine(oldest.upper, datetime.min.time(), tzinfo=UTC)
    started = time.perf_counter()
    with db.require_engine().begin() as conn:
        dropped = journal.drop_expired(conn, cutoff).partitions_dropped
    elapsed = time.perf_counter() - started
    assert oldest.name in dropped
    return oldest.name, rows, elapsed


def _count(table: str) -> int:
    return int(_sql(f"SELECT count(*) FROM {table}").scalar_one())


def mib(value: int) -> str:
    return f"{value / 2**20:,.0f} MiB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--objects", type=int, default=10_000_000, help="rows in objects (10 M)")
    parser.add_argument(
        "--levels", default="0,10000000,50000000", help="journal sizes to measure at, ascending"
    )
    parser.add_argument("--events", type=int, default=300, help="timed single-event writes per level")
    parser.add_argument("--batches", type=int, default=30, help="timed 100-event batches per level")
    args = parser.parse_args(argv)
    levels = [int(level) for level in args.levels.split(",")]
    if levels != sorted(levels):
        parser.error("--levels must be ascending")

    # Populating runs statements of minutes: the handlers' socket timeout (8 s) would cut them off.
    os.environ["DATABASE_SOCKET_TIMEOUT"] = "3600"
    _url, label, cleanup = environment.prepare_environment()
    try:
        from landing.db import engine as db
        from landing.db import journal

        with db.require_engine().begin() as conn:
            start = datetime.now(UTC) - timedelta(days=31 * (MONTHS + 1))
            journal.ensure_partitions(conn, start, ahead=MONTHS + 3)
        print(f"populating {args.objects:,} objects", file=sys.stderr, flush=True)
        populate_objects(args.objects)
        lines = [
            f"Journal growth ({label}; {environment.machine()}; {args.objects:,} objects; "
            f"catalog write only, HeadObject excluded; medians)",
            "",
            "| journal rows | per event (1-event write) | per event in a 100-event batch | per batch "
            "| journal size | objects size | database size |",
            "|---|---|---|---|---|---|---|",
        ]
        serial, current = [0], 0
        for level in levels:
            print(f"growing the journal to {level:,} rows", file=sys.stderr, flush=True)
            grow_journal(current, level, args.objects)
            current = level
            time_writes(20, 1, args.objects, serial)  # warm the plan cache and the pool
            single = statistics.median(time_writes(args.events, 1, args.objects, serial))
            batch = statistics.median(time_writes(args.batches, 100, args.objects, serial))
            size = sizes()
            lines.append(
                f"| {level:,} | {single * 1000:.2f} ms | {batch * 10:.3f} ms | {batch * 1000:.1f} ms "
                f"| {mib(size['journal'])} | {mib(size['objects'])} | {mib(size['database'])} |"
            )
            print(lines[-1], file=sys.stderr, flush=True)
        name, rows, elapsed = drop_oldest_month()
        lines += ["", f"Dropping the oldest month ({name}, {rows:,} rows): {elapsed * 1000:.0f} ms"]
        print("\n".join(lines))
    finally:
        cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
