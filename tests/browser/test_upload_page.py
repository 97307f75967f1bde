"""The upload page (Uppy 6's Dashboard and AWS S3 plugin) in headless Chromium against `landing serve`.

Every upload goes through real Uppy and the API's Companion-compatible S3 routes to moto's S3; each test
checks what the page shows, the rows in the database and what S3 holds.
"""

from __future__ import annotations

import base64
import contextlib
import re
import uuid
from urllib.parse import quote, urlparse

import pytest
from sqlalchemy import text

from landing.db import engine as db
from tests.browser.conftest import MIB, bucket_of, pick, wait_status
from tests.conftest import rows
from tests.support.serve import wait_for

# Collected even where the driver is missing, so that the fixtures can say why the tests skip.
# A 16 x 16 PNG, so the Dashboard has a thumbnail to draw.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAIAAACQkWg2AAAAHklEQVR4nGP4z8CAFzGMKhhVMKpgVMGoglEFgwoACvXw4WFr+h8AAAAASUVORK5CYII="
)
expect = pytest.importorskip("playwright.sync_api", reason="the Playwright driver is not installed").expect


def upload_rows():
    return rows(
        "SELECT id, key, status, method, size, owner, rejection_reason FROM uploads ORDER BY created_at"
    )


def verdict(page, name: str):
    return page.locator(f'#uploads .upload[data-file="{name}"]')


def open_uploads(served, name: str) -> list[dict]:
    """The multipart uploads of file ``name`` open in the served bucket (other tests' leftovers aside)."""
    s3, bucket = bucket_of(served)
    return [
        u
        for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        if u["Key"].endswith(f"/{name}")
    ]


def s3_requests(page) -> list[str]:
    """Every request the page sends from now on, as "METHOD path?query" (the test reads it later)."""
    seen: list[str] = []
    page.on("request", lambda r: seen.append(f"{r.method} {urlparse(r.url).path}?{urlparse(r.url).query}"))
    return seen


def test_small_file_goes_up_in_one_post_and_the_page_shows_uploaded(page, served, stopwatch):
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="browse files").click()
    chooser.value.set_files([{"name": "hello.txt", "mimeType": "text/plain", "buffer": b"landing\n" * 256}])

    item = wait_status(page, "hello.txt", "uploaded")
    stopwatch.lap("to uploaded", item)
    assert item.locator(".upload-status").inner_text() == "Uploaded"
    key = item.locator(".upload-key").inner_text()
    (row,) = upload_rows()
    assert (row["key"], row["status"], row["size"], row["owner"]) == (key, "uploaded", 2048, "anonymous")
    (linked,) = rows("SELECT upload_id, size, content_type FROM objects WHERE key = :k", k=key)
    assert linked == {"upload_id": linked["upload_id"], "size": 2048, "content_type": "text/plain"}
    assert linked["upload_id"] is not None
    s3, bucket = bucket_of(served)
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"landing\n" * 256
    page.locator("#objects td.key", has_text=key).wait_for()
    expect(page.locator("#announcer")).to_have_text("hello.txt: Uploaded")
    expect(page.locator(".uppy-StatusBar")).to_contain_text("Complete")


def test_a_12_mib_file_goes_up_in_parts_chosen_by_uppy(page, served, stopwatch):
    sent = s3_requests(page)
    pick(page, "large.csv", 12 * MIB + 512 * 1024, "text/csv")

    item = wait_status(page, "large.csv", "uploaded")
    stopwatch.lap("to uploaded", item)
    key = item.locator(".upload-key").inner_text()
    (row,) = upload_rows()
    assert (row["key"], row["method"], row["status"], row["size"]) == (
        key,
        "MULTIPART",
        "uploaded",
        12.5 * MIB,
    )
    signed = sorted(int(m.group(1)) for r in sent if (m := re.match(r"GET /s3/multipart/[^/]+/(\d+)\?", r)))
    assert signed == [1, 2, 3]  # Uppy's 5 MiB parts, each signed once
    s3, bucket = bucket_of(served)
    assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == 12.5 * MIB
    assert open_uploads(served, "large.csv") == []


