"""The upload page with REQUIRE_CLEAN_SCAN: it waits for the malware verdict, then shows it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tests.browser.conftest import MOTO, SERVER_ENV, pick, wait_status
from tests.conftest import rows
from tests.support.events import guardduty_event
from tests.support.serve import Served, landing_serve, wait_for

expect = pytest.importorskip("playwright.sync_api", reason="the Playwright driver is not installed").expect


@pytest.fixture(scope="module")
def served(playwright: Any) -> Iterator[Served]:
    with landing_serve(**SERVER_ENV, REQUIRE_CLEAN_SCAN="true") as server:
        yield server


def send_verdict(served: Served, key: str, result: str) -> None:
    """What GuardDuty would send, onto the server's own ingest queue (its drain feeds IngestFunction)."""
    endpoint, bucket, queue = MOTO.search(served.output()).groups()  # type: ignore[union-attr]
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
    (obj,) = rows("SELECT e_tag, version_id FROM objects WHERE key = :k", k=key)
    event = guardduty_event(
        key, result=result, bucket=bucket, etag=obj["e_tag"], version_id=obj["version_id"]
    )
    sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName=queue)["QueueUrl"], MessageBody=json.dumps(event))


def upload(page: Any, name: str) -> tuple[Any, str]:
    pick(page, name, 8, "text/plain", head="scan me\n")
    item = wait_status(page, name, "scanning")
    assert item.locator(".upload-status").inner_text() == "Received; waiting for the malware scan"
    return item, item.locator(".upload-key").inner_text()


def test_a_clean_verdict_makes_the_waiting_upload_uploaded(page, served):
    _, key = upload(page, "clean.txt")

    send_verdict(served, key, "NO_THREATS_FOUND")

    item = wait_status(page, "clean.txt", "uploaded")
    assert item.locator(".upload-status").inner_text() == "Uploaded · malware scan: no threats found"
    assert rows("SELECT status, scan_status FROM uploads") == [
        {"status": "uploaded", "scan_status": "NO_THREATS_FOUND"}
    ]


def test_threats_quarantine_the_upload_and_the_page_says_so(page, served):
    _, key = upload(page, "eicar.txt")

    send_verdict(served, key, "THREATS_FOUND")

    item = wait_status(page, "eicar.txt", "quarantined")
    assert item.locator(".upload-status").inner_text() == (
        "Quarantined: malware scan found EICAR-Test-File (not a virus)"
    )
    expect(page.locator("#announcer")).to_have_text(
        "eicar.txt: Quarantined: malware scan found EICAR-Test-File (not a virus)"
    )
    wait_for(lambda: rows("SELECT is_deleted FROM objects WHERE key = :k", k=key) == [{"is_deleted": True}])
