"""Metadata updates (tags, ACL, restore, storage class, access tier) by every delivery path: the journal
gets an UPDATE_METADATA record and the objects row what S3 holds now for the body it names."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus

import pytest

from landing.handlers.ingest import handler
from tests.conftest import rows
from tests.support.events import (
    EVENTS,
    metadata_record,
    s3_event,
    s3_record,
    sns_event,
    sqs_event,
)

pytestmark = pytest.mark.usefixtures("clean_db")

BUCKET = "example-bucket"
FIXTURES = EVENTS / "metadata"
CONTENT = ("version_id", "size", "e_tag", "is_deleted", "content_type", "sequence_number")
METADATA = ("storage_class", "object_tags", "restore_status", "restore_expiry_date")


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def eventbridge(name: str, key: str, e_tag: str, version_id: str | None) -> dict[str, Any]:
    """A published EventBridge sample aimed at our object (bucket, key, eTag and version only)."""
    event = fixture(name)
    event["resources"] = [f"arn:aws:s3:::{BUCKET}"]
    event["detail"]["bucket"]["name"] = BUCKET
    obj = event["detail"]["object"]
    obj["key"], obj["etag"] = quote_plus(key), e_tag
    obj.pop("version-id", None)
    if version_id is not None:
        obj["version-id"] = version_id
    return event


def notification(name: str | None, event_name: str, key: str, e_tag: str, version_id: str | None) -> dict:
    """A published notification sample aimed at our object, or (no published one) one built from
    AWS's documented structure."""
    if name is None:
        return s3_event(metadata_record(quote_plus(key), event_name, etag=e_tag, version_id=version_id))
    event = fixture(name)
    record = event["Records"][0]
    record["s3"]["bucket"]["name"] = BUCKET
    record["s3"]["bucket"]["arn"] = f"arn:aws:s3:::{BUCKET}"
    obj = record["s3"]["object"]
    obj["key"], obj["eTag"] = quote_plus(key), e_tag
    obj.pop("versionId", None)
    obj.pop("urlDecodedKey", None)
    if version_id is not None:
        obj["versionId"] = version_id
    return event


# change -> (notification event name, its published sample or None, EventBridge sample)
CHANGES = {
    "tags-put": ("ObjectTagging:Put", None, "eventbridge-object-tags-added.json"),
    "tags-delete": ("ObjectTagging:Delete", None, "eventbridge-object-tags-deleted.json"),
    "acl": ("ObjectAcl:Put", None, "eventbridge-object-acl-updated.json"),
    "restore-initiated": ("ObjectRestore:Post", None, "eventbridge-object-restore-initiated.json"),
    "restore-completed": (
        "s3:ObjectRestore:Completed",
        "s3-restore-completed.json",
        "eventbridge-object-restore-completed.json",
    ),
    "restore-expired": ("ObjectRestore:Delete", None, "eventbridge-object-restore-expired.json"),
    "storage-class": ("LifecycleTransition", "s3-lifecycle-transition.json", None),
    "access-tier": ("IntelligentTiering", "s3-intelligent-tiering.json", None),
}
CHANGES["storage-class"] = (*CHANGES["storage-class"][:2], "eventbridge-object-storage-class-changed.json")
CHANGES["access-tier"] = (*CHANGES["access-tier"][:2], "eventbridge-object-access-tier-changed.json")


def deliver(path: str, change: str, key: str, e_tag: str, version_id: str | None) -> dict:
    event_name, sample, eb_sample = CHANGES[change]
    if path == "eventbridge":
        return handler(eventbridge(eb_sample, key, e_tag, version_id), None)
    event = notification(sample, event_name, key, e_tag, version_id)
    if path == "sqs":
        result = handler(sqs_event(event), None)
        assert result == {"batchItemFailures": []}
        return result
    if path == "sns":
        return handler(sns_event(event), None)
    return handler(event, None)


def create(s3, key: str, **put: Any) -> tuple[str, str | None]:
    """Put the object in S3 and ingest its ObjectCreated event; returns (eTag, version id)."""
    answer = s3.put_object(Bucket=BUCKET, Key=key, Body=b"hello", **put)
    e_tag, version_id = answer["ETag"].strip('"'), answer.get("VersionId")
    record = s3_record(
        quote_plus(key), etag=e_tag, size=5, version_id=version_id, sequencer="0055AED6DCD90281E5"
    )
    handler(s3_event(record), None)
    return e_tag, version_id


