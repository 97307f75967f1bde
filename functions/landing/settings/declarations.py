"""Every setting declared once: its variable(s), type, default, lower bound and meaning."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import URL, make_url

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
# Under `sam local invoke` (AWS_SAM_LOCAL=true) the function runs in a container and reaches the
# developer's database through Docker's alias for the host, which is as local as loopback.
SAM_LOCAL_HOSTS = frozenset({"host.docker.internal"})
TLS_MODES = frozenset({"verify-full", "disable"})
# S3 accepts at most 5 GiB in a single POST or PUT; larger files must go multipart.
SINGLE_REQUEST_MAX = 5 * 1024**3
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


# An IAM role ARN (path optional); its sessions' ARNs read arn:P:sts::ACCOUNT:assumed-role/NAME/SESSION.
ROLE_ARN = re.compile(
    r"arn:(?P<partition>aws(?:-[a-z]+)*):iam::(?P<account>\d{12}):role(?:/[!-~]*)?/(?P<name>[\w+=,.@-]{1,64})",
    re.ASCII,
)


class SettingsError(ValueError):
    """The environment does not describe a usable configuration."""


def env(*names: str, default: Any = None, minimum: int | None = None, doc: str) -> Any:
    """Declare a setting: the environment variable(s) it is read from (first non-empty wins), its
    default, a lower bound for integers, and what it means. The field's type says how it is parsed."""
    return field(default=default, metadata={"env": names, "minimum": minimum, "doc": doc})