def test_a_multipart_upload_resumes_after_a_reload_from_the_parts_s3_holds(page, served, stopwatch):
    s3, bucket = bucket_of(served)
    # Part 3 never reaches S3: held until the reload, then dropped.
    part3 = re.compile(r".*[?&]partNumber=3&.*")
    held: list = []
    page.route(part3, lambda route: held.append(route))
    pick(page, "resume.csv", 12 * MIB + 512 * 1024, "text/csv")
    (upload,) = wait_for(lambda: open_uploads(served, "resume.csv"), timeout_s=60)
    wait_for(
        lambda: (
            len(s3.list_parts(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]).get("Parts", []))
            == 2
        ),
        timeout_s=60,
    )
    page.wait_for_timeout(500)  # a moment for Golden Retriever to save the state it has

    page.reload()
    page.wait_for_selector(".uppy-Dashboard")
    for route in held:
        with contextlib.suppress(Exception):  # its page is gone; make sure the body never reaches S3
            route.abort()
    page.unroute(part3)
    sent = s3_requests(page)
    # A 12.5 MiB file is more than Golden Retriever keeps in IndexedDB (10 MiB): the Dashboard asks for
    # the file again, and Uppy carries on with the upload id and key it remembered.
    item = wait_status(page, "resume.csv", "restored")
    expect(item).to_contain_text("Choose this file again to resume its upload")
    page.get_by_role("button", name="Add more").click()
    pick(page, "resume.csv", 12 * MIB + 512 * 1024, "text/csv")
    expect(item).to_contain_text("Ready to resume: press Upload")
    page.get_by_role("button", name="Upload 1 file").click()

    item = wait_status(page, "resume.csv", "uploaded")
    stopwatch.lap("to uploaded (reload included)", item)
    (row,) = upload_rows()
    assert (row["status"], row["size"], row["key"]) == ("uploaded", 12.5 * MIB, upload["Key"])
    # Uppy's uploadId on the routes is the upload's id; S3's own id stays on the server.
    assert f"GET /s3/multipart/{row['id']}?key={quote(upload['Key'], safe='')}" in sent  # listed the parts
    signed = [m.group(1) for r in sent if (m := re.match(r"GET /s3/multipart/[^/]+/(\d+)\?", r))]
    assert signed == ["3"], sent  # only the part S3 did not have
    assert item.locator(".upload-key").inner_text() == upload["Key"]
    assert open_uploads(served, "resume.csv") == []


def test_pause_and_resume_carry_on_with_the_same_multipart_upload(page, served, stopwatch):
    sent = s3_requests(page)
    held = re.compile(r".*[?&]partNumber=2&.*")
    page.route(held, lambda route: None)  # part 2 hangs until the pause cancels it
    with page.expect_request(held, timeout=60_000):
        pick(page, "paused.csv", 12 * MIB, "text/csv")

    page.get_by_role("button", name="Pause upload").click()
    page.unroute(held)
    page.get_by_role("button", name="Resume upload").click()

    stopwatch.lap("to uploaded (pause included)", wait_status(page, "paused.csv", "uploaded"))
    assert [r for r in sent if r.startswith("POST /s3/multipart?")] == ["POST /s3/multipart?"]  # one upload
    (row,) = upload_rows()
    assert (row["method"], row["status"], row["size"]) == ("MULTIPART", "uploaded", 12 * MIB)
    assert open_uploads(served, "paused.csv") == []


def test_cancelling_a_multipart_upload_leaves_nothing_open_in_s3(page, served, stopwatch):
    page.route(re.compile(r".*[?&]partNumber=2&.*"), lambda route: None)
    pick(page, "cancel.csv", 12 * MIB, "text/csv")
    wait_for(lambda: open_uploads(served, "cancel.csv"), timeout_s=60)

    page.get_by_role("button", name="Cancel").first.click()

    wait_for(lambda: open_uploads(served, "cancel.csv") == [], timeout_s=20)
    stopwatch.lap("to aborted in S3")
    wait_for(lambda: [r["status"] for r in upload_rows()] == ["expired"])
    expect(verdict(page, "cancel.csv")).to_have_attribute("data-status", "cancelled")


