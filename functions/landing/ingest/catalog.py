"""Journal + current-state writes: one Core statement per batch, guarded by the S3 sequencer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Executable,
    Table,
    case,
    func,
    literal_column,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from landing.db import journal
from landing.db.models import (
    OBJECT_EVENT_COLUMNS,
    OBJECT_STATE_COLUMNS,
    ObjectEvent,
)
from landing.db.pgwire import prepared
from landing.ingest.metadata import APPLY_METADATA, metadata_rows
from landing.ingest.rows import body_of, head_columns, iso, objects, rowset
from landing.s3 import sniffing
from landing.s3.head import Head, is_multipart
from landing.s3.notifications import Identity, S3Record

object_events: Table = ObjectEvent.__table__  # type: ignore[assignment]

# Columns an event (plus its HEAD answer) decides; created_at and upload_id are kept on update.
# detected_type too: the content sniffed from the event's body (reconcile never reads bytes, so it
# is not one of the state columns a repair decides).
DECIDED_COLUMNS = (*OBJECT_STATE_COLUMNS, "detected_type")


@dataclass(frozen=True, slots=True)
class WriteResult:
    received: int
    journalled: int
    # Events that moved their objects row, plus new metadata updates (which never lose to a newer
    # event, whether or not they name the current body).
    applied: int

    @property
    def duplicates(self) -> int:
        """Events already in the journal (redeliveries, or the same event by another path)."""
        return self.received - self.journalled

    @property
    def stale(self) -> int:
        """New events that lost to a newer one already recorded for their key."""
        return max(self.journalled - self.applied, 0)


JOURNAL_COLUMNS = OBJECT_EVENT_COLUMNS

OBJECT_COLUMNS = ("bucket", "key", *DECIDED_COLUMNS)


def _journal_row(record: S3Record, head: Head | None) -> dict[str, Any]:
    """The journal row of one event, with the object's metadata as S3 described the event's version
    (a delete has none; a removed version's HEAD describes another version, so it is not used)."""
    if record.record_type == "DELETE":
        version_id, size, e_tag = record.version_id, None, None
        described = head_columns(None)
    else:
        version_id, size, e_tag = body_of(record, head)
        described = head_columns(head)
    return {
        "bucket": record.bucket,
        "key": record.key,
        "sequence_number": record.sequencer,
        "record_type": record.record_type,
        "event_name": record.event_name,
        "record_timestamp": iso(record.event_time),
        "version_id": version_id,
        "size": size,
        "e_tag": e_tag,
        "request_id": record.request_id,
        "source": record.source,
        **described,
        **_delete_marker(record),
        "is_multipart": is_multipart(e_tag),
        "requester": record.requester,
        "source_ip_address": record.source_ip_address,
        "last_modified_date": iso(head.last_modified) if head and record.record_type != "DELETE" else None,
    }


def _delete_marker(record: S3Record) -> dict[str, bool | None]:
    """S3 Metadata's is_delete_marker: true for a delete marker, null for a permanent delete, false
    for everything else."""
    if record.record_type != "DELETE":
        return {"is_delete_marker": False}
    return {"is_delete_marker": True if record.delete_marker else None}


def _object_row(record: S3Record, head: Head | None) -> dict[str, Any]:
    """The objects row an event decides: what a reader of the key gets after it."""
    if record.removes_version and head is not None:
        # A version was removed for good and S3 says another one is current: the row takes that
        # version's fields, ordered by this event's sequencer (a non-current version removed
        # leaves the same content; only the sequencer moves, so older events stay stale).
        row = _live_row(record, head.version_id, head.size, head.e_tag, head, head.last_modified)
        # Who wrote the version that is current again is not known from this event.
        return {**row, "requester": None, "source_ip_address": None}
    if record.record_type == "DELETE":
        return {
            "bucket": record.bucket,
            "key": record.key,
            # A delete marker's own version id; a removed version leaves no version behind it.
            "version_id": None if record.removes_version else record.version_id,
            "sequence_number": record.sequencer,
            "size": None,
            "e_tag": None,
            "content_type": None,
            "last_modified_date": None,
            "is_deleted": True,
            "deleted_at": iso(record.event_time),
            "detected_type": None,
            **head_columns(None),
            **_delete_marker(record),
            "is_multipart": None,
            "requester": record.requester,
            "source_ip_address": record.source_ip_address,
            "metadata_read_at": None,
        }
    last_modified = head.last_modified if head else record.event_time
    return _live_row(record, record.version_id, record.size, record.e_tag, head, last_modified)


def _live_row(
    record: S3Record,
    version_id: str | None,
    size: int | None,
    e_tag: str | None,
    head: Head | None,
    last_modified: datetime | None,
) -> dict[str, Any]:
    return {
        "bucket": record.bucket,
        "key": record.key,
        "version_id": version_id,
        "sequence_number": record.sequencer,
        "size": size,
        "e_tag": e_tag,
        "content_type": head.content_type if head else None,
        "last_modified_date": iso(last_modified),
        "is_deleted": False,
        "deleted_at": None,
        "detected_type": _detected_type(head),
        **head_columns(head),
        "is_delete_marker": False,
        "is_multipart": is_multipart(e_tag),
        "requester": record.requester,
        "source_ip_address": record.source_ip_address,
        "metadata_read_at": iso(head.read_at) if head else None,
    }


def _detected_type(head: Head | None) -> str | None:
    """What the event's body really is, when its first bytes were read (uploads; bucket drops with
    DETECT_BUCKET_DROPS)."""
    if head is None or head.first_bytes is None:
        return None
    detected = sniffing.detect(head.first_bytes, head.root_entry)
    return detected.media_type if detected else None


def _rank(row: Mapping[str, Any]) -> tuple[str, bool]:
    """The ordering rule, also enforced in SQL: greater sequencer wins; on a tie, the tombstone wins."""
    return (row["sequence_number"], row["is_deleted"])


def _write_statement() -> Executable:
    """The journal insert and the objects upsert as one statement whose text never changes.

    Rows travel as two JSON arrays, so one event and a batch of a hundred run the same SQL:
    SQLAlchemy compiles it once per process, and the connection prepares it once (``prepared``),
    so the server does not parse and plan it again for every invocation.
    """
    event_rows = rowset("event_rows", object_events, JOURNAL_COLUMNS)
    object_rows = rowset("object_rows", objects, OBJECT_COLUMNS)
    events_insert = (
        insert(object_events)
        .from_select(
            (*JOURNAL_COLUMNS, "record_month"),
            select(*event_rows.c, journal.month_of(event_rows.c.record_timestamp)),
        )
        .on_conflict_do_nothing(constraint="uq_object_events_identity")
        .returning(object_events.c.id, object_events.c.record_type)
        .cte("journalled")
    )
    upsert = insert(objects).from_select(OBJECT_COLUMNS, select(*object_rows.c))
    # A removed non-current version only moves the row's sequencer: what a reader gets is the same,
    # so updated_at (when the content last changed) stays.
    content = ("version_id", "size", "e_tag", "is_deleted")
    touched = case(
        (
            tuple_(*(objects.c[name] for name in content)).is_distinct_from(
                tuple_(*(upsert.excluded[name] for name in content))
            ),
            func.now(),
        ),
        else_=objects.c.updated_at,
    )
    objects_upsert = (
        upsert.on_conflict_do_update(
            index_elements=[objects.c.bucket, objects.c.key],
            set_={**{name: upsert.excluded[name] for name in DECIDED_COLUMNS}, "updated_at": touched},
            where=tuple_(objects.c.sequence_number, objects.c.is_deleted)
            < tuple_(upsert.excluded.sequence_number, upsert.excluded.is_deleted),
        )
        .returning(objects.c.key)
        .cte("applied")
    )
    return prepared(
        select(
            select(func.count()).select_from(events_insert).scalar_subquery(),
            # Metadata updates never lose to a newer event: they are not counted as stale.
            select(func.count())
            .select_from(events_insert)
            .where(events_insert.c.record_type == literal_column("'UPDATE_METADATA'"))
            .scalar_subquery(),
            select(func.count()).select_from(objects_upsert).scalar_subquery(),
        )
    )


WRITE_EVENTS = _write_statement()


def record_events(
    session: Session,
    records: Sequence[S3Record],
    heads: Mapping[Identity, Head | None] | None = None,
) -> WriteResult:
    """Journal every distinct event and move each object row to its newest event, in one statement.

    A redelivered event adds no journal row (unique identity, ON CONFLICT DO NOTHING); the objects
    upsert only overwrites a row whose (sequence_number, is_deleted) is smaller than the event's,
    so stale creates cannot resurrect a tombstone and stale deletes cannot hide a newer object,
    whatever order concurrent invocations commit in. Rows are sorted so that concurrent batches
    take row locks in the same order.
    """
    if not records:
        return WriteResult(0, 0, 0)
    heads = heads or {}
    journal = {r.identity: _journal_row(r, heads.get(r.identity)) for r in records}
    # One statement cannot upsert the same row twice: pick each key's newest row here; the
    # database still decides between it and what is already stored.
    newest: dict[tuple[str, str], dict[str, Any]] = {}
    for record in records:
        if record.record_type == "UPDATE_METADATA":
            continue  # never decides content: applied below, onto the body it names
        if record.removes_version and record.identity not in heads:
            continue  # nobody asked S3 what is current now: journal it, leave the row to others
        row = _object_row(record, heads.get(record.identity))
        current = newest.get((record.bucket, record.key))
        if current is None or _rank(row) > _rank(current):
            newest[(record.bucket, record.key)] = row
    params = {
        "event_rows": [journal[identity] for identity in sorted(journal)],
        "object_rows": [row for _, row in sorted(newest.items())],
    }
    # A Core statement: run it on the session's connection, skipping the ORM's execution layer.
    journalled, updates, applied = session.connection().execute(WRITE_EVENTS, params).one()
    metadata = metadata_rows(records, heads)
    if metadata:
        session.connection().execute(APPLY_METADATA, {"metadata_rows": metadata})
    return WriteResult(received=len(records), journalled=int(journalled), applied=int(applied) + int(updates))
