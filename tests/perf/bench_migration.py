"""How long revision 0010 (S3 Metadata's columns) takes, and holds its locks, on a populated journal.

`python -m tests.perf.bench_migration [--rows 1000000]`: a scratch database (DATABASE_URL's server, else
the embedded one) migrated to 0009, ``--rows`` objects and as many journal rows spread over twelve
months (bench_scale's generate_series helpers), then ``landing migrate`` to 0010 with every statement
timed on the client. Prints a markdown table (docs/journal.md).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.perf import bench_scale, environment

BEFORE, TARGET = "0009", "0010"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="objects and journal rows (1 M)")
    parser.add_argument("--to", default=TARGET, help=f"the revision to migrate to ({TARGET}; head for all)")
    args = parser.parse_args(argv)
    os.environ["DATABASE_SOCKET_TIMEOUT"] = "3600"
    _url, label, cleanup = environment.prepare_environment(revision=BEFORE)
    try:
        from sqlalchemy import event

        from landing.db import engine as db
        from landing.db import journal, migrate

        engine = db.require_engine()
        with engine.begin() as conn:
            start = datetime.now(UTC) - timedelta(days=31 * (bench_scale.MONTHS + 1))
            journal.ensure_partitions(conn, start, ahead=bench_scale.MONTHS + 3)
        print(f"populating {args.rows:,} objects and journal rows", file=sys.stderr, flush=True)
        bench_scale.populate_objects(args.rows)
        bench_scale.grow_journal(0, args.rows, args.rows)
        timings: list[tuple[str, float]] = []
        started: dict[int, float] = {}

        def before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
            started[id(cursor)] = time.perf_counter()

        def after(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
            timings.append((" ".join(statement.split())[:90], time.perf_counter() - started.pop(id(cursor))))

        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "after_cursor_execute", after)
        begun = time.perf_counter()
        migrate.upgrade(engine, args.to)
        total = time.perf_counter() - begun
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
        lines = [
            f"{BEFORE} -> {args.to} on {args.rows:,} objects and {args.rows:,} journal rows ({label}; "
            f"{environment.machine()})",
            "",
            "| statement | time |",
            "|---|---|",
            *(
                f"| `{text.replace('|', '/')}` | {seconds * 1000:.1f} ms |"
                for text, seconds in timings
                if text.upper().startswith(("ALTER", "CREATE OR REPLACE"))
            ),
            f"| whole `landing migrate` to {args.to} (one transaction) | {total * 1000:.0f} ms |",
        ]
        print("\n".join(lines))
    finally:
        cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
