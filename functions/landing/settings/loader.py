"""The one place that reads the environment: settings parsed, validated and cached per execution environment."""

from __future__ import annotations

import os
import typing
from collections.abc import Mapping
from dataclasses import fields, replace
from functools import lru_cache
from typing import Any

from sqlalchemy.engine import make_url

from landing.settings.declarations import ROLE_ARN, SINGLE_REQUEST_MAX, TLS_MODES, Settings, SettingsError

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _parse(name: str, raw: str, kind: Any, minimum: int | None) -> Any:
    """One environment string as the declared type, or a SettingsError naming the variable."""
    if kind is int or kind == int | None:
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
        if minimum is not None and value < minimum:
            raise SettingsError(f"{name} must be >= {minimum}, got {value}")
        return value
    if kind is bool or kind == bool | None:
        if name == "AWS_LAMBDA_FUNCTION_NAME":
            return True  # Lambda sets the function's name; its presence is what matters.
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise SettingsError(f"{name} must be a boolean (true/false), got {raw!r}")
    if kind == tuple[str, ...]:
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    return raw


def _read(env_map: Mapping[str, str]) -> dict[str, Any]:
    """Every declared field from the environment; unset or empty variables keep their default."""
    hints = typing.get_type_hints(Settings)
    values: dict[str, Any] = {}
    for spec in fields(Settings):
        for name in spec.metadata["env"]:
            raw = env_map.get(name, "")
            if raw.strip():
                values[spec.name] = _parse(name, raw, hints[spec.name], spec.metadata["minimum"])
                break
    return values


def describe() -> list[tuple[str, str, str]]:
    """(variables, default, meaning) for every setting, for docs and `landing settings`."""
    return [(" / ".join(s.metadata["env"]), repr(s.default), s.metadata["doc"]) for s in fields(Settings)]


def load(env_map: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from an environment mapping (os.environ by default), validating every value."""
    settings = Settings(**_read(os.environ if env_map is None else env_map))
    if settings.database_url is not None:
        settings = replace(settings, database_url=_pg8000_url(settings.database_url))
    if settings.uploads_allow_anonymous is None:
        # Local runs have no authorizer; a deployed function must be told to accept anonymous callers.
        settings = replace(settings, uploads_allow_anonymous=not settings.in_lambda or settings.sam_local)
    if "*" in settings.cors_allow_origins and settings.in_lambda and not settings.sam_local:
        raise SettingsError("CORS_ALLOW_ORIGINS must name the web app's origins in AWS Lambda, not *")
    for role in settings.personal_session_roles:
        if not ROLE_ARN.fullmatch(role):
            raise SettingsError(f"PERSONAL_SESSION_ROLES must list IAM role ARNs, got {role[:200]!r}")
    if settings.multipart_threshold > SINGLE_REQUEST_MAX:
        raise SettingsError("MULTIPART_THRESHOLD must be at most 5 GiB, S3's limit for one POST or PUT")
    if settings.pool_recycle_s >= 350:
        raise SettingsError("DATABASE_POOL_RECYCLE must stay below the 350 s NAT idle timeout")
    if settings.database_url is not None:
        tls = settings.database_tls or ("disable" if settings.database_is_local else "verify-full")
        if tls not in TLS_MODES:
            raise SettingsError(f"DATABASE_TLS must be one of {sorted(TLS_MODES)}, got {tls!r}")
        if tls == "disable" and not settings.database_is_local:
            raise SettingsError(
                "DATABASE_TLS=disable is only allowed for a database on loopback or a unix socket"
            )
        settings = replace(settings, database_tls=tls)
        _check_database_auth(settings)
    return settings


def _pg8000_url(database_url: str) -> str:
    try:
        url = make_url(database_url)
    except Exception:
        raise SettingsError("DATABASE_URL is not a valid SQLAlchemy URL") from None
    if url.drivername not in {"postgresql+pg8000", "postgresql"}:
        raise SettingsError(f"DATABASE_URL must use postgresql+pg8000, got {url.drivername!r}")
    if url.drivername == "postgresql":
        return url.set(drivername="postgresql+pg8000").render_as_string(hide_password=False)
    return database_url


def _check_database_auth(settings: Settings) -> None:
    """Credentials and TLS rules that only make sense together with a database URL."""
    if settings.in_lambda and not settings.sam_local and settings.database_tls != "verify-full":
        # A deployed function never talks to its database without verifying who answers.
        raise SettingsError("DATABASE_TLS must be verify-full in AWS Lambda")
    if settings.database_iam_auth and settings.database_secret_arn:
        raise SettingsError("set either DATABASE_IAM_AUTH or DATABASE_SECRET_ARN, not both")
    url = settings.url
    if settings.database_iam_auth and (not url.host or not url.username):
        raise SettingsError(
            "DATABASE_IAM_AUTH needs a DATABASE_URL with the database user and host "
            "(postgresql+pg8000://user@proxy-endpoint:5432/db): the token is signed for both"
        )
    if (settings.database_iam_auth or settings.database_secret_arn) and url.password:
        raise SettingsError("DATABASE_URL must not carry a password when IAM auth or a secret supplies it")
    if settings.database_ca_bundle and not os.path.isfile(settings.database_ca_bundle):
        raise SettingsError(f"DATABASE_CA_BUNDLE {settings.database_ca_bundle!r} is not a readable file")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use (a SettingsError is not
    cached: it is raised again by every caller, so each invocation can report it)."""
    return load()


def names() -> tuple[str, str]:
    """Service name and metrics namespace without validating anything else, for import-time
    logging setup: a bad DATABASE_URL must be reported by the invocation, not break the import."""
    defaults = {s.name: s.default for s in fields(Settings)}
    values = _read(
        {k: os.environ.get(k, "") for k in ("POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE")}
    )
    return (
        values.get("service_name", defaults["service_name"]),
        values.get("metrics_namespace", defaults["metrics_namespace"]),
    )
