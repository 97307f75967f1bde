"""Catalog writes in a rolled-back session: journal identity and sequencer ordering live in SQL."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from sqlalchemy import text

from landing.ingest import catalog
from landing.s3.fields import normalise_sequencer
from landing.s3.head import Head
from landing.s3.notifications import S3Record

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def record(key: str, sequencer: str, record_type: str = "CREATE", **kw) -> S3Record:
    return S3Record(
        bucket="b",
        key=key,
        event_name="ObjectCreated:Put" if record_type == "CREATE" else "ObjectRemoved:Delete",
        record_type=record_type,  # type: ignore[arg-type]
        event_time=kw.get("event_time", T0),
        sequencer=normalise_sequencer(sequencer, T0),
        version_id=kw.get("version_id"),
        size=kw.get("size", 10) if record_type == "CREATE" else None,
        e_tag=kw.get("e_tag", "etag-" + sequencer) if record_type == "CREATE" else None,
        request_id="R",
        source="s3",
    )


def state(session, key: str) -> dict:
    row = session.execute(
        text("SELECT sequence_number, is_deleted, e_tag, size FROM objects WHERE bucket='b' AND key=:k"),
        {"k": key},
    ).one()
    return dict(row._mapping)


def journal(session) -> int:
    return session.execute(text("SELECT count(*) FROM object_events")).scalar_one()


def test_redelivered_event_adds_no_journal_row(session):
    put = record("k", "0A")
    first = catalog.record_events(session, [put])
    again = catalog.record_events(session, [put, put])
    assert (first.journalled, again.journalled, again.duplicates) == (1, 0, 2)
    assert journal(session) == 1


def test_newer_create_wins(session):
    catalog.record_events(session, [record("k", "0A")])
    catalog.record_events(session, [record("k", "0B")])
    assert state(session, "k")["e_tag"] == "etag-0B"


def test_stale_create_after_delete_does_not_resurrect(session):
    catalog.record_events(session, [record("k", "0C", "DELETE")])
    result = catalog.record_events(session, [record("k", "0B")])
    assert state(session, "k")["is_deleted"] is True
    assert (result.journalled, result.applied, result.stale) == (1, 0, 1)
    assert journal(session) == 2  # stale events are journalled too


def test_stale_delete_does_not_hide_newer_object(session):
    catalog.record_events(session, [record("k", "0C")])
    catalog.record_events(session, [record("k", "0B", "DELETE")])
    assert state(session, "k") == {
        "sequence_number": normalise_sequencer("0C", T0),
        "is_deleted": False,
        "e_tag": "etag-0C",
        "size": 10,
    }


def test_delete_of_unknown_key_writes_a_tombstone(session):
    catalog.record_events(session, [record("never-seen", "05", "DELETE")])
    catalog.record_events(session, [record("never-seen", "04")])
    assert state(session, "never-seen")["is_deleted"] is True


def test_sequencers_of_different_lengths_order_correctly(session):
    # "0A1B2C3D4E5F678901" (18) vs "0A1B2C3D4E5F6790" (16): right-padding makes the 16-digit one newer.
    catalog.record_events(session, [record("k", "0A1B2C3D4E5F6790", e_tag="newer")])
    catalog.record_events(session, [record("k", "0A1B2C3D4E5F678901", e_tag="older")])
    assert state(session, "k")["e_tag"] == "newer"


def test_one_batch_naming_a_key_twice_keeps_the_newest(session):
    result = catalog.record_events(
        session, [record("k", "0B", e_tag="b"), record("k", "0A", e_tag="a"), record("k", "0B", e_tag="b")]
    )
    assert (result.received, result.journalled, result.applied) == (3, 2, 1)
    assert state(session, "k")["e_tag"] == "b"


def test_head_answer_fills_enrichment_columns(session):
    put = record("k", "0A")
    head = Head(
        e_tag=put.e_tag,
        content_type="text/csv",
        user_metadata={"origin": "test"},
        storage_class="STANDARD_IA",
        checksum_algorithm="CRC32",
        last_modified=T0,
    )
    catalog.record_events(session, [put], {put.identity: head})
    row = session.execute(
        text("SELECT content_type, user_metadata, storage_class, checksum_algorithm FROM objects")
    ).one()
    assert tuple(row) == ("text/csv", {"origin": "test"}, "STANDARD_IA", "CRC32")


def test_tombstone_has_no_size_or_metadata(session):
    catalog.record_events(session, [record("k", "0A"), record("k", "0B", "DELETE")])
    row = session.execute(
        text("SELECT size, e_tag, user_metadata IS NULL AS no_meta, deleted_at FROM objects")
    ).one()
    assert (row.size, row.e_tag, row.no_meta, row.deleted_at) == (None, None, True, T0)


def test_delete_wins_a_tie_with_a_create_from_an_earlier_invocation(session):
    catalog.record_events(session, [record("k", "0C")])
    result = catalog.record_events(session, [record("k", "0C", "DELETE")])
    assert (result.journalled, result.applied) == (1, 1)
    assert state(session, "k")["is_deleted"] is True


def test_create_loses_a_tie_with_a_delete_from_an_earlier_invocation(session):
    catalog.record_events(session, [record("k", "0C", "DELETE")])
    result = catalog.record_events(session, [record("k", "0C")])
    assert (result.journalled, result.applied, result.stale) == (1, 0, 1)
    assert state(session, "k")["is_deleted"] is True


def test_delete_wins_a_tie_inside_one_batch_in_either_order(session):
    catalog.record_events(session, [record("k", "0C"), record("k", "0C", "DELETE")])
    catalog.record_events(session, [record("j", "0C", "DELETE"), record("j", "0C")])
    assert (state(session, "k")["is_deleted"], state(session, "j")["is_deleted"]) == (True, True)


def version_delete(key: str, sequencer: str, version_id: str) -> S3Record:
    return dataclasses.replace(record(key, sequencer, "DELETE", version_id=version_id), removes_version=True)


def current(version_id: str, size: int) -> Head:
    return Head(
        e_tag=f"etag-{version_id}",
        content_type="text/plain",
        user_metadata={},
        storage_class="STANDARD",
        checksum_algorithm=None,
        last_modified=T0,
        version_id=version_id,
        size=size,
    )


def test_version_delete_takes_what_s3_says_is_current(session):
    catalog.record_events(session, [record("k", "0A", version_id="v1"), record("k", "0B", version_id="v2")])
    removed = version_delete("k", "0C", "v2")

    result = catalog.record_events(session, [removed], {removed.identity: current("v1", 3)})

    assert result.applied == 1
    assert state(session, "k") == {
        "sequence_number": removed.sequencer,
        "is_deleted": False,
        "e_tag": "etag-v1",
        "size": 3,
    }


def test_version_delete_with_nothing_left_is_a_tombstone(session):
    catalog.record_events(session, [record("k", "0A", version_id="v1")])
    removed = version_delete("k", "0B", "v1")

    catalog.record_events(session, [removed], {removed.identity: None})

    assert state(session, "k")["is_deleted"] is True


def test_version_delete_nobody_asked_s3_about_is_journalled_only(session):
    catalog.record_events(session, [record("k", "0A", version_id="v1")])

    result = catalog.record_events(session, [version_delete("k", "0B", "v0")])

    assert (result.journalled, result.applied) == (1, 0)
    assert state(session, "k")["e_tag"] == "etag-0A"


def test_stale_version_delete_changes_nothing(session):
    catalog.record_events(session, [record("k", "0C", version_id="v3")])
    removed = version_delete("k", "0B", "v2")

    result = catalog.record_events(session, [removed], {removed.identity: current("v1", 3)})

    assert (result.journalled, result.applied) == (1, 0)
    assert state(session, "k")["e_tag"] == "etag-0C"


def _tags_update(key: str, request_id: str) -> S3Record:
    return S3Record(
        bucket="b",
        key=key,
        event_name="ObjectTagging:Put",
        record_type="UPDATE_METADATA",
        event_time=T0,
        sequencer=f"{request_id:0>32}",
        version_id=None,
        size=None,
        e_tag="etag-0A",
        request_id=request_id,
        source="s3",
    )


def _tagged(tags: dict[str, str], read_at: datetime) -> Head:
    return Head(
        e_tag="etag-0A",
        content_type=None,
        user_metadata={},
        storage_class="STANDARD",
        checksum_algorithm=None,
        last_modified=T0,
        object_tags=tags,
        read_at=read_at,
    )


def test_of_two_metadata_updates_the_later_read_wins_whichever_commits_last(session):
    from datetime import timedelta

    catalog.record_events(session, [record("k", "0A")])
    earlier, later = _tags_update("k", "1"), _tags_update("k", "2")
    # The later read commits first; the earlier one, committed after it, must not roll it back.
    catalog.record_events(
        session, [later], {later.identity: _tagged({"v": "new"}, T0 + timedelta(seconds=2))}
    )
    catalog.record_events(
        session, [earlier], {earlier.identity: _tagged({"v": "old"}, T0 + timedelta(seconds=1))}
    )
    tags = session.execute(text("SELECT object_tags FROM objects WHERE key = 'k'")).scalar_one()
    assert tags == {"v": "new"}
    assert journal(session) == 3