@dataclass(frozen=True)
class Settings:
    """Every setting, declared once: name, type, default and meaning (docs/operations.md lists them)."""

    database_url: str | None = env(
        "DATABASE_URL", doc="SQLAlchemy URL, postgresql+pg8000://user@host:5432/db"
    )
    bucket_name: str | None = env("BUCKET_NAME", doc="the bucket uploads go to")
    database_secret_arn: str | None = env(
        "DATABASE_SECRET_ARN", doc="Secrets Manager secret with the database password"
    )
    database_iam_auth: bool = env(
        "DATABASE_IAM_AUTH", default=False, doc="connect with an RDS IAM auth token"
    )
    database_app_role: str | None = env(
        "DATABASE_APP_ROLE",
        doc="migrations only: the role the functions connect as, created if missing and granted "
        "SELECT/INSERT/UPDATE/DELETE on every table but the journals (`object_events` with its partitions, "
        "`object_scans`: SELECT/INSERT only) and EXECUTE on the journal upkeep functions (rds_iam on RDS) "
        "after each upgrade",
    )
    database_tls: str = env(
        "DATABASE_TLS",
        default="",
        doc="verify-full (TLS, certificate and host verified) or disable (plaintext, loopback only); "
        "pg8000's own default would silently fall back to plaintext",
    )
    database_ca_bundle: str | None = env(
        "DATABASE_CA_BUNDLE", doc="CA bundle for the database's certificate (RDS's global bundle)"
    )
    database_socket_timeout_s: int = env(
        "DATABASE_SOCKET_TIMEOUT",
        default=8,
        minimum=1,
        doc="seconds for connect and every read: a silent network path fails instead of hanging",
    )
    statement_timeout_ms: int = env(
        "DATABASE_STATEMENT_TIMEOUT_MS",
        default=5000,
        minimum=100,
        doc="upper bound for any statement and lock wait; shortened per invocation from remaining time",
    )
    min_statement_timeout_ms: int = env(
        "DATABASE_MIN_STATEMENT_TIMEOUT_MS", default=2000, minimum=100, doc="floor of that bound"
    )
    pool_recycle_s: int = env(
        "DATABASE_POOL_RECYCLE",
        default=300,
        minimum=1,
        doc="seconds before a pooled connection is replaced (below the 350 s NAT idle timeout)",
    )
    ping_after_idle_s: int = env(
        "DATABASE_PING_AFTER_IDLE",
        default=2,
        minimum=0,
        doc="a pooled connection idle this long is pinged before use (frozen environments)",
    )
    pool_size: int = env("DATABASE_POOL_SIZE", default=1, minimum=1, doc="pooled connections")
    database_prepared_statements: bool = env(
        "DATABASE_PREPARED_STATEMENTS",
        default=True,
        doc="prepare the hot-path write once per connection; RDS Proxy may pin a connection holding "
        "prepared statements, so turn it off to keep proxy multiplexing",
    )
    head_workers: int = env(
        "HEAD_WORKERS", default=4, minimum=1, doc="threads for HeadObject calls per invocation"
    )
    journal_retention_days: int | None = env(
        "JOURNAL_RETENTION_DAYS",
        minimum=1,
        doc="days of object_events history to keep; whole monthly partitions older than that are "
        "dropped by the scheduled pass (objects is never touched); unset: keep forever",
    )
    log_level: str = env("LOG_LEVEL", default="INFO", doc="Powertools log level")
    service_name: str = env(
        "POWERTOOLS_SERVICE_NAME", default="landing", doc="service name in logs and metrics"
    )
    metrics_namespace: str = env(
        "POWERTOOLS_METRICS_NAMESPACE", default="Landing", doc="CloudWatch metrics namespace"
    )
    upload_prefix: str = env("UPLOAD_PREFIX", default="uploads/", doc="key prefix of announced uploads")
    upload_max_size: int = env(
        "UPLOAD_MAX_SIZE", default=5 * 1024**3, minimum=1, doc="largest upload a client may announce"
    )
    multipart_threshold: int = env(
        "MULTIPART_THRESHOLD",
        default=100 * 1024**2,
        minimum=5 * 1024**2,
        doc="announced sizes from here on are uploaded in parts (at most 5 GiB)",
    )
    multipart_part_size: int = env(
        "MULTIPART_PART_SIZE", default=16 * 1024**2, minimum=5 * 1024**2, doc="bytes per part"
    )
    presign_expires_s: int = env(
        "PRESIGN_EXPIRES",
        default=300,
        minimum=1,
        doc="lifetime of a presigned PUT, seconds (S3 checks it when the upload starts; the PUT is "
        "conditional on an empty key, so it cannot replace a stored body)",
    )
    post_presign_expires_s: int = env(
        "POST_PRESIGN_EXPIRES",
        default=60,
        minimum=1,
        doc="lifetime of a presigned POST form, seconds (S3 checks it when the upload starts; a form "
        "cannot be made conditional, so it can be sent again until then)",
    )
    multipart_presign_expires_s: int = env(
        "MULTIPART_PRESIGN_EXPIRES",
        default=3600,
        minimum=1,
        doc="lifetime of multipart part URLs, seconds (each part must start within it)",
    )
    upload_grace_s: int = env(
        "UPLOAD_GRACE",
        default=3600,
        minimum=0,
        doc="seconds after expiry before a pending upload is expired (late notifications)",
    )
    upload_max_pending_per_owner: int = env(
        "UPLOAD_MAX_PENDING_PER_OWNER",
        default=100,
        minimum=1,
        doc="uploads one owner may have open (presigned request still valid) at once; more is a 429",
    )
    upload_max_bytes_per_day: int = env(
        "UPLOAD_MAX_BYTES_PER_DAY",
        default=50 * 1024**3,
        minimum=1,
        doc="bytes one owner may announce in any 24 hours; more is a 429 with Retry-After",
    )
    upload_retention_days: int = env(
        "UPLOAD_RETENTION_DAYS",
        default=90,
        minimum=0,
        doc="days after its presigned request expired that a decided upload row is kept unless a current "
        "object is linked to it (the scheduled pass deletes older ones); 0 keeps them forever",
    )
    sniff_bytes: int = env(
        "SNIFF_BYTES",
        default=4096,
        minimum=16,
        doc="first bytes of an announced upload read (ranged GET) to check what it really is",
    )
    detect_bucket_drops: bool = env(
        "DETECT_BUCKET_DROPS",
        default=False,
        doc="also read the first bytes of objects dropped outside UPLOAD_PREFIX and store "
        "objects.detected_type (one ranged GET per object)",
    )
    require_clean_scan: bool = env(
        "REQUIRE_CLEAN_SCAN",
        default=False,
        doc="an upload that passes the content checks waits as 'scanning' until GuardDuty's verdict: "
        "clean -> uploaded, threats -> quarantined, no verdict possible -> rejected",
    )
    scan_timeout_s: int = env(
        "SCAN_TIMEOUT",
        default=3600,
        minimum=60,
        doc="seconds an upload may stay 'scanning' (REQUIRE_CLEAN_SCAN); then the scheduled pass "
        "rejects it and deletes its object",
    )
    allowed_content_types: tuple[str, ...] = env(
        "ALLOWED_CONTENT_TYPES",
        default=DEFAULT_CONTENT_TYPES,
        doc="comma-separated content types a client may announce",
    )
    uploads_allow_anonymous: bool | None = env(
        "UPLOADS_ALLOW_ANONYMOUS",
        doc="accept callers without a JWT as one owner; unset: only outside Lambda or under sam local",
    )
    personal_session_roles: tuple[str, ...] = env(
        "PERSONAL_SESSION_ROLES",
        default=(),
        doc="comma-separated IAM role ARNs whose trust policy pins the session name to the person "
        "(sts:RoleSessionName = ${aws:username}, or a SAML/Identity Center session name): each session "
        "of these roles is its own owner; every other role is one owner for all its sessions",
    )
    anonymous_max_size: int = env(
        "ANONYMOUS_UPLOAD_MAX_SIZE",
        default=10 * 1024**2,
        minimum=1,
        doc="largest upload the anonymous owner may announce (trial mode)",
    )
    cors_allow_origins: tuple[str, ...] = env(
        "CORS_ALLOW_ORIGINS",
        default=(),
        doc="comma-separated origins the API answers cross-origin (named; * only outside AWS)",
    )
    event_bus_name: str | None = env(
        "EVENT_BUS_NAME",
        doc="EventBridge bus (name or ARN) upload lifecycle events go to; unset: none are published "
        "and the scheduled pass discards what the outbox holds",
    )
    event_publish_limit: int = env(
        "EVENT_PUBLISH_LIMIT",
        default=500,
        minimum=1,
        doc="outbox rows one scheduled pass publishes at most (oldest first)",
    )
    aws_region: str = env("AWS_REGION", "AWS_DEFAULT_REGION", default="us-east-1", doc="AWS region")
    s3_endpoint_url: str | None = env(
        "S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", doc="S3 endpoint (local S3 servers)"
    )
    in_lambda: bool = env(
        "AWS_LAMBDA_FUNCTION_NAME", default=False, doc="set by Lambda: running in a function"
    )
    sam_local: bool = env("AWS_SAM_LOCAL", default=False, doc="set by `sam local`")

    @staticmethod
    def missing_database_error() -> SettingsError:
        return SettingsError(
            "DATABASE_URL is not set: point it at PostgreSQL "
            "(postgresql+pg8000://user@host:5432/db) or run through `landing`, "
            "which starts the embedded database"
        )

    @property
    def personal_role_sessions(self) -> frozenset[str]:
        """The listed roles as their sessions' ARNs read up to the session name (no role path)."""
        matches = (ROLE_ARN.fullmatch(role) for role in self.personal_session_roles)
        return frozenset(
            f"arn:{m['partition']}:sts::{m['account']}:assumed-role/{m['name']}" for m in matches if m
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
