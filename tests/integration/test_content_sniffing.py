"""Content sniffing through the ingest handler: the first bytes decide, the detected type is stored."""

from __future__ import annotations

import gzip
from urllib.parse import quote_plus

import pytest
from botocore.exceptions import ClientError

from landing.handlers.ingest import handler as ingest
from landing.lambda_context import local_context
from landing.s3 import clients, sniffing
from landing.s3 import head as s3head
from landing.settings import get_settings
from tests.conftest import rows
from tests.integration.test_uploads_lifecycle import exists, upload_row
from tests.support import files
from tests.support.api import Api
from tests.support.events import s3_event, s3_record

BUCKET = "example-bucket"


@pytest.fixture
def api(s3, clean_db):
    clients.reset()
    yield Api("alice")
    clients.reset()


def send(api: Api, s3, data: bytes, declared: str, filename: str = "file", **headers: str) -> dict:
    """Announce, write the bytes as a client would, and deliver the S3 event to the ingest handler."""
    status, upload = api.create(filename=filename, content_type=declared, size=len(data))
    assert status == 201, upload
    etag = s3.put_object(
        Bucket=BUCKET,
        Key=upload["key"],
        Body=data,
        ContentType=declared,
        Metadata={"upload-id": upload["id"]},
        **headers,
    )["ETag"].strip('"')
    ingest(
        s3_event(s3_record(quote_plus(upload["key"]), size=len(data), etag=etag)),
        local_context("IngestFunction"),
    )
    return upload


@pytest.fixture
def allow_everything(monkeypatch):
    monkeypatch.setenv(
        "ALLOWED_CONTENT_TYPES",
        "image/png,image/jpeg,application/pdf,text/plain,application/octet-stream,"
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document,application/msword",
    )
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("data", "declared", "detected"),
    [
        (files.png(), "image/png", "image/png"),
        (files.jpeg(), "image/jpeg", "image/jpeg"),
        (files.pdf(), "application/pdf", "application/pdf"),
        (
            files.docx(),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        (files.text(), "text/plain", "text/plain"),
    ],
)
def test_real_files_are_uploaded_with_their_detected_type(
    api, s3, allow_everything, data, declared, detected
):
    upload = send(api, s3, data, declared)

    row = upload_row(upload["id"])
    assert (row["status"], row["detected_type"]) == ("uploaded", detected)
    (obj,) = rows("SELECT detected_type FROM objects WHERE key = :k", k=upload["key"])
    assert obj["detected_type"] == detected
    assert api.get(upload["id"])[1]["detected_type"] == detected


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (files.pe(), "a Windows executable (PE)"),
        (files.elf(), "a Linux/Unix executable (ELF)"),
        (files.macho(), "a macOS executable (Mach-O)"),
        (files.shell_script(), "a script (#!/bin/sh)"),
    ],
)
def test_an_executable_declared_as_an_image_is_rejected_naming_what_it_is(
    api, s3, allow_everything, data, what
):
    upload = send(api, s3, data, "image/png", filename="cat.png")

    row = upload_row(upload["id"])
    assert row["status"] == "rejected"
    assert row["rejection_reason"].startswith(f"content is {what}")
    assert not exists(s3, upload["key"])


def test_a_body_stored_with_an_unannounced_content_encoding_is_rejected(api, s3, allow_everything):
    # gzip(ELF) sniffs as gzip, but a browser gunzips it on download: the executable is what it saves.
    upload = send(api, s3, gzip.compress(files.elf()), "application/octet-stream", ContentEncoding="gzip")

    row = upload_row(upload["id"])
    assert row["status"] == "rejected"
    assert row["rejection_reason"] == "object has Content-Encoding 'gzip', which the upload did not announce"
    assert not exists(s3, upload["key"])


@pytest.mark.parametrize("declared", ["application/msword", "application/octet-stream"])
def test_an_msi_whose_directory_lies_past_the_first_4_kib_is_rejected(api, s3, allow_everything, declared):
    data = files.msi(directory_sector=12)
    assert sniffing.root_entry_offset(data) > get_settings().sniff_bytes

    upload = send(api, s3, data, declared, filename="setup.doc")

    row = upload_row(upload["id"])
    assert row["status"] == "rejected"
    assert row["rejection_reason"].startswith(
        "content is a Windows Installer package (MSI) (application/x-msi)"
    )
    assert not exists(s3, upload["key"])


