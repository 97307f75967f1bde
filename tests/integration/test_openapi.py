"""The uploads API's OpenAPI document is valid, names exactly the handler's and the template's routes,
and is what `landing serve` publishes; every answer the API tests see is checked against it
(tests/support/api.py), and these flows make sure each documented success shape is exercised."""

from __future__ import annotations

import base64
import hashlib
import json
import re

import pytest
from openapi_spec_validator import validate
from werkzeug.test import Client

from landing.handlers.uploads import app
from landing.s3 import clients
from landing_local import apigw
from landing_local.server import Application, Invoker
from tests.support.api import Api
from tests.support.openapi import check_response


def test_the_document_is_valid_openapi_3_1():
    assert apigw.OPENAPI["openapi"].startswith("3.1")
    validate(apigw.OPENAPI)


def test_documented_routes_are_the_handlers_routes():
    # Parameter names are each side's own (<upload_id> here, {uploadId} there): compare the shapes.
    handled = {
        f"{route.method} {re.sub(r'<[^>]+>', '{}', route.path)}"
        for route in (*app._static_routes, *app._dynamic_routes)
    }
    assert handled == {re.sub(r"\{[^}]+\}", "{}", key) for key in apigw.ROUTE_KEYS}


@pytest.fixture
def alice(s3, clean_db):
    clients.reset()
    yield Api("alice")
    clients.reset()


def test_every_success_shape_is_exercised(alice):
    status, post = alice.create(filename="a.txt", content_type="text/plain", size=5)
    assert status == 201 and post["method"] == "POST"
    checksum = base64.b64encode(hashlib.sha256(b"hello").digest()).decode()
    status, put = alice.create(
        filename="b.txt", content_type="text/plain", size=5, method="PUT", checksum_sha256=checksum
    )
    assert status == 201 and put["method"] == "PUT"
    status, multipart = alice.create(
        filename="big.bin", content_type="application/octet-stream", size=200 * 1024**2
    )
    assert status == 201 and multipart["method"] == "MULTIPART" and multipart["parts"]
    assert alice.get(post["id"])[0] == 200
    assert alice.call("GET", "/uploads", query={"limit": "2"})[0] == 200
    assert alice.call("GET", "/objects")[0] == 200
    assert alice.call("DELETE", f"/uploads/{multipart['id']}")[0] == 200
    # Refusals are documented too: each of these answers is checked against the document.
    assert alice.create(filename="c.txt", content_type="text/plain", size=0)[0] == 400
    assert alice.create(filename="c.exe", content_type="application/x-msdownload", size=5)[0] == 415
    assert alice.get("00000000-0000-0000-0000-000000000000")[0] == 404
    assert alice.call("POST", f"/uploads/{post['id']}/complete", body={"parts": []})[0] == 400


def test_an_answer_the_document_does_not_describe_fails_the_check():
    with pytest.raises(AssertionError, match="not in the OpenAPI responses"):
        check_response("GET", "/objects", 418, {})
    with pytest.raises(AssertionError, match="'next_cursor' is a required property"):
        check_response("GET", "/objects", 200, {"objects": []})


def test_landing_serve_publishes_the_document(s3, clean_db):
    response = Client(Application(Invoker())).get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert json.loads(response.get_data()) == apigw.OPENAPI