def row(key: str) -> dict[str, Any]:
    (found,) = rows("SELECT * FROM objects WHERE bucket = :b AND key = :k", b=BUCKET, k=key)
    return found


def updates(key: str) -> list[dict[str, Any]]:
    return rows(
        "SELECT * FROM object_events WHERE key = :k AND record_type = 'UPDATE_METADATA' ORDER BY id", k=key
    )


def glacier(s3, key: str) -> tuple[str, str | None]:
    return create(s3, key, StorageClass="GLACIER")


# What each change does in S3 before its event arrives, and what the row must then hold.
Setup = Callable[[Any, str], tuple[str, str | None]]


def tags_put(s3, key: str) -> tuple[str, str | None]:
    found = create(s3, key, Tagging="team=a")
    s3.put_object_tagging(
        Bucket=BUCKET,
        Key=key,
        Tagging={"TagSet": [{"Key": "team", "Value": "b"}, {"Key": "pii", "Value": "no"}]},
    )
    return found


def tags_delete(s3, key: str) -> tuple[str, str | None]:
    found = create(s3, key, Tagging="team=a")
    s3.delete_object_tagging(Bucket=BUCKET, Key=key)
    return found


def acl(s3, key: str) -> tuple[str, str | None]:
    found = create(s3, key, Tagging="team=a")
    s3.put_object_acl(Bucket=BUCKET, Key=key, ACL="bucket-owner-full-control")
    return found


def restored(s3, key: str) -> tuple[str, str | None]:
    found = glacier(s3, key)
    s3.restore_object(Bucket=BUCKET, Key=key, RestoreRequest={"Days": 2})
    return found


def restore_gone(s3, key: str) -> tuple[str, str | None]:
    # moto cannot let a restored copy expire: the row says it was restored, S3 says no copy now.
    found = glacier(s3, key)
    rows_changed("UPDATE objects SET restore_status = 'COMPLETED' WHERE key = :k", k=key)
    return found


def transitioned(s3, key: str) -> tuple[str, str | None]:
    found = create(s3, key)
    s3.copy_object(
        Bucket=BUCKET,
        Key=key,
        CopySource={"Bucket": BUCKET, "Key": key},
        StorageClass="GLACIER",
        MetadataDirective="COPY",
    )
    return found


def tiered(s3, key: str) -> tuple[str, str | None]:
    return create(s3, key, StorageClass="INTELLIGENT_TIERING")


def rows_changed(sql: str, **params: Any) -> None:
    from sqlalchemy import text

    from landing.db import engine as db

    with db.require_engine().begin() as conn:
        conn.execute(text(sql), params)


SETUPS: dict[str, tuple[Setup, dict[str, Any]]] = {
    "tags-put": (tags_put, {"object_tags": {"team": "b", "pii": "no"}, "storage_class": "STANDARD"}),
    "tags-delete": (tags_delete, {"object_tags": {}}),
    "acl": (acl, {"object_tags": {"team": "a"}}),
    "restore-initiated": (restored, {"storage_class": "GLACIER", "restore_status": "COMPLETED"}),
    "restore-completed": (restored, {"storage_class": "GLACIER", "restore_status": "COMPLETED"}),
    "restore-expired": (restore_gone, {"restore_status": None, "restore_expiry_date": None}),
    "storage-class": (transitioned, {"storage_class": "GLACIER"}),
    "access-tier": (tiered, {"storage_class": "INTELLIGENT_TIERING"}),
}


@pytest.mark.parametrize("path", ["s3", "sqs", "eventbridge"])
@pytest.mark.parametrize("change", list(CHANGES))
def test_metadata_update_is_journalled_and_applied_to_the_current_body(s3, path, change):
    setup, expected = SETUPS[change]
    key = f"meta/{change} {path}.txt"
    e_tag, version_id = setup(s3, key)
    before = row(key)

    deliver(path, change, key, e_tag, version_id)

    after = row(key)
    (record,) = updates(key)
    assert record["event_name"] == (
        CHANGES[change][0] if path != "eventbridge" else fixture(CHANGES[change][2])["detail-type"]
    )
    assert (record["e_tag"], record["version_id"], record["is_delete_marker"]) == (e_tag, version_id, False)
    assert record["source"] == ("eventbridge" if path == "eventbridge" else path)
    assert len(record["sequence_number"]) == 32
    for name, value in expected.items():
        assert after[name] == value, name
        assert record[name] == value, name
    assert {name: after[name] for name in CONTENT} == {name: before[name] for name in CONTENT}
    if any(after[name] != before[name] for name in METADATA):
        assert after["updated_at"] > before["updated_at"]
    # Delivered again (at least once delivery): nothing more in the journal, nothing moves.
    deliver(path, change, key, e_tag, version_id)
    assert len(updates(key)) == 1
    assert row(key) == after


