"""The upload page in headless Chromium against `landing serve`: pick or drop, upload, follow, list."""

from __future__ import annotations

import uuid
from urllib.parse import urlparse

import pytest
from sqlalchemy import text

from landing.db import engine as db
from tests.browser.conftest import MIB
from tests.conftest import rows

# Collected even where the driver is missing, so that the fixtures can say why the tests skip.
expect = pytest.importorskip("playwright.sync_api", reason="the Playwright driver is not installed").expect


def upload_rows():
    return rows("SELECT key, status, method, max_size, size, owner FROM uploads ORDER BY created_at")


def text_file(name: str, size: int, mime: str = "text/plain") -> dict:
    return {"name": name, "mimeType": mime, "buffer": (b"landing test line\n" * (size // 18 + 1))[:size]}


def pick_generated(page, name: str, size: int, mime: str) -> None:
    """Choose a file built inside the page, so megabytes need not cross the driver's pipe."""
    page.evaluate(
        """([name, size, type]) => {
            const data = new DataTransfer();
            data.items.add(new File([new Uint8Array(size).fill(65)], name, { type }));
            const input = document.querySelector("#files");
            input.files = data.files;
            input.dispatchEvent(new Event("change", { bubbles: true }));
        }""",
        [name, size, mime],
    )


def test_small_file_is_uploaded_and_listed(page):
    page.set_input_files("#files", [text_file("hello.txt", 2048)])

    item = page.locator(".upload[data-status=uploaded]")
    item.wait_for()
    assert item.locator(".upload-status").inner_text() == "Uploaded"
    assert item.locator("progress").evaluate("p => p.value") == 100
    key = item.locator(".upload-key").inner_text()
    # The status the page shows came from the database: ingest (fed by the server's queue drain)
    # decided it from S3's event.
    assert upload_rows() == [
        {
            "key": key,
            "status": "uploaded",
            "method": "POST",
            "max_size": 2048,
            "size": 2048,
            "owner": "anonymous",
        }
    ]
    (linked,) = rows("SELECT upload_id, size, content_type FROM objects WHERE key = :k", k=key)
    assert linked["size"] == 2048 and linked["content_type"] == "text/plain" and linked["upload_id"]
    page.locator("#objects td.key", has_text=key).wait_for()
    expect(page.locator("#announcer")).to_have_text("hello.txt: Uploaded")


def test_oversize_file_is_refused_with_the_apis_413(page):
    pick_generated(page, "too-big.txt", 9 * MIB, "text/plain")

    item = page.locator(".upload[data-status=refused]")
    item.wait_for()
    message = item.locator(".upload-status").inner_text()
    assert "413" in message and "too_large" in message and str(8 * MIB) in message
    assert upload_rows() == []


def test_large_file_goes_up_in_parts(page):
    pick_generated(page, "large.csv", 6 * MIB, "text/csv")

    page.locator(".upload[data-status=uploaded]").wait_for(timeout=60_000)
    (row,) = upload_rows()
    assert (row["method"], row["status"], row["size"]) == ("MULTIPART", "uploaded", 6 * MIB)


def test_dropped_files_are_uploaded(page):
    page.evaluate(
        """() => {
            const data = new DataTransfer();
            data.items.add(new File(["dropped one\\n"], "one.txt", { type: "text/plain" }));
            data.items.add(new File(["dropped two\\n"], "two.txt", { type: "text/plain" }));
            const zone = document.querySelector("#dropzone");
            zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: data, bubbles: true, cancelable: true }));
            zone.dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true }));
        }"""
    )

    page.locator(".upload[data-status=uploaded]").nth(1).wait_for()
    assert sorted(r["key"].rsplit("/", 1)[1] for r in upload_rows() if r["status"] == "uploaded") == [
        "one.txt",
        "two.txt",
    ]


def test_file_picker_is_labelled_and_reached_by_keyboard(page):
    # The hidden input stays the control: a button named by its label, announced with the hint.
    picker = page.get_by_role("button", name="Choose files")
    assert picker.get_attribute("id") == "files"
    assert picker.get_attribute("aria-describedby") == "dropzone-hint"
    page.keyboard.press("Tab")  # the skip link
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "files"
    assert page.get_by_label("Key prefix").get_attribute("id") == "prefix"
    assert page.locator("[role=status][aria-live=polite]").count() == 1


def test_objects_table_pages_through_the_callers_objects_only(page, served):
    mine = [f"uploads/anonymous/{uuid.uuid4()}/file-{i:02}.txt" for i in range(12)]
    theirs = f"uploads/someone-else/{uuid.uuid4()}/secret.txt"
    with db.require_engine().begin() as conn:
        # Objects belong to whoever's upload wrote them (GET /objects lists by that link, not by key).
        for key, owner in [*((k, "anonymous") for k in mine), (theirs, "someone-else")]:
            upload_id = uuid.uuid4()
            conn.execute(
                text(
                    "INSERT INTO uploads (id, bucket, key, content_type, max_size, owner, status, expires_at)"
                    " VALUES (:id, 'landing-demo', :k, 'text/plain', 5, :owner, 'uploaded', now())"
                ),
                {"id": upload_id, "k": key, "owner": owner},
            )
            conn.execute(
                text(
                    "INSERT INTO objects (bucket, key, sequence_number, size, content_type, is_deleted,"
                    " created_at, updated_at, upload_id)"
                    " VALUES ('landing-demo', :k, :s, 5, 'text/plain', false, now(), now(), :id)"
                ),
                {"k": key, "s": "0" * 32, "id": upload_id},
            )
    page.get_by_role("button", name="Show").click()
    page.locator("#objects tbody tr").nth(9).wait_for()

    first = page.locator("#objects td.key").all_inner_texts()
    page.get_by_role("button", name="Next page").click()
    page.locator("#page-number", has_text="Page 2").wait_for()
    page.locator("#objects tbody tr").nth(1).wait_for()
    second = page.locator("#objects td.key").all_inner_texts()

    assert first + second == sorted(mine)
    assert page.get_by_role("button", name="Next page").is_disabled()
    page.get_by_role("button", name="Previous page").click()
    page.locator("#page-number", has_text="Page 1").wait_for()
    assert page.locator("#objects td.key").first.inner_text() == sorted(mine)[0]


def test_phone_sized_screen_needs_no_sideways_scrolling(page):
    page.set_viewport_size({"width": 375, "height": 740})
    page.set_input_files("#files", [text_file("a-file-with-a-rather-long-name-for-a-small-screen.txt", 100)])
    page.locator(".upload[data-status=uploaded]").wait_for()
    page.locator("#objects td.key").first.wait_for()

    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert page.locator("label[for=files]").is_visible()


def test_the_page_talks_only_to_this_machine(context, served, clean_db):
    hosts: set[str] = set()
    tab = context.new_page()
    # data: and blob: URLs never leave the browser; every other request names a host.
    tab.on(
        "request",
        lambda request: (
            request.url.startswith(("data:", "blob:"))
            or hosts.add(urlparse(request.url).hostname or request.url)
        ),
    )
    tab.goto(served.url + "/")
    tab.set_input_files("#files", [text_file("local.txt", 64)])
    tab.locator(".upload[data-status=uploaded]").wait_for()

    assert hosts == {"127.0.0.1"}
