"""The uploads HTTP API through its handler: rows written (or not), owner isolation, pagination, CORS."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest

from landing.s3 import clients
from landing.settings import get_settings
from tests.conftest import rows
from tests.support.api import Api, http_event
from tests.unit.test_uploads_rules import BAD_REQUESTS

TEXT = {"filename": "notes.txt", "content_type": "text/plain", "size": 12}


@pytest.fixture
def api_s3(s3, clean_db):
    """In-process moto S3 (the `s3` fixture) with the presigning client rebuilt inside it."""
    clients.reset()
    yield s3
    clients.reset()


@pytest.fixture
def alice(api_s3):
    return Api("alice")


@pytest.fixture
def env(monkeypatch):
    """Change settings for one test: set variables, then the cached settings are rebuilt."""

    def apply(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()

    yield apply
    monkeypatch.undo()
    get_settings.cache_clear()


def upload_rows():
    return rows("SELECT * FROM uploads ORDER BY created_at")


def test_create_returns_201_and_writes_one_pending_row(alice):
    status, body = alice.create(**TEXT, metadata={"dept": "finance"})

    assert status == 201
    assert set(body) == {"id", "key", "method", "url", "fields", "headers", "expires_at"}
    assert body["method"] == "POST" and body["headers"] == {}
    assert body["key"] == f"uploads/alice/{body['id']}/notes.txt"
    (row,) = upload_rows()
    assert row["id"] == uuid.UUID(body["id"])
    assert {k: row[k] for k in ("bucket", "key", "content_type", "max_size", "owner", "status")} == {
        "bucket": "example-bucket",
        "key": body["key"],
        "content_type": "text/plain",
        "max_size": 12,
        "owner": "alice",
        "status": "pending",
    }
    assert (row["filename"], row["method"], row["user_metadata"]) == (
        "notes.txt",
        "POST",
        {"dept": "finance"},
    )
    # Long enough to start sending, short enough that the form (which S3 cannot make conditional on
    # an empty key) is not replayable for long.
    assert row["expires_at"] - row["created_at"] == timedelta(seconds=60)
    assert row["completed_at"] is None and row["size"] is None
    assert body["expires_at"] == row["expires_at"].isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_returned_policy_pins_every_condition(alice):
    _, body = alice.create(**TEXT)
    policy = json.loads(base64.b64decode(body["fields"]["policy"]))
    conditions = policy["conditions"]

    assert {"key": body["key"]} in conditions
    assert {"bucket": "example-bucket"} in conditions
    assert {"Content-Type": "text/plain"} in conditions
    assert ["content-length-range", 1, 12] in conditions
    assert {"x-amz-meta-upload-id": body["id"]} in conditions
    assert not any(isinstance(c, list) and c[0] == "starts-with" for c in conditions)
    assert policy["expiration"] == body["expires_at"][:19] + "Z"
    assert body["fields"]["key"] == body["key"]
    assert body["fields"]["x-amz-meta-upload-id"] == body["id"]


def test_put_is_signed_for_type_length_and_checksum(alice):
    checksum = base64.b64encode(b"\x01" * 32).decode()
    status, body = alice.create(**TEXT, method="PUT", checksum_sha256=checksum)

    assert status == 201 and body["method"] == "PUT" and body["fields"] == {}
    signed = parse_qs(urlparse(body["url"]).query)["X-Amz-SignedHeaders"][0].split(";")
    assert {"content-type", "content-length", "x-amz-checksum-sha256", "x-amz-meta-upload-id"} <= set(signed)
    # Headers S3 would store unsigned are pinned too: the client cannot choose how the object is served.
    assert {"content-disposition", "cache-control"} <= set(signed)
    assert body["headers"]["Content-Length"] == "12"
    assert upload_rows()[0]["checksum_sha256"] == checksum
    # Written only while the key is empty, and never with an encoding a browser would undo on download.
    assert {"if-none-match", "content-encoding"} <= set(signed)
    assert (body["headers"]["If-None-Match"], body["headers"]["Content-Encoding"]) == ("*", "identity")
    # A PUT cannot be replayed over a stored body, so it may live longer than a POST form.
    row = upload_rows()[0]
    assert row["expires_at"] - row["created_at"] == timedelta(seconds=300)


@pytest.mark.parametrize(("request_body", "status", "code"), BAD_REQUESTS)
def test_bad_input_gets_json_error_and_writes_no_row(alice, request_body, status, code):
    answer, body, _ = alice.call("POST", "/uploads", body=request_body)

    assert (answer, body["error"]["code"]) == (status, code)
    assert body["error"]["message"]
    assert upload_rows() == []


@pytest.mark.parametrize(
    ("raw", "code"),
    [("{not json", "invalid_json"), ('{"filename": "a.txt",', "invalid_json"), ("", "invalid_body")],
)
def test_malformed_or_missing_json_is_400(alice, raw, code):
    status, body, _ = alice.call("POST", "/uploads", raw_body=raw)
    assert (status, body["error"]["code"]) == (400, code)
    assert upload_rows() == []


@pytest.mark.parametrize("filename", ["invoice.hta", "run.bat", "update.vbs", "report.pdf.js", "link.lnk"])
def test_a_file_name_that_runs_when_opened_is_refused_and_writes_nothing(alice, filename):
    status, body = alice.create(filename=filename, content_type="text/plain", size=12)

    assert (status, body["error"]["code"]) == (400, "executable_filename")
    assert upload_rows() == []


def test_the_key_and_the_download_name_carry_the_declared_types_extension(alice):
    status, body = alice.create(filename="page.html", content_type="text/plain", size=12)

    assert status == 201 and body["key"].endswith("/page.html.txt")
    policy = json.loads(base64.b64decode(body["fields"]["policy"]))
    disposition = "attachment; filename=\"page.html.txt\"; filename*=UTF-8''page.html.txt"
    assert {"Content-Disposition": disposition} in policy["conditions"]


def test_content_type_outside_the_configured_list_is_415(alice, env):
    env(ALLOWED_CONTENT_TYPES="image/png")
    status, body = alice.create(**TEXT)
    assert (status, body["error"]["code"]) == (415, "unsupported_media_type")
    status, _ = alice.create(filename="a.png", content_type="image/png", size=3)
    assert status == 201
    assert len(upload_rows()) == 1


def test_size_above_configured_maximum_is_413(alice, env):
    env(UPLOAD_MAX_SIZE="100")
    status, body = alice.create(**{**TEXT, "size": 101})
    assert (status, body["error"]["code"]) == (413, "too_large")
    assert upload_rows() == []


def test_get_reports_the_upload_with_iso_utc_times(alice):
    _, created = alice.create(**TEXT)
    status, body = alice.get(created["id"])

    assert status == 200
    assert {k: body[k] for k in ("id", "status", "key", "size", "content_type", "completed_at")} == {
        "id": created["id"],
        "status": "pending",
        "key": created["key"],
        "size": 12,
        "content_type": "text/plain",
        "completed_at": None,
    }
    assert body["created_at"].endswith("Z") and body["expires_at"] == created["expires_at"]


@pytest.mark.parametrize("upload_id", [str(uuid.uuid4()), "not-a-uuid", "1"])
def test_unknown_id_is_404(alice, upload_id):
    status, body = alice.get(upload_id)
    assert (status, body["error"]["code"]) == (404, "not_found")


def test_another_owner_sees_404_and_an_empty_list(alice):
    _, created = alice.create(**TEXT)
    bob = Api("bob")

    status, body = bob.get(created["id"])
    assert (status, body["error"]["code"]) == (404, "not_found")
    assert bob.call("GET", "/uploads")[1] == {"uploads": [], "next_cursor": None}
    assert bob.call("POST", f"/uploads/{created['id']}/complete", body={"parts": []})[0] in (400, 404)
    # Pinned: the body is judged before the upload is looked up, so bob learns nothing about it.
    status, body, _ = bob.call("POST", f"/uploads/{created['id']}/complete", body={"parts": []})
    assert (status, body["error"]["code"]) == (400, "invalid_parts")
    assert (
        bob.call(
            "POST", f"/uploads/{created['id']}/complete", body={"parts": [{"part_number": 1, "etag": "x"}]}
        )[0]
        == 404
    )
    assert bob.call("DELETE", f"/uploads/{created['id']}")[0] == 404
    assert alice.get(created["id"])[0] == 200


def test_list_is_owner_scoped_filtered_and_paginated(alice):
    created = [alice.create(**TEXT)[1]["id"] for _ in range(5)]
    Api("bob").create(**TEXT)

    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        status, page, _ = alice.call("GET", "/uploads", query=query)
        assert status == 200 and len(page["uploads"]) <= 2
        seen += [u["id"] for u in page["uploads"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(created))  # newest first, each exactly once

    assert len(alice.call("GET", "/uploads", query={"status": "pending"})[1]["uploads"]) == 5
    assert alice.call("GET", "/uploads", query={"status": "uploaded"})[1]["uploads"] == []


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"status": "done"}, "invalid_status"),
        ({"limit": "0"}, "invalid_limit"),
        ({"limit": "1000"}, "invalid_limit"),
        ({"limit": "ten"}, "invalid_limit"),
        ({"cursor": "garbage"}, "invalid_cursor"),
        ({"cursor": base64.urlsafe_b64encode(b'["x", "y"]').decode()}, "invalid_cursor"),
    ],
)
def test_bad_list_query_is_400(alice, query, code):
    status, body, _ = alice.call("GET", "/uploads", query=query)
    assert (status, body["error"]["code"]) == (400, code)


def test_without_authorizer_the_owner_is_anonymous(api_s3):
    status, body = Api(sub=None).create(**TEXT)
    assert status == 201
    assert body["key"].startswith("uploads/anonymous/")
    assert upload_rows()[0]["owner"] == "anonymous"


def test_anonymous_callers_are_capped_at_the_anonymous_maximum_size(api_s3, env):
    env(ANONYMOUS_UPLOAD_MAX_SIZE="1000")
    status, body = Api(sub=None).create(**{**TEXT, "size": 1001})
    assert (status, body["error"]["code"]) == (413, "too_large")
    assert upload_rows() == []
    assert Api("alice").create(**{**TEXT, "size": 1001})[0] == 201


def test_a_sigv4_signed_caller_owns_its_uploads_by_iam_principal(api_s3, env):
    """AWS_IAM routes (the default deploy): the owner is the principal API Gateway verified."""
    from landing.handlers.uploads import handler
    from landing.lambda_context import local_context

    env(UPLOADS_ALLOW_ANONYMOUS="false")

    def signed(principal: str, method: str, path: str, **kwargs):
        event = http_event(method, path, sub=None, **kwargs)
        event["requestContext"]["authorizer"] = {"iam": {"userArn": principal, "accountId": "123456789012"}}
        response = handler(event, local_context("UploadsFunction"))
        return response["statusCode"], json.loads(response["body"])

    role = "arn:aws:sts::123456789012:assumed-role/app/session"
    status, created = signed(role, "POST", "/uploads", body=TEXT)
    assert status == 201
    assert (
        upload_rows()[0]["owner"] == "arn:aws:sts::123456789012:assumed-role/app"
    )  # the role, not its session
    other = "arn:aws:sts::123456789012:assumed-role/other/session"
    assert signed(other, "GET", "/uploads")[1]["uploads"] == []
    assert [u["id"] for u in signed(role, "GET", "/uploads")[1]["uploads"]] == [created["id"]]


def test_without_authorizer_and_anonymous_disallowed_the_api_answers_401(api_s3, env):
    env(UPLOADS_ALLOW_ANONYMOUS="false")
    status, body = Api(sub=None).create(**TEXT)
    assert (status, body["error"]["code"]) == (401, "unauthorized")
    assert upload_rows() == []


def test_owner_with_unsafe_characters_gets_a_digest_key_segment(api_s3):
    status, body = Api("auth0|../../x").create(**TEXT)
    assert status == 201
    segments = body["key"].split("/")
    assert segments[0] == "uploads" and segments[1].startswith("h-") and len(segments) == 4


def test_no_cors_headers_unless_an_origin_is_named(alice):
    """By default no browser origin may call the API cross-origin (no * fallback)."""
    _, _, headers = alice.call("POST", "/uploads", body=TEXT)
    assert "Access-Control-Allow-Origin" not in headers

    from landing.handlers.uploads import handler

    preflight = http_event("OPTIONS", "/uploads")
    preflight["headers"]["access-control-request-method"] = "POST"
    response = handler(preflight, None)
    assert "Access-Control-Allow-Origin" not in response.get("headers", {})


def test_named_origins_get_cors_headers_and_others_none(env):
    from landing.uploads.api import cors

    env(CORS_ALLOW_ORIGINS="https://app.example.com,https://admin.example.com")
    config = cors()
    assert config is not None
    assert (
        config.to_dict("https://app.example.com")["Access-Control-Allow-Origin"] == "https://app.example.com"
    )
    assert "Content-Type" in config.to_dict("https://admin.example.com")["Access-Control-Allow-Headers"]
    assert config.to_dict("https://evil.example") == {}


def test_a_wildcard_origin_is_refused_in_lambda(env):
    from landing.settings import SettingsError, load

    with pytest.raises(SettingsError, match="CORS_ALLOW_ORIGINS"):
        load({"CORS_ALLOW_ORIGINS": "*", "AWS_LAMBDA_FUNCTION_NAME": "UploadsFunction"})


def test_unknown_route_is_a_json_404(alice):
    status, body, _ = alice.call("GET", "/nothing-here")
    assert (status, body["error"]["code"]) == (404, "route_not_found")


def test_complete_and_abort_refuse_a_post_upload(alice):
    _, created = alice.create(**TEXT)
    status, body, _ = alice.call(
        "POST", f"/uploads/{created['id']}/complete", body={"parts": [{"part_number": 1, "etag": "e"}]}
    )
    assert (status, body["error"]["code"]) == (409, "not_multipart")
    status, body, _ = alice.call("DELETE", f"/uploads/{created['id']}")
    assert (status, body["error"]["code"]) == (409, "not_multipart")
    assert upload_rows()[0]["status"] == "pending"


@pytest.fixture
def small_multipart(env):
    """Multipart from just above 5 MiB, in 5 MiB parts (S3's minimum part size)."""
    env(MULTIPART_THRESHOLD=str(5 * 1024**2), MULTIPART_PART_SIZE=str(5 * 1024**2))


def test_large_upload_gets_multipart_part_urls(alice, api_s3, small_multipart):
    size = 5 * 1024**2 + 3
    status, body = alice.create(filename="big.bin", content_type="application/octet-stream", size=size)

    assert status == 201 and body["method"] == "MULTIPART" and body["url"] is None
    assert [(p["part_number"], p["size"]) for p in body["parts"]] == [(1, 5 * 1024**2), (2, 3)]
    for part in body["parts"]:
        query = parse_qs(urlparse(part["url"]).query)
        assert query["partNumber"] == [str(part["part_number"])]
        assert "content-length" in query["X-Amz-SignedHeaders"][0].split(";")
    (row,) = upload_rows()
    assert row["method"] == "MULTIPART" and row["multipart_upload_id"]
    (pending,) = api_s3.list_multipart_uploads(Bucket="example-bucket")["Uploads"]
    assert (pending["Key"], pending["UploadId"]) == (body["key"], row["multipart_upload_id"])


@pytest.mark.parametrize(
    "parts",
    [
        None,
        [],
        [{"part_number": 1, "etag": "a"}],
        [{"part_number": 2, "etag": "a"}, {"part_number": 1, "etag": "b"}],
        [{"part_number": 1, "etag": "a"}, {"part_number": 1, "etag": "b"}],
        [{"part_number": "1", "etag": "a"}, {"part_number": 2, "etag": "b"}],
        [{"part_number": 1}, {"part_number": 2, "etag": "b"}],
    ],
)
def test_complete_with_wrong_parts_is_400_and_leaves_it_pending(alice, small_multipart, parts):
    _, created = alice.create(
        filename="big.bin", content_type="application/octet-stream", size=5 * 1024**2 + 3
    )
    status, body, _ = alice.call("POST", f"/uploads/{created['id']}/complete", body={"parts": parts})
    assert (status, body["error"]["code"]) == (400, "invalid_parts")
    assert upload_rows()[0]["status"] == "pending"


def test_abort_cancels_the_multipart_upload_in_s3_and_expires_it(alice, api_s3, small_multipart):
    _, created = alice.create(
        filename="big.bin", content_type="application/octet-stream", size=5 * 1024**2 + 3
    )

    status, body, _ = alice.call("DELETE", f"/uploads/{created['id']}")

    assert status == 200 and body["status"] == "expired"
    assert body["rejection_reason"] == "aborted by the client"
    assert api_s3.list_multipart_uploads(Bucket="example-bucket").get("Uploads", []) == []
    (row,) = upload_rows()
    assert (row["status"], row["multipart_upload_id"]) == ("expired", None)
    again, body, _ = alice.call("DELETE", f"/uploads/{created['id']}")
    assert (again, body["error"]["code"]) == (409, "upload_expired")


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("uploads-create.json", 201),
        ("uploads-create-put.json", 201),
        ("uploads-get.json", 404),
        ("uploads-list.json", 200),
        ("uploads-complete.json", 404),
        ("uploads-abort.json", 404),
        ("uploads-objects.json", 200),
    ],
)
def test_sample_events_go_through_the_handler(api_s3, name, status):
    from landing.handlers.uploads import handler
    from tests.support.events import load

    response = handler(load(name), None)

    assert response["statusCode"] == status
    owners = {row["owner"] for row in upload_rows()}
    assert owners <= {"5b7c9a4e-1f2d-4c3b-9a8e-7d6c5b4a3f21"}
    # Not vacuous: a create wrote exactly one row for the sample's caller; nothing else wrote any.
    written = [row["owner"] for row in upload_rows()]
    assert written == (["5b7c9a4e-1f2d-4c3b-9a8e-7d6c5b4a3f21"] if status == 201 else [])
    body = json.loads(response["body"])
    if status == 404:
        assert body["error"]["code"] == "not_found"
    elif status == 200:
        listed = {"uploads-list.json": "uploads", "uploads-objects.json": "objects"}[name]
        assert body == {listed: [], "next_cursor": None}


