"""The growth benchmark runs end to end at a tiny scale and prints its curve (it checks that it runs)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_tiny_growth_run_prints_a_row_per_level_and_the_month_drop():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = ["--objects", "500", "--levels", "0,2000", "--events", "3", "--batches", "2"]

    done = subprocess.run(
        [sys.executable, "-m", "tests.perf.bench_scale", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert done.returncode == 0, done.stderr
    assert "| 0 |" in done.stdout and "| 2,000 |" in done.stdout
    assert "Dropping the oldest month (object_events_" in done.stdout
