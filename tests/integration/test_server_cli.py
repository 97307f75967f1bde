"""`landing serve` as a developer runs it: banner, a real presigned upload to moto, the status moving on."""

from __future__ import annotations

import re
import uuid
from urllib.parse import urlsplit

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
    assert sent.headers["Access-Control-Allow-Origin"] == served.url

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


def moto_endpoint(served: Served) -> str:
    match = re.search(r"S3 \+ SQS\s+(http://\S+) \(moto\)", served.output())
    assert match, served.output()
    return match.group(1)


EVIL = "https://evil.example"


def test_another_sites_page_cannot_list_read_or_write_the_local_bucket(served: Served, clean_db):
    """moto checks no credentials: a page the developer visits must not reach it through the browser."""
    s3 = moto_endpoint(served)
    listing = f"{s3}/landing-demo?list-type=2"
    assert requests.get(listing, timeout=5).status_code == 200  # boto3 and the CLI send no Origin

    listed = requests.get(listing, headers={"Origin": EVIL}, timeout=5)
    planted = requests.put(f"{s3}/landing-demo/planted.txt", data=b"x", headers={"Origin": EVIL}, timeout=5)
    preflight = requests.options(
        f"{s3}/landing-demo/planted.txt",
        headers={"Origin": EVIL, "Access-Control-Request-Method": "PUT"},
        timeout=5,
    )

    for answer in (listed, planted, preflight):
        assert answer.status_code == 403, answer.text
        assert "Access-Control-Allow-Origin" not in answer.headers
    assert requests.head(f"{s3}/landing-demo/planted.txt", timeout=5).status_code == 404


def test_a_dns_rebound_name_cannot_reach_the_local_bucket(served: Served):
    """evil.example resolving to 127.0.0.1 makes the page same-origin with moto: the Host gives it away."""
    s3 = moto_endpoint(served)
    port = urlsplit(s3).port
    rebound = requests.get(
        f"{s3}/landing-demo?list-type=2", headers={"Host": f"evil.example:{port}"}, timeout=5
    )
    assert rebound.status_code == 421
    assert b"ListBucketResult" not in rebound.content


def test_the_pages_own_origin_may_upload_to_the_local_bucket(served: Served):
    """The guard lets the page's origin through, and the bucket's CORS names it (as on AWS)."""
    s3 = moto_endpoint(served)
    preflight = requests.options(
        f"{s3}/landing-demo/uploads/anonymous/new-part",
        headers={"Origin": served.url, "Access-Control-Request-Method": "PUT"},
        timeout=5,
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == served.url
    rules = requests.get(f"{s3}/landing-demo?cors", timeout=5).text
    assert f"<AllowedOrigin>{served.url}</AllowedOrigin>" in rules
    assert "<AllowedOrigin>*</AllowedOrigin>" not in rules
