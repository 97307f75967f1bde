"""Test setup: a real PostgreSQL (DATABASE_URL, or a fresh database on the embedded server), migrated once.

The database URL must be in the environment before landing.db.engine is imported (it builds the engine at
import, as in Lambda), so this runs at conftest import time.
"""

from __future__ import annotations

import os

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("BUCKET_NAME", "example-bucket")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Landing")
for _name in ("AWS_ENDPOINT_URL", "S3_ENDPOINT_URL", "AWS_PROFILE"):
    os.environ.pop(_name, None)

_TEST_DATABASE: tuple[str, str] | None = None
if not os.environ.get("DATABASE_URL"):
    import atexit

    from landing_local import embedded

    # One database per pytest process, so parallel runs on one machine never share tables.
    _server = embedded.server_url()
    _TEST_DATABASE = (_server, f"landing_test_{os.getpid()}")
    os.environ["DATABASE_URL"] = embedded.ensure_database(*_TEST_DATABASE)
    atexit.register(embedded.drop_database, *_TEST_DATABASE)

from collections.abc import Iterator  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
from hypothesis import HealthCheck  # noqa: E402
from hypothesis import settings as hypothesis_settings  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.exc import DBAPIError  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from landing.db import engine as db  # noqa: E402
from landing.db import migrate  # noqa: E402
from landing.lambda_context import LocalContext, local_context  # noqa: E402
from landing.s3 import clients  # noqa: E402

TABLES = ("object_events", "objects", "uploads", "event_outbox", "object_scans")

# Hypothesis profiles, chosen with HYPOTHESIS_PROFILE. "ci" (.ci/run) is derandomised: every run draws
# the same examples, so what CI catches does not vary from run to run (the ordering edges are also
# pinned with @example, whatever the profile). "dev", the default, draws new random examples each run
# and twice as many, so local runs keep exploring; a failure it finds is replayed from .hypothesis/.
_SLOW_DATABASE_EXAMPLES = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
hypothesis_settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=_SLOW_DATABASE_EXAMPLES,
)
hypothesis_settings.register_profile(
    "dev", max_examples=200, deadline=None, suppress_health_check=_SLOW_DATABASE_EXAMPLES
)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def scaled_examples(ci_examples: int) -> int:
    """A test's example count under the loaded profile: as set for CI, doubled by the wider "dev" one."""
    return max(1, ci_examples * hypothesis_settings.default.max_examples // 100)


@pytest.fixture(scope="session", autouse=True)
def migrated_database() -> Iterator[str]:
    migrate.upgrade(db.require_engine())
    yield os.environ["DATABASE_URL"]
    db.require_engine().dispose()


def _truncate(attempts: int = 3) -> None:
    # A `landing serve` child (browser tests) may still be ingesting or sweeping in its own process:
    # when PostgreSQL picks this TRUNCATE as a deadlock's victim, it is simply run again.
    for attempt in range(attempts):
        try:
            with db.require_engine().begin() as conn:
                conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
            return
        except DBAPIError as error:
            if "40P01" not in str(error.orig) or attempt == attempts - 1:
                raise


@pytest.fixture
def clean_db() -> Iterator[None]:
    """Empty tables before and after a test that commits through the handlers (real units of work)."""
    _truncate()
    yield
    _truncate()


@pytest.fixture
def session() -> Iterator[Session]:
    """A session joined to an outer transaction that is rolled back: for catalog unit tests only.

    SQLAlchemy's "join an external transaction" recipe; one flow at a time (see DESIGN.md).
    """
    connection = db.require_engine().connect()
    outer = connection.begin()
    test_session = Session(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield test_session
    finally:
        test_session.close()
        outer.rollback()
        connection.close()


@pytest.fixture
def lambda_context() -> LocalContext:
    return local_context("IngestFunction")


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto in-process S3 with the example bucket; the product's cached client is rebuilt inside it."""
    import boto3
    from moto import mock_aws

    clients.reset()
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="example-bucket")
        yield client
    clients.reset()


def rows(sql: str, **params: Any) -> list[dict[str, Any]]:
    with db.require_engine().connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text(sql), params)]


# In CI (.ci/run exports CI=true) nothing skips quietly: a test that cannot run there (no Chromium,
# a stale artifact, a missing tool) is a failure that says why. strict xfails are left as they are.
IN_CI = bool(os.environ.get("CI"))
# tests/samlocal belongs to `make sam-local` (Docker and its own build, which sets SAM_LOCAL_BUILD_DIR),
# a step of its own in .ci/run: there, the other runs leave it out rather than report it skipped.
collect_ignore = ["samlocal"] if IN_CI and not os.environ.get("SAM_LOCAL_BUILD_DIR") else []


def _fail_skip_in_ci(report: Any) -> None:
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every test must run: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    _fail_skip_in_ci(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    outcome = yield
    _fail_skip_in_ci(outcome.get_result())
