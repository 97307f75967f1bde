"""The local API server in-process: HTTP -> payload-2.0 events -> the uploads handler -> rows, and the
background loop that plays the SQS event source mapping and the expiry schedule."""

from __future__ import annotations

import base64
import json
import logging
import re
import uuid
from pathlib import Path

import boto3
import pytest
from sqlalchemy import text
from werkzeug.test import Client, EnvironBuilder
from werkzeug.wrappers import Request

from landing.db import engine as db
from landing.s3 import clients
from landing_local import apigw
from landing_local.background import Background
from landing_local.demo import setup_bucket
from landing_local.server import UPLOADS_TIMEOUT_S, Application, Invoker
from tests.conftest import rows
from tests.support.events import load
from tests.support.serve import wait_for

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
TEXT = {"filename": "notes.txt", "content_type": "text/plain", "size": 12}


def request(method: str, path: str, **kwargs) -> Request:
    return Request(
        EnvironBuilder(method=method, path=path, base_url="http://127.0.0.1:3000", **kwargs).get_environ()
    )


def event_for(method: str, path: str, **kwargs) -> dict:
    req = request(method, path, **kwargs)
    route = apigw.match(req)
    assert route is not None
    return apigw.to_event(req, route, now=1795687200.0)


# --- translation -------------------------------------------------------------------------------


def test_routes_are_the_templates_routes():
    declared = re.findall(r"^\s+RouteKey: (.+)$", TEMPLATE.read_text(), re.MULTILINE)
    assert sorted(apigw.ROUTE_KEYS) == sorted(declared)


def test_context_timeout_is_the_functions_timeout():
    block = TEMPLATE.read_text().split("\n  UploadsFunction:\n", 1)[1]
    assert float(re.search(r"^      Timeout: (\d+)$", block, re.MULTILINE).group(1)) == UPLOADS_TIMEOUT_S


def test_event_has_the_documented_payload_2_0_shape():
    documented = load("uploads-create.json")
    event = event_for("POST", "/uploads", json={"filename": "a.txt"}, headers={"Authorization": "Bearer x"})

    assert set(event) == set(documented)
    # Locally no JWT authorizer runs, so requestContext has everything but `authorizer`.
    assert set(event["requestContext"]) == set(documented["requestContext"]) - {"authorizer"}
    assert set(event["requestContext"]["http"]) == set(documented["requestContext"]["http"])
    assert event["routeKey"] == event["requestContext"]["routeKey"] == "POST /uploads"
    assert event["requestContext"]["time"] == "26/Nov/2026:10:00:00 +0000"
    assert event["requestContext"]["timeEpoch"] == 1795687200000
    assert json.loads(event["body"]) == {"filename": "a.txt"} and event["isBase64Encoded"] is False
    assert event["headers"]["authorization"] == "Bearer x"


def test_path_parameters_route_key_and_raw_query():
    upload_id = str(uuid.uuid4())
    event = event_for("GET", f"/uploads/{upload_id}", query_string="a=1&a=2&b=x%2By")

    assert event["routeKey"] == "GET /uploads/{id}"
    assert event["pathParameters"] == {"id": upload_id}
    assert event["rawPath"] == event["requestContext"]["http"]["path"] == f"/uploads/{upload_id}"
    assert event["rawQueryString"] == "a=1&a=2&b=x%2By"
    # Payload 2.0 joins repeated parameters (and headers) with commas.
    assert event["queryStringParameters"] == {"a": "1,2", "b": "x+y"}
    assert "body" not in event


def test_headers_are_lower_cased_and_cookies_kept_apart():
    event = event_for("GET", "/objects", headers=[("X-Thing-ID", "one"), ("Cookie", "a=1; b=2")])

    assert event["headers"]["x-thing-id"] == "one"
    assert all(name == name.lower() for name in event["headers"])
    assert "cookie" not in event["headers"] and event["cookies"] == ["a=1", "b=2"]


def test_binary_body_is_base64_encoded():
    raw = bytes(range(256))
    event = event_for(
        "POST", f"/uploads/{uuid.uuid4()}/complete", data=raw, content_type="application/octet-stream"
    )

    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == raw


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/nowhere"), ("DELETE", "/objects"), ("GET", "/uploads/a/b"), ("PUT", "/uploads")],
)
def test_unrouted_requests_match_no_route(method, path):
    assert apigw.match(request(method, path)) is None


def test_result_becomes_the_http_response():
    response = apigw.to_response(
        {
            "statusCode": 201,
            "headers": {"Content-Type": "application/json", "X-Req": "1"},
            "cookies": ["a=1; Path=/", "b=2"],
            "body": base64.b64encode(b"\x00\x01").decode(),
            "isBase64Encoded": True,
        }
    )

    assert response.status_code == 201
    assert response.get_data() == b"\x00\x01"
    assert response.headers["X-Req"] == "1" and response.headers["Content-Type"] == "application/json"
    assert response.headers.getlist("Set-Cookie") == ["a=1; Path=/", "b=2"]


