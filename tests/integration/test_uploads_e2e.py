"""End to end against a moto server over HTTP: announce, send the bytes as a client would, ingest, ask."""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from landing.handlers.ingest import handler as ingest
from landing.lambda_context import local_context
from landing.s3 import clients
from landing.settings import get_settings
from landing_local.demo import setup_bucket
from landing_local.moto_server import free_port
from landing_local.queue import drain, sqs_event
from tests.conftest import rows
from tests.support import files
from tests.support.api import Api

BUCKET = "example-bucket"
QUEUE = "uploads-e2e"
PART = 5 * 1024**2


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@dataclass
class Live:
    endpoint: str
    s3: Any
    sqs: Any
    queue_url: str

    def drain(self) -> dict[str, int]:
        totals = drain(self.sqs, self.queue_url)
        assert totals["failed"] == 0
        return totals

    def exists(self, key: str) -> bool:
        try:
            self.s3.head_object(Bucket=BUCKET, Key=key)
        except ClientError:
            return False
        return True


def _rebuild_clients() -> None:
    get_settings.cache_clear()
    clients.reset()
    clients.reset()


@pytest.fixture
def live(moto_endpoint, monkeypatch, clean_db) -> Iterator[Live]:
    """A fresh moto server state: the bucket notifies a queue; product clients point at the server."""
    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=5).raise_for_status()
    monkeypatch.setenv("S3_ENDPOINT_URL", moto_endpoint)
    _rebuild_clients()
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint, region_name="us-east-1")
    queue_url = setup_bucket(s3, sqs, BUCKET, QUEUE)
    yield Live(moto_endpoint, s3, sqs, queue_url)
    _rebuild_clients()


@pytest.fixture
def small_multipart(monkeypatch, live):
    monkeypatch.setenv("MULTIPART_THRESHOLD", str(PART))
    monkeypatch.setenv("MULTIPART_PART_SIZE", str(PART))
    get_settings.cache_clear()


def test_presigned_post_end_to_end(live):
    api = Api("alice")
    data = b"quarterly numbers\n"
    status, upload = api.create(filename="q1 summary.txt", content_type="text/plain", size=len(data))
    assert status == 201 and upload["url"].startswith(live.endpoint)

    sent = requests.post(
        upload["url"],
        data=upload["fields"],
        files={"file": ("q1 summary.txt", data, "text/plain")},
        timeout=10,
    )
    assert sent.status_code == 204, sent.text
    live.drain()

    status, body = api.get(upload["id"])
    assert (status, body["status"], body["object_size"]) == (200, "uploaded", len(data))
    assert live.s3.head_object(Bucket=BUCKET, Key=upload["key"])["Metadata"] == {"upload-id": upload["id"]}
    status, listing, _ = api.call("GET", "/objects")
    assert status == 200
    assert [(o["key"], o["size"], o["upload_id"]) for o in listing["objects"]] == [
        (upload["key"], len(data), upload["id"])
    ]
    assert Api("bob").call("GET", "/objects")[1]["objects"] == []


def test_presigned_put_with_checksum_end_to_end(live):
    api = Api("alice")
    data = files.png()
    checksum = base64.b64encode(hashlib.sha256(data).digest()).decode()
    status, upload = api.create(
        filename="photo.png", content_type="image/png", size=len(data), method="PUT", checksum_sha256=checksum
    )
    assert status == 201

    headers = {k: v for k, v in upload["headers"].items() if k != "Content-Length"}
    sent = requests.put(upload["url"], data=data, headers=headers, timeout=10)
    assert sent.status_code == 200, sent.text
    live.drain()

    assert api.get(upload["id"])[1]["status"] == "uploaded"
    stored = live.s3.head_object(Bucket=BUCKET, Key=upload["key"])
    assert stored["ContentDisposition"] == "attachment; filename=\"photo.png\"; filename*=UTF-8''photo.png"
    assert stored["ContentEncoding"] == "identity"


