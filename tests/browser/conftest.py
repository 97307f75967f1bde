"""Browser fixtures: one `landing serve` per module, a fresh headless Chromium profile per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.browser import launch, why_unavailable
from tests.support.serve import Served, landing_serve

MIB = 1024**2
# Lowered limits so the tests need only small files: 8 MiB maximum, multipart from 5 MiB (S3's part
# minimum), so a 6 MiB file goes up in two parts and a 9 MiB one is refused by the API (413).
SERVER_ENV = {
    "UPLOAD_MAX_SIZE": str(8 * MIB),
    "MULTIPART_THRESHOLD": str(5 * MIB),
    "MULTIPART_PART_SIZE": str(5 * MIB),
}


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
    browser_context = launch(playwright, tmp_path / "profile", viewport={"width": 1000, "height": 800})
    browser_context.set_default_timeout(20_000)
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
    tab.goto(served.url + "/")
    tab.wait_for_selector("#objects-status:not(:empty)")
    yield tab
    assert errors == [], f"JavaScript errors on the page: {errors}"
