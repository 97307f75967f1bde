"""The soak in small (`make test`): a few thousand events with every kind of fault, checked against the model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EVENTS = 3000


def test_a_few_thousand_events_with_faults_end_exactly_as_the_model_says(tmp_path: Path) -> None:
    """Given the soak's event mix (duplicates, reordering, both paths, poison) and faults while it runs,
    when two workers ingest it through the real handler, then every objects row and journal identity
    equals the model, the dead-letter queue holds the poison and only it, and no worker held more
    than one connection."""
    report_path = tmp_path / "report.json"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.soak.run",
            "--events",
            str(EVENTS),
            "--smoke",
            "--workers",
            "2",
            "--report",
            str(report_path),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert report_path.exists(), run.stderr[-3000:]
    report = json.loads(report_path.read_text())
    assert report["mismatches"] == 0, "\n".join([report["line"], *report["mismatch_examples"]])
    assert report["objects_checked"] > 0 and report["journal_rows"] == EVENTS
    assert set(report["fault_counts"]) == {"terminate", "drop", "pause", "throttle"}, report["faults"]
    assert report["sqs"]["dead_letters"] == report["sqs"]["poison_planted"] > 0
    assert report["async"]["on_failure_destination"] == report["async"]["poison_planted"] > 0
    assert report["connections"]["most_per_worker"] == 1
    assert report["ok"], report["line"]
    assert run.returncode == 0, run.stderr[-3000:]