def test_a_file_above_the_limit_is_refused_when_its_parts_pass_it(page, served):
    pick(page, "too-big.csv", 17 * MIB, "text/csv")

    item = wait_status(page, "too-big.csv", "refused")
    message = item.locator(".upload-status").inner_text()
    # Uppy announces no size: at completion the parts S3 holds add up to more than the 16 MiB bound.
    assert message.startswith("Refused: ") and str(16 * MIB) in message
    assert [r["status"] for r in upload_rows()] == ["rejected"]
    assert open_uploads(served, "too-big.csv") == []  # its parts are deleted


def test_a_refused_type_shows_the_apis_reason(page):
    pick(page, "clip.mp4", 4096, "video/mp4")

    item = wait_status(page, "clip.mp4", "refused", timeout=20_000)
    message = item.locator(".upload-status").inner_text()
    assert message.startswith("Refused: ") and "video/mp4" in message
    assert upload_rows() == []


def test_an_executable_declared_as_an_image_is_rejected_after_uppys_success(page, served, stopwatch):
    pick(page, "holiday.png", 4096, "image/png", head="MZ\x90\x00")

    item = wait_status(page, "holiday.png", "rejected")
    stopwatch.lap("to rejected", item)
    message = item.locator(".upload-status").inner_text()
    assert message.startswith("Rejected: ") and "executable" in message
    (row,) = upload_rows()
    assert row["status"] == "rejected" and "executable" in row["rejection_reason"]
    expect(page.locator(".uppy-StatusBar")).to_contain_text("Complete")  # S3 took the bytes


def test_dropped_files_are_uploaded_with_a_thumbnail_for_the_image(page):
    page.evaluate(
        """(png) => {
            const data = new DataTransfer();
            data.items.add(new File(["dropped one\\n"], "one.txt", { type: "text/plain" }));
            const image = Uint8Array.from(atob(png), (c) => c.charCodeAt(0));
            data.items.add(new File([image], "dot.png", { type: "image/png" }));
            const zone = document.querySelector(".uppy-Dashboard-inner");
            for (const type of ["dragenter", "dragover", "drop"]) {
                zone.dispatchEvent(new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true }));
            }
        }""",
        base64.b64encode(PNG).decode(),
    )

    wait_status(page, "one.txt", "uploaded")
    wait_status(page, "dot.png", "uploaded")
    assert sorted(r["key"].rsplit("/", 1)[1] for r in upload_rows() if r["status"] == "uploaded") == [
        "dot.png",
        "one.txt",
    ]
    thumbnail = page.locator("img.uppy-Dashboard-Item-previewImg")
    assert thumbnail.get_attribute("src").startswith("blob:")  # allowed by the page's CSP


def test_file_picker_is_a_button_reached_by_keyboard(page):
    page.keyboard.press("Tab")  # the skip link
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('uppy-Dashboard-browse')"):
            break
    assert page.evaluate("document.activeElement.textContent") == "browse files"
    assert page.get_by_label("Key prefix").get_attribute("id") == "prefix"
    assert page.locator("#announcer[role=status][aria-live=polite]").count() == 1


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
    assert page.get_by_role("button", name="browse files").is_visible()
    pick(page, "a-file-with-a-rather-long-name-for-a-small-screen.txt", 100, "text/plain")
    wait_status(page, "a-file-with-a-rather-long-name-for-a-small-screen.txt", "uploaded")
    page.locator("#objects td.key").first.wait_for()

    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert page.get_by_role("button", name="Add more").is_visible()


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
    tab.wait_for_selector(".uppy-Dashboard")
    pick(tab, "local.txt", 64, "text/plain")
    wait_status(tab, "local.txt", "uploaded")

    assert hosts == {"127.0.0.1"}
