"""Database credentials: IAM tokens minted at connect and refreshed, the secret read once, nothing logged."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pg8000.dbapi
import pytest
from sqlalchemy import Engine, event, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from landing import settings
from landing.db import credentials as dbauth
from landing.db import engine as db

SECRET_PASSWORD = "s3cr3t-Value-never-logged"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _real_connection() -> Any:
    """A DBAPI connection to the test database (the embedded server trusts local users)."""
    url = make_url(os.environ["DATABASE_URL"])
    params: dict[str, Any] = {"user": url.username, "database": url.database, **url.query}
    if url.host:
        params.update(host=url.host, port=url.port or 5432)
    return pg8000.dbapi.connect(**params)


def _observe_connects(engine: Engine, seen: list[dict[str, Any]], refuse: list[bool]) -> None:
    """Registered after dbauth's listener: sees what would go to pg8000, then connects for real.

    The test server accepts any password, so this stands in for PostgreSQL / RDS Proxy checking
    the credential; ``refuse`` makes the next login fail as a rotated password would.
    """

    @event.listens_for(engine, "do_connect")
    def _connect(dialect: Any, conn_rec: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        seen.append(dict(cparams))
        if refuse and refuse.pop():
            raise pg8000.dbapi.DatabaseError(
                {
                    "S": "FATAL",
                    "C": "28P01",
                    "M": f'password authentication failed for user "{cparams["user"]}"',
                }
            )
        return _real_connection()


@pytest.fixture
def aws() -> Iterator[Any]:
    from moto import mock_aws

    dbauth.secrets_client.cache_clear()
    dbauth.rds_client.cache_clear()
    with mock_aws():
        yield
    dbauth.secrets_client.cache_clear()
    dbauth.rds_client.cache_clear()


def _secret(name: str, value: dict[str, str]) -> str:
    import boto3

    client = boto3.client("secretsmanager", region_name="us-east-1")
    return str(client.create_secret(Name=name, SecretString=json.dumps(value))["ARN"])


def _count_secret_reads(region: str = "us-east-1") -> list[str]:
    calls: list[str] = []
    dbauth.secrets_client(region).meta.events.register(
        "before-call.secrets-manager.GetSecretValue", lambda **kwargs: calls.append("GetSecretValue")
    )
    return calls


def test_iam_token_is_minted_at_connect_for_the_url_user_and_host(aws):
    # Given a proxy endpoint with IAM authentication
    config = settings.load(
        {
            "DATABASE_URL": "postgresql+pg8000://landing_app@landing.proxy-abc.us-east-1.rds.amazonaws.com:5432/landing",
            "DATABASE_IAM_AUTH": "true",
            "AWS_REGION": "us-east-1",
        }
    )
    engine = db.build_engine(config)
    seen: list[dict[str, Any]] = []
    _observe_connects(engine, seen, refuse=[])

    # When the engine opens its connection
    with engine.connect() as conn:
        assert conn.execute(select(1)).scalar() == 1

    # Then the password pg8000 received is a SigV4 presigned rds-db connect token for that user and host
    (params,) = seen
    token = params["password"]
    assert token.startswith("landing.proxy-abc.us-east-1.rds.amazonaws.com:5432/?")
    query = parse_qs(urlsplit("https://" + token).query)
    assert query["Action"] == ["connect"]
    assert query["DBUser"] == ["landing_app"]
    assert query["X-Amz-Expires"] == ["900"]
    assert query["X-Amz-Credential"][0].endswith("/us-east-1/rds-db/aws4_request")
    assert query["X-Amz-Signature"][0]
    # and the URL itself never holds it
    assert engine.url.password is None
    engine.dispose()


def test_iam_token_is_reused_for_ten_minutes_then_minted_again(aws):
    clock = Clock()
    minted: list[str] = []

    def mint(**kwargs: Any) -> str:
        minted.append(kwargs["DBUsername"])
        return dbauth.rds_client("us-east-1").generate_db_auth_token(**kwargs)

    source = dbauth.IamTokenSource("us-east-1", mint=mint, clock=clock)
    first = source.credentials("landing_app", "proxy.example", 5432)
    clock.now += dbauth.IAM_TOKEN_REFRESH_AFTER_S - 1
    assert source.credentials("landing_app", "proxy.example", 5432) == first
    assert len(minted) == 1

    clock.now += 1  # 10 minutes old: 5 minutes before it would expire
    source.credentials("landing_app", "proxy.example", 5432)
    assert len(minted) == 2
    assert dbauth.IAM_TOKEN_REFRESH_AFTER_S < dbauth.IAM_TOKEN_LIFETIME_S


def test_a_refused_token_is_replaced_on_the_next_connect(aws, monkeypatch):
    config = settings.load(
        {
            "DATABASE_URL": "postgresql+pg8000://landing_app@proxy.example.internal:5432/landing",
            "DATABASE_IAM_AUTH": "true",
        }
    )
    # Two tokens signed in the same second are the same string: number them, so the test can tell
    # a newly minted token from the cached one.
    signer = dbauth.rds_client(config.aws_region)
    minted: list[str] = []

    def numbered_token(**kwargs: Any) -> str:
        minted.append(f"token-{len(minted) + 1}")
        return minted[-1]

    monkeypatch.setattr(signer, "generate_db_auth_token", numbered_token)
    engine = db.build_engine(config)
    seen: list[dict[str, Any]] = []
    _observe_connects(engine, seen, refuse=[True])

    with pytest.raises(DBAPIError), engine.connect():
        pass
    with engine.connect() as conn:
        conn.execute(select(1))

    assert len(seen) == 2
    # The refused token was dropped at once (well inside its 10-minute reuse window) and replaced.
    assert [p["password"] for p in seen] == ["token-1", "token-2"]
    assert minted == ["token-1", "token-2"]
    engine.dispose()


def test_a_token_that_was_accepted_is_reused_by_the_next_connect(aws, monkeypatch):
    """The other side of the rule: only a refusal discards the token, a new connection alone does not."""
    config = settings.load(
        {
            "DATABASE_URL": "postgresql+pg8000://landing_app@proxy.example.internal:5432/landing",
            "DATABASE_IAM_AUTH": "true",
        }
    )
    minted: list[str] = []

    def numbered_token(**kwargs: Any) -> str:
        minted.append(f"token-{len(minted) + 1}")
        return minted[-1]

    monkeypatch.setattr(dbauth.rds_client(config.aws_region), "generate_db_auth_token", numbered_token)
    engine = db.build_engine(config)
    seen: list[dict[str, Any]] = []
    _observe_connects(engine, seen, refuse=[])

    for _ in range(2):
        with engine.connect() as conn:
            conn.execute(select(1))
        engine.dispose()

    assert [p["password"] for p in seen] == ["token-1", "token-1"]
    engine.dispose()


def test_secret_is_read_once_per_environment_across_reconnects(aws):
    # Given credentials in Secrets Manager, as RDS stores them
    arn = _secret("landing/db", {"username": "postgres", "password": SECRET_PASSWORD, "engine": "postgres"})
    config = settings.load({"DATABASE_URL": os.environ["DATABASE_URL"], "DATABASE_SECRET_ARN": arn})
    engine = db.build_engine(config)
    seen: list[dict[str, Any]] = []
    _observe_connects(engine, seen, refuse=[])
    reads = _count_secret_reads()

    # When the environment connects, loses its pool (recycle, dead connection) and connects twice more
    for _ in range(3):
        with engine.connect() as conn:
            assert conn.execute(text("SELECT current_database()")).scalar()
        engine.dispose()

    # Then the secret was fetched once and every connection used it
    assert reads == ["GetSecretValue"]
    assert [(p["user"], p["password"]) for p in seen] == [("postgres", SECRET_PASSWORD)] * 3


def test_rotated_secret_is_read_again_after_the_database_refuses_the_old_one(aws):
    import boto3

    arn = _secret("landing/rotating", {"username": "postgres", "password": "old-password"})
    config = settings.load({"DATABASE_URL": os.environ["DATABASE_URL"], "DATABASE_SECRET_ARN": arn})
    engine = db.build_engine(config)
    seen: list[dict[str, Any]] = []
    _observe_connects(engine, seen, refuse=[True])
    reads = _count_secret_reads()

    # Given the secret was rotated after this environment cached it
    with pytest.raises(DBAPIError), engine.connect():
        pass
    boto3.client("secretsmanager", region_name="us-east-1").put_secret_value(
        SecretId=arn, SecretString=json.dumps({"username": "postgres", "password": "new-password"})
    )

    # When the next connect happens
    with engine.connect() as conn:
        conn.execute(select(1))

    # Then it re-read the secret once and logged in with the new password
    assert [p["password"] for p in seen] == ["old-password", "new-password"]
    assert len(reads) == 2
    engine.dispose()


def test_credentials_never_reach_logs_errors_or_reprs(aws, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    arn = _secret("landing/quiet", {"username": "postgres", "password": SECRET_PASSWORD})
    config = settings.load({"DATABASE_URL": os.environ["DATABASE_URL"], "DATABASE_SECRET_ARN": arn})
    engine = db.build_engine(config)
    engine.echo = True
    engine.pool.echo = "debug"
    seen: list[dict[str, Any]] = []
    _observe_connects(engine, seen, refuse=[True])

    with pytest.raises(DBAPIError) as refused, engine.connect():
        pass
    with engine.connect() as conn:
        conn.execute(select(1))

    out = capsys.readouterr()
    assert seen and all(p["password"] == SECRET_PASSWORD for p in seen)
    for text_ in (caplog.text, out.out, out.err, str(refused.value), repr(engine.url), repr(engine)):
        assert SECRET_PASSWORD not in text_
    creds = dbauth.SecretSource(arn, "us-east-1").credentials("postgres", None, None)
    assert SECRET_PASSWORD not in repr(creds)
    engine.dispose()


def test_secret_without_a_password_is_a_clear_error(aws):
    arn = _secret("landing/bad", {"username": "postgres"})
    source = dbauth.SecretSource(arn, "us-east-1")
    with pytest.raises(ValueError, match="JSON secret with a password"):
        source.credentials("postgres", None, None)


def test_only_credential_errors_count_as_refused_logins():
    assert dbauth.is_auth_failure(pg8000.dbapi.DatabaseError({"C": "28P01", "M": "password"}))
    assert dbauth.is_auth_failure(pg8000.dbapi.DatabaseError({"C": "28000", "M": "PAM failed"}))
    assert not dbauth.is_auth_failure(pg8000.dbapi.DatabaseError({"C": "57014", "M": "timeout"}))
    assert not dbauth.is_auth_failure(pg8000.dbapi.InterfaceError("Can't create a connection"))
    assert not dbauth.is_auth_failure(None)
