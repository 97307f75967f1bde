"""Accepted uploads are immutable: bytes sent again to a decided upload's key are removed, the upload keeps
its accepted body (in-process moto, events hand-built in AWS's shape with version ids)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote_plus

import pytest
from sqlalchemy import text

from landing.db import engine as db
from landing.handlers.ingest import handler as ingest
from landing.lambda_context import local_context
from landing.s3 import clients
from tests.conftest import rows
from tests.support.api import Api
from tests.support.events import guardduty_event, s3_event, s3_record
from tests.support.logs import capture_logs

BUCKET = "example-bucket"
DATA = b"hello, world"


@pytest.fixture
def api(s3: Any, clean_db: None) -> Iterator[Api]:
    clients.reset()
    yield Api("alice")
    clients.reset()


@pytest.fixture
def versioned(s3: Any, api: Api) -> Any:
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return s3


def announce(api: Api, size: int = len(DATA)) -> dict[str, Any]:
    status, body = api.create(filename="hello.txt", content_type="text/plain", size=size)
    assert status == 201, body
    return body


def write(s3: Any, upload: dict[str, Any], data: bytes = DATA) -> dict[str, Any]:
    """The bytes a client sends with the upload's presigned request (moto does not check signatures)."""
    answer = s3.put_object(
        Bucket=BUCKET,
        Key=upload["key"],
        Body=data,
        ContentType="text/plain",
        Metadata={"upload-id": upload["id"]},
    )
    return {"version": answer.get("VersionId"), "etag": answer["ETag"].strip('"'), "size": len(data)}


def created(upload: dict[str, Any], written: dict[str, Any], sequencer: str) -> dict[str, Any]:
    return s3_event(
        s3_record(
            quote_plus(upload["key"]),
            sequencer=sequencer,
            version_id=written["version"],
            etag=written["etag"],
            size=written["size"],
        )
    )


def run(payload: dict[str, Any]) -> dict[str, Any]:
    return ingest(payload, local_context("IngestFunction"))


def upload_row(upload_id: str) -> dict[str, Any]:
    (row,) = rows("SELECT * FROM uploads WHERE id = CAST(:id AS uuid)", id=upload_id)
    return row


def versions(s3: Any, key: str) -> list[str]:
    listed = s3.list_object_versions(Bucket=BUCKET, Prefix=key)
    return sorted(v["VersionId"] for v in listed.get("Versions", ()))


def replay_metric(out: str) -> float:
    total = 0.0
    for line in out.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            total += sum(json.loads(line).get("UploadReplaysRemoved", []) or [0])
    return total


def test_accepted_upload_records_the_body_it_was_decided_on(versioned, api):
    upload = announce(api)
    first = write(versioned, upload)

    run(created(upload, first, "0A"))

    row = upload_row(upload["id"])
    assert (row["status"], row["size"], row["e_tag"], row["version_id"]) == (
        "uploaded",
        len(DATA),
        first["etag"],
        first["version"],
    )


def test_replayed_bytes_are_removed_and_the_upload_keeps_its_body(versioned, api, capsys):
    upload = announce(api)
    first = write(versioned, upload)
    run(created(upload, first, "0A"))
    accepted = upload_row(upload["id"])
    capsys.readouterr()

    replay = write(versioned, upload, b"other bytes!")
    with capture_logs() as logs:
        run(created(upload, replay, "0B"))

    assert upload_row(upload["id"]) == accepted
    # Deleted after the commit, by version: the accepted version is current again.
    assert versions(versioned, upload["key"]) == [first["version"]]
    assert versioned.head_object(Bucket=BUCKET, Key=upload["key"])["ETag"].strip('"') == first["etag"]
    (warning,) = logs.problems()
    assert warning["upload_id"] == upload["id"] and warning["version_id"] == replay["version"]
    assert replay_metric(capsys.readouterr().out) == 1
    journal = rows(
        "SELECT version_id FROM object_events WHERE key = :k ORDER BY sequence_number", k=upload["key"]
    )
    assert [j["version_id"] for j in journal] == [first["version"], replay["version"]]

    # S3 then reports the removal of the replayed (current) version: the catalog shows the accepted body.
    removed = s3_record(
        quote_plus(upload["key"]),
        event_name="ObjectRemoved:Delete",
        sequencer="0C",
        version_id=replay["version"],
    )
    run(s3_event(removed))
    (obj,) = rows(
        "SELECT version_id, e_tag, is_deleted, upload_id FROM objects WHERE key = :k", k=upload["key"]
    )
    assert (obj["version_id"], obj["e_tag"], obj["is_deleted"]) == (first["version"], first["etag"], False)
    assert str(obj["upload_id"]) == upload["id"]


def test_the_same_bytes_sent_again_are_a_new_version_and_removed_too(versioned, api):
    upload = announce(api)
    first = write(versioned, upload)
    run(created(upload, first, "0A"))

    again = write(versioned, upload)
    run(created(upload, again, "0B"))

    assert versions(versioned, upload["key"]) == [first["version"]]


def test_redelivered_accepting_event_is_not_a_replay(versioned, api, capsys):
    upload = announce(api)
    first = write(versioned, upload)
    event = created(upload, first, "0A")
    run(event)

    with capture_logs() as logs:
        run(event)
        run(event)

    assert logs.problems() == []
    assert versions(versioned, upload["key"]) == [first["version"]]
    assert replay_metric(capsys.readouterr().out) == 0


def test_replay_in_an_unversioned_bucket_removes_the_unchecked_bytes(s3, api):
    upload = announce(api)
    run(created(upload, write(s3, upload), "0A"))
    accepted = upload_row(upload["id"])

    run(created(upload, write(s3, upload, b"other bytes!"), "0B"))

    # The accepted bytes were overwritten in place (no versions to go back to); the replayed ones,
    # never checked, are not left readable. The upload still says what was accepted.
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0
    assert upload_row(upload["id"]) == accepted


