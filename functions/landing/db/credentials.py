"""Database credentials on AWS: an RDS IAM auth token or a Secrets Manager secret, supplied at connect time."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

from sqlalchemy import Engine, event

from landing.settings import Settings

# RDS IAM auth tokens are valid for 15 minutes. A token only has to be valid when a connection
# authenticates, so we mint a new one once the cached one is 10 minutes old: a connect that starts
# with a 9-minute-old token still has 6 minutes of margin for clock skew and a slow handshake.
IAM_TOKEN_LIFETIME_S = 900
IAM_TOKEN_REFRESH_AFTER_S = 600

# SQLSTATEs PostgreSQL and RDS Proxy answer for rejected credentials (invalid_password,
# invalid_authorization_specification): a rotated secret or a refused token.
AUTH_FAILURE_CODES = frozenset({"28P01", "28000"})


@dataclass(frozen=True)
class Credentials:
    user: str | None
    # Kept out of repr so the credential cannot end up in a log line or a traceback's locals dump.
    password: str = ""

    def __repr__(self) -> str:
        return f"Credentials(user={self.user!r}, password=<hidden>)"


class CredentialSource(Protocol):
    def credentials(self, user: str | None, host: str | None, port: int | None) -> Credentials: ...

    def invalidate(self) -> None: ...


class IamTokenSource:
    """Signs RDS IAM auth tokens locally (no network call) and reuses one until it is 10 minutes old."""

    def __init__(
        self,
        region: str,
        mint: Callable[..., str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._region = region
        self._mint = mint
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[tuple[str, str, int], str, float] | None = None

    def credentials(self, user: str | None, host: str | None, port: int | None) -> Credentials:
        if not user or not host:
            raise ValueError("an IAM auth token needs the database user and host from DATABASE_URL")
        key = (user, host, port or 5432)
        with self._lock:
            now = self._clock()
            cached = self._cached
            if cached is None or cached[0] != key or now - cached[2] >= IAM_TOKEN_REFRESH_AFTER_S:
                mint = self._mint or rds_client(self._region).generate_db_auth_token
                token = mint(DBHostname=host, Port=key[2], DBUsername=user, Region=self._region)
                cached = self._cached = (key, token, now)
            return Credentials(user=user, password=cached[1])

    def invalidate(self) -> None:
        with self._lock:
            self._cached = None


class SecretSource:
    """Reads the Secrets Manager secret once per execution environment; again only after a login failed.

    The secret is the JSON RDS and Secrets Manager rotation use: ``username`` and ``password`` (host,
    port and database come from DATABASE_URL, so a proxy endpoint can sit in front).
    """

    def __init__(self, secret_arn: str, region: str, fetch: Callable[[str, bool], Any] | None = None) -> None:
        self._secret_arn = secret_arn
        self._fetch = fetch or _fetch_secret_for(_region_of(secret_arn) or region)
        self._lock = threading.Lock()
        self._cached: Credentials | None = None
        self._stale = False

    def credentials(self, user: str | None, host: str | None, port: int | None) -> Credentials:
        with self._lock:
            if self._cached is None or self._stale:
                value = self._fetch(self._secret_arn, self._stale)
                secret = json.loads(value) if isinstance(value, str | bytes) else value
                if not isinstance(secret, dict) or not secret.get("password"):
                    raise ValueError(
                        "DATABASE_SECRET_ARN must name a JSON secret with a password (and username)"
                    )
                self._cached = Credentials(user=secret.get("username") or user, password=secret["password"])
                self._stale = False
            return self._cached

    def invalidate(self) -> None:
        with self._lock:
            self._stale = True


def _fetch_secret_for(region: str) -> Callable[[str, bool], Any]:
    @cache
    def provider() -> Any:
        from aws_lambda_powertools.utilities.parameters import SecretsProvider

        return SecretsProvider(boto3_client=secrets_client(region))

    def fetch(name: str, force: bool) -> Any:
        # SecretSource decides when to read; the provider's cache just must not hide a rotation.
        return provider().get(name, max_age=365 * 24 * 3600, force_fetch=force)

    return fetch


def _region_of(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 and parts[0] == "arn" and parts[3] else None


def _client_config() -> Any:
    from botocore.config import Config

    return Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 3})


@cache
def rds_client(region: str) -> Any:
    """Only used to sign tokens (local computation); built once, on the first connect."""
    import boto3

    return boto3.client("rds", region_name=region, config=_client_config())


class _DropSecretPayloads(logging.Filter):
    """botocore's DEBUG wire log prints response bodies, GetSecretValue's included: never let one through."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return "SecretString" not in message and "SecretBinary" not in message


_SECRET_FILTER = _DropSecretPayloads()


@cache
def secrets_client(region: str) -> Any:
    import boto3

    for name in ("botocore.parsers", "botocore.endpoint"):
        logging.getLogger(name).addFilter(_SECRET_FILTER)  # adding the same filter twice is a no-op
    return boto3.client("secretsmanager", region_name=region, config=_client_config())


def credential_source(settings: Settings) -> CredentialSource | None:
    if settings.database_iam_auth:
        return IamTokenSource(settings.aws_region)
    if settings.database_secret_arn:
        return SecretSource(settings.database_secret_arn, settings.aws_region)
    return None


def is_auth_failure(error: BaseException | None) -> bool:
    """pg8000 puts the server's error fields in args[0] ({'C': SQLSTATE, ...})."""
    fields = error.args[0] if error is not None and error.args else None
    return isinstance(fields, dict) and fields.get("C") in AUTH_FAILURE_CODES


def install(engine: Engine, source: CredentialSource) -> None:
    """Supply user and password on every new DBAPI connection, never in the URL (so never in a log).

    A login refused with a credentials error marks the source stale: the next connect re-reads a
    rotated secret or signs a fresh token, instead of failing until the environment is recycled.
    """

    @event.listens_for(engine, "do_connect")
    def _provide_credentials(dialect: Any, conn_rec: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        creds = source.credentials(cparams.get("user"), cparams.get("host"), cparams.get("port"))
        cparams["user"] = creds.user
        cparams["password"] = creds.password

    @event.listens_for(engine, "handle_error")
    def _forget_refused_credentials(context: Any) -> None:
        if is_auth_failure(context.original_exception):
            source.invalidate()
