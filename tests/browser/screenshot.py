"""Retake the README's screenshot of the upload page: `.venv/bin/python -m tests.browser.screenshot`.

Runs `landing serve` on a throwaway database of the embedded server (or DATABASE_URL's server), uploads
three files through the page (one small, one in parts, one too large) and saves a full-page PNG.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from landing.local import embedded
from tests.browser.conftest import MIB, SERVER_ENV
from tests.support.browser import launch, why_unavailable
from tests.support.serve import landing_serve

DEFAULT_OUTPUT = Path(__file__).resolve().parents[2] / "docs" / "upload-page.png"
PICK = """([name, size, type]) => {
    const data = new DataTransfer();
    data.items.add(new File([new Uint8Array(size).fill(65)], name, { type }));
    const input = document.querySelector("#files");
    input.files = data.files;
    input.dispatchEvent(new Event("change", { bubbles: true }));
}"""


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
            for name_, size, kind in [
                ("q1 report.pdf", 180_000, "application/pdf"),
                ("survey-results.csv", 6 * MIB, "text/csv"),
                ("scans.zip", 9 * MIB, "application/zip"),
            ]:
                page.evaluate(PICK, [name_, size, kind])
                page.locator(f'.upload:has(.upload-name:text-is("{name_}"))[data-status]').first.wait_for()
            page.locator(".upload[data-status=uploaded]").nth(1).wait_for(timeout=60_000)
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
