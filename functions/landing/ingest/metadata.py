"""Metadata updates (tags, ACL, restore, storage class): applied to the objects row only when they name its body."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    Executable,
    and_,
    func,
    or_,
    tuple_,
    update,
)

from landing.db.models import (
    MUTABLE_METADATA_COLUMNS,
)
from landing.db.pgwire import prepared
from landing.ingest.rows import body_of, head_columns, iso, objects, rowset
from landing.s3.head import Head
from landing.s3.notifications import Identity, S3Record

# What a metadata update changes, and the body it must name: (version_id, e_tag) of the row.
METADATA_ROW_COLUMNS = ("bucket", "key", "version_id", "e_tag", *MUTABLE_METADATA_COLUMNS, "metadata_read_at")


def _metadata_statement() -> Executable:
    """Metadata updates onto the objects rows whose current body they name, in one statement.

    Only the mutable metadata columns move (never version_id, size, e_tag, is_deleted or
    content_type, never the sequence_number that orders content events), and only where something
    differs, so a redelivered update changes nothing. updated_at moves with them: readers that poll
    for recent changes see the change, and reconcile leaves alone a row written after its listing.
    A separate statement from WRITE_EVENTS because one statement cannot modify a row twice.
    """
    rows = rowset("metadata_rows", objects, METADATA_ROW_COLUMNS)
    names = MUTABLE_METADATA_COLUMNS
    # Of two updates processed at once, the one that asked S3 later wins, whichever commits last.
    newer = or_(objects.c.metadata_read_at.is_(None), objects.c.metadata_read_at < rows.c.metadata_read_at)
    changed = tuple_(*(objects.c[name] for name in names)).is_distinct_from(
        tuple_(*(rows.c[name] for name in names))
    )
    return prepared(
        update(objects)
        .values(
            {
                **{name: rows.c[name] for name in names},
                "metadata_read_at": rows.c.metadata_read_at,
                "updated_at": func.now(),
            }
        )
        .where(
            and_(
                objects.c.bucket == rows.c.bucket,
                objects.c.key == rows.c.key,
                objects.c.is_deleted.is_(False),
                objects.c.version_id.is_not_distinct_from(rows.c.version_id),
                objects.c.e_tag == rows.c.e_tag,
                newer,
                changed,
            )
        )
    )


APPLY_METADATA = _metadata_statement()


def metadata_rows(records: Sequence[S3Record], heads: Mapping[Identity, Head | None]) -> list[dict[str, Any]]:
    """One row per (bucket, key, version) whose metadata S3 described: the state read last wins
    (they were all read in this invocation, after every event was sent)."""
    found: dict[tuple[str, str, str | None], dict[str, Any]] = {}
    for record in records:
        head = heads.get(record.identity)
        if record.record_type != "UPDATE_METADATA" or head is None:
            continue  # S3 could not describe the version (gone, replaced, denied): nothing to apply
        version_id, _size, e_tag = body_of(record, head)
        described = head_columns(head)
        found[(record.bucket, record.key, version_id)] = {
            "bucket": record.bucket,
            "key": record.key,
            "version_id": version_id,
            "e_tag": e_tag,
            **{name: described[name] for name in MUTABLE_METADATA_COLUMNS},
            "metadata_read_at": iso(head.read_at),
        }
    return [
        row for _, row in sorted(found.items(), key=lambda item: (item[0][0], item[0][1], item[0][2] or ""))
    ]


def has_metadata_updates(records: Sequence[S3Record]) -> bool:
    return any(record.record_type == "UPDATE_METADATA" for record in records)
