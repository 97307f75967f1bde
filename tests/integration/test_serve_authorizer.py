"""`landing serve --jwt-secret-file`: the owner comes from a verified bearer token, as API Gateway's JWT
authorizer hands it to the deployed function; a missing or bad token is API Gateway's 401."""

from __future__ import annotations

import time

import pytest
from werkzeug.test import Client

from landing.s3 import clients
from landing_local.authorizer import JwtAuthorizer
from landing_local.server import Application, Invoker
from tests.conftest import rows

TEXT = {"filename": "notes.txt", "content_type": "text/plain", "size": 12}
AUTHORIZER = JwtAuthorizer("a local key of at least thirty-two bytes")


@pytest.fixture
def client(s3, clean_db):
    clients.reset()
    yield Client(Application(Invoker(), authorizer=AUTHORIZER))
    clients.reset()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def valid(sub: str) -> dict[str, str]:
    return bearer(AUTHORIZER.token({"sub": sub, "exp": int(time.time()) + 600}))


def test_the_tokens_sub_owns_what_it_creates_and_no_one_else_sees_it(client):
    created = client.post("/uploads", json=TEXT, headers=valid("alice"))
    assert created.status_code == 201
    assert "/alice/" in created.json["key"]
    assert [row["owner"] for row in rows("SELECT owner FROM uploads")] != ["anonymous"]
    upload = f"/uploads/{created.json['id']}"
    assert client.get(upload, headers=valid("alice")).status_code == 200
    assert client.get(upload, headers=valid("bob")).status_code == 404


EXPIRED = AUTHORIZER.token({"sub": "alice", "exp": int(time.time()) - 60})
FOREIGN = JwtAuthorizer("another key, also thirty-two bytes long").token({"sub": "alice", "exp": 2**31})
OTHER_ISSUER = JwtAuthorizer(AUTHORIZER.secret, issuer="elsewhere").token({"sub": "alice", "exp": 2**31})
NO_EXPIRY = AUTHORIZER.token({"sub": "alice"})


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic YWxpY2U6eA=="},
        bearer("not.a.jwt"),
        bearer(EXPIRED),
        bearer(FOREIGN),
        bearer(OTHER_ISSUER),
        bearer(NO_EXPIRY),
    ],
    ids=["none", "basic", "garbage", "expired", "foreign-key", "other-issuer", "no-expiry"],
)
def test_without_a_valid_token_it_is_api_gateways_401_and_nothing_runs(client, headers):
    response = client.post("/uploads", json=TEXT, headers=headers)
    assert (response.status_code, response.json) == (401, {"message": "Unauthorized"})
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert rows("SELECT id FROM uploads") == []


def test_a_preflight_needs_no_token(client):
    response = client.options("/uploads", headers={"Origin": "http://127.0.0.1:3000"})
    assert response.status_code != 401
