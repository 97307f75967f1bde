"""Headless Debian Chromium through Playwright, with networking limited to this machine."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

CHROMIUM = Path(os.environ.get("LANDING_CHROMIUM", "/usr/bin/chromium"))
# Everything but localhost resolves to nothing, and Chromium's own traffic (updates, sync,
# field trials, QUIC probes) is switched off: the tests talk to 127.0.0.1 and nowhere else.
LOCAL_ONLY_ARGS = [
    "--no-sandbox",  # the tests run as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-features=OptimizationHints,MediaRouter,Translate,AutofillServerCommunication",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-quic",
    "--metrics-recording-only",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]


def why_unavailable() -> str | None:
    """None when a browser test can run here; otherwise the reason, for the skip message."""
    if not CHROMIUM.exists():
        return (
            f"no Chromium at {CHROMIUM}: `make browser` installs Debian's chromium "
            "(needs root and apt-get), or set LANDING_CHROMIUM to a Chromium binary"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Playwright driver is not installed: pip install -e '.[dev]'"
    return None


def launch(playwright: Any, profile_dir: Path, **context: Any) -> Any:
    """A headless Chromium context on a fresh user-data-dir (nothing carried over between tests)."""
    return playwright.chromium.launch_persistent_context(
        str(profile_dir),
        executable_path=str(CHROMIUM),
        headless=True,
        args=LOCAL_ONLY_ARGS,
        **context,
    )
