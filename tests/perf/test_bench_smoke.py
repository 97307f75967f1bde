"""The benchmark's smoke mode runs end to end and prints its table (it checks that it runs, not speed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

MEASURES = (
    "Direct event (delete, 1 record), wall against the floor",
    "Direct event (delete, 1 record), client CPU against the floor",
    "Round trips per warm invocation, key outside the upload prefix",
    "SQS batch of 10 deletes, per record, wall against the floor",
    "SQS batch of 10 deletes, per record, client CPU against the floor",
    "Warm per-event cost: ingest handler, direct event, 1 record",
    "Round trips per invocation",
    "Engine per invocation (create_engine in the handler) against ours",
    "per record, against the single-event path (database side: HeadObject stubbed at botocore)",
    "per record, against the single-event path (HeadObject included, answered by moto in-process)",
    "Server connections opened over 50 warm invocations",
    "RSS growth over 100 warm invocations",
    "Cold start: `import landing.handlers.ingest`",
    "Throughput, 1 concurrent worker process(es)",
)


def test_smoke_run_prints_the_markdown_table_with_every_measure():
    # Given this pytest process's database server (DATABASE_URL, set by conftest): the benchmark
    # creates and drops a scratch database of its own there.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    # When the smoke mode runs in a fresh interpreter (its engine is built at import, as in Lambda)
    done = subprocess.run(
        [sys.executable, "-m", "tests.perf.bench", "--smoke"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )

    # Then it succeeds and prints one table row per measure, the layer breakdown and the cost table
    assert done.returncode == 0, done.stderr[-4000:]
    table = done.stdout
    assert "| measure | ours | reference | ratio / value | goal | met |" in table
    for measure in MEASURES:
        assert any(line.startswith("| ") and measure in line for line in table.splitlines()), measure
    assert any(line.startswith("| + Powertools decorators = the handler |") for line in table.splitlines())
    assert "| direct S3 event, delete | 256 MB |" in table
    assert "| SQS batch of 10, deletes | 256 MB |" in table
    assert "- Database: PostgreSQL" in table
