"""The upload page with REQUIRE_CLEAN_SCAN: it waits for the malware verdict, then shows it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from landing.handlers.ingest import handler as ingest
from landing.lambda_context import local_context
from landing.s3 import clients
from landing.settings import get_settings
from tests.browser.conftest import MOTO, SERVER_ENV, pick, wait_status
from tests.conftest import rows
from tests.support.events import guardduty_event
from tests.support.serve import Served, landing_serve, wait_for

expect = pytest.importorskip("playwright.sync_api", reason="the Playwright driver is not installed").expect


@pytest.fixture(scope="module")
def served(playwright: Any) -> Iterator[Served]:
    with landing_serve(**SERVER_ENV, REQUIRE_CLEAN_SCAN="true") as server:
        yield server


def send_verdict(served: Served, key: str, result: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """What GuardDuty's EventBridge rule delivers: its scan result straight to IngestFunction (verdicts
    are taken from that path only, never from the notification queue), here in-process against the
    server's database and S3 (a quarantined object is deleted there)."""
    endpoint, bucket, _ = MOTO.search(served.output()).groups()  # type: ignore[union-attr]
    monkeypatch.setenv("S3_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("BUCKET_NAME", bucket)
    get_settings.cache_clear()
    clients.reset()
    (obj,) = rows("SELECT e_tag, version_id FROM objects WHERE key = :k", k=key)
    event = guardduty_event(
        key, result=result, bucket=bucket, etag=obj["e_tag"], version_id=obj["version_id"]
    )
    try:
        ingest(event, local_context("IngestFunction"))
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
        clients.reset()


def upload(page: Any, name: str) -> tuple[Any, str]:
    pick(page, name, 8, "text/plain", head="scan me\n")
    item = wait_status(page, name, "scanning")
    assert item.locator(".upload-status").inner_text() == "Received; waiting for the malware scan"
    return item, item.locator(".upload-key").inner_text()


def test_a_clean_verdict_makes_the_waiting_upload_uploaded(page, served, monkeypatch):
    _, key = upload(page, "clean.txt")

    send_verdict(served, key, "NO_THREATS_FOUND", monkeypatch)

    item = wait_status(page, "clean.txt", "uploaded")
    assert item.locator(".upload-status").inner_text() == "Uploaded · malware scan: no threats found"
    assert rows("SELECT status, scan_status FROM uploads") == [
        {"status": "uploaded", "scan_status": "NO_THREATS_FOUND"}
    ]


def test_threats_quarantine_the_upload_and_the_page_says_so(page, served, monkeypatch):
    _, key = upload(page, "eicar.txt")

    send_verdict(served, key, "THREATS_FOUND", monkeypatch)

    item = wait_status(page, "eicar.txt", "quarantined")
    assert item.locator(".upload-status").inner_text() == (
        "Quarantined: malware scan found EICAR-Test-File (not a virus)"
    )
    expect(page.locator("#announcer")).to_have_text(
        "eicar.txt: Quarantined: malware scan found EICAR-Test-File (not a virus)"
    )
    wait_for(lambda: rows("SELECT is_deleted FROM objects WHERE key = :k", k=key) == [{"is_deleted": True}])
