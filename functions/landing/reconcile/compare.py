"""Reconcile: compare a key range of a bucket listing with `objects`, and repair the difference."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from landing.db.models import Object
from landing.errors import RetryableS3Error
from landing.reconcile.repairs import EVENT_NAMES, Repair
from landing.s3.fields import SEQUENCER_WIDTH
from landing.s3.head import Head, HeadOutcome, head_many
from landing.s3.listing import Entry, normalise_version
from landing.s3.notifications import S3Record

objects: Table = Object.__table__  # type: ignore[assignment]

# The sequence number of a repair for a key the catalog never saw: below every real sequencer.
FLOOR_SEQUENCE = "1".rjust(SEQUENCER_WIDTH, "0")
MAX_SEQUENCE = int("F" * SEQUENCER_WIDTH, 16)

Action = Literal["insert", "update", "delete"]


def repair_sequence(current: str | None) -> str:
    """The sequence_number a reconcile repair is journalled and stored with.

    S3 gives a listing no sequencer, so the repair is placed just after the last event the catalog
    applied to the key: its stored sequence_number plus one, as a 32-digit hex number. Stored
    sequencers are right-padded with zeros (real ones carry about 18 significant digits), so the +1
    lands in the padding: the repair sorts after every event already seen for the key and before any
    later real event, whose significant digits are greater. A live event that arrives afterwards
    therefore still wins, and a redelivery of an older one still loses. A key the catalog never saw
    gets ``FLOOR_SEQUENCE`` (0...01), below every real sequencer: whatever S3 reports for it later
    decides the row. Repeated repairs of one key count up in the padding (+1, +2, ...).
    """
    if current is None:
        return FLOOR_SEQUENCE
    return f"{min(int(current, 16) + 1, MAX_SEQUENCE):0{SEQUENCER_WIDTH}X}"


@dataclass(frozen=True, slots=True)
class Row:
    """The catalog's view of one key, as the comparison read it."""

    key: str
    sequence_number: str
    is_deleted: bool
    version_id: str | None
    size: int | None
    e_tag: str | None
    last_modified_date: datetime | None
    updated_at: datetime
    storage_class: str | None = None
    is_delete_marker: bool | None = None
    encryption_status: str | None = None
    is_bucket_key_enabled: bool | None = None


@dataclass(frozen=True, slots=True)
class Planned:
    """A difference found: what to do to one key, and why."""

    action: Action
    key: str
    reason: str
    entry: Entry | None
    row: Row | None


@dataclass(frozen=True, slots=True)
class Comparison:
    planned: tuple[Planned, ...]
    # Keys that differ but whose row was written after the listing was taken: a live event is
    # newer than what the listing shows, so the row is left alone.
    left_alone: tuple[str, ...]


def read_rows(
    session: Session,
    bucket: str,
    prefix: str,
    lower: str | None,
    upper: str | None,
    limit: int,
) -> list[Row]:
    """Catalog rows in (lower, upper] under ``prefix``, in key order, at most ``limit``.

    A keyset range query on the primary key; ``key`` is COLLATE "C", the byte order S3 lists in, so
    the range means the same thing on both sides.
    """
    query = (
        select(
            objects.c.key,
            objects.c.sequence_number,
            objects.c.is_deleted,
            objects.c.version_id,
            objects.c.size,
            objects.c.e_tag,
            objects.c.last_modified_date,
            objects.c.updated_at,
            objects.c.storage_class,
            objects.c.is_delete_marker,
            objects.c.encryption_status,
            objects.c.is_bucket_key_enabled,
        )
        .where(objects.c.bucket == bucket)
        .order_by(objects.c.key)
        .limit(limit)
    )
    if prefix:
        query = query.where(objects.c.key >= prefix, objects.c.key.startswith(prefix, autoescape=True))
    if lower is not None:
        query = query.where(objects.c.key > lower)
    if upper is not None:
        query = query.where(objects.c.key <= upper)
    return [Row(*row) for row in session.execute(query)]


def _seconds(value: datetime) -> datetime:
    # HeadObject's Last-Modified has whole seconds; listings may carry milliseconds.
    return value.replace(microsecond=0)


def _difference(entry: Entry, row: Row, versioned: bool) -> str | None:
    if row.is_deleted:
        return "deleted in the catalog, present in S3"
    if row.e_tag != entry.e_tag:
        return f"etag {row.e_tag} in the catalog, {entry.e_tag} in S3"
    if row.size != entry.size:
        return f"size {row.size} in the catalog, {entry.size} in S3"
    if versioned and normalise_version(row.version_id) != entry.version_id:
        return f"version {row.version_id} in the catalog, {entry.version_id} in S3"
    if row.last_modified_date is not None and _seconds(entry.last_modified) > _seconds(
        row.last_modified_date
    ):
        # Same bytes, newer write (a copy onto itself with new metadata, say): HEAD it again.
        return "rewritten in S3 since the catalog's last event"
    return _metadata_difference(entry, row)


def _metadata_difference(entry: Entry, row: Row) -> str | None:
    """S3 Metadata's columns: every live row written since revision 0010 has is_delete_marker false,
    so NULL means a row from before, whose columns a HEAD fills; then what the listing (storage
    class) or the inventory (also encryption and bucket key) says differently."""
    if row.is_delete_marker is None:
        return "S3 Metadata columns not filled yet (row written before revision 0010)"
    if entry.storage_class and row.storage_class != entry.storage_class:
        return f"storage class {row.storage_class} in the catalog, {entry.storage_class} in S3"
    if entry.encryption_status and row.encryption_status != entry.encryption_status:
        return f"encryption {row.encryption_status} in the catalog, {entry.encryption_status} in S3"
    if entry.is_bucket_key_enabled is not None and row.is_bucket_key_enabled != entry.is_bucket_key_enabled:
        return f"bucket key {row.is_bucket_key_enabled} in the catalog, {entry.is_bucket_key_enabled} in S3"
    return None


