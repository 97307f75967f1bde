"""`landing demo` (what `make run` runs) ends to end against this test's database and prints what it wrote."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import rows


def test_demo_prints_the_rows_it_wrote(clean_db, tmp_path):
    env = {**os.environ, "LANDING_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "landing", "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    stored = {
        r["key"]: r["is_deleted"]
        for r in rows("SELECT key, is_deleted FROM objects WHERE bucket = 'landing-demo'")
    }
    assert stored["reports/2026/a+b=c.csv"] is False
    assert stored["unicodé/naïve ☃ file.txt"] is False
    assert stored["tmp/scratch.txt"] is True
    assert any(key.startswith("uploads/anonymous/") for key in stored)
    for key in ("reports/2026/q1 summary.txt", "nested/deep/path/data.json", "tmp/scratch.txt"):
        assert key in done.stdout
    assert rows("SELECT filename, status, scan_status FROM uploads ORDER BY created_at") == [
        {
            "filename": "../hello from the browser?.txt",
            "status": "uploaded",
            "scan_status": "NO_THREATS_FOUND",
        },
        {"filename": "eicar.txt", "status": "quarantined", "scan_status": "THREATS_FOUND"},
    ]
    assert "malware scan found EICAR-Test-File (not a virus)" in done.stdout
    assert "journal rows added by this run" in done.stdout
    assert "Upload Completed: upload " in done.stdout
    assert "Upload Quarantined: upload " in done.stdout
