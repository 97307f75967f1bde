"""MigrateFunction answers CloudFormation on Create, Update, Delete and failure, and leaves the schema at head."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from alembic.script import ScriptDirectory

from landing import custom_resource
from landing.db import migrate
from landing.handlers import migrate as migrate_handler
from landing.lambda_context import local_context
from tests.conftest import rows


class ResponseBucket:
    """Stands in for the presigned S3 URL CloudFormation hands the custom resource."""

    def __init__(self) -> None:
        self.responses: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        bucket = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                length = int(self.headers["Content-Length"])
                bucket.headers.append(dict(self.headers))
                bucket.responses.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/cfn-response?X-Amz-Signature=abc"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def response_bucket() -> Iterator[ResponseBucket]:
    bucket = ResponseBucket()
    yield bucket
    bucket.close()


def cfn_event(request_type: str, response_url: str, physical_id: str | None = None) -> dict[str, Any]:
    """Shaped like https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-requests.html"""
    event: dict[str, Any] = {
        "RequestType": request_type,
        "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:landing-MigrateFunction",
        "ResponseURL": response_url,
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/landing/5b9d6c70-1f3e-11ef-9d3c-0a1b2c3d4e5f",
        "RequestId": "b5ab3c4e-0f7c-4c1c-8f5e-1d2a3b4c5d6e",
        "ResourceType": "Custom::DatabaseMigrations",
        "LogicalResourceId": "DatabaseMigrations",
        "ResourceProperties": {"ServiceToken": "arn:aws:lambda:...", "CodeVersion": "3"},
    }
    if physical_id:
        event["PhysicalResourceId"] = physical_id
    if request_type == "Update":
        event["OldResourceProperties"] = {"CodeVersion": "2"}
    return event


def head_revision() -> str:
    return str(ScriptDirectory.from_config(migrate.alembic_config()).get_current_head())


@pytest.mark.parametrize("request_type", ["Create", "Update"])
def test_create_and_update_migrate_to_head_and_report_success(request_type, response_bucket):
    result = migrate_handler.handler(
        cfn_event(request_type, response_bucket.url, "landing-database-migrations"),
        local_context("MigrateFunction"),
    )

    (response,) = response_bucket.responses
    assert response["Status"] == "SUCCESS"
    assert response["Data"] == {"Revision": head_revision()}
    assert response["PhysicalResourceId"] == "landing-database-migrations"
    assert response["RequestId"] == "b5ab3c4e-0f7c-4c1c-8f5e-1d2a3b4c5d6e"
    assert response["LogicalResourceId"] == "DatabaseMigrations"
    assert response["StackId"].endswith("5b9d6c70-1f3e-11ef-9d3c-0a1b2c3d4e5f")
    # The presigned URL is signed for an empty content type.
    assert response_bucket.headers[0].get("Content-Type", "") == ""
    assert rows("SELECT version_num FROM alembic_version") == [{"version_num": head_revision()}]
    assert result["Status"] == "SUCCESS"


def test_delete_answers_success_without_touching_the_database(response_bucket, monkeypatch):
    def must_not_run() -> str:
        raise AssertionError("Delete must not migrate")

    monkeypatch.setattr(migrate_handler, "_apply_migrations", must_not_run)

    migrate_handler.handler(
        cfn_event("Delete", response_bucket.url, "landing-database-migrations"),
        local_context("MigrateFunction"),
    )

    (response,) = response_bucket.responses
    assert response["Status"] == "SUCCESS"
    assert response["PhysicalResourceId"] == "landing-database-migrations"
    assert rows("SELECT count(*) AS n FROM alembic_version") == [{"n": 1}]


def test_a_failed_migration_is_reported_as_failed_with_its_reason(response_bucket, monkeypatch):
    def broken(engine: Any, revision: str = "head") -> str:
        raise RuntimeError("relation objects already exists")

    monkeypatch.setattr(migrate, "upgrade", broken)

    result = migrate_handler.handler(
        cfn_event("Create", response_bucket.url), local_context("MigrateFunction")
    )

    (response,) = response_bucket.responses
    assert response["Status"] == "FAILED"
    assert response["Reason"] == "RuntimeError: relation objects already exists"
    # A failed Create still names a physical id, so the rollback's Delete can be answered.
    assert response["PhysicalResourceId"] == "landing-database-migrations"
    assert result["Status"] == "FAILED"


def test_a_migration_that_outlives_the_function_is_reported_before_the_timeout(response_bucket, monkeypatch):
    finished = threading.Event()

    def slow(engine: Any, revision: str = "head") -> str:
        finished.wait(5)
        return head_revision()

    monkeypatch.setattr(migrate, "upgrade", slow)
    monkeypatch.setattr(custom_resource, "DEADLINE_MARGIN_S", 0.0)
    context = local_context("MigrateFunction", timeout_s=0.3)

    worker = threading.Thread(
        target=migrate_handler.handler, args=(cfn_event("Update", response_bucket.url), context)
    )
    worker.start()
    deadline = time.monotonic() + 5
    while not response_bucket.responses and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [r["Status"] for r in response_bucket.responses] == ["FAILED"]
    assert "timeout" in response_bucket.responses[0]["Reason"]
    finished.set()
    worker.join(5)
    # The late success is not sent: CloudFormation accepts one answer per request.
    assert len(response_bucket.responses) == 1


def test_an_undeliverable_answer_raises_so_lambda_retries(monkeypatch):
    monkeypatch.setattr(custom_resource.time, "sleep", lambda s: None)
    with pytest.raises(OSError):
        migrate_handler.handler(
            cfn_event("Delete", "http://127.0.0.1:9/unreachable"), local_context("MigrateFunction")
        )
