"""Browser fixtures: one `landing serve` per module, a fresh headless Chromium profile per test."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tests.support.browser import launch, why_unavailable
from tests.support.serve import Served, landing_serve

MIB = 1024**2
# The anonymous local owner may send up to 16 MiB, so a 12.5 MiB file goes up in Uppy's 5 MiB parts
# (the page chooses multipart above 10 MiB) and a 17 MiB one passes the limit part by part.
SERVER_ENV = {
    "UPLOAD_MAX_SIZE": str(16 * MIB),
    "ANONYMOUS_UPLOAD_MAX_SIZE": str(16 * MIB),
}
MOTO = re.compile(r"S3 \+ SQS\s+(http://\S+) \(moto\): bucket (\S+) -> queue (\S+)")
# How long each upload took, printed at the end of the run (docs/uppy.md quotes them).
DURATIONS: list[tuple[str, str, float]] = []


@pytest.fixture(scope="session")
def playwright() -> Iterator[Any]:
    reason = why_unavailable()
    if reason and os.environ.get("CI"):
        pytest.fail(f"browser tests cannot run in CI: {reason}", pytrace=False)
    if reason:
        pytest.skip(f"browser tests skipped: {reason}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def served(playwright: Any) -> Iterator[Served]:
    with landing_serve(**SERVER_ENV) as server:
        yield server


@pytest.fixture
def context(playwright: Any, tmp_path: Any) -> Iterator[Any]:
    browser_context = launch(playwright, tmp_path / "profile", viewport={"width": 1000, "height": 900})
    browser_context.set_default_timeout(30_000)
    try:
        yield browser_context
    finally:
        browser_context.close()


@pytest.fixture
def page(context: Any, served: Served, clean_db: None) -> Any:
    """The upload page, loaded, with the catalog tables empty."""
    tab = context.pages[0] if context.pages else context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    # The page's Content-Security-Policy must let Uppy work (its thumbnails are blob: images).
    tab.on("console", lambda m: "Content Security Policy" in m.text and errors.append(m.text))
    tab.goto(served.url + "/")
    tab.wait_for_selector(".uppy-Dashboard")
    tab.wait_for_selector("#objects-status:not(:empty)")
    yield tab
    assert errors == [], f"JavaScript errors on the page: {errors}"


def bucket_of(served: Served) -> tuple[Any, str]:
    """The served moto S3 (a client for it) and the bucket the page uploads to."""
    endpoint, bucket, _ = MOTO.search(served.output()).groups()  # type: ignore[union-attr]
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1"), bucket


FILE_INPUT = "input.uppy-Dashboard-input[name='files[]']:not([webkitdirectory])"
# Chosen in the page (megabytes need not cross the driver's pipe), with a fixed lastModified so that
# choosing "the same file" again after a reload is the same file to Uppy.
PICK = """([selector, name, size, type, head]) => {
    const bytes = new Uint8Array(size).fill(65);
    bytes.set(new TextEncoder().encode(head));
    const data = new DataTransfer();
    data.items.add(new File([bytes], name, { type, lastModified: 1767225600000 }));
    const input = document.querySelector(selector);
    input.files = data.files;
    input.dispatchEvent(new Event("change", { bubbles: true }));
}"""


def pick(page, name: str, size: int, mime: str, head: str = "") -> None:
    if page.locator(FILE_INPUT).count() == 0:  # the Dashboard shows its files: open "Add more" first
        page.get_by_role("button", name="Add more").click()
        page.locator(FILE_INPUT).wait_for(state="attached")
    page.evaluate(PICK, [FILE_INPUT, name, size, mime, head])


def wait_status(page, name: str, status: str, timeout: float = 60_000):
    item = page.locator(f'#uploads .upload[data-file="{name}"][data-status="{status}"]')
    item.wait_for(timeout=timeout)
    return item


class Stopwatch:
    """Times one upload: from choosing the file to Uppy's success, and on to the server's verdict."""

    def __init__(self, test: str) -> None:
        self.test = test
        self.started = time.monotonic()

    def lap(self, what: str, item: Any = None) -> float:
        """Record the time so far; with the file's verdict ``item``, also Uppy's own upload time."""
        seconds = time.monotonic() - self.started
        DURATIONS.append((self.test, what, seconds))
        sent_ms = item.get_attribute("data-sent-ms") if item is not None else None
        if sent_ms:
            DURATIONS.append((self.test, "Uppy: upload start to success", int(sent_ms) / 1000))
        return seconds


@pytest.fixture
def stopwatch(request: pytest.FixtureRequest) -> Stopwatch:
    return Stopwatch(request.node.name)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if DURATIONS:
        terminalreporter.section("browser upload durations")
        for test, what, seconds in DURATIONS:
            terminalreporter.write_line(f"{test}: {what} {seconds:.2f} s")
