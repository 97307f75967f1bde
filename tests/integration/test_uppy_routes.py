"""Companion's S3 routes as Uppy's @uppy/aws-s3 calls them, against a moto server over HTTP, the real
handler and PostgreSQL: the bytes go to S3 as the browser would send them, ingest decides."""

from __future__ import annotations

import base64
import json
import time
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from landing.settings import get_settings
from tests.conftest import rows
from tests.integration import test_uploads_e2e as e2e
from tests.integration.test_uploads_e2e import BUCKET, Live
from tests.support.api import Api

MIB = 1024**2
PART = 5 * MIB
# The moto server over HTTP and a fresh bucket that notifies a queue, as in the other end-to-end tests.
moto_endpoint = e2e.moto_endpoint
live = e2e.live


@pytest.fixture
def env(monkeypatch):
    def apply(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()

    yield apply
    get_settings.cache_clear()


def upload_id_of(key: str) -> str:
    return key.split("/")[-2]


def upload(upload_id: str) -> dict[str, Any]:
    (row,) = rows("SELECT * FROM uploads WHERE id = CAST(:id AS uuid)", id=upload_id)
    return row


def open_multiparts(live: Live) -> list[dict[str, Any]]:
    return list(live.s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []))


class Uppy:
    """What @uppy/aws-s3 6 (S3Companion, src/s3-client/CompanionS3.ts) sends, one request at a time."""

    def __init__(self, owner: str = "alice") -> None:
        self.api = Api(owner)
        self.seconds: list[float] = []

    def params(self, filename: str, type_: str, **meta: str) -> tuple[int, dict[str, Any]]:
        query = {"filename": filename, "type": type_, **{f"metadata[{k}]": v for k, v in meta.items()}}
        status, body, _ = self.api.call("GET", "/s3/params", query=query)
        return status, body

    def post_form(self, answer: dict[str, Any], data: bytes) -> requests.Response:
        # buildPostPolicyForm: every field, then the file last.
        return requests.post(answer["url"], data=answer["fields"], files={"file": ("blob", data)}, timeout=30)

    def create(self, filename: str, type_: str, metadata: Any = None) -> tuple[int, dict[str, Any]]:
        body = {"filename": filename, "type": type_}
        if metadata is not None:
            body["metadata"] = metadata
        status, answer, _ = self.api.call("POST", "/s3/multipart", body=body)
        return status, answer

    def sign(self, created: dict[str, Any], number: int) -> tuple[int, dict[str, Any]]:
        path = f"/s3/multipart/{created['uploadId']}/{number}"
        status, body, _ = self.api.call("GET", path, query={"key": created["key"]})
        return status, body

    def put_part(self, created: dict[str, Any], number: int, data: bytes) -> str:
        status, signed = self.sign(created, number)
        assert status == 200, signed
        sent = requests.put(signed["url"], data=data, timeout=60)
        assert sent.status_code == 200, sent.text
        return sent.headers["ETag"].strip('"')  # sanitizeETag

    def list_parts(self, created: dict[str, Any]) -> tuple[int, Any]:
        path = f"/s3/multipart/{created['uploadId']}"
        status, body, _ = self.api.call("GET", path, query={"key": created["key"]})
        return status, body

    def complete(self, created: dict[str, Any], parts: list[tuple[int, str]]) -> tuple[int, dict[str, Any]]:
        body = {"parts": [{"PartNumber": n, "ETag": e} for n, e in parts]}
        path = f"/s3/multipart/{created['uploadId']}/complete"
        status, answer, _ = self.api.call("POST", path, query={"key": created["key"]}, body=body)
        return status, answer

    def abort(self, created: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        path = f"/s3/multipart/{created['uploadId']}"
        status, body, _ = self.api.call("DELETE", path, query={"key": created["key"]})
        return status, body


def chunks(data: bytes, size: int = PART) -> list[bytes]:
    """Uppy's S3Uploader chunking with its default chunk size for small files (5 MiB)."""
    return [data[i : i + size] for i in range(0, len(data), size)]


def test_params_gives_a_post_form_that_lands_as_uploaded(live):
    uppy = Uppy()
    data = b"quarterly numbers\n"
    started = time.perf_counter()
    # Uppy's default meta: name and type repeat the file's; relativePath is null, written "null".
    status, answer = uppy.params(
        "q1 notes.txt", "text/plain", name="q1 notes.txt", type="text/plain", relativePath="null", Team="ops"
    )
    assert status == 200, answer
    assert (answer["method"], answer["headers"]) == ("POST", {})
    assert uppy.post_form(answer, data).status_code == 204
    live.drain()
    upload_id = upload_id_of(answer["fields"]["key"])
    status, verdict = uppy.api.get(upload_id)
    uppy.seconds.append(time.perf_counter() - started)
    assert (status, verdict["status"], verdict["object_size"]) == (200, "uploaded", len(data))
    row = upload(upload_id)
    assert (row["method"], row["size_announced"], row["user_metadata"]) == ("POST", False, {"team": "ops"})
    print(f"single POST through /s3/params: {uppy.seconds[0]:.2f} s")


def test_params_policy_is_capped_at_the_single_request_bound_and_the_quota_left(live, env):
    env(MULTIPART_THRESHOLD=str(8 * MIB), UPLOAD_MAX_BYTES_PER_DAY=str(12 * MIB))
    uppy = Uppy()

    def policy_range(answer: dict[str, Any]) -> list[Any]:
        policy = json.loads(base64.b64decode(answer["fields"]["policy"]))
        (condition,) = [
            c for c in policy["conditions"] if isinstance(c, list) and c[0] == "content-length-range"
        ]
        return condition

    status, first = uppy.params("a.txt", "text/plain")
    assert (status, policy_range(first)) == (200, ["content-length-range", 1, 8 * MIB])
    status, second = uppy.params("b.txt", "text/plain")
    assert (status, policy_range(second)) == (200, ["content-length-range", 1, 4 * MIB]), (
        "what the quota has left"
    )
    status, refused = uppy.params("c.txt", "text/plain")
    assert (status, refused["error"]["code"]) == (429, "quota_exceeded")
    assert len(rows("SELECT id FROM uploads")) == 2


def test_a_refused_type_is_415_naming_the_type_and_writes_nothing(live):
    uppy = Uppy()
    status, body = uppy.params("run.exe", "application/x-msdownload")
    assert status == 415
    assert (
        "application/x-msdownload" in body["error"]["message"] and "not allowed" in body["error"]["message"]
    )
    status, body = uppy.create("run.exe", "application/x-msdownload")
    assert status == 415 and "application/x-msdownload" in body["error"]["message"]
    assert rows("SELECT id FROM uploads") == [] and open_multiparts(live) == []


@pytest.mark.parametrize(
    "query, code",
    [
        ({"type": "text/plain"}, "invalid_filename"),
        ({"filename": "a.txt", "type": "text/plain", "size": "3"}, "unknown_parameter"),
        ({"filename": "a.txt", "type": "text/plain", "metadata[Bad Name]": "x"}, "invalid_metadata"),
        ({"filename": "invoice.hta", "type": "text/plain"}, "executable_filename"),
    ],
)
def test_bad_params_are_400_and_write_nothing(live, query, code):
    status, body, _ = Api("alice").call("GET", "/s3/params", query=query)
    assert (status, body["error"]["code"]) == (400, code)
    assert rows("SELECT id FROM uploads") == []


def test_multipart_through_the_routes_lands_as_uploaded_with_its_exact_size(live):
    uppy = Uppy()
    data = bytes(range(256)) * (12 * MIB // 256)  # 12 MiB: parts of 5, 5 and 2 MiB
    started = time.perf_counter()
    status, created = uppy.create(
        "disk.img", "application/octet-stream", {"name": "disk.img", "relativePath": None}
    )
    assert status == 200 and created["bucket"] == BUCKET
    assert created["key"].endswith("/disk.img.bin") and upload_id_of(created["key"]) == created["uploadId"]
    etags = [(n, uppy.put_part(created, n, chunk)) for n, chunk in enumerate(chunks(data), start=1)]
    status, done = uppy.complete(created, etags)
    assert status == 200, done
    assert done["key"] == created["key"] and done["location"].endswith(created["key"].replace(" ", "%20"))
    live.drain()
    status, verdict = uppy.api.get(created["uploadId"])
    seconds = time.perf_counter() - started
    assert (verdict["status"], verdict["object_size"], verdict["size"]) == ("uploaded", len(data), len(data))
    assert open_multiparts(live) == []
    print(f"12 MiB multipart through /s3/multipart: {seconds:.2f} s")


def test_resume_lists_the_parts_s3_holds_and_completes_with_their_quoted_etags(live):
    uppy = Uppy()
    data = b"r" * (11 * MIB)
    parts = chunks(data)
    _, created = uppy.create("resume.bin", "application/octet-stream")
    uppy.put_part(created, 1, parts[0])
    # A page reload: Uppy has only {uploadId, key} (Golden Retriever) and asks S3 what it holds.
    status, listed = uppy.list_parts(created)
    assert status == 200
    assert [(p["PartNumber"], p["Size"]) for p in listed] == [(1, PART)]
    assert listed[0]["ETag"].startswith('"') and listed[0]["ETag"].endswith('"')
    rest = [(n, uppy.put_part(created, n, parts[n - 1])) for n in range(2, len(parts) + 1)]
    status, _ = uppy.complete(created, [(1, listed[0]["ETag"]), *rest])
    assert status == 200
    live.drain()
    assert uppy.api.get(created["uploadId"])[1]["status"] == "uploaded"


def test_abort_deletes_the_parts_and_leaves_nothing_open_in_s3(live):
    uppy = Uppy()
    _, created = uppy.create("gone.bin", "application/octet-stream")
    uppy.put_part(created, 1, b"x" * PART)
    assert len(open_multiparts(live)) == 1
    assert uppy.abort(created) == (200, {})
    assert open_multiparts(live) == []
    row = upload(created["uploadId"])
    assert (row["status"], row["multipart_upload_id"], row["rejection_reason"]) == (
        "expired",
        None,
        "aborted by the client",
    )
    status, body = uppy.sign(created, 2)
    assert (status, body["error"]["code"]) == (409, "upload_expired")


def test_another_owner_cannot_sign_list_complete_or_abort_an_upload(live):
    alice, mallory = Uppy("alice"), Uppy("mallory")
    _, created = alice.create("mine.bin", "application/octet-stream")
    etag = alice.put_part(created, 1, b"a" * PART)
    for answer in (
        mallory.sign(created, 2),
        mallory.list_parts(created),
        mallory.complete(created, [(1, etag)]),
        mallory.abort(created),
    ):
        assert (answer[0], answer[1]["error"]["code"]) == (404, "not_found")
    wrong_key = {**created, "key": created["key"].replace("mine.bin", "other.bin")}
    for answer in (alice.sign(wrong_key, 2), alice.list_parts(wrong_key), alice.abort(wrong_key)):
        assert (answer[0], answer[1]["error"]["code"]) == (404, "not_found"), "the key is part of the name"
    assert upload(created["uploadId"])["status"] == "pending" and len(open_multiparts(live)) == 1
    assert alice.list_parts(created)[1][0]["PartNumber"] == 1


def test_parts_are_not_signed_past_the_maximum_size(live, env):
    env(UPLOAD_MAX_SIZE=str(8 * MIB))
    uppy = Uppy()
    _, created = uppy.create("big.bin", "application/octet-stream")
    status, body = uppy.sign(created, 3)
    assert (status, body["error"]["code"]) == (413, "too_large"), "two earlier parts of 5 MiB are 10 MiB"
    assert "8388608" in body["error"]["message"]
    uppy.put_part(created, 1, b"b" * (9 * MIB))  # one part larger than the whole maximum
    status, body = uppy.sign(created, 2)
    assert (status, body["error"]["code"]) == (413, "too_large")
    assert "9437184" in body["error"]["message"]


def test_completion_beyond_the_maximum_rejects_the_upload_and_aborts_it(live, env):
    env(UPLOAD_MAX_SIZE=str(9 * MIB))
    uppy = Uppy()
    _, created = uppy.create("big.bin", "application/octet-stream")
    etags = [(1, uppy.put_part(created, 1, b"c" * PART)), (2, uppy.put_part(created, 2, b"d" * PART))]
    status, body = uppy.complete(created, etags)
    assert (status, body["error"]["code"]) == (413, "too_large")
    assert "10485760" in body["error"]["message"]
    row = upload(created["uploadId"])
    assert row["status"] == "rejected" and "10485760" in row["rejection_reason"]
    assert open_multiparts(live) == [] and not live.exists(created["key"])


def test_the_daily_byte_quota_holds_without_an_announced_size(live, env):
    env(UPLOAD_MAX_BYTES_PER_DAY=str(12 * MIB))
    uppy = Uppy()
    _, first = uppy.create("one.bin", "application/octet-stream")
    uppy.put_part(first, 1, b"e" * PART)
    assert uppy.sign(first, 2)[0] == 200  # reserves 5 MiB held + one more part: 10 MiB
    assert upload(first["uploadId"])["max_size"] == 10 * MIB
    status, second = uppy.create("two.bin", "application/octet-stream")
    assert status == 200 and upload(second["uploadId"])["max_size"] == 2 * MIB, "what is left"
    status, body, headers = uppy.api.call(
        "GET", f"/s3/multipart/{second['uploadId']}/1", query={"key": second["key"]}
    )
    assert (status, body["error"]["code"]) == (429, "quota_exceeded") and int(headers["Retry-After"]) > 0
    status, body = uppy.create("three.bin", "application/octet-stream")
    assert (status, body["error"]["code"]) == (429, "quota_exceeded")


def test_complete_refuses_a_part_s3_does_not_hold(live):
    uppy = Uppy()
    _, created = uppy.create("p.bin", "application/octet-stream")
    etag = uppy.put_part(created, 1, b"f" * PART)
    status, body = uppy.complete(created, [(1, etag), (2, etag)])
    assert (status, body["error"]["code"]) == (400, "invalid_parts") and "part 2" in body["error"]["message"]
    status, body = uppy.complete(created, [(2, etag), (1, etag)])
    assert (status, body["error"]["code"]) == (400, "invalid_parts"), "S3 wants ascending part numbers"
    assert upload(created["uploadId"])["status"] == "pending"


def test_an_upload_without_a_size_cannot_be_completed_through_the_announced_route(live):
    uppy = Uppy()
    _, created = uppy.create("p.bin", "application/octet-stream")
    status, body, _ = uppy.api.call(
        "POST", f"/uploads/{created['uploadId']}/complete", body={"parts": [{"part_number": 1, "etag": "x"}]}
    )
    assert (status, body["error"]["code"]) == (409, "size_not_announced")


def test_a_part_of_an_announced_upload_is_signed_with_its_exact_length(live, env):
    env(MULTIPART_THRESHOLD=str(PART), MULTIPART_PART_SIZE=str(PART))
    api = Api("alice")
    status, announced = api.create(filename="a.bin", content_type="application/octet-stream", size=PART + 10)
    assert status == 201
    status, signed, _ = api.call("GET", f"/s3/multipart/{announced['id']}/2", query={"key": announced["key"]})
    assert status == 200
    signed_headers = parse_qs(urlparse(signed["url"]).query)["X-Amz-SignedHeaders"][0].split(";")
    assert "content-length" in signed_headers
    status, body, _ = api.call("GET", f"/s3/multipart/{announced['id']}/3", query={"key": announced["key"]})
    assert (status, body["error"]["code"]) == (400, "invalid_part_number")


def test_limits_tell_a_client_when_to_go_multipart(live, env):
    env(MULTIPART_THRESHOLD=str(8 * MIB))
    status, limits, _ = Api("alice").call("GET", "/s3/limits")
    assert status == 200
    assert (limits["single_max_size"], limits["min_part_size"], limits["max_parts"]) == (8 * MIB, PART, 10000)
    assert "text/plain" in limits["allowed_content_types"]
    status, anonymous, _ = Api(None).call("GET", "/s3/limits")
    assert anonymous["max_size"] == get_settings().anonymous_max_size


def test_a_landed_single_upload_counts_its_bytes_not_its_reservation(live, env):
    env(MULTIPART_THRESHOLD=str(8 * MIB), UPLOAD_MAX_BYTES_PER_DAY=str(12 * MIB))
    uppy = Uppy()
    _, first = uppy.params("a.txt", "text/plain")
    assert uppy.post_form(first, b"eighteen bytes ok\n").status_code == 204
    live.drain()
    status, second = uppy.params("b.txt", "text/plain")
    assert status == 200
    policy = json.loads(base64.b64decode(second["fields"]["policy"]))
    assert ["content-length-range", 1, 8 * MIB] in policy["conditions"], "18 bytes landed, not 8 MiB"


@pytest.mark.parametrize("number", ["0", "10001", "²", "٣", "1.0", "-1", "00000000001"])
def test_a_part_number_outside_1_to_10000_in_ascii_digits_is_400(live, number):
    uppy = Uppy()
    _, created = uppy.create("n.bin", "application/octet-stream")
    status, body = uppy.sign(created, number)  # type: ignore[arg-type]
    assert (status, body["error"]["code"]) == (400, "invalid_part_number")


def test_parts_s3_no_longer_holds_are_a_409_not_a_500(live):
    uppy = Uppy()
    _, created = uppy.create("n.bin", "application/octet-stream")
    (open_upload,) = open_multiparts(live)
    live.s3.abort_multipart_upload(Bucket=BUCKET, Key=open_upload["Key"], UploadId=open_upload["UploadId"])
    for status, body in (uppy.sign(created, 1), uppy.list_parts(created), uppy.complete(created, [(1, "x")])):
        assert (status, body["error"]["code"]) == (409, "upload_gone")
