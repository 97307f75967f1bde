"""Owners from what the caller cannot choose (issue 24): SigV4 callers through API Gateway's IAM context.

Contexts are shaped like API Gateway's HTTP API payload 2.0 `requestContext.authorizer.iam` (Powertools'
tests/events/apiGatewayProxyV2IamEvent.json). For an assumed role `userArn`, `userId` and `callerId`
all end in the RoleSessionName, which whoever calls sts:AssumeRole chooses.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from landing.handlers.uploads import handler
from landing.lambda_context import local_context
from landing.s3 import clients
from landing.settings import SettingsError, get_settings, load
from tests.conftest import rows
from tests.support import openapi
from tests.support.api import Api, http_event

ACCOUNT = "123456789012"
TEXT = {"filename": "notes.txt", "content_type": "text/plain", "size": 12}
ROLE = f"arn:aws:sts::{ACCOUNT}:assumed-role/app"
POOL = "us-east-1:4f291106-8703-466b-8f2b-3ecee1ca56ce"


def role_session(session: str, role: str = "app") -> dict[str, Any]:
    return {
        "accessKey": "ASIA2ZJZYVUEREEIHAKY",
        "accountId": ACCOUNT,
        "callerId": f"AROA7ZJZYVRE7C3DUXHH6:{session}",
        "cognitoIdentity": None,
        "principalOrgId": None,
        "userArn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}",
        "userId": f"AROA7ZJZYVRE7C3DUXHH6:{session}",
    }


def cognito(identity_id: str, amr: list[str] | None = None) -> dict[str, Any]:
    """Identity pool credentials: always the pool's role with session name CognitoIdentityCredentials."""
    context = role_session("CognitoIdentityCredentials", role="Cognito_PoolAuth_Role")
    context["cognitoIdentity"] = {
        "amr": amr or ["authenticated", "cognito-idp.us-east-1.amazonaws.com/us-east-1_Example"],
        "identityId": identity_id,
        "identityPoolId": POOL,
    }
    return context


class Signed:
    """Calls the uploads handler as API Gateway does for an AWS_IAM route."""

    def __init__(self, iam: Any) -> None:
        self.iam = iam

    def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        event = http_event(method, path, sub=None, **kwargs)
        event["requestContext"]["authorizer"] = {"iam": self.iam}
        response = handler(event, local_context("UploadsFunction"))
        body = json.loads(response["body"]) if response.get("body") else {}
        openapi.check_response(method, path, response["statusCode"], body)
        return response["statusCode"], body

    def create(self) -> tuple[int, dict[str, Any]]:
        return self.call("POST", "/uploads", body=TEXT)

    def upload_ids(self) -> list[str]:
        return [u["id"] for u in self.call("GET", "/uploads")[1]["uploads"]]


