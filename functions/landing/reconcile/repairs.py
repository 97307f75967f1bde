"""Reconcile's catalog writes: guarded repairs of `objects`, each applied one journalled, one statement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    Boolean,
    DateTime,
    Select,
    String,
    Table,
    Text,
    and_,
    bindparam,
    column,
    func,
    literal,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import JSON, insert
from sqlalchemy.orm import Session

from landing.db import journal
from landing.db.models import OBJECT_EVENT_COLUMNS, OBJECT_STATE_COLUMNS, Object, ObjectEvent

objects: Table = Object.__table__  # type: ignore[assignment]
object_events: Table = ObjectEvent.__table__  # type: ignore[assignment]

RepairType = Literal["CREATE", "DELETE"]
# Journal event names for repairs: shaped like S3's so record_type still follows from the name.
EVENT_NAMES: dict[str, str] = {"CREATE": "ObjectCreated:Reconcile", "DELETE": "ObjectRemoved:Reconcile"}

# The objects columns a repair decides (as an event would); created_at and upload_id are kept.
STATE_COLUMNS = OBJECT_STATE_COLUMNS


@dataclass(frozen=True, slots=True)
class Repair:
    """One key brought to what the listing showed, if the row is still what the comparison saw.

    ``expected_sequence_number`` / ``expected_is_deleted`` are the row as read (None: there was no
    row): the write only happens when the row is unchanged since, so a live event that landed in
    between is never overwritten.
    """

    bucket: str
    key: str
    record_type: RepairType
    sequence_number: str
    record_timestamp: datetime
    expected_sequence_number: str | None
    expected_is_deleted: bool | None
    version_id: str | None = None
    size: int | None = None
    e_tag: str | None = None
    content_type: str | None = None
    storage_class: str | None = None
    user_metadata: dict[str, str] | None = field(default=None)
    checksum_algorithm: str | None = None
    last_modified_date: datetime | None = None
    # S3 Metadata's columns, from HeadObject (and GetObjectTagging) or the listing / inventory row.
    object_tags: dict[str, str] | None = field(default=None)
    is_delete_marker: bool | None = None
    is_multipart: bool | None = None
    encryption_status: str | None = None
    is_bucket_key_enabled: bool | None = None
    kms_key_arn: str | None = None
    restore_status: str | None = None
    restore_expiry_date: datetime | None = None
    # A listing names no requester: a repair has none.
    requester: str | None = None
    source_ip_address: str | None = None
    # When HeadObject was asked (None: the repair is from the listing alone).
    metadata_read_at: datetime | None = None

    @property
    def is_deleted(self) -> bool:
        return self.record_type == "DELETE"

    def row(self) -> dict[str, Any]:
        """A JSON-ready row for the statement's recordset."""
        data = asdict(self)
        for name in ("record_timestamp", "last_modified_date", "restore_expiry_date", "metadata_read_at"):
            data[name] = data[name].isoformat() if data[name] is not None else None
        data["is_deleted"] = self.is_deleted
        data["deleted_at"] = data["record_timestamp"] if self.is_deleted else None
        data["event_name"] = EVENT_NAMES[self.record_type]
        return data


@dataclass(frozen=True, slots=True)
class RepairResult:
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    journalled: int = 0

    @property
    def applied(self) -> int:
        return self.inserted + self.updated + self.deleted


def _recordset() -> Any:
    """``json_to_recordset(:repairs) AS repairs(column type, ...)``: a whole batch in one parameter."""
    typed = [column(name, objects.c[name].type) for name in ("bucket", "key", *STATE_COLUMNS)]
    typed += [
        column("record_type", String(16)),
        column("event_name", Text()),
        column("record_timestamp", DateTime(timezone=True)),
        column("expected_sequence_number", Text()),
        column("expected_is_deleted", Boolean()),
    ]
    return (
        func.json_to_recordset(bindparam("repairs", type_=JSON))
        .table_valued(*typed)
        .render_derived(name="repairs", with_types=True)
    )


