"""`landing serve` as a developer runs it: banner, a real presigned upload to moto, the status moving on."""

from __future__ import annotations

import uuid

import pytest
import requests

from tests.conftest import rows
from tests.support.serve import Served, landing_serve, wait_for


@pytest.fixture(scope="module")
def served():
    with landing_serve(UPLOAD_MAX_SIZE="1000") as server:
        yield server


def test_banner_names_the_url_routes_bucket_and_queue(served: Served):
    banner = served.output()

    assert f"Open {served.url}/ to upload files" in banner
    for route in ("POST /uploads", "GET /uploads/{id}", "GET /objects"):
        assert route in banner
    assert "bucket landing-demo -> queue landing-demo-ingest -> IngestFunction" in banner


def test_upload_through_the_api_and_moto_ends_uploaded(served: Served, clean_db):
    origin = {"Origin": served.url}
    created = requests.post(
        f"{served.url}/uploads",
        json={"filename": "hello.txt", "content_type": "text/plain", "size": 6},
        headers=origin,
        timeout=10,
    )
    assert created.status_code == 201, created.text
    intent = created.json()

    # What the page does: the presigned form straight to S3 (moto), from the page's origin.
    sent = requests.post(
        intent["url"],
        data=intent["fields"],
        files={"file": ("hello.txt", b"hello\n", "text/plain")},
        headers=origin,
        timeout=10,
    )
    assert sent.status_code == 204, sent.text
    assert sent.headers["Access-Control-Allow-Origin"] in ("*", served.url)

    def decided() -> str | None:
        status = requests.get(f"{served.url}/uploads/{intent['id']}", timeout=5).json()["status"]
        return None if status == "pending" else status

    assert wait_for(decided) == "uploaded"
    assert rows("SELECT id, status, size FROM uploads") == [
        {"id": uuid.UUID(intent["id"]), "status": "uploaded", "size": 6}
    ]
    listed = requests.get(f"{served.url}/objects", params={"prefix": "uploads/anonymous/"}, timeout=5).json()
    assert [o["key"] for o in listed["objects"]] == [intent["key"]]
    log = served.output()
    assert "POST /uploads -> 201" in log and f"GET /uploads/{intent['id']} -> 200" in log


def test_settings_from_the_environment_reach_the_function(served: Served, clean_db):
    refused = requests.post(
        f"{served.url}/uploads",
        json={"filename": "big.txt", "content_type": "text/plain", "size": 1001},
        timeout=10,
    )

    assert refused.status_code == 413
    assert refused.json()["error"]["code"] == "too_large"
    assert rows("SELECT id FROM uploads") == []


def test_sigterm_stops_the_server_cleanly():
    with landing_serve() as server:
        pass
    assert server.output().rstrip().endswith("landing serve: stopped")