def test_result_without_status_code_is_inferred_as_json_200():
    response = apigw.to_response({"hello": "world"})

    assert (response.status_code, response.json) == (200, {"hello": "world"})
    assert response.content_type == "application/json"


# --- the WSGI application against the real handler ---------------------------------------------------


@pytest.fixture
def api_s3(s3, clean_db):
    clients.reset()
    yield s3
    clients.reset()


@pytest.fixture
def client(api_s3):
    return Client(Application(Invoker()))


def test_post_uploads_reaches_the_handler_and_writes_a_pending_row(client):
    response = client.post("/uploads", json=TEXT)

    assert response.status_code == 201
    body = response.json
    assert body["method"] == "POST" and body["key"] == f"uploads/anonymous/{body['id']}/notes.txt"
    assert rows("SELECT id, owner, status, bucket FROM uploads") == [
        {"id": uuid.UUID(body["id"]), "owner": "anonymous", "status": "pending", "bucket": "example-bucket"}
    ]
    got = client.get(f"/uploads/{body['id']}")
    assert got.status_code == 200 and got.json["status"] == "pending"


def test_api_errors_pass_through_with_their_status(client):
    response = client.post("/uploads", json={**TEXT, "size": 0})

    assert response.status_code == 400 and response.json["error"]["code"] == "invalid_size"
    assert rows("SELECT id FROM uploads") == []


def test_unknown_route_is_api_gateways_404_without_an_invocation(client):
    response = client.get("/nowhere")

    assert (response.status_code, response.json) == (404, {"message": "Not Found"})


def test_a_preflight_from_another_origin_gets_no_cors_headers(client):
    """The page is served from the API's origin; no other web page may drive the local API."""
    response = client.options(
        "/uploads",
        headers={"Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST"},
    )

    assert "Access-Control-Allow-Origin" not in response.headers


def test_page_and_its_files_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    for name in re.findall(r'(?:src|href)="(/static/[^"]+)"', page.get_data(as_text=True)):
        asset = client.get(name)
        assert asset.status_code == 200, name
        assert asset.mimetype in ("text/javascript", "application/javascript", "text/css"), name


def test_each_request_is_logged_with_its_status(client, caplog):
    with caplog.at_level(logging.INFO, logger="landing.serve"):
        client.post("/uploads", json={**TEXT, "size": 0})
        client.get("/objects?limit=5")

    lines = [r.getMessage() for r in caplog.records if r.name == "landing.serve"]
    assert re.fullmatch(r"POST /uploads -> 400 \(\d+ ms\)", lines[0])
    assert re.fullmatch(r"GET /objects\?limit=5 -> 200 \(\d+ ms\)", lines[1])


# --- the background loop: queue drain and schedule -----------------------------------------------------