@pytest.fixture
def env(monkeypatch, s3, clean_db):
    clients.reset()

    def apply(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()

    apply(UPLOADS_ALLOW_ANONYMOUS="false")
    yield apply
    monkeypatch.undo()
    get_settings.cache_clear()
    clients.reset()


def owners() -> list[str]:
    return [row["owner"] for row in rows("SELECT owner FROM uploads ORDER BY created_at, id")]


def test_every_session_of_a_role_is_the_role_and_they_share_its_quota(env):
    """The issue's quota attack: ten session names were granted ten open uploads against a limit of 2."""
    env(UPLOAD_MAX_PENDING_PER_OWNER="2")

    answers = [Signed(role_session(f"s{n}")).create()[0] for n in range(10)]

    assert answers == [201, 201] + [429] * 8
    assert owners() == [ROLE, ROLE]
    assert len(Signed(role_session("any-other-name")).upload_ids()) == 2


def test_a_session_named_alice_cannot_reach_alices_uploads(env):
    """alice's uploads (an IAM user's, and a session's recorded while her role was listed as personal)
    are out of reach of anyone who names a session `alice`."""
    user_alice = Signed({**role_session("x"), "userArn": f"arn:aws:iam::{ACCOUNT}:user/alice"})
    mine = user_alice.create()[1]
    env(PERSONAL_SESSION_ROLES=f"arn:aws:iam::{ACCOUNT}:role/app")
    listed_alice = Signed(role_session("alice"))
    recorded = listed_alice.create()[1]
    env(PERSONAL_SESSION_ROLES="")
    mallory = Signed(role_session("alice"))

    for upload in (mine, recorded):
        assert mallory.call("GET", f"/uploads/{upload['id']}")[0] == 404
        assert mallory.call("DELETE", f"/uploads/{upload['id']}", route="/uploads/<upload_id>")[0] == 404
    assert mallory.upload_ids() == []
    assert mallory.call("GET", "/objects")[1]["objects"] == []
    assert owners() == [
        f"arn:aws:iam::{ACCOUNT}:user/alice",
        f"arn:aws:sts::{ACCOUNT}:assumed-role/app/alice",
    ]
    assert user_alice.upload_ids() == [mine["id"]]


def test_sessions_of_a_listed_role_are_one_owner_each_and_other_roles_stay_whole(env):
    env(PERSONAL_SESSION_ROLES=f"arn:aws:iam::{ACCOUNT}:role/people/staff, arn:aws:iam::{ACCOUNT}:role/ops")
    alice, bob = Signed(role_session("alice", "staff")), Signed(role_session("bob", "staff"))
    created = alice.create()[1]
    Signed(role_session("one", "app")).create()

    assert bob.upload_ids() == []
    assert alice.upload_ids() == [created["id"]]
    assert Signed(role_session("two", "app")).upload_ids() != []
    assert owners() == [f"arn:aws:sts::{ACCOUNT}:assumed-role/staff/alice", ROLE]


def test_two_cognito_identities_are_two_owners_though_their_arns_are_the_same(env):
    first = Signed(cognito("us-east-1:3f291106-8703-466b-8f2b-3ecee1ca56ce"))
    second = Signed(cognito("us-east-1:0b7a3c1e-1111-4222-8333-944455556666"))
    created = first.create()[1]

    assert second.upload_ids() == []
    assert second.call("GET", f"/uploads/{created['id']}")[0] == 404
    assert first.upload_ids() == [created["id"]]
    assert owners() == [f"cognito-identity:{POOL}/us-east-1:3f291106-8703-466b-8f2b-3ecee1ca56ce"]


def test_cognito_guests_who_can_mint_identities_at_will_are_one_owner_per_pool(env):
    env(UPLOAD_MAX_PENDING_PER_OWNER="1")
    guests = [
        Signed(cognito(f"us-east-1:0b7a3c1e-1111-4222-8333-94445555666{n}", ["unauthenticated"]))
        for n in range(3)
    ]

    assert [guest.create()[0] for guest in guests] == [201, 429, 429]
    assert owners() == [f"cognito-identity:{POOL}/unauthenticated"]


def test_federated_users_are_one_owner_whatever_name_was_asked_for(env):
    def federated(name: str) -> Signed:
        return Signed({**role_session("x"), "userArn": f"arn:aws:sts::{ACCOUNT}:federated-user/{name}"})

    created = federated("alice").create()[1]

    assert federated("bob").upload_ids() == [created["id"]]
    assert owners() == [f"arn:aws:sts::{ACCOUNT}:federated-user"]


@pytest.mark.parametrize(
    "iam",
    [
        {"userArn": f"arn:aws:sts::{ACCOUNT}:assumed-role/app"},
        {"userArn": f"arn:aws:sts::{ACCOUNT}:assumed-role/app/alice/extra"},
        {"userArn": "arn:aws:sts::12345678901:assumed-role/app/alice"},
        {"userArn": f"arn:aws:sts::{ACCOUNT}:assumed-role/app/a"},
        {"userArn": f"arn:aws:sts::{ACCOUNT}:assumed-role/app/\u0430lice"},
        {"userArn": f"arn:aws:iam::{ACCOUNT}:user/alice\n"},
        {"userArn": f"arn:aws:iam::{ACCOUNT}:group/admins"},
        {"userArn": f"arn:aws:sts::{ACCOUNT}:federated-user/"},
        {"userArn": "not-an-arn"},
        {"userArn": "x" * 5000},
        {"userArn": 42},
        {"userArn": ["arn:aws:iam::123456789012:user/alice"]},
        {"userArn": None, "accountId": ACCOUNT},
        {**role_session("alice"), "cognitoIdentity": "us-east-1:3f291106-8703-466b-8f2b-3ecee1ca56ce"},
        {**role_session("alice"), "cognitoIdentity": {}},
        {
            **role_session("alice"),
            "cognitoIdentity": {"identityPoolId": POOL, "identityId": "../x", "amr": []},
        },
        {**role_session("alice"), "cognitoIdentity": {"identityPoolId": POOL, "identityId": 7, "amr": "x"}},
        "arn:aws:iam::123456789012:user/alice",
        ["arn:aws:iam::123456789012:user/alice"],
    ],
)
def test_a_malformed_identity_is_a_401_in_json_and_writes_nothing(env, iam):
    status, body = Signed(iam).create()

    assert (status, body["error"]["code"]) == (401, "unauthorized")
    assert rows("SELECT id FROM uploads") == []


def test_a_listed_role_must_be_an_iam_role_arn():
    base = {"DATABASE_URL": "postgresql+pg8000://u@localhost/db"}
    for bad in ("app", f"arn:aws:sts::{ACCOUNT}:assumed-role/app", f"arn:aws:iam::{ACCOUNT}:user/alice"):
        with pytest.raises(SettingsError, match="PERSONAL_SESSION_ROLES"):
            load({**base, "PERSONAL_SESSION_ROLES": bad})
    listed = load({**base, "PERSONAL_SESSION_ROLES": f"arn:aws-us-gov:iam::{ACCOUNT}:role/a/b/staff"})
    assert listed.personal_role_sessions == {f"arn:aws-us-gov:sts::{ACCOUNT}:assumed-role/staff"}


@pytest.mark.parametrize(
    "sub",
    [ROLE, f"arn:aws:iam::{ACCOUNT}:user/alice", f"cognito-identity:{POOL}/unauthenticated", "anonymous"],
)
def test_a_jwt_sub_spelled_like_another_kind_of_owner_is_refused(env, sub):
    """An identity provider whose users pick their subject must not reach what IAM, Cognito or anonymous
    callers of the same deployment left (a deployment that moved from AWS_IAM to a JWT authorizer)."""
    Signed(role_session("s1")).create()

    status, body, _ = Api(sub).call("GET", "/uploads")

    assert (status, body["error"]["code"]) == (401, "unauthorized")
    assert Api(sub).create(**TEXT)[0] == 401
    assert owners() == [ROLE]
