"""Environment, read and validated once per execution environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from functools import lru_cache

from sqlalchemy.engine import URL, make_url

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
# Under `sam local invoke` (AWS_SAM_LOCAL=true) the function runs in a container and reaches the
# developer's database through Docker's alias for the host, which is as local as loopback.
SAM_LOCAL_HOSTS = frozenset({"host.docker.internal"})
TLS_MODES = frozenset({"verify-full", "disable"})
# S3 accepts at most 5 GiB in a single POST or PUT; larger files must go multipart.
SINGLE_REQUEST_MAX = 5 * 1024**3


class SettingsError(ValueError):
    """The environment does not describe a usable configuration."""


def _int(env: dict[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be >= {minimum}, got {value}")
    return value


def _bool(env: dict[str, str], name: str, default: bool = False) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be a boolean (true/false), got {raw!r}")


def _csv(env: dict[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    return tuple(part.strip() for part in raw.split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    database_url: str | None
    bucket_name: str | None
    database_secret_arn: str | None = None
    database_iam_auth: bool = False
    # "verify-full": TLS with certificate and host name verification; "disable": plaintext, only
    # accepted for loopback hosts and unix sockets (pg8000's own default would silently fall back).
    database_tls: str = "verify-full"
    database_ca_bundle: str | None = None
    # Socket timeout for connect and every read: a silent network path fails instead of hanging.
    database_socket_timeout_s: int = 8
    # Upper bound for any statement and lock wait; shortened per invocation from remaining time.
    statement_timeout_ms: int = 5000
    min_statement_timeout_ms: int = 2000
    pool_recycle_s: int = 300
    # A pooled connection idle for longer than this is pinged before use (frozen environments).
    ping_after_idle_s: int = 2
    pool_size: int = 1
    # Prepare the hot-path write once per connection (one round trip per invocation instead of
    # three). RDS Proxy may pin a client connection that holds prepared statements to one backend:
    # harmless with one connection per environment, but turn it off to keep proxy multiplexing.
    database_prepared_statements: bool = True
    head_workers: int = 4
    log_level: str = "INFO"
    # Powertools' own variables, read here once so a template parameter really changes them.
    service_name: str = "landing"
    metrics_namespace: str = "Landing"
    # Uploads API.
    upload_prefix: str = "uploads/"
    upload_max_size: int = 5 * 1024**3
    multipart_threshold: int = 100 * 1024**2
    multipart_part_size: int = 16 * 1024**2
    presign_expires_s: int = 900
    upload_grace_s: int = 3600
    allowed_content_types: tuple[str, ...] = field(default=())
    # Without a JWT authorizer every caller is "anonymous"; allowed locally, refused in Lambda unless set.
    uploads_allow_anonymous: bool = True
    cors_allow_origins: tuple[str, ...] = ("*",)
    aws_region: str = "us-east-1"
    s3_endpoint_url: str | None = None
    in_lambda: bool = False
    sam_local: bool = False

    @staticmethod
    def missing_database_error() -> SettingsError:
        return SettingsError(
            "DATABASE_URL is not set: point it at PostgreSQL "
            "(postgresql+pg8000://user@host:5432/db) or run through `landing`, "
            "which starts the embedded database"
        )

    @property
    def url(self) -> URL:
        if not self.database_url:
            raise self.missing_database_error()
        return make_url(self.database_url)

    @property
    def database_is_local(self) -> bool:
        url = self.url
        local_hosts = LOOPBACK_HOSTS | SAM_LOCAL_HOSTS if self.sam_local else LOOPBACK_HOSTS
        return url.host in local_hosts or (url.host in (None, "") and "unix_sock" in url.query)


DEFAULT_CONTENT_TYPES = (
    "application/json",
    "application/octet-stream",
    "application/pdf",
    "application/zip",
    "image/gif",
    "image/jpeg",
    "image/png",
    "image/webp",
    "text/csv",
    "text/plain",
)


def load(env: dict[str, str] | None = None) -> Settings:
    """Build Settings from an environment mapping (os.environ by default), validating every value."""
    env = dict(os.environ if env is None else env)
    database_url = env.get("DATABASE_URL") or None
    if database_url is not None:
        try:
            url = make_url(database_url)
        except Exception:
            raise SettingsError("DATABASE_URL is not a valid SQLAlchemy URL") from None
        if url.drivername not in {"postgresql+pg8000", "postgresql"}:
            raise SettingsError(f"DATABASE_URL must use postgresql+pg8000, got {url.drivername!r}")
        if url.drivername == "postgresql":
            database_url = url.set(drivername="postgresql+pg8000").render_as_string(hide_password=False)
    in_lambda = bool(env.get("AWS_LAMBDA_FUNCTION_NAME"))
    settings = Settings(
        database_url=database_url,
        bucket_name=env.get("BUCKET_NAME") or None,
        database_secret_arn=env.get("DATABASE_SECRET_ARN") or None,
        database_iam_auth=_bool(env, "DATABASE_IAM_AUTH"),
        database_tls=env.get("DATABASE_TLS", ""),
        database_ca_bundle=env.get("DATABASE_CA_BUNDLE") or None,
        database_socket_timeout_s=_int(env, "DATABASE_SOCKET_TIMEOUT", 8, minimum=1),
        statement_timeout_ms=_int(env, "DATABASE_STATEMENT_TIMEOUT_MS", 5000, minimum=100),
        min_statement_timeout_ms=_int(env, "DATABASE_MIN_STATEMENT_TIMEOUT_MS", 2000, minimum=100),
        pool_recycle_s=_int(env, "DATABASE_POOL_RECYCLE", 300, minimum=1),
        ping_after_idle_s=_int(env, "DATABASE_PING_AFTER_IDLE", 2, minimum=0),
        pool_size=_int(env, "DATABASE_POOL_SIZE", 1, minimum=1),
        database_prepared_statements=_bool(env, "DATABASE_PREPARED_STATEMENTS", default=True),
        head_workers=_int(env, "HEAD_WORKERS", 4, minimum=1),
        log_level=env.get("LOG_LEVEL", "INFO"),
        service_name=env.get("POWERTOOLS_SERVICE_NAME") or "landing",
        metrics_namespace=env.get("POWERTOOLS_METRICS_NAMESPACE") or "Landing",
        upload_prefix=env.get("UPLOAD_PREFIX", "uploads/"),
        upload_max_size=_int(env, "UPLOAD_MAX_SIZE", 5 * 1024**3, minimum=1),
        multipart_threshold=_int(env, "MULTIPART_THRESHOLD", 100 * 1024**2, minimum=5 * 1024**2),
        multipart_part_size=_int(env, "MULTIPART_PART_SIZE", 16 * 1024**2, minimum=5 * 1024**2),
        presign_expires_s=_int(env, "PRESIGN_EXPIRES", 900, minimum=1),
        upload_grace_s=_int(env, "UPLOAD_GRACE", 3600, minimum=0),
        allowed_content_types=_csv(env, "ALLOWED_CONTENT_TYPES", DEFAULT_CONTENT_TYPES),
        uploads_allow_anonymous=_bool(
            env, "UPLOADS_ALLOW_ANONYMOUS", default=not in_lambda or _bool(env, "AWS_SAM_LOCAL")
        ),
        cors_allow_origins=_csv(env, "CORS_ALLOW_ORIGINS", ("*",)),
        aws_region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        s3_endpoint_url=env.get("S3_ENDPOINT_URL") or env.get("AWS_ENDPOINT_URL_S3") or None,
        in_lambda=in_lambda,
        sam_local=_bool(env, "AWS_SAM_LOCAL"),
    )
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
    """The process-wide settings, read from the environment on first use."""
    return load()