def test_requester_and_source_ip_come_from_the_event(s3):
    key = "meta/who.txt"
    e_tag, version_id = tags_put(s3, key)
    deliver("eventbridge", "tags-put", key, e_tag, version_id)
    (record,) = updates(key)
    assert (record["requester"], record["source_ip_address"]) == ("123456789012", "1.2.3.4")
    created = row(key)
    # The row names who wrote its current version (the create), not who changed its tags.
    assert (created["requester"], created["source_ip_address"]) == ("AWS:AIDAJDPLRKLG7UEXAMPLE", "127.0.0.1")


def test_same_change_by_notification_and_eventbridge_is_journalled_once(s3):
    key = "meta/both paths.txt"
    e_tag, version_id = tags_put(s3, key)
    event = eventbridge("eventbridge-object-tags-added.json", key, e_tag, version_id)
    request_id = event["detail"]["request-id"]
    # One change: S3 stamps the notification in milliseconds, EventBridge in whole seconds.
    event["time"] = "2026-11-26T10:05:00Z"
    record = metadata_record(quote_plus(key), "ObjectTagging:Put", etag=e_tag, request_id=request_id)
    handler(s3_event(record), None)
    handler(event, None)
    assert len(updates(key)) == 1


def test_sns_direct_delivery_is_applied_and_its_test_message_acknowledged(s3):
    key = "meta/sns.txt"
    e_tag, version_id = tags_put(s3, key)
    result = deliver("sns", "tags-put", key, e_tag, version_id)
    assert result["journalled"] == 1
    assert row(key)["object_tags"] == {"team": "b", "pii": "no"}
    test_message = {
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": "2026-11-26T10:00:00.000Z",
        "Bucket": BUCKET,
        "RequestId": "5582815E1AEA5ADF",
        "HostId": "8cLeGAmw098X5cv4Zkwc",
    }
    assert handler(sns_event(test_message), None)["skipped"] == 1


def test_metadata_update_of_a_non_current_version_is_journalled_and_leaves_the_row(s3):
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    key = "meta/versions.txt"
    old_etag, old_version = create(s3, key, Tagging="v=1")
    answer = s3.put_object(Bucket=BUCKET, Key=key, Body=b"second body", Tagging="v=2")
    handler(
        s3_event(
            s3_record(
                quote_plus(key),
                etag=answer["ETag"].strip('"'),
                size=11,
                version_id=answer["VersionId"],
                sequencer="0055AED6DCD90281F0",
            )
        ),
        None,
    )
    current = row(key)
    s3.put_object_tagging(
        Bucket=BUCKET, Key=key, VersionId=old_version, Tagging={"TagSet": [{"Key": "v", "Value": "old"}]}
    )

    deliver("eventbridge", "tags-put", key, old_etag, old_version)

    (record,) = updates(key)
    assert (record["version_id"], record["object_tags"]) == (old_version, {"v": "old"})
    assert row(key) == current
    assert current["object_tags"] == {"v": "2"}


def test_metadata_update_for_an_object_the_catalog_never_saw_adds_no_row(s3):
    key = "meta/unknown.txt"
    answer = s3.put_object(Bucket=BUCKET, Key=key, Body=b"x", Tagging="a=b")
    deliver("s3", "tags-put", key, answer["ETag"].strip('"'), None)
    assert rows("SELECT count(*) AS n FROM objects WHERE key = :k", k=key)[0]["n"] == 0
    assert updates(key)[0]["object_tags"] == {"a": "b"}


def test_create_fills_s3_metadata_columns(s3):
    key = "meta/encrypted.txt"
    create(
        s3,
        key,
        Tagging="a=1&b=2",
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId="arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        BucketKeyEnabled=True,
    )
    found = row(key)
    (journal,) = rows("SELECT * FROM object_events WHERE key = :k", k=key)
    assert journal["last_modified_date"] == found["last_modified_date"] is not None
    for record in (found, journal):
        assert record["object_tags"] == {"a": "1", "b": "2"}
        assert (record["encryption_status"], record["is_bucket_key_enabled"]) == ("SSE-KMS", True)
        assert record["kms_key_arn"].endswith(":key/1234abcd-12ab-34cd-56ef-1234567890ab")
        assert (record["is_multipart"], record["is_delete_marker"], record["storage_class"]) == (
            False,
            False,
            "STANDARD",
        )
        assert (record["requester"], record["source_ip_address"]) == (
            "AWS:AIDAJDPLRKLG7UEXAMPLE",
            "127.0.0.1",
        )