def test_an_office_file_whose_directory_lies_past_the_first_4_kib_is_accepted(api, s3, allow_everything):
    upload = send(api, s3, files.ole(files.WORD_CLSID, directory_sector=12), "application/msword", "a.doc")

    assert upload_row(upload["id"])["status"] == "uploaded"


def test_an_html_application_declared_as_text_is_rejected(api, s3, allow_everything):
    hta = b'<html><HTA:APPLICATION ID="x"><script language="VBScript">CreateObject("WScript.Shell")</script>'

    upload = send(api, s3, hta, "text/plain", filename="notes.txt")

    row = upload_row(upload["id"])
    assert row["status"] == "rejected"
    assert row["rejection_reason"] == (
        "content is an HTML Application (HTA) (text/x-script): executables and scripts are not accepted as "
        "text/plain"
    )


def test_text_declared_upload_with_binary_bytes_is_rejected(api, s3, allow_everything):
    upload = send(api, s3, files.png(), "text/plain")

    assert upload_row(upload["id"])["rejection_reason"] == (
        "content is Portable Network Graphics file (image/png), not text as text/plain declares"
    )


def test_bucket_drops_pay_no_ranged_get_by_default(s3, clean_db, monkeypatch):
    calls = []
    monkeypatch.setattr(s3head, "first_bytes", lambda *a, **k: calls.append(a))
    s3.put_object(Bucket=BUCKET, Key="drops/tool.exe", Body=files.pe())
    etag = s3.head_object(Bucket=BUCKET, Key="drops/tool.exe")["ETag"].strip('"')

    ingest(
        s3_event(s3_record("drops/tool.exe", size=len(files.pe()), etag=etag)),
        local_context("IngestFunction"),
    )

    assert calls == []
    assert rows("SELECT detected_type FROM objects") == [{"detected_type": None}]


def test_bucket_drops_get_their_detected_type_with_the_setting(s3, clean_db, monkeypatch):
    monkeypatch.setenv("DETECT_BUCKET_DROPS", "true")
    get_settings.cache_clear()
    s3.put_object(Bucket=BUCKET, Key="drops/tool.exe", Body=files.pe())
    etag = s3.head_object(Bucket=BUCKET, Key="drops/tool.exe")["ETag"].strip('"')

    ingest(
        s3_event(s3_record("drops/tool.exe", size=len(files.pe()), etag=etag)),
        local_context("IngestFunction"),
    )

    get_settings.cache_clear()
    assert rows("SELECT detected_type FROM objects") == [
        {"detected_type": "application/vnd.microsoft.portable-executable"}
    ]


def test_first_bytes_of_a_replaced_body_are_not_read(s3):
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"new body")

    assert s3head.first_bytes(BUCKET, "k", None, "0" * 32, 4096) is None
    assert s3head.first_bytes(BUCKET, "k", None, None, 4) == b"new "


def test_first_bytes_of_an_empty_object_are_empty(s3):
    s3.put_object(Bucket=BUCKET, Key="empty", Body=b"")

    assert s3head.first_bytes(BUCKET, "empty", None, None, 4096) == b""


def test_a_failing_ranged_get_fails_the_record_for_a_retry(api, s3, monkeypatch):
    real = clients.s3_client()

    class Flaky:
        def __getattr__(self, name):
            return getattr(real, name)

        def get_object(self, **params):
            raise ClientError(
                {"Error": {"Code": "SlowDown"}, "ResponseMetadata": {"HTTPStatusCode": 503}}, "GetObject"
            )

    monkeypatch.setattr(s3head, "s3_client", lambda: Flaky())
    with pytest.raises(s3head.RetryableS3Error, match="first bytes"):
        send(api, s3, files.text(), "text/plain")
    assert rows("SELECT status FROM uploads") == [{"status": "pending"}]
