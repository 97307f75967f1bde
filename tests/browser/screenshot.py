"""Retake the README's screenshot of the upload page: `.venv/bin/python -m tests.browser.screenshot`.

Runs `landing serve` on a throwaway database of the embedded server (or DATABASE_URL's server), sends
three files through the page's Uppy Dashboard (one small, one in parts, one of a type the API refuses)
and saves a full-page PNG.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from landing_local import embedded
from tests.browser.conftest import MIB, SERVER_ENV, pick, wait_status
from tests.support.browser import launch, why_unavailable
from tests.support.serve import landing_serve

DEFAULT_OUTPUT = Path(__file__).resolve().parents[2] / "docs" / "upload-page.png"


def main(output: Path) -> int:
    reason = why_unavailable()
    if reason:
        print(reason, file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    from landing.db import migrate

    server = os.environ.get("DATABASE_URL") or embedded.server_url()
    name = f"landing_screenshot_{os.getpid()}"
    url = embedded.ensure_database(server, name)
    try:
        from sqlalchemy import create_engine

        engine = create_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        os.environ["DATABASE_URL"] = url
        with (
            landing_serve(**SERVER_ENV) as served,
            sync_playwright() as driver,
            tempfile.TemporaryDirectory() as tmp,
        ):
            context = launch(driver, Path(tmp), viewport={"width": 900, "height": 700})
            page = context.pages[0] if context.pages else context.new_page()
            page.goto(served.url + "/")
            page.wait_for_selector(".uppy-Dashboard")
            for name_, size, kind, verdict in [
                ("q1 report.pdf", 180_000, "application/pdf", "uploaded"),
                ("survey-results.csv", 12 * MIB, "text/csv", "uploaded"),
                ("holiday.mov", 9 * MIB, "video/quicktime", "refused"),
            ]:
                pick(page, name_, size, kind, head="%PDF-1.7\n" if kind == "application/pdf" else "")
                wait_status(page, name_, verdict)
            page.locator("#objects tbody tr").nth(1).wait_for()
            page.wait_for_timeout(300)
            output.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(output), full_page=True)
            context.close()
    finally:
        embedded.drop_database(server, name)
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUTPUT))