def test_a_presigned_put_sent_again_cannot_replace_the_stored_body(live):
    api = Api("alice")
    data = b"accepted"
    checksum = base64.b64encode(hashlib.sha256(data).digest()).decode()
    _, upload = api.create(
        filename="a.txt", content_type="text/plain", size=len(data), method="PUT", checksum_sha256=checksum
    )
    headers = {k: v for k, v in upload["headers"].items() if k != "Content-Length"}
    assert requests.put(upload["url"], data=data, headers=headers, timeout=10).status_code == 200
    live.drain()
    before = live.s3.head_object(Bucket=BUCKET, Key=upload["key"])

    # The same request again, as whoever kept the URL would send it (the signature requires
    # If-None-Match: *, see tests/unit/test_uploads_rules.py): S3 writes nothing.
    again = requests.put(upload["url"], data=data, headers=headers, timeout=10)

    assert again.status_code == 412
    assert live.s3.head_object(Bucket=BUCKET, Key=upload["key"])["LastModified"] == before["LastModified"]
    assert live.sqs.receive_message(QueueUrl=live.queue_url).get("Messages", []) == []


def test_multipart_upload_end_to_end(live, small_multipart):
    api = Api("alice")
    data = bytes(range(256)) * (PART // 256) + b"tail"
    status, upload = api.create(filename="big.bin", content_type="application/octet-stream", size=len(data))
    assert status == 201 and upload["method"] == "MULTIPART" and len(upload["parts"]) == 2

    parts = []
    offset = 0
    for part in upload["parts"]:
        chunk = data[offset : offset + part["size"]]
        offset += part["size"]
        sent = requests.put(part["url"], data=chunk, timeout=30)
        assert sent.status_code == 200, sent.text
        parts.append({"part_number": part["part_number"], "etag": sent.headers["ETag"]})
    status, body, _ = api.call("POST", f"/uploads/{upload['id']}/complete", body={"parts": parts})
    assert (status, body["status"]) == (200, "pending")
    live.drain()

    status, body = api.get(upload["id"])
    assert (body["status"], body["object_size"]) == ("uploaded", len(data))
    assert live.s3.get_object(Bucket=BUCKET, Key=upload["key"])["Body"].read() == data
    again, body, _ = api.call("POST", f"/uploads/{upload['id']}/complete", body={"parts": parts})
    assert (again, body["error"]["code"]) == (409, "upload_uploaded")


def test_a_completed_multipart_object_carries_the_pinned_headers(live, small_multipart):
    api = Api("alice")
    data = b"\0" * (PART + 1)
    _, upload = api.create(filename="big file.bin", content_type="application/octet-stream", size=len(data))
    parts = []
    for part, chunk in zip(upload["parts"], (data[:PART], data[PART:]), strict=True):
        sent = requests.put(part["url"], data=chunk, timeout=30)
        parts.append({"part_number": part["part_number"], "etag": sent.headers["ETag"]})
    assert api.call("POST", f"/uploads/{upload['id']}/complete", body={"parts": parts})[0] == 200

    stored = live.s3.head_object(Bucket=BUCKET, Key=upload["key"])

    # Set by the server when the upload was created: the parts cannot change them.
    assert stored["ContentDisposition"] == (
        "attachment; filename=\"big file.bin\"; filename*=UTF-8''big%20file.bin"
    )
    assert stored["CacheControl"] == "private, no-cache"
    assert "ContentEncoding" not in stored
    assert stored["ContentType"] == "application/octet-stream"


def test_multipart_completion_never_replaces_a_stored_body(live, small_multipart):
    api = Api("alice")
    _, upload = api.create(filename="big.bin", content_type="application/octet-stream", size=PART + 1)
    parts = []
    for part in upload["parts"]:
        sent = requests.put(part["url"], data=b"\0" * part["size"], timeout=30)
        parts.append({"part_number": part["part_number"], "etag": sent.headers["ETag"]})
    live.s3.put_object(Bucket=BUCKET, Key=upload["key"], Body=b"already here")

    status, body, _ = api.call("POST", f"/uploads/{upload['id']}/complete", body={"parts": parts})

    assert (status, body["error"]["code"]) == (400, "s3_precondition_failed")
    assert live.s3.get_object(Bucket=BUCKET, Key=upload["key"])["Body"].read() == b"already here"


def test_multipart_abort_end_to_end(live, small_multipart):
    api = Api("alice")
    status, upload = api.create(filename="big.bin", content_type="application/octet-stream", size=PART + 1)
    first = upload["parts"][0]
    assert requests.put(first["url"], data=b"\0" * first["size"], timeout=30).status_code == 200

    status, body, _ = api.call("DELETE", f"/uploads/{upload['id']}")

    assert (status, body["status"], body["rejection_reason"]) == (200, "expired", "aborted by the client")
    assert live.s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    status, body, _ = api.call(
        "POST", f"/uploads/{upload['id']}/complete", body={"parts": [{"part_number": 1, "etag": "x"}]}
    )
    assert (status, body["error"]["code"]) == (409, "upload_expired")


def test_tampered_put_is_rejected_and_its_object_deleted(live):
    api = Api("alice")
    checksum = base64.b64encode(hashlib.sha256(b"hello").digest()).decode()
    _, upload = api.create(
        filename="a.txt", content_type="text/plain", size=5, method="PUT", checksum_sha256=checksum
    )

    # moto does not check signed headers: a tampered client gets more bytes and another type in.
    sent = requests.put(
        upload["url"], data=b"<html>surprise</html>", headers={"Content-Type": "text/html"}, timeout=10
    )
    assert sent.status_code == 200
    live.drain()

    body = api.get(upload["id"])[1]
    assert body["status"] == "rejected" and "more than the 5 announced" in body["rejection_reason"]
    assert not live.exists(upload["key"])
    live.drain()  # the delete's own notification
    assert rows("SELECT is_deleted FROM objects WHERE key = :k", k=upload["key"]) == [{"is_deleted": True}]


def test_redelivered_notification_after_completion_changes_nothing(live):
    api = Api("alice")
    data = b"once"
    _, upload = api.create(filename="once.txt", content_type="text/plain", size=len(data))
    requests.post(upload["url"], data=upload["fields"], files={"file": ("once.txt", data)}, timeout=10)
    messages = live.sqs.receive_message(QueueUrl=live.queue_url, MaxNumberOfMessages=10)["Messages"]
    arn = live.sqs.get_queue_attributes(QueueUrl=live.queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    batch = sqs_event(messages, arn, "us-east-1")

    results = [ingest(batch, local_context("IngestFunction")) for _ in range(3)]
    before = api.get(upload["id"])[1]
    ingest(batch, local_context("IngestFunction"))

    assert all(r["batchItemFailures"] == [] for r in results)
    assert before["status"] == "uploaded" and api.get(upload["id"])[1] == before
    assert rows("SELECT count(*) AS n FROM object_events WHERE key = :k", k=upload["key"]) == [{"n": 1}]


def _post_twice(live: Live, first: bytes, second: bytes) -> tuple[Api, dict[str, Any]]:
    """One presigned POST form sent twice (a replay), each followed by ingest of its notification."""
    api = Api("alice")
    _, upload = api.create(filename="form.txt", content_type="text/plain", size=len(first))
    for data in (first, second):
        sent = requests.post(
            upload["url"], data=upload["fields"], files={"file": ("form.txt", data)}, timeout=10
        )
        assert sent.status_code == 204, sent.text
        live.drain()
    return api, upload


def test_presigned_post_sent_again_does_not_replace_the_accepted_upload(live):
    api, upload = _post_twice(live, b"accepted", b"replayed")

    status, body = api.get(upload["id"])
    assert (status, body["status"], body["object_size"]) == (200, "uploaded", len(b"accepted"))
    (row,) = rows("SELECT e_tag FROM uploads WHERE id = CAST(:id AS uuid)", id=upload["id"])
    # A single-part object's eTag is the MD5 of its bytes: the upload keeps the accepted one.
    assert row["e_tag"] == hashlib.md5(b"accepted").hexdigest()
    # Unversioned (moto's default): the replay overwrote the accepted bytes in place; what it
    # wrote was never checked, so it is removed, and the catalog records the removal.
    assert not live.exists(upload["key"])
    live.drain()
    assert rows("SELECT is_deleted FROM objects WHERE key = :k", k=upload["key"]) == [{"is_deleted": True}]
    journal = rows("SELECT record_type FROM object_events WHERE key = :k ORDER BY id", k=upload["key"])
    assert [j["record_type"] for j in journal] == ["CREATE", "CREATE", "DELETE"]


def test_presigned_post_sent_again_to_a_versioned_bucket_leaves_the_accepted_bytes_current(live):
    live.s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})

    api, upload = _post_twice(live, b"accepted", b"replayed")

    assert api.get(upload["id"])[1]["object_size"] == len(b"accepted")
    # moto's notifications carry no version id: the replay's version comes from HeadObject, and
    # exactly that version is removed.
    assert live.s3.get_object(Bucket=BUCKET, Key=upload["key"])["Body"].read() == b"accepted"
    listed = live.s3.list_object_versions(Bucket=BUCKET, Prefix=upload["key"])
    assert len(listed.get("Versions", [])) == 1 and not listed.get("DeleteMarkers")
