"""The built template's functions under `sam local invoke` (SAM's emulator, Docker): responses and rows."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, make_url, text

from landing.db import migrate
from landing_local import embedded, moto_server
from tests.samlocal import sam, stack

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "tests" / "events"
ENV_JSON = ROOT / "infra" / "env.json"
FUNCTIONS = ("IngestFunction", "UploadsFunction", "ReconcileFunction", "MigrateFunction")
# Inside the artifact, where DATABASE_CA_BUNDLE points: how a deploy ships the RDS bundle too.
CA_IN_ARTIFACT = "sam-local-ca.pem"
BUCKET = "example-bucket"
PUT_VERSION = "096fKKXTRTtl3on89fVO.nfljtsv6qko"


@dataclass
class Stack:
    gateway: str
    work: Path
    build_dir: Path
    server_url: str
    tls_port: int
    plain_port: int
    s3_endpoint: str
    cloudformation: stack.CloudFormationEndpoint

    def database(self, name: str) -> tuple[Engine, dict[str, str]]:
        """A fresh database ``name``, an engine on it, and the environment a function reaches it with
        over the bridge: TLS verified against the local CA, the way a deploy reaches RDS."""
        host_url = embedded.ensure_database(self.server_url, name)
        variables = {
            "DATABASE_URL": f"postgresql+pg8000://postgres@{self.gateway}:{self.tls_port}/{name}",
            "DATABASE_TLS": "verify-full",
            "DATABASE_CA_BUNDLE": f"/var/task/{CA_IN_ARTIFACT}",
            "BUCKET_NAME": BUCKET,
            "S3_ENDPOINT_URL": self.s3_endpoint,
            # No bus here (SAM would resolve the template's to its logical id): nothing is published.
            "EVENT_BUS_NAME": "",
        }
        return create_engine(host_url), variables

    def env_file(self, variables: dict[str, str]) -> Path:
        """infra/env.json (what a laptop passes) with ``variables`` over its Parameters."""
        env = json.loads(ENV_JSON.read_text())
        env["Parameters"].update(variables)
        path = self.work / f"env-{len(list(self.work.glob('env-*.json')))}.json"
        path.write_text(json.dumps(env))
        return path

    def invoke(
        self, function: str, event: Path, variables: dict[str, str], build_dir: Path | None = None
    ) -> sam.Invocation:
        env_file = self.env_file(variables)
        return sam.invoke(
            os.environ["SAM"], build_dir or self.build_dir, function, event, env_file, self.gateway
        )


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    build_dir = Path(os.environ["SAM_LOCAL_BUILD_DIR"]).resolve()
    work = tmp_path_factory.mktemp("sam-local")
    gateway = stack.bridge_gateway()
    server_url = embedded.server_url()
    unix_socket = make_url(server_url).query["unix_sock"]
    assert isinstance(unix_socket, str)
    ca, cert, key = stack.make_certificates(work, gateway)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    tls_forwarder = stack.PostgresForwarder(gateway, unix_socket, tls)
    plain_forwarder = stack.PostgresForwarder(gateway, unix_socket, None)
    from moto.server import ThreadedMotoServer

    s3 = ThreadedMotoServer(ip_address=gateway, port=moto_server.free_port(), verbose=False)
    s3.start()
    s3_endpoint = f"http://{gateway}:{s3._server.port}"  # type: ignore[attr-defined]
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=BUCKET)
    cloudformation = stack.CloudFormationEndpoint(gateway)
    for function in FUNCTIONS:
        shutil.copy(ca, build_dir / function / CA_IN_ARTIFACT)
    try:
        yield Stack(
            gateway,
            work,
            build_dir,
            server_url,
            tls_forwarder.port,
            plain_forwarder.port,
            s3_endpoint,
            cloudformation,
        )
    finally:
        for function in FUNCTIONS:
            (build_dir / function / CA_IN_ARTIFACT).unlink(missing_ok=True)
        for server in (tls_forwarder, plain_forwarder, cloudformation):
            server.shutdown()
        s3.stop()


@pytest.fixture(scope="module")
def database(local: Stack) -> Iterator[tuple[Engine, dict[str, str]]]:
    """A database migrated by MigrateFunction in the emulator (the migrations are package data)."""
    name = f"landing_sam_local_{os.getpid()}"
    engine, variables = local.database(name)
    assert_migrated(local, variables, local.build_dir)
    yield engine, variables
    engine.dispose()
    embedded.drop_database(local.server_url, name)


def head_revision() -> str:
    head = ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()
    assert head is not None
    return head


def cloudformation_event(local: Stack) -> Path:
    path = local.work / "cloudformation-create.json"
    path.write_text(
        json.dumps(
            {
                "RequestType": "Create",
                "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:landing-MigrateFunction",
                "ResponseURL": local.cloudformation.url,
                "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/landing/5b9d6c70",
                "RequestId": f"sam-local-{len(local.cloudformation.responses)}",
                "LogicalResourceId": "DatabaseMigrations",
                "ResourceType": "Custom::DatabaseMigrations",
                "ResourceProperties": {},
            }
        )
    )
    return path


def assert_migrated(local: Stack, variables: dict[str, str], build_dir: Path) -> None:
    """MigrateFunction answered CloudFormation SUCCESS at the head revision of this source tree."""
    answered = len(local.cloudformation.responses)
    result = local.invoke("MigrateFunction", cloudformation_event(local), variables, build_dir)
    assert not result.failed, result.logs
    assert result.response["Status"] == "SUCCESS", result.response
    assert result.response["Data"] == {"Revision": head_revision()}, result.response
    assert [r["Status"] for r in local.cloudformation.responses[answered:]] == ["SUCCESS"]


def rows(engine: Engine, sql: str, **params: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(text(sql), params).mappings()]


def object_row(engine: Engine, key: str) -> dict[str, Any]:
    (row,) = rows(engine, "SELECT * FROM objects WHERE bucket = :b AND key = :k", b=BUCKET, k=key)
    return row


def journal(engine: Engine, key: str) -> list[tuple[str, str]]:
    found = rows(
        engine,
        "SELECT record_type, source FROM object_events WHERE bucket = :b AND key = :k ORDER BY sequence_number",
        b=BUCKET,
        k=key,
    )
    return [(row["record_type"], row["source"]) for row in found]


def succeeded(result: sam.Invocation) -> Any:
    assert not result.failed, result.logs
    assert result.returncode == 0, result.logs
    return result.response


def test_migrate_function_brings_a_fresh_database_to_head(database):
    engine, _ = database
    assert rows(engine, "SELECT version_num FROM alembic_version") == [{"version_num": head_revision()}]


def test_s3_put_and_delete_sample_events_journal_both_and_leave_a_tombstone(local, database):
    engine, variables = database
    key = "reports/2026/q1 summary+final.pdf"
    succeeded(local.invoke("IngestFunction", EVENTS / "s3-put.json", variables))
    row = object_row(engine, key)
    assert (row["size"], row["version_id"], row["is_deleted"]) == (1305107, PUT_VERSION, False)

    # A version deleted for good, and S3 (moto, reached from the container) holds none: a tombstone.
    succeeded(local.invoke("IngestFunction", EVENTS / "s3-delete.json", variables))
    assert journal(engine, key) == [("CREATE", "s3"), ("DELETE", "s3")]
    assert object_row(engine, key)["is_deleted"] is True


def test_sqs_sample_batch_reports_no_failures_and_records_the_object(local, database):
    engine, variables = database
    response = succeeded(local.invoke("IngestFunction", EVENTS / "sqs-s3-batch.json", variables))
    assert response == {"batchItemFailures": []}
    assert object_row(engine, "incoming/data file.csv")["size"] == 42
    assert journal(engine, "incoming/data file.csv") == [("CREATE", "sqs")]


def test_eventbridge_sample_events_record_create_and_delete(local, database):
    engine, variables = database
    succeeded(local.invoke("IngestFunction", EVENTS / "eventbridge-object-created.json", variables))
    assert object_row(engine, "example-key")["is_deleted"] is False
    # The current version deleted for good and S3 holds no other: a tombstone.
    succeeded(local.invoke("IngestFunction", EVENTS / "eventbridge-object-deleted.json", variables))
    assert journal(engine, "example-key") == [("CREATE", "eventbridge"), ("DELETE", "eventbridge")]
    assert object_row(engine, "example-key")["is_deleted"] is True


def test_created_object_is_described_by_head_object_from_inside_the_container(local, database):
    engine, variables = database
    s3 = boto3.client("s3", endpoint_url=local.s3_endpoint, region_name="us-east-1")
    key = "incoming/sam local.json"
    put = s3.put_object(
        Bucket=BUCKET, Key=key, Body=b"{}", ContentType="application/json", Metadata={"origin": "sam-local"}
    )
    event = json.loads((EVENTS / "s3-put.json").read_text())
    obj = event["Records"][0]["s3"]["object"]
    obj.update(key="incoming/sam+local.json", size=2, eTag=put["ETag"].strip('"'))
    del obj["versionId"]
    path = local.work / "s3-put-real-object.json"
    path.write_text(json.dumps(event))

    succeeded(local.invoke("IngestFunction", path, variables))
    row = object_row(engine, key)
    assert (row["content_type"], row["user_metadata"]) == ("application/json", {"origin": "sam-local"})


def test_uploads_function_answers_the_http_api_create_event_with_a_pending_upload(local, database):
    engine, variables = database
    response = succeeded(local.invoke("UploadsFunction", EVENTS / "uploads-create.json", variables))
    assert response["statusCode"] == 201, response
    upload = json.loads(response["body"])
    (row,) = rows(engine, "SELECT status, owner, content_type FROM uploads WHERE id = :id", id=upload["id"])
    assert row == {
        "status": "pending",
        "owner": "5b7c9a4e-1f2d-4c3b-9a8e-7d6c5b4a3f21",
        "content_type": "application/pdf",
    }


def test_env_json_as_a_laptop_uses_it_reaches_the_docker_host_in_plaintext(local, database):
    """infra/env.json, ports aside: host.docker.internal without TLS, allowed only under sam local."""
    engine, _ = database
    variables = json.loads(ENV_JSON.read_text())["Parameters"]
    assert (variables["DATABASE_TLS"], variables["BUCKET_NAME"]) == ("disable", BUCKET)
    name = make_url(engine.url).database
    variables["DATABASE_URL"] = f"postgresql+pg8000://postgres@host.docker.internal:{local.plain_port}/{name}"
    variables["S3_ENDPOINT_URL"] = local.s3_endpoint.replace(local.gateway, "host.docker.internal")
    variables["EVENT_BUS_NAME"] = ""

    response = succeeded(local.invoke("IngestFunction", EVENTS / "s3-test-event.json", variables))
    assert response == {"records": 0, "skipped": 1}
    succeeded(local.invoke("UploadsFunction", EVENTS / "uploads-expire-schedule.json", variables))


def test_a_database_that_declines_tls_fails_the_invocation(local, database):
    """The TLS path is really taken: the same function pointed at a plaintext-only port fails."""
    _, variables = database
    plain = variables["DATABASE_URL"].replace(f":{local.tls_port}/", f":{local.plain_port}/")
    result = local.invoke("IngestFunction", EVENTS / "s3-put.json", {**variables, "DATABASE_URL": plain})
    assert result.failed
    assert "SSL" in json.dumps(result.response) or "TLS" in json.dumps(result.response), result.response


@pytest.fixture(scope="module")
def api(local: Stack, database: tuple[Engine, dict[str, str]]) -> Iterator[str]:
    """The uploads API served by `sam local start-api` from the template's ApiGatewayV2 routes."""
    port = moto_server.free_port()
    log_path = local.work / "start-api.log"
    with log_path.open("w") as log:
        process = sam.start_api(
            os.environ["SAM"], local.build_dir, local.env_file(database[1]), local.gateway, port, log
        )
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(240):
                assert process.poll() is None, log_path.read_text()
                with contextlib.suppress(requests.ConnectionError):
                    requests.get(f"{url}/none", timeout=60)
                    break
                time.sleep(0.5)
            yield url
        finally:
            # SIGINT, as a developer's Ctrl+C: SAM removes its warm containers on the way out.
            process.send_signal(signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()


def test_start_api_serves_every_uploads_route_through_the_function(api, database):
    engine, _ = database
    created = requests.post(
        f"{api}/uploads",
        json={"filename": "notes.txt", "content_type": "text/plain", "size": 1024},
        timeout=120,
    )
    assert created.status_code == 201, created.text
    upload = created.json()
    listed = requests.get(f"{api}/uploads", timeout=120)
    assert listed.status_code == 200, listed.text
    assert upload["id"] in listed.text
    fetched = requests.get(f"{api}/uploads/{upload['id']}", timeout=120)
    assert (fetched.status_code, fetched.json()["status"]) == (200, "pending"), fetched.text
    objects = requests.get(f"{api}/objects", timeout=120)
    assert objects.status_code == 200, objects.text
    # Only multipart uploads (above what an anonymous caller may announce) complete or abort: the
    # function itself refuses, with its error document rather than API Gateway's {"message": ...}.
    for refused in (
        requests.post(f"{api}/uploads/{upload['id']}/complete", json={"parts": []}, timeout=120),
        requests.delete(f"{api}/uploads/{upload['id']}", timeout=120),
    ):
        assert 400 <= refused.status_code < 500, refused.text
        assert refused.json()["error"]["code"], refused.text

    (row,) = rows(engine, "SELECT status, owner FROM uploads WHERE id = :id", id=upload["id"])
    assert row == {"status": "pending", "owner": "anonymous"}


def break_artifact(local: Stack, function: str, missing: str) -> Path:
    """A copy of the build without ``missing`` in ``function``'s artifact (other functions linked)."""
    broken = local.work / f"broken-{function}"
    shutil.rmtree(broken, ignore_errors=True)
    broken.mkdir()
    for entry in local.build_dir.iterdir():
        if entry.name == function:
            shutil.copytree(entry, broken / function, symlinks=True)
        elif entry.is_dir():
            (broken / entry.name).symlink_to(entry)
        else:
            shutil.copy(entry, broken / entry.name)
    (broken / function / missing).unlink()
    return broken


def test_an_artifact_missing_a_package_data_file_fails_the_check(local):
    """A migration is package data: without the newest one, MigrateFunction cannot reach head."""
    versions = "landing/db/migrations/versions"
    (newest,) = (local.build_dir / "MigrateFunction" / versions).glob(f"{head_revision()}_*.py")
    broken = break_artifact(local, "MigrateFunction", f"{versions}/{newest.name}")
    name = f"landing_sam_local_broken_{os.getpid()}"
    engine, variables = local.database(name)
    try:
        # It answers SUCCESS, one revision short: only the check on the revision notices.
        with pytest.raises(AssertionError, match="Revision"):
            assert_migrated(local, variables, broken)
    finally:
        engine.dispose()
        embedded.drop_database(local.server_url, name)


def test_an_artifact_missing_a_module_fails_the_check(local, database):
    _, variables = database
    broken = break_artifact(local, "IngestFunction", "landing/s3/head.py")
    result = local.invoke("IngestFunction", EVENTS / "s3-put.json", variables, broken)
    assert result.failed
    assert result.response["errorType"] == "Runtime.ImportModuleError", result.response
