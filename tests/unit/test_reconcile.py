"""Reconcile's rules: the repair sequence, the comparison, and the guarded writes (rolled-back session)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from landing.reconcile import repairs
from landing.reconcile.compare import FLOOR_SEQUENCE, Row, compare, repair_sequence
from landing.reconcile.repairs import Repair
from landing.s3.fields import normalise_sequencer
from landing.s3.listing import Entry

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
LISTED = T0 + timedelta(hours=1)
hex_digits = st.text(alphabet="0123456789ABCDEF", min_size=1, max_size=31)


# -- the sequence rule ---------------------------------------------------------------------------


def test_a_key_never_seen_gets_the_floor_below_every_real_sequencer():
    assert FLOOR_SEQUENCE == "0" * 31 + "1"
    assert repair_sequence(None) == FLOOR_SEQUENCE
    assert normalise_sequencer("0000000000000000001", T0) > FLOOR_SEQUENCE


def test_a_repair_is_the_stored_sequence_plus_one_in_the_padding():
    stored = normalise_sequencer("0055AED6DCD90281E5", T0)
    assert repair_sequence(stored) == "0055AED6DCD90281E5" + "0" * 13 + "1"
    assert repair_sequence(repair_sequence(stored)) == "0055AED6DCD90281E5" + "0" * 13 + "2"


@given(hex_digits, hex_digits)
def test_a_repair_sorts_after_the_last_event_seen_and_before_any_later_real_one(a, b):
    seen, later = sorted((normalise_sequencer(a, T0), normalise_sequencer(b, T0)))
    repaired = repair_sequence(seen)
    assert len(repaired) == 32
    assert seen < repaired
    if later != seen:
        assert repaired < later


# -- the comparison ------------------------------------------------------------------------------


def entry(key: str, etag: str = "e1", size: int = 1, **kw) -> Entry:
    return Entry(key=key, last_modified=kw.pop("last_modified", T0), e_tag=etag, size=size, **kw)


def row(key: str, etag: str | None = "e1", size: int | None = 1, **kw) -> Row:
    return Row(
        key=key,
        sequence_number=kw.get("sequence_number", "0A".ljust(32, "0")),
        is_deleted=kw.get("is_deleted", False),
        version_id=kw.get("version_id"),
        size=size,
        e_tag=etag,
        last_modified_date=kw.get("last_modified_date", T0),
        updated_at=kw.get("updated_at", T0),
        storage_class=kw.get("storage_class"),
        is_delete_marker=kw.get("is_delete_marker", False),
        encryption_status=kw.get("encryption_status"),
        is_bucket_key_enabled=kw.get("is_bucket_key_enabled"),
    )


def actions(entries, rows, versioned=False) -> list[tuple[str, str]]:
    return [(p.action, p.key) for p in compare(entries, rows, LISTED, versioned=versioned).planned]


def reasons(entries, rows) -> list[str]:
    return [p.reason for p in compare(entries, rows, LISTED, versioned=False).planned]


def test_a_row_from_before_revision_0010_is_updated_to_fill_s3_metadata_columns():
    assert reasons([entry("a")], [row("a", is_delete_marker=None)]) == [
        "S3 Metadata columns not filled yet (row written before revision 0010)"
    ]


def test_a_storage_class_the_listing_disagrees_with_is_repaired():
    found = reasons([entry("a", storage_class="GLACIER")], [row("a", storage_class="STANDARD")])
    assert found == ["storage class STANDARD in the catalog, GLACIER in S3"]
    assert reasons([entry("a", storage_class="GLACIER")], [row("a", storage_class="GLACIER")]) == []


def test_encryption_and_bucket_key_the_inventory_disagrees_with_are_repaired():
    assert reasons([entry("a", encryption_status="SSE-KMS")], [row("a", encryption_status="SSE-S3")]) == [
        "encryption SSE-S3 in the catalog, SSE-KMS in S3"
    ]
    assert reasons([entry("a", is_bucket_key_enabled=True)], [row("a", is_bucket_key_enabled=False)]) == [
        "bucket key False in the catalog, True in S3"
    ]


def test_equal_listing_and_catalog_plan_nothing():
    assert actions([entry("a"), entry("b")], [row("a"), row("b")]) == []


def test_each_difference_becomes_one_planned_repair():
    planned = actions(
        [entry("missing"), entry("etag", "e2"), entry("size", size=2), entry("tomb")],
        [row("etag"), row("size"), row("tomb", None, None, is_deleted=True), row("gone")],
    )
    assert planned == [
        ("update", "etag"),
        ("delete", "gone"),
        ("insert", "missing"),
        ("update", "size"),
        ("update", "tomb"),
    ]


def test_a_tombstone_for_an_object_not_listed_needs_nothing():
    assert actions([], [row("gone", None, None, is_deleted=True)]) == []


def test_a_rewrite_with_the_same_bytes_is_found_by_its_newer_last_modified():
    newer = entry("same", last_modified=T0 + timedelta(minutes=5))
    assert actions([newer], [row("same")]) == [("update", "same")]
    # Milliseconds in the listing against HeadObject's whole seconds are not a difference.
    assert actions([entry("same", last_modified=T0 + timedelta(milliseconds=900))], [row("same")]) == []


def test_version_ids_count_only_in_a_versioned_listing():
    listed, stored = entry("v", version_id="v2"), row("v", version_id="v1")
    assert actions([listed], [stored], versioned=False) == []
    assert actions([listed], [stored], versioned=True) == [("update", "v")]
    assert actions([entry("n")], [row("n", version_id="null")], versioned=True) == []


def test_a_delete_marker_tombstones_a_live_row():
    marker = Entry(key="m", last_modified=T0, version_id="dm", is_delete_marker=True)
    assert actions([marker], [row("m")], versioned=True) == [("delete", "m")]
    assert actions([marker], [], versioned=True) == []


def test_rows_written_after_the_listing_are_left_alone_not_planned():
    late = T0 + timedelta(hours=2)
    comparison = compare(
        [entry("changed", "e2"), entry("equal")],
        [row("changed", updated_at=late), row("not-listed", updated_at=late), row("equal", updated_at=late)],
        LISTED,
        versioned=False,
    )
    assert comparison.planned == ()
    assert comparison.left_alone == ("changed", "not-listed")


# -- the guarded writes --------------------------------------------------------------------------


def insert_row(session, key: str, sequence: str = "0A", deleted: bool = False, etag: str = "old") -> None:
    session.execute(
        text(
            "INSERT INTO objects (bucket, key, sequence_number, size, e_tag, is_deleted) "
            "VALUES ('b', :k, :s, 1, :e, :d)"
        ),
        {"k": key, "s": normalise_sequencer(sequence, T0), "e": None if deleted else etag, "d": deleted},
    )


def create(key: str, expected: str | None, etag: str = "new", deleted: bool = False) -> Repair:
    seen = normalise_sequencer(expected, T0) if expected else None
    return Repair(
        bucket="b",
        key=key,
        record_type="CREATE",
        sequence_number=repair_sequence(seen),
        record_timestamp=T0,
        expected_sequence_number=seen,
        expected_is_deleted=deleted if seen else None,
        size=3,
        e_tag=etag,
        content_type="text/plain",
        storage_class="STANDARD",
        user_metadata={"k": "v"},
        last_modified_date=T0,
    )


def delete(key: str, expected: str) -> Repair:
    seen = normalise_sequencer(expected, T0)
    return Repair(
        bucket="b",
        key=key,
        record_type="DELETE",
        sequence_number=repair_sequence(seen),
        record_timestamp=LISTED,
        expected_sequence_number=seen,
        expected_is_deleted=False,
    )


def state(session, key: str) -> dict:
    return dict(
        session.execute(
            text(
                "SELECT sequence_number, is_deleted, deleted_at, e_tag, size, content_type, user_metadata "
                "FROM objects WHERE bucket = 'b' AND key = :k"
            ),
            {"k": key},
        )
        .one()
        ._mapping
    )


def journal(session) -> list[tuple]:
    return [
        tuple(r)
        for r in session.execute(
            text("SELECT key, record_type, event_name, source FROM object_events ORDER BY key, record_type")
        )
    ]


def future() -> datetime:
    # Rows written in this (rolled-back) transaction carry its start time; the listing comes later.
    return datetime.now(UTC) + timedelta(hours=1)


def test_repairs_insert_update_and_tombstone_with_one_journal_row_each(session):
    insert_row(session, "changed")
    insert_row(session, "gone", "0B")
    result = repairs.record_repairs(
        session, [create("missing", None), create("changed", "0A"), delete("gone", "0B")], future()
    )
    assert (result.inserted, result.updated, result.deleted, result.journalled) == (1, 1, 1, 3)
    assert state(session, "missing")["sequence_number"] == FLOOR_SEQUENCE
    changed = state(session, "changed")
    assert (changed["e_tag"], changed["content_type"], changed["user_metadata"]) == (
        "new",
        "text/plain",
        {"k": "v"},
    )
    gone = state(session, "gone")
    assert (gone["is_deleted"], gone["e_tag"], gone["size"]) == (True, None, None)
    assert gone["deleted_at"] == LISTED
    assert journal(session) == [
        ("changed", "CREATE", "ObjectCreated:Reconcile", "reconcile"),
        ("gone", "DELETE", "ObjectRemoved:Reconcile", "reconcile"),
        ("missing", "CREATE", "ObjectCreated:Reconcile", "reconcile"),
    ]


def test_a_row_that_changed_since_it_was_compared_is_left_alone(session):
    insert_row(session, "k", "0C")  # a live event moved it on from 0A
    result = repairs.record_repairs(session, [create("k", "0A")], future())
    assert result.applied == 0
    assert state(session, "k")["e_tag"] == "old"
    assert journal(session) == []


def test_a_row_written_after_the_listing_is_left_alone(session):
    insert_row(session, "k")
    listed_before_the_write = datetime.now(UTC) - timedelta(hours=1)
    result = repairs.record_repairs(session, [create("k", "0A")], listed_before_the_write)
    assert result.applied == 0
    assert state(session, "k")["e_tag"] == "old"


def test_a_row_that_appeared_since_the_comparison_is_not_overwritten_by_an_insert(session):
    insert_row(session, "k", "0055AED6DCD90281E5", etag="live")
    result = repairs.record_repairs(session, [create("k", None)], future())
    assert result.applied == 0
    assert state(session, "k")["e_tag"] == "live"
    assert journal(session) == []


def test_a_live_create_that_resurrected_the_row_defeats_a_reconcile_delete(session):
    insert_row(session, "k", "0D")  # the delete was planned against 0B; a live create is at 0D
    result = repairs.record_repairs(session, [delete("k", "0B")], future())
    assert result.applied == 0
    assert state(session, "k")["is_deleted"] is False


def test_a_tombstone_comes_back_only_if_still_the_one_compared(session):
    insert_row(session, "k", "0B", deleted=True)
    result = repairs.record_repairs(session, [create("k", "0B", deleted=True)], future())
    assert result.updated == 1
    assert state(session, "k")["is_deleted"] is False