def test_sample_schedule_event_runs_the_expiry_pass(api_s3):
    from landing.handlers.uploads import handler
    from tests.support.events import load

    assert (
        handler(load("uploads-expire-schedule.json"), None).items()
        >= {"expired": 0, "aborted": 0, "deleted": 0, "pruned": 0}.items()
    )


def test_polling_a_pending_upload_that_is_not_due_sends_no_update(alice):
    from sqlalchemy import event

    from landing.db import engine as db

    _, created = alice.create(**TEXT)
    sent: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        sent.append(statement)

    event.listen(db.require_engine(), "before_cursor_execute", record)
    try:
        for _ in range(3):
            status, body = alice.get(created["id"])
            assert (status, body["status"]) == (200, "pending")
    finally:
        event.remove(db.require_engine(), "before_cursor_execute", record)
    # Lazy expiry only runs its UPDATE for an upload that is due: a poll is one SELECT.
    assert sent and not [s for s in sent if s.lstrip().upper().startswith("UPDATE")]


def test_multipart_part_urls_live_longer_than_a_post(alice):
    _, body = alice.create(filename="big.bin", content_type="application/octet-stream", size=200 * 1024**2)
    (row,) = [r for r in upload_rows() if str(r["id"]) == body["id"]]
    assert row["expires_at"] - row["created_at"] == timedelta(seconds=3600)
    query = parse_qs(urlparse(body["parts"][0]["url"]).query)
    assert query["X-Amz-Expires"] == ["3600"]


def test_put_without_a_checksum_is_not_offered(alice):
    status, body = alice.create(**TEXT, method="PUT")
    assert (status, body["error"]["code"]) == (400, "checksum_required")
    assert upload_rows() == []