def compare(
    entries: Sequence[Entry], rows: Sequence[Row], listed_at: datetime, *, versioned: bool
) -> Comparison:
    """Merge a range of the listing with the catalog rows of the same range (both sorted by key)."""
    by_key = {row.key: row for row in rows}
    listed = {entry.key for entry in entries}
    planned: list[Planned] = []
    left_alone: list[str] = []

    def plan(action: Action, key: str, reason: str, entry: Entry | None, row: Row | None) -> None:
        if row is not None and row.updated_at >= listed_at:
            left_alone.append(key)
        else:
            planned.append(Planned(action, key, reason, entry, row))

    for entry in entries:
        row = by_key.get(entry.key)
        if entry.is_delete_marker:
            if row is not None and not row.is_deleted:
                plan("delete", entry.key, "deleted in S3 (delete marker)", entry, row)
        elif row is None:
            plan("insert", entry.key, "missing from the catalog", entry, None)
        else:
            reason = _difference(entry, row, versioned)
            if reason is not None:
                plan("update", entry.key, reason, entry, row)
    for row in rows:
        if row.key not in listed and not row.is_deleted:
            plan("delete", row.key, "no longer in S3", None, row)
    planned.sort(key=lambda p: p.key)
    return Comparison(tuple(planned), tuple(left_alone))


def _probe(bucket: str, planned: Planned) -> S3Record:
    """The HEAD request for a create repair, in the shape head_many takes."""
    assert planned.entry is not None
    return S3Record(
        bucket=bucket,
        key=planned.key,
        event_name=EVENT_NAMES["CREATE"],
        record_type="CREATE",
        event_time=planned.entry.last_modified,
        sequencer=repair_sequence(planned.row.sequence_number if planned.row else None),
        version_id=planned.entry.version_id,
        size=planned.entry.size,
        e_tag=planned.entry.e_tag,
        request_id=None,
        source="reconcile",
    )


def head_creates(bucket: str, planned: Sequence[Planned]) -> dict[str, HeadOutcome]:
    """HEAD every object to insert or update (thread pool, no session); raises on a retryable error."""
    probes = {p.key: _probe(bucket, p) for p in planned if p.action != "delete"}
    outcomes = head_many(list(probes.values()))
    heads = {key: outcomes.get(probe.identity) for key, probe in probes.items()}
    for outcome in heads.values():
        if isinstance(outcome, RetryableS3Error):
            raise outcome
    return heads


def to_repairs(
    bucket: str, planned: Sequence[Planned], heads: Mapping[str, HeadOutcome], listed_at: datetime
) -> tuple[list[Repair], list[str]]:
    """Repairs to write, and the keys whose HeadObject had no answer for the listed object.

    HeadObject asks for the listed version and ETag. Without an answer (deleted or overwritten since
    the listing, or not readable by us: 403, SSE-C) the object is recorded from the listing alone,
    as ingest records an event alone: a later event for the key sorts above the repair and wins.
    """
    repairs: list[Repair] = []
    unenriched: list[str] = []
    for p in planned:
        row, entry = p.row, p.entry
        sequence = repair_sequence(row.sequence_number if row else None)
        expected_seq = row.sequence_number if row else None
        expected_deleted = row.is_deleted if row else None
        if p.action == "delete":
            marker = entry if entry is not None and entry.is_delete_marker else None
            repairs.append(
                Repair(
                    bucket=bucket,
                    key=p.key,
                    record_type="DELETE",
                    sequence_number=sequence,
                    # When it happened is known only from a delete marker; otherwise "by the listing".
                    record_timestamp=marker.last_modified if marker else listed_at,
                    expected_sequence_number=expected_seq,
                    expected_is_deleted=expected_deleted,
                    version_id=marker.version_id if marker else None,
                    is_delete_marker=True if marker else None,
                )
            )
            continue
        assert entry is not None
        outcome = heads.get(p.key)
        head = outcome if isinstance(outcome, Head) else None
        if head is None:
            unenriched.append(p.key)
        repairs.append(
            Repair(
                bucket=bucket,
                key=p.key,
                record_type="CREATE",
                sequence_number=sequence,
                record_timestamp=entry.last_modified,
                expected_sequence_number=expected_seq,
                expected_is_deleted=expected_deleted,
                version_id=entry.version_id,
                size=entry.size,
                e_tag=entry.e_tag,
                content_type=head.content_type if head else None,
                storage_class=head.storage_class if head else entry.storage_class,
                user_metadata=head.user_metadata if head else None,
                checksum_algorithm=head.checksum_algorithm if head else entry.checksum_algorithm,
                last_modified_date=(head.last_modified if head else None) or entry.last_modified,
                object_tags=head.object_tags if head else None,
                is_delete_marker=False,
                is_multipart=entry.is_multipart,
                encryption_status=head.encryption_status if head else entry.encryption_status,
                is_bucket_key_enabled=head.is_bucket_key_enabled if head else entry.is_bucket_key_enabled,
                kms_key_arn=head.kms_key_arn if head else None,
                restore_status=head.restore_status if head else None,
                restore_expiry_date=head.restore_expiry_date if head else None,
                metadata_read_at=head.read_at if head else None,
            )
        )
    return repairs, unenriched
