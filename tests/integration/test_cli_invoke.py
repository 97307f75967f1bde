"""`landing invoke` and `landing event`: the Docker-free `sam local invoke` / `generate-event`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from landing import cli
from landing_local import invoke, samples
from tests.conftest import rows
from tests.support.clock import stop_context_clock
from tests.support.events import load

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def restore_environment() -> Iterator[None]:
    """`landing invoke --env-vars` writes os.environ, as the real command does: undo it per test."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def env_file(tmp_path: Path, **extra: str) -> Path:
    """An --env-vars file in sam's format, pointing at this test process's database."""
    path = tmp_path / "env.json"
    path.write_text(
        json.dumps(
            {
                "Parameters": {
                    "DATABASE_URL": os.environ["DATABASE_URL"],
                    "BUCKET_NAME": "example-bucket",
                    "DATABASE_SECRET_ARN": "",
                    **extra,
                }
            }
        )
    )
    return path


def event_file(tmp_path: Path, event: dict[str, Any], name: str = "event.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(event))
    return path


def landing(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real command in its own process, from the repository root like a developer runs it."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "PYTEST"))}
    return subprocess.run(
        [sys.executable, "-m", "landing", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={**clean, "POWERTOOLS_METRICS_NAMESPACE": "Landing", **(env or {})},
        timeout=60,
    )


def test_invoke_in_a_fresh_process_prints_only_the_response_on_stdout(clean_db, tmp_path):
    # Given a generated delete event (no HeadObject needed) and an env file like infra/env.json
    generated = landing(
        "event", "s3-delete", "--bucket", "example-bucket", "--key", "reports/q1 final+v2.pdf"
    )
    assert generated.returncode == 0, generated.stderr
    event = event_file(tmp_path, json.loads(generated.stdout))

    # When the function is invoked as `sam local invoke IngestFunction -e ... --env-vars ...`
    # (at DEBUG: at the deployed level, INFO, a plain success logs nothing but its metrics line)
    env = env_file(tmp_path, POWERTOOLS_LOG_LEVEL="DEBUG")
    result = landing("invoke", "IngestFunction", str(event), "--env-vars", str(env))

    # Then stdout is exactly the handler's response, stderr has the runtime lines and the JSON logs
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "records": 1,
        "journalled": 1,
        "applied": 1,
        "duplicates": 0,
        "stale": 0,
        "skipped": 0,
    }
    assert "START RequestId: " in result.stderr
    assert "REPORT RequestId: " in result.stderr and "Memory Size: 512 MB" in result.stderr
    log_lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert any(line.get("message") == "recorded events" for line in log_lines)
    assert any(line.get("function_name") == "IngestFunction" for line in log_lines)
    # and the row is in the database the env file named, with the key decoded
    assert rows("SELECT key, is_deleted FROM objects") == [
        {"key": "reports/q1 final+v2.pdf", "is_deleted": True}
    ]


def test_invoke_exits_non_zero_with_a_lambda_style_error(tmp_path):
    event = event_file(tmp_path, {"Records": [{"eventSource": "aws:s3", "s3": {}}]})

    result = landing("invoke", "IngestFunction", str(event), "--env-vars", str(env_file(tmp_path)))

    assert result.returncode == 1
    error = json.loads(result.stdout)
    assert set(error) == {"errorMessage", "errorType", "requestId", "stackTrace"}
    assert error["errorType"]
    assert "Traceback" in result.stderr


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["invoke", "NoSuchFunction", "tests/events/s3-put.json"], "unknown function"),
        (["invoke", "IngestFunction", "tests/events/missing.json"], "No such file"),
        (["invoke", "IngestFunction", "tests/events/s3-put.json", "--env-vars", "README.md"], "cannot read"),
    ],
)
def test_invoke_rejects_bad_arguments_before_running_anything(argv, message, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


def test_failed_sqs_messages_make_the_invoke_fail(clean_db, s3, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    batch = samples.sqs_batch(samples.s3_notification("example-bucket", "kept.txt", delete=True))
    batch["Records"].append({**batch["Records"][0], "messageId": "not-an-s3-event", "body": "hello"})

    code = cli.main(
        ["invoke", "IngestFunction", str(event_file(tmp_path, batch)), "--env-vars", str(env_file(tmp_path))]
    )

    assert code == 1
    response = json.loads(capsys.readouterr().out)
    assert response == {"batchItemFailures": [{"itemIdentifier": "not-an-s3-event"}]}
    assert rows("SELECT key FROM objects") == [{"key": "kept.txt"}]


@pytest.mark.parametrize("kind", ["s3-put", "sqs", "eventbridge-created"])
def test_generated_create_events_become_rows_through_the_handler(
    kind, clean_db, s3, tmp_path, capsys, monkeypatch
):
    # Given an object that really is in the (moto) bucket
    monkeypatch.chdir(ROOT)
    key = "inbox/2026 report+final.csv"
    put = s3.put_object(Bucket="example-bucket", Key=key, Body=b"a,b\n1,2\n", ContentType="text/csv")
    generated = tmp_path / f"{kind}.json"
    assert (
        cli.main(
            [
                "event",
                kind,
                "--bucket",
                "example-bucket",
                "--key",
                key,
                "--size",
                "8",
                "--etag",
                put["ETag"].strip('"'),
            ]
        )
        == 0
    )
    generated.write_text(capsys.readouterr().out)

    code = cli.main(["invoke", "IngestFunction", str(generated), "--env-vars", str(env_file(tmp_path))])

    assert code == 0, capsys.readouterr()
    (row,) = rows("SELECT key, size, e_tag, content_type, is_deleted FROM objects")
    assert row == {
        "key": key,
        "size": 8,
        "e_tag": put["ETag"].strip('"'),
        "content_type": "text/csv",
        "is_deleted": False,
    }


def test_generated_events_keep_the_shape_of_the_documented_samples():
    def shape(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: shape(v) for k, v in value.items()}
        if isinstance(value, list):
            return [shape(v) for v in value[:1]]
        return type(value).__name__

    put = samples.generate("s3-put", "example-bucket", "reports/2026/q1 summary+final.pdf", version_id="v1")
    assert shape(put) == shape(load("s3-put.json"))
    assert (
        put["Records"][0]["s3"]["object"]["key"] == load("s3-put.json")["Records"][0]["s3"]["object"]["key"]
    )
    created = samples.generate("eventbridge-created", "example-bucket", "example-key", version_id="v1")
    assert shape(created) == shape(load("eventbridge-object-created.json"))
    assert shape(samples.generate("schedule", "", "")) == shape(load("uploads-expire-schedule.json"))
    scan = samples.generate("guardduty-scan", "example-bucket", "example-key", version_id="v1")
    assert shape(scan) == shape(load("guardduty-scan-clean.json"))
    threats = samples.generate("guardduty-scan", "b", "k", version_id="v1", result="THREATS_FOUND")
    assert shape(threats) == shape(load("guardduty-scan-threats.json"))


def test_a_generated_scan_result_marks_the_object_through_the_handler(
    clean_db, s3, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(ROOT)
    key = "inbox/2026 report+final.csv"
    etag = s3.put_object(Bucket="example-bucket", Key=key, Body=b"a,b\n")["ETag"].strip('"')
    for kind in ("s3-put", "guardduty-scan"):
        assert (
            cli.main(
                ["event", kind, "--key", key, "--etag", etag, "--size", "4", "--result", "THREATS_FOUND"]
            )
            == 0
        )
        generated = tmp_path / f"{kind}.json"
        generated.write_text(capsys.readouterr().out)
        assert (
            cli.main(["invoke", "IngestFunction", str(generated), "--env-vars", str(env_file(tmp_path))]) == 0
        )
        capsys.readouterr()

    assert rows("SELECT key, scan_status FROM objects") == [{"key": key, "scan_status": "THREATS_FOUND"}]


def test_generated_sequencers_grow_so_later_events_win():
    first = samples.generate("s3-put", "b", "k")["Records"][0]["s3"]["object"]["sequencer"]
    second = samples.generate("s3-delete", "b", "k")["Records"][0]["s3"]["object"]["sequencer"]
    assert len(first) == len(second) and second > first


def test_handler_timeout_and_memory_come_from_the_template():
    uploads = invoke.function_config("UploadsFunction", ROOT / "template.yaml")
    assert uploads == invoke.FunctionConfig("UploadsFunction", "landing.handlers.uploads.handler", 15.0, 512)
    migrate = invoke.function_config("MigrateFunction", ROOT / "template.yaml")
    assert (migrate.handler, migrate.timeout_s) == ("landing.handlers.migrate.handler", 300.0)


def test_the_context_looks_like_the_runtimes(monkeypatch):
    # The context's clock, stopped: the remaining time is exact, however long this machine pauses.
    clock = stop_context_clock(monkeypatch)
    context = invoke.InvokeContext(function_name="IngestFunction", memory_limit_in_mb=512, timeout_s=30)
    assert context.invoked_function_arn.endswith(":function:IngestFunction")
    assert context.log_group_name == "/aws/lambda/IngestFunction"
    assert "[$LATEST]" in context.log_stream_name
    assert 29_000 < context.get_remaining_time_in_millis() <= 30_000
    assert context.get_remaining_time_in_millis() == 30_000
    clock.advance(12.5)
    assert context.get_remaining_time_in_millis() == 17_500
    clock.advance(60)
    assert context.get_remaining_time_in_millis() == 0
    assert context.identity is None and context.client_context is None


def test_env_vars_file_applies_parameters_then_the_functions_section(tmp_path, monkeypatch):
    monkeypatch.setenv("KEEP_ME", "original")
    path = tmp_path / "env.json"
    path.write_text(
        json.dumps(
            {"Parameters": {"A": "shared", "B": "shared", "KEEP_ME": ""}, "IngestFunction": {"B": "own"}}
        )
    )
    for name in ("A", "B"):
        monkeypatch.delenv(name, raising=False)

    invoke.apply_env_vars(str(path), "IngestFunction")

    assert (os.environ["A"], os.environ["B"], os.environ["KEEP_ME"]) == ("shared", "own", "original")
