"""A bad configuration never breaks a handler's import: each invocation reports it instead."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_migrate_handler import ResponseBucket, cfn_event

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "tests" / "events"

BAD_ENVIRONMENTS = {
    "mysql_url": {"DATABASE_URL": "mysql://user@db.example.com/landing"},
    "plaintext_remote": {
        "DATABASE_URL": "postgresql+pg8000://user@db.example.com/landing",
        "DATABASE_TLS": "disable",
    },
    "not_an_integer": {"DATABASE_SOCKET_TIMEOUT": "soon"},
}

# Runs in a fresh interpreter, as Lambda imports a handler: the import must succeed, the call report.
PROBE = """
import json, sys
from landing.handlers import ingest, migrate, uploads
from landing.lambda_context import local_context
kind, arg = sys.argv[1], sys.argv[2]
if kind == "migrate":
    out = migrate.handler(json.loads(arg), local_context("MigrateFunction"))
elif kind == "uploads":
    out = uploads.handler(json.load(open(arg)), local_context("UploadsFunction"))
else:
    try:
        ingest.handler(json.load(open(arg)), local_context("IngestFunction"))
        out = {"raised": None}
    except Exception as error:
        out = {"raised": type(error).__name__, "message": str(error)}
print("RESULT " + json.dumps(out))
"""


def _run(environment: dict[str, str], kind: str, arg: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(environment)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, kind, arg],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    return json.loads(line.removeprefix("RESULT "))


@pytest.mark.parametrize("case", sorted(BAD_ENVIRONMENTS))
def test_migrate_handler_answers_failed_with_the_reason(case):
    bucket = ResponseBucket()
    try:
        result = _run(BAD_ENVIRONMENTS[case], "migrate", json.dumps(cfn_event("Create", bucket.url)))
    finally:
        bucket.close()
    (response,) = bucket.responses
    assert response["Status"] == "FAILED" == result["Status"]
    assert response["Reason"].startswith("SettingsError: ")
    name = "DATABASE_SOCKET_TIMEOUT" if case == "not_an_integer" else "DATABASE_"
    assert name in response["Reason"]


@pytest.mark.parametrize("case", sorted(BAD_ENVIRONMENTS))
def test_uploads_handler_answers_not_configured(case):
    result = _run(BAD_ENVIRONMENTS[case], "uploads", str(EVENTS / "uploads-list.json"))
    assert result["statusCode"] == 500
    assert json.loads(result["body"])["error"]["code"] == "not_configured"


def test_ingest_handler_raises_the_settings_error_so_lambda_retries():
    result = _run(BAD_ENVIRONMENTS["mysql_url"], "ingest", str(EVENTS / "s3-put.json"))
    assert result["raised"] == "SettingsError"
    assert "postgresql+pg8000" in result["message"]