def test_upload_decided_before_its_body_was_recorded_is_left_alone(versioned, api):
    upload = announce(api)
    first = write(versioned, upload)
    run(created(upload, first, "0A"))
    with db.require_engine().begin() as conn:
        conn.execute(text("UPDATE uploads SET e_tag = NULL, version_id = NULL"))

    second = write(versioned, upload, b"other bytes!")
    run(created(upload, second, "0B"))

    assert versions(versioned, upload["key"]) == sorted([first["version"], second["version"]])


class SlowDown:
    """DeleteObject answers 503 SlowDown, as S3 does under load, ``times`` times across the product's
    clients (a botocore before-call hook: the request never reaches moto), then behaves again."""

    def __init__(self, times: int) -> None:
        self.left = times
        self.refused: list[str] = []

    def __call__(self, params: dict[str, Any], **_: Any) -> Any:
        if self.left <= 0:
            return None
        self.left -= 1
        self.refused.append(params["url_path"])

        class Http:
            status_code = 503

        error = {"Code": "SlowDown", "Message": "Please reduce your request rate."}
        return Http(), {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 503}}


@pytest.fixture
def slow_down(api: Api) -> Iterator[SlowDown]:
    injected = SlowDown(0)
    hooked = {id(c): c for c in (clients.s3_client(), clients.signing_client())}.values()
    for client in hooked:
        client.meta.events.register("before-call.s3.DeleteObject", injected)
    yield injected
    for client in hooked:
        client.meta.events.unregister("before-call.s3.DeleteObject", injected)


def schedule(capsys: Any) -> tuple[dict[str, Any], float]:
    """One scheduled pass through the handler, and the AcceptedBodiesReplaced metric it emitted."""
    from tests.integration.test_uploads_lifecycle import run_schedule

    capsys.readouterr()
    result = run_schedule()
    found = 0.0
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            found += sum(json.loads(line).get("AcceptedBodiesReplaced", []) or [0])
    return result, found


def listed(api: Api) -> dict[str, Any]:
    status, body, _ = api.call("GET", "/objects")
    assert status == 200
    (only,) = body["objects"]
    return only


def test_a_replay_whose_delete_failed_is_deleted_again_by_each_pass_until_it_is_gone(
    versioned, api, slow_down, capsys
):
    upload = announce(api)
    first = write(versioned, upload)
    run(created(upload, first, "0A"))
    accepted = upload_row(upload["id"])
    replay = write(versioned, upload, b"other bytes!")

    # Ingest's delete (after its commit) and the first pass's are refused; the second pass's succeeds.
    slow_down.left = 2
    run(created(upload, replay, "0B"))
    assert versions(versioned, upload["key"]) == sorted([first["version"], replay["version"]])
    # Meanwhile readers are told which body was accepted, not the replay the key serves.
    assert (listed(api)["version_id"], listed(api)["e_tag"]) == (first["version"], first["etag"])

    _, found = schedule(capsys)
    assert found == 1 and len(slow_down.refused) == 2
    assert versions(versioned, upload["key"]) == sorted([first["version"], replay["version"]])

    _, found = schedule(capsys)
    assert found == 1
    assert versions(versioned, upload["key"]) == [first["version"]]
    assert versioned.head_object(Bucket=BUCKET, Key=upload["key"])["ETag"].strip('"') == first["etag"]

    # S3's notification of that delete puts the accepted body back in the catalog: the passes converge.
    run(
        s3_event(
            s3_record(
                quote_plus(upload["key"]),
                event_name="ObjectRemoved:Delete",
                sequencer="0C",
                version_id=replay["version"],
            )
        )
    )
    (obj,) = rows("SELECT version_id, e_tag, is_deleted FROM objects WHERE key = :k", k=upload["key"])
    assert (obj["version_id"], obj["e_tag"], obj["is_deleted"]) == (first["version"], first["etag"], False)
    assert upload_row(upload["id"]) == accepted
    _, found = schedule(capsys)
    assert found == 0


def test_the_pass_never_deletes_an_accepted_body_or_one_without_a_record(versioned, api, slow_down, capsys):
    kept = announce(api)
    first = write(versioned, kept)
    run(created(kept, first, "0A"))
    legacy = announce(api)
    run(created(legacy, write(versioned, legacy), "0A"))
    with db.require_engine().begin() as conn:
        conn.execute(
            text("UPDATE uploads SET e_tag = NULL, version_id = NULL WHERE id = CAST(:id AS uuid)"),
            {"id": legacy["id"]},
        )

    result, found = schedule(capsys)

    assert found == 0 and result["replaced"] == 0 and slow_down.refused == []
    assert versions(versioned, kept["key"]) == [first["version"]]


def test_a_threat_found_in_a_replay_never_quarantines_or_deletes_the_accepted_body(versioned, api, slow_down):
    upload = announce(api)
    first = write(versioned, upload)
    run(created(upload, first, "0A"))
    accepted = upload_row(upload["id"])
    # Whoever kept the POST form sends malware within its minute; its delete is refused for now, so
    # the replay is the key's current body when GuardDuty's verdict on it arrives.
    slow_down.left = 1
    replay = write(versioned, upload, b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR")
    run(created(upload, replay, "0B"))

    run(
        guardduty_event(
            upload["key"], result="THREATS_FOUND", etag=replay["etag"], version_id=replay["version"]
        )
    )

    # The verdict is about the replay, not the accepted body: the upload keeps its status and body.
    assert upload_row(upload["id"]) == accepted
    assert first["version"] in versions(versioned, upload["key"])
