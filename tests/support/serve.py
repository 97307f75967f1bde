"""`landing serve` in a subprocess on a free port, against this pytest process's database."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

BANNER_URL = re.compile(r"^Open (http://\S+)/ to upload files", re.MULTILINE)
START_TIMEOUT_S = 60.0


@dataclass
class Served:
    url: str
    log: Path
    final_output: str | None = None

    def output(self) -> str:
        """Everything the server printed so far (all of it, once it has stopped)."""
        if self.final_output is not None:
            return self.final_output
        return self.log.read_text(errors="replace")


@contextmanager
def landing_serve(*arguments: str, **env: str) -> Iterator[Served]:
    """Start `python -m landing serve --port 0 [arguments]`, wait for its banner, stop it (SIGTERM) afterwards.

    The child gets the parent's DATABASE_URL (conftest's per-process database) plus ``env``, and
    its own moto server, so nothing is shared with other tests but the tables.
    """
    child_env = {**os.environ, "POWERTOOLS_METRICS_DISABLED": "true", **env}
    for name in ("AWS_ENDPOINT_URL", "S3_ENDPOINT_URL", "BUCKET_NAME"):
        if name not in env:
            child_env.pop(name, None)
    with tempfile.TemporaryDirectory(prefix="landing-serve-") as tmp:
        log = Path(tmp) / "serve.log"
        with log.open("wb") as sink:
            # Output goes to a file, never an unread pipe that could fill up and stall the server.
            process = subprocess.Popen(
                [sys.executable, "-m", "landing", "serve", "--port", "0", *arguments],
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=child_env,
                cwd=tmp,
            )
        served = Served(url="", log=log)
        try:
            served.url = _wait_for_banner(process, served)
            yield served
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            served.final_output = log.read_text(errors="replace")


def _wait_for_banner(process: subprocess.Popen[bytes], served: Served) -> str:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        match = BANNER_URL.search(served.output())
        if match:
            url = match.group(1)
            requests.get(url + "/", timeout=5).raise_for_status()
            return url
        if process.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError(f"landing serve did not start:\n{served.output()}")


def wait_for(predicate, timeout_s: float = 20.0, interval_s: float = 0.1):  # type: ignore[no-untyped-def]
    """Poll ``predicate`` until it returns something truthy; that value, or AssertionError on timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        time.sleep(interval_s)