@pytest.fixture
def wired(api_s3):
    """In-process moto: example-bucket notifies a queue, as `landing serve` wires the demo bucket."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue_url = setup_bucket(api_s3, sqs, bucket="example-bucket", queue="example-ingest")
    invoker = Invoker()
    background = Background(invoker, sqs, queue_url, poll_s=0.05)
    background.drain_once()  # the s3:TestEvent the notification configuration sent
    return Client(Application(invoker)), background


def put_announced_object(s3, created: dict) -> None:
    s3.put_object(
        Bucket="example-bucket",
        Key=created["key"],
        Body=b"hello world\n",
        ContentType="text/plain",
        Metadata={"upload-id": created["id"]},
    )


def test_drain_feeds_ingest_and_the_upload_becomes_uploaded(wired, api_s3):
    client, background = wired
    created = client.post("/uploads", json=TEXT).json
    put_announced_object(api_s3, created)

    totals = background.drain_once()

    assert totals["messages"] == 1 and totals["failed"] == 0
    assert client.get(f"/uploads/{created['id']}").json["status"] == "uploaded"
    (obj,) = rows("SELECT key, upload_id FROM objects")
    assert obj == {"key": created["key"], "upload_id": uuid.UUID(created["id"])}


def test_objects_route_lists_the_callers_objects_only(wired, api_s3):
    client, background = wired
    created = client.post("/uploads", json=TEXT).json
    put_announced_object(api_s3, created)
    api_s3.put_object(Bucket="example-bucket", Key="uploads/someone-else/x/other.txt", Body=b"theirs")
    background.drain_once()

    listed = client.get("/objects", query_string={"prefix": "uploads/"})

    assert listed.status_code == 200
    assert [o["key"] for o in listed.json["objects"]] == [created["key"]]
    assert listed.json["objects"][0]["upload_id"] == created["id"]
    assert {r["key"] for r in rows("SELECT key FROM objects")} == {
        created["key"],
        "uploads/someone-else/x/other.txt",
    }


def test_background_thread_moves_statuses_while_the_server_runs(wired, api_s3):
    client, background = wired
    background.start()
    try:
        created = client.post("/uploads", json=TEXT).json
        put_announced_object(api_s3, created)

        wait_for(lambda: client.get(f"/uploads/{created['id']}").json["status"] == "uploaded")
    finally:
        background.stop()
    assert not background.is_alive()


def test_scheduled_pass_expires_a_due_upload(wired):
    client, background = wired
    created = client.post("/uploads", json=TEXT).json
    with db.require_engine().begin() as conn:
        conn.execute(
            text("UPDATE uploads SET expires_at = now() - interval '2 days' WHERE id = :id"),
            {"id": created["id"]},
        )

    result = background.sweep_once()

    assert result["expired"] == 1
    assert rows("SELECT status FROM uploads") == [{"status": "expired"}]


# --- only this machine's browser may drive it ----------------------------------------------------------


def test_a_text_plain_post_that_needs_no_preflight_is_refused(client):
    """A cross-site page can send text/plain without a preflight; the API takes only application/json."""
    response = client.post(
        "/uploads",
        data=json.dumps(TEXT),
        headers={"Content-Type": "text/plain", "Origin": "https://evil.example"},
    )

    assert (response.status_code, response.json["error"]["code"]) == (415, "json_required")
    assert "Access-Control-Allow-Origin" not in response.headers
    assert rows("SELECT id FROM uploads") == []


def test_a_request_for_another_host_name_is_refused(client):
    """DNS rebinding: a page on evil.example whose name now points at 127.0.0.1 sends Host: evil.example."""
    response = client.post("/uploads", json=TEXT, headers={"Host": "evil.example:3000"})

    assert response.status_code == 421
    assert rows("SELECT id FROM uploads") == []
    assert client.get("/", headers={"Host": "evil.example"}).status_code == 421
    assert client.get("/uploads", headers={"Host": "127.0.0.1:3000"}).status_code == 200
    assert client.get("/uploads", headers={"Host": "[::1]:3000"}).status_code == 200


def test_a_body_above_the_limit_is_refused_before_the_handler(client):
    from landing_local.server import MAX_BODY_BYTES

    body = json.dumps({**TEXT, "filename": "a" * MAX_BODY_BYTES})
    response = client.post("/uploads", data=body, content_type="application/json")

    assert (response.status_code, response.json["error"]["code"]) == (413, "body_too_large")
    assert rows("SELECT id FROM uploads") == []


def test_the_page_may_not_be_framed_and_loads_only_its_own_code(api_s3):
    from landing_local.server import Application, Invoker

    page = Client(Application(Invoker(), s3_origin="http://127.0.0.1:5001")).get("/")

    policy = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
    assert "connect-src 'self' http://127.0.0.1:5001" in policy
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"


def test_binding_beyond_loopback_is_announced_loudly_and_widens_the_host_check():
    from landing_local.serve import exposed_warning
    from landing_local.server import allowed_hosts

    assert allowed_hosts("127.0.0.1") == frozenset({"localhost", "127.0.0.1", "::1"})
    assert "192.168.1.20" in allowed_hosts("192.168.1.20")  # type: ignore[operator]
    assert allowed_hosts("0.0.0.0") is None and allowed_hosts("::") is None
    assert "WARNING" in exposed_warning("0.0.0.0") and "no authentication" in exposed_warning("0.0.0.0")


def test_published_lifecycle_events_are_shown_as_they_arrive(wired, api_s3, monkeypatch, caplog):
    from landing.outbox import publisher
    from landing.settings import get_settings
    from landing_local import bus

    client, background = wired
    monkeypatch.setenv("EVENT_BUS_NAME", bus.LOCAL_BUS)  # restored after the test; setup() sets it too
    sqs = boto3.client("sqs", region_name="us-east-1")
    background.events_queue_url = bus.setup(boto3.client("events", region_name="us-east-1"), sqs)
    try:
        created = client.post("/uploads", json=TEXT).json
        put_announced_object(api_s3, created)
        background.drain_once()

        with caplog.at_level(logging.INFO, logger="landing.serve"):
            (shown,) = background.show_events()
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
        publisher.reset()

    assert (shown["detail-type"], shown["detail"]["upload_id"]) == ("Upload Completed", created["id"])
    lines = [r.getMessage() for r in caplog.records if r.name == "landing.serve"]
    assert any(line.startswith(f"EventBridge Upload Completed: upload {created['id']}") for line in lines)
    assert rows("SELECT count(*) AS n FROM event_outbox") == [{"n": 0}]