def _statement() -> Select[int, int, int, int]:
    source = select(_recordset()).cte("repairs")
    # The row is untouched since it was compared, and untouched since the listing was taken.
    unchanged = and_(
        objects.c.bucket == source.c.bucket,
        objects.c.key == source.c.key,
        objects.c.sequence_number == source.c.expected_sequence_number,
        objects.c.is_deleted == source.c.expected_is_deleted,
        objects.c.updated_at < bindparam("listed_at", type_=DateTime(timezone=True)),
    )
    # Lock the rows to repair in key order, the order record_events takes them in, so a reconcile
    # batch and an ingest batch wait for each other instead of deadlocking.
    locked = (
        select(objects.c.bucket, objects.c.key)
        .where(unchanged)
        .order_by(objects.c.bucket, objects.c.key)
        .with_for_update(of=objects)
        .cte("locked")
    )
    updated = (
        update(objects)
        .values({**{name: source.c[name] for name in STATE_COLUMNS}, "updated_at": func.now()})
        .where(unchanged, objects.c.bucket == locked.c.bucket, objects.c.key == locked.c.key)
        .returning(objects.c.bucket, objects.c.key, source.c.record_type)
        .cte("updated")
    )
    columns = ("bucket", "key", *STATE_COLUMNS)
    inserted = (
        insert(objects)
        .from_select(
            columns,
            select(*(source.c[name] for name in columns))
            .where(source.c.expected_sequence_number.is_(None), source.c.record_type == "CREATE")
            .order_by(source.c.bucket, source.c.key),
        )
        .on_conflict_do_nothing(index_elements=[objects.c.bucket, objects.c.key])
        .returning(objects.c.bucket, objects.c.key)
        .cte("inserted")
    )
    applied = union_all(
        select(updated.c.bucket, updated.c.key), select(inserted.c.bucket, inserted.c.key)
    ).cte("applied")
    # A repair has no S3 request behind it: every journal column but request_id.
    journal_columns = tuple(c for c in OBJECT_EVENT_COLUMNS if c not in ("request_id", "source"))
    journalled = (
        insert(object_events)
        .from_select(
            (*journal_columns, "source", "record_month"),
            select(
                *(source.c[name] for name in journal_columns),
                literal("reconcile"),
                journal.month_of(source.c.record_timestamp),
            )
            .join(applied, and_(applied.c.bucket == source.c.bucket, applied.c.key == source.c.key))
            .order_by(source.c.bucket, source.c.key),
        )
        .on_conflict_do_nothing(constraint="uq_object_events_identity")
        .returning(object_events.c.id)
        .cte("journalled")
    )

    def count(cte: Any, record_type: str | None = None) -> Any:
        query = select(func.count()).select_from(cte)
        if record_type is not None:
            query = query.where(cte.c.record_type == record_type)
        return query.scalar_subquery()

    return select(count(inserted), count(updated, "CREATE"), count(updated, "DELETE"), count(journalled))


RECORD_REPAIRS = _statement()


def record_repairs(session: Session, repairs: Sequence[Repair], listed_at: datetime) -> RepairResult:
    """Apply the repairs whose rows are unchanged since they were read and since ``listed_at``.

    A missing object is inserted only if no row appeared meanwhile (ON CONFLICT DO NOTHING); a row is
    updated or tombstoned only if its (sequence_number, is_deleted) is still the one compared and it
    was last written before the listing was taken. Each applied repair adds one journal row with
    source 'reconcile'; repairs left alone add nothing.
    """
    if not repairs:
        return RepairResult()
    rows = [repair.row() for repair in sorted(repairs, key=lambda r: (r.bucket, r.key))]
    inserted, updated, deleted, journalled = session.execute(
        RECORD_REPAIRS, {"repairs": rows, "listed_at": listed_at}
    ).one()
    return RepairResult(int(inserted), int(updated), int(deleted), int(journalled))
