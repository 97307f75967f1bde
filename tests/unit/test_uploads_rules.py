"""Upload rules without a database: request validation, key generation, presigned POST/PUT, judgement."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlparse

import boto3
import pytest
from botocore.config import Config

from landing.handlers.uploads import STATUS
from landing.s3 import clients
from landing.s3.head import Head
from landing.settings import load
from landing.uploads import decisions, keys, presign, validation
from landing.uploads.errors import UploadError
from tests.support import sigv4

SETTINGS = replace(load({"BUCKET_NAME": "example-bucket"}), multipart_threshold=100 * 1024**2)
UPLOAD_ID = "0b9d7c1e-4a5f-4e2b-8c3d-6f7a8b9c0d1e"
SHA256_B64 = base64.b64encode(hashlib.sha256(b"hello").digest()).decode()


def offline_client(region: str = "eu-west-1", endpoint: str | None = None):
    """A client that only signs (no request is sent), with fixed credentials."""
    return boto3.client(
        "s3",
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id="AKIAEXAMPLE",
        aws_secret_access_key="secret",
        aws_session_token="session-token",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path" if endpoint else "virtual"}),
    )


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("report 2026.pdf", "report 2026.pdf"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("a\x00b\x1f\x7fc.txt", "abc.txt"),
        ("..", "file"),
        ("   ", "file"),
        (".hidden", "hidden"),
        ("what?*<>|:.txt", "what______.txt"),
        ("naïve ☃.txt", "naïve _.txt"),
        ("tab\tand\nnewline.csv", "tabandnewline.csv"),
        ("right\u202eleft.txt", "rightleft.txt"),
    ],
)
def test_filenames_are_neutralised(filename, expected):
    assert keys.sanitise_filename(filename) == expected


def test_very_long_filename_is_cut_keeping_its_extension():
    name = keys.sanitise_filename("é" * 500 + ".tar")
    assert name.endswith(".tar")
    assert len(name.encode("utf-8")) <= keys.MAX_KEY_NAME_BYTES
    name.encode("utf-8").decode("utf-8")  # never cut inside a character


def test_key_is_prefix_owner_uuid_and_sanitised_name():
    upload_id = uuid.UUID(UPLOAD_ID)
    key = keys.new_key(SETTINGS, "alice", upload_id, "../x/y.txt", "text/plain")
    assert key == f"uploads/alice/{UPLOAD_ID}/y.txt"


@pytest.mark.parametrize(
    ("filename", "declared", "stored"),
    [
        ("report.pdf", "application/pdf", "report.pdf"),
        ("Photo.JPEG", "image/jpeg", "Photo.JPEG"),
        ("notes", "text/plain", "notes.txt"),
        # Opened by its extension after download: the declared type decides it, not the client.
        ("page.html", "text/plain", "page.html.txt"),
        ("drawing.svg", "image/png", "drawing.svg.png"),
        ("archive.tar.gz", "application/gzip", "archive.tar.gz"),
        ("disk.img", "application/octet-stream", "disk.img.bin"),
        ("data.xyz", "application/x-unknown", "data.xyz.bin"),
    ],
)
def test_the_stored_extension_follows_the_declared_type(filename, declared, stored):
    key = keys.new_key(SETTINGS, "alice", uuid.UUID(UPLOAD_ID), filename, declared)
    assert key.rsplit("/", 1)[-1] == stored


def test_a_long_name_keeps_the_declared_types_extension_within_the_key_budget():
    key = keys.new_key(SETTINGS, "alice", uuid.UUID(UPLOAD_ID), "x" * 300 + ".html", "text/csv")
    name = key.rsplit("/", 1)[-1]
    assert name.endswith(".csv") and len(name.encode()) <= keys.MAX_KEY_NAME_BYTES


@pytest.mark.parametrize(
    "filename",
    [
        "invoice.hta",
        "run.bat",
        "setup.CMD",
        "payload.vbs",
        "invoice.pdf.js",
        "a.wsf",
        "profile.ps1",
        "shortcut.lnk",
        "screen.scr",
        "x.msi",
        "x.jar",
        "keys.reg",
        "evil.hta. . .",
        "evil\u202egpj.hta",
    ],
)
@pytest.mark.parametrize("declared", ["text/plain", "application/octet-stream", "image/png"])
def test_a_file_name_that_runs_when_opened_is_refused(filename, declared):
    with pytest.raises(UploadError) as refused:
        keys.new_key(SETTINGS, "alice", uuid.UUID(UPLOAD_ID), filename, declared)
    assert (STATUS[type(refused.value)], refused.value.code) == (400, "executable_filename")


def test_an_executable_type_allowed_by_configuration_keeps_its_name():
    key = keys.new_key(SETTINGS, "alice", uuid.UUID(UPLOAD_ID), "tool.exe", "application/x-msdownload")
    assert key.endswith("/tool.exe")


@pytest.mark.parametrize("owner", ["auth0|123", "../other", ".", "a/b", "x" * 200, "ünïcode"])
def test_unsafe_owner_becomes_a_stable_digest_segment(owner):
    segment = keys.owner_segment(owner)
    assert segment == keys.owner_segment(owner)
    assert segment.startswith("h-") and "/" not in segment and len(segment) == 42
    assert keys.owner_segment(owner + "!") != segment


def valid(**changes):
    body = {"filename": "a.txt", "content_type": "text/plain", "size": 10}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


BAD_REQUESTS = [
    ([], 400, "invalid_body"),
    ("text", 400, "invalid_body"),
    (valid(filename=...), 400, "invalid_filename"),
    (valid(filename=3), 400, "invalid_filename"),
    (valid(filename=""), 400, "invalid_filename"),
    (valid(filename="x" * 1025), 400, "invalid_filename"),
    (valid(content_type=...), 400, "invalid_content_type"),
    (valid(content_type=["text/plain"]), 400, "invalid_content_type"),
    (valid(content_type="application/x-msdownload"), 415, "unsupported_media_type"),
    (valid(content_type="text/plain\r\nx-amz-acl: public-read"), 415, "unsupported_media_type"),
    (valid(content_type=""), 415, "unsupported_media_type"),
    (valid(size=...), 400, "invalid_size"),
    (valid(size="10"), 400, "invalid_size"),
    (valid(size=True), 400, "invalid_size"),
    (valid(size=1.5), 400, "invalid_size"),
    (valid(size=0), 400, "invalid_size"),
    (valid(size=-1), 400, "invalid_size"),
    (valid(size=5 * 1024**3 + 1), 413, "too_large"),
    (valid(method="GET"), 400, "invalid_method"),
    (valid(method=1), 400, "invalid_method"),
    (valid(method="PUT"), 400, "checksum_required"),
    (valid(method="PUT", checksum_sha256="not base64!"), 400, "invalid_checksum"),
    (valid(method="PUT", checksum_sha256=base64.b64encode(b"short").decode()), 400, "invalid_checksum"),
    (valid(checksum_sha256=SHA256_B64), 400, "checksum_unsupported"),
    (valid(size=200 * 1024**2, method="PUT", checksum_sha256=SHA256_B64), 400, "checksum_unsupported"),
    (valid(metadata=["a"]), 400, "invalid_metadata"),
    (valid(metadata={"Bad Name": "x"}), 400, "invalid_metadata"),
    (valid(metadata={"upload-id": "forged"}), 400, "invalid_metadata"),
    (valid(metadata={"note": "naïve"}), 400, "invalid_metadata"),
    (valid(metadata={"note": 3}), 400, "invalid_metadata"),
    (valid(metadata={f"k{i}": "v" * 100 for i in range(25)}), 400, "invalid_metadata"),
    (valid(key="uploads/other/file.txt"), 400, "unknown_field"),
]


@pytest.mark.parametrize(("body", "status", "code"), BAD_REQUESTS)
def test_bad_request_is_refused_with_status_and_code(body, status, code):
    with pytest.raises(UploadError) as refused:
        validation.parse_intent(body, SETTINGS)
    assert (STATUS[type(refused.value)], refused.value.code) == (status, code)
    assert refused.value.message


def test_good_request_defaults_to_post_and_keeps_content_type_parameters():
    intent = validation.parse_intent(
        valid(content_type="Text/Plain; charset=utf-8", metadata={"dept": "finance"}), SETTINGS
    )
    assert (intent.method, intent.content_type, intent.metadata) == (
        "POST",
        "Text/Plain; charset=utf-8",
        {"dept": "finance"},
    )


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "text/plain;charset=UTF-8", 'text/plain; charset="utf-8"', " application/pdf "],
)
def test_a_plain_type_with_at_most_a_charset_is_accepted(content_type):
    assert (
        validation.parse_intent(valid(content_type=content_type), SETTINGS).content_type
        == content_type.strip()
    )


def test_a_content_type_longer_than_255_characters_is_refused_even_when_configured():
    long_type = "x" * 120 + "/" + "y" * 120
    settings = replace(SETTINGS, allowed_content_types=(long_type,))
    with_charset = long_type + "; charset=utf8"
    assert validation.parse_intent(valid(content_type=with_charset), settings).content_type == with_charset
    with pytest.raises(UploadError) as refused:
        validation.parse_intent(valid(content_type=long_type + "; charset=utf-8"), settings)
    assert STATUS[type(refused.value)] == 415


def test_size_above_threshold_goes_multipart_whatever_was_asked():
    assert validation.parse_intent(valid(size=100 * 1024**2), SETTINGS).method == "POST"
    assert (
        validation.parse_intent(valid(size=100 * 1024**2 + 1, method="PUT"), SETTINGS).method == "MULTIPART"
    )


def decode_policy(fields: dict[str, str]) -> dict:
    return json.loads(base64.b64decode(fields["policy"]))


def test_post_policy_pins_key_type_length_range_and_upload_id():
    key = f"uploads/alice/{UPLOAD_ID}/a.txt"
    signed = presign.post(
        offline_client(),
        bucket="example-bucket",
        key=key,
        content_type="text/plain",
        max_size=10,
        upload_id=UPLOAD_ID,
        metadata={"dept": "finance"},
        expires_s=900,
    )
    policy = decode_policy(signed.fields)
    date = signed.fields["x-amz-date"]
    assert policy["conditions"] == [
        {"Content-Type": "text/plain"},
        {"Content-Disposition": "attachment; filename=\"a.txt\"; filename*=UTF-8''a.txt"},
        {"Cache-Control": "private, no-cache"},
        {"x-amz-meta-dept": "finance"},
        {"x-amz-meta-upload-id": UPLOAD_ID},
        ["content-length-range", 1, 10],
        {"bucket": "example-bucket"},
        {"key": key},
        {"x-amz-algorithm": "AWS4-HMAC-SHA256"},
        {"x-amz-credential": f"AKIAEXAMPLE/{date[:8]}/eu-west-1/s3/aws4_request"},
        {"x-amz-date": date},
        {"x-amz-security-token": "session-token"},
    ]
    signed_at = datetime.strptime(date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    expiration = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
    assert (expiration - signed_at).total_seconds() == 900
    # Every field handed out is pinned by a condition (S3 refuses unlisted fields).
    pinned = {name for c in policy["conditions"] if isinstance(c, dict) for name in c}
    assert set(signed.fields) - {"policy", "x-amz-signature"} <= pinned
    assert signed.url == "https://example-bucket.s3.eu-west-1.amazonaws.com/"


def signed_put(**overrides):
    params = {
        "bucket": "example-bucket",
        "key": "uploads/alice/x/a.txt",
        "content_type": "text/plain",
        "size": 5,
        "upload_id": UPLOAD_ID,
        "metadata": {},
        "checksum_sha256": SHA256_B64,
        "expires_s": 900,
    }
    return presign.put(offline_client(), **{**params, **overrides})


def test_put_signs_type_length_metadata_and_checksum():
    signed = signed_put()
    query = parse_qs(urlparse(signed.url).query)
    assert query["X-Amz-SignedHeaders"] == [
        "cache-control;content-disposition;content-encoding;content-length;content-type;host;"
        "if-none-match;x-amz-checksum-sha256;x-amz-meta-upload-id"
    ]
    assert query["X-Amz-Expires"] == ["900"]
    assert signed.headers == {
        "Content-Type": "text/plain",
        "Content-Length": "5",
        "Content-Disposition": "attachment; filename=\"a.txt\"; filename*=UTF-8''a.txt",
        "Cache-Control": "private, no-cache",
        "Content-Encoding": "identity",
        "If-None-Match": "*",
        "x-amz-meta-upload-id": UPLOAD_ID,
        "x-amz-checksum-sha256": SHA256_B64,
    }
    assert urlparse(signed.url).netloc == "example-bucket.s3.eu-west-1.amazonaws.com"


def test_a_put_without_its_conditional_or_encoding_header_fails_the_signature():
    signed = signed_put()
    assert sigv4.valid("PUT", signed.url, signed.headers, "secret")

    # S3 checks the signature as computed here (moto does not): each header the client might drop or
    # change to replace the accepted body or have it decoded on download breaks it.
    for name in ("If-None-Match", "Content-Encoding", "Content-Disposition"):
        dropped = {k: v for k, v in signed.headers.items() if k != name}
        assert not sigv4.valid("PUT", signed.url, dropped, "secret"), name
    for name, value in (("Content-Encoding", "gzip"), ("If-None-Match", "x"), ("Content-Type", "text/html")):
        assert not sigv4.valid("PUT", signed.url, {**signed.headers, name: value}, "secret"), name


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.txt", "attachment; filename=\"a.txt\"; filename*=UTF-8''a.txt"),
        (
            "q1 report (final).pdf",
            "attachment; filename=\"q1 report (final).pdf\"; filename*=UTF-8''q1%20report%20%28final%29.pdf",
        ),
        ("résumé.pdf", "attachment; filename=\"r_sum_.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf"),
        ("日本.txt", "attachment; filename=\"__.txt\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.txt"),
    ],
)
def test_content_disposition_names_the_stored_file_safely(name, expected):
    value = presign.content_disposition(f"uploads/alice/{UPLOAD_ID}/{name}")
    assert value == expected
    assert value.isascii() and "\r" not in value and "\n" not in value


def test_local_endpoint_gets_path_style_urls():
    signed = presign.post(
        offline_client("us-east-1", "http://127.0.0.1:5000"),
        bucket="example-bucket",
        key="k",
        content_type="text/plain",
        max_size=1,
        upload_id=UPLOAD_ID,
        metadata={},
        expires_s=60,
    )
    assert signed.url == "http://127.0.0.1:5000/example-bucket"


def test_product_client_signs_for_the_regional_endpoint(monkeypatch):
    from landing.settings import get_settings

    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.delenv("S3_ENDPOINT_URL", raising=False)
    get_settings.cache_clear()
    clients.reset()
    try:
        url = clients.signing_client().generate_presigned_post("example-bucket", "k")["url"]
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
        clients.reset()
    assert url == "https://example-bucket.s3.eu-west-1.amazonaws.com/"


@pytest.mark.parametrize(
    ("size", "configured", "expected"),
    [
        (200 * 1024**2, 16 * 1024**2, 16 * 1024**2),
        (6 * 1024**2, 1, 5 * 1024**2),
        (5 * 1024**4, 16 * 1024**2, 2622 * 1024**2),
    ],
)
def test_part_size_keeps_the_part_count_bounded(size, configured, expected):
    part_size = presign.part_size_for(size, configured)
    assert part_size == expected
    assert -(-size // part_size) <= presign.MAX_PARTS


def head(content_type="text/plain", metadata=None, encoding=None):
    return Head(
        e_tag="e",
        content_type=content_type,
        content_encoding=encoding,
        user_metadata={"upload-id": UPLOAD_ID} if metadata is None else metadata,
        storage_class="STANDARD",
        checksum_algorithm=None,
        last_modified=None,
    )


@pytest.mark.parametrize(
    ("method", "size", "object_head", "verdict"),
    [
        ("POST", 10, head(), None),
        ("POST", 7, head(), None),
        ("POST", 11, head(), "more than the 10 announced"),
        ("POST", 0, head(), "empty"),
        ("PUT", 9, head(), "not the 10 announced"),
        ("MULTIPART", 10, head(), None),
        ("POST", 10, head("text/plain; charset=utf-8"), None),
        ("POST", 10, head("text/html"), "content type 'text/html' differs"),
        ("POST", 10, head(metadata={}), "does not name this upload"),
        ("POST", 10, head(metadata={"upload-id": "someone-else"}), "does not name this upload"),
        ("POST", 10, None, None),
        ("POST", 11, None, "more than the 10 announced"),
        # Decoded by a browser on download: not the bytes that were checked.
        ("PUT", 10, head(encoding="gzip"), "Content-Encoding 'gzip', which the upload did not announce"),
        ("POST", 10, head(encoding="br"), "Content-Encoding 'br'"),
        ("PUT", 10, head(encoding="identity"), None),
        ("POST", 10, head(encoding=""), None),
    ],
)
def test_object_is_judged_against_its_announcement(method, size, object_head, verdict):
    reason = decisions.violation(uuid.UUID(UPLOAD_ID), method, "text/plain", 10, size, object_head)
    if verdict is None:
        assert reason is None
    else:
        assert reason is not None and verdict in reason