def test_delete_marker_and_permanent_delete_as_s3_metadata_says(s3):
    marker = copy.deepcopy(
        s3_record("meta%2Fgone.txt", event_name="ObjectRemoved:DeleteMarkerCreated", version_id="dm1")
    )
    handler(s3_event(marker), None)
    permanent = s3_record("meta%2Fpurged.txt", event_name="ObjectRemoved:Delete")
    handler(s3_event(permanent), None)
    found = {r["key"]: r for r in rows("SELECT key, is_delete_marker, requester FROM objects")}
    assert found["meta/gone.txt"]["is_delete_marker"] is True
    assert found["meta/purged.txt"]["is_delete_marker"] is None
    assert found["meta/gone.txt"]["requester"] == "AWS:AIDAJDPLRKLG7UEXAMPLE"


def test_tags_are_fetched_only_for_objects_head_object_counts_tags_on(s3):
    from landing.s3.clients import s3_client

    calls: list[str] = []
    s3_client().meta.events.register(
        "provide-client-params.s3.GetObjectTagging", lambda params, **_: calls.append(params["Key"])
    )
    create(s3, "meta/plain.txt")
    create(s3, "meta/tagged.txt", Tagging="a=1")
    assert calls == ["meta/tagged.txt"]
    assert (row("meta/plain.txt")["object_tags"], row("meta/tagged.txt")["object_tags"]) == ({}, {"a": "1"})


def test_metadata_update_of_an_older_version_with_the_same_bytes_leaves_the_row(s3):
    """The same bytes written twice: two versions, one eTag. Only the version tells them apart."""
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    key = "meta/same bytes.txt"
    e_tag, old_version = create(s3, key, Tagging="v=1")
    answer = s3.put_object(Bucket=BUCKET, Key=key, Body=b"hello", Tagging="v=2")
    assert answer["ETag"].strip('"') == e_tag
    later = s3_record(
        quote_plus(key), etag=e_tag, size=5, version_id=answer["VersionId"], sequencer="0055AED6DCD90281F0"
    )
    handler(s3_event(later), None)
    current = row(key)
    s3.put_object_tagging(
        Bucket=BUCKET, Key=key, VersionId=old_version, Tagging={"TagSet": [{"Key": "v", "Value": "old"}]}
    )

    result = deliver("s3", "tags-put", key, e_tag, old_version)

    # Journalled, and not counted as a stale event (StaleEventsIgnored): it lost to nothing.
    assert (result["journalled"], result["stale"]) == (1, 0)
    assert updates(key)[0]["object_tags"] == {"v": "old"}
    assert row(key) == current


def test_eventbridge_metadata_update_through_the_queue(s3):
    """The EventBridge rule may target IngestQueue (docs/operations.md): same record, source sqs."""
    key = "meta/bridged queue.txt"
    e_tag, version_id = tags_put(s3, key)
    result = handler(
        sqs_event(eventbridge("eventbridge-object-tags-added.json", key, e_tag, version_id)), None
    )
    assert result == {"batchItemFailures": []}
    (record,) = updates(key)
    assert (record["source"], record["event_name"]) == ("sqs", "Object Tags Added")
    assert row(key)["object_tags"] == {"team": "b", "pii": "no"}


def test_metadata_update_for_a_body_since_overwritten_is_journalled_without_metadata(s3):
    """Unversioned bucket: the event names the old eTag, HeadObject now answers another body."""
    key = "meta/overwritten.txt"
    old_etag, _ = create(s3, key, Tagging="v=1")
    answer = s3.put_object(Bucket=BUCKET, Key=key, Body=b"another body", Tagging="v=2")
    handler(
        s3_event(
            s3_record(
                quote_plus(key), etag=answer["ETag"].strip('"'), size=12, sequencer="0055AED6DCD90281F0"
            )
        ),
        None,
    )
    current = row(key)

    deliver("eventbridge", "tags-put", key, old_etag, None)

    (record,) = updates(key)
    assert (record["e_tag"], record["object_tags"], record["storage_class"]) == (old_etag, None, None)
    assert row(key) == current
