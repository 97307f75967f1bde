"""Row shapes the catalog writes share: an event body and its HeadObject answer as column values."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Table,
    bindparam,
    column,
    func,
)
from sqlalchemy.dialects.postgresql import JSON
from sqlalchemy.sql.selectable import TableValuedAlias

from landing.db.models import (
    Object,
)
from landing.s3.head import Head
from landing.s3.notifications import S3Record

objects: Table = Object.__table__  # type: ignore[assignment]


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def head_columns(head: Head | None) -> dict[str, Any]:
    """The metadata columns HeadObject (and GetObjectTagging) answered for one version."""
    return {
        "storage_class": head.storage_class if head else None,
        "user_metadata": head.user_metadata if head else None,
        "checksum_algorithm": head.checksum_algorithm if head else None,
        "object_tags": head.object_tags if head else None,
        "encryption_status": head.encryption_status if head else None,
        "is_bucket_key_enabled": head.is_bucket_key_enabled if head else None,
        "kms_key_arn": head.kms_key_arn if head else None,
        "restore_status": head.restore_status if head else None,
        "restore_expiry_date": iso(head.restore_expiry_date) if head else None,
    }


def body_of(record: S3Record, head: Head | None) -> tuple[str | None, int | None, str | None]:
    """(version_id, size, e_tag) of the version a create or metadata update names: the event's,
    completed by HeadObject's (which was asked for that version and eTag)."""
    if head is None:
        return record.version_id, record.size, record.e_tag
    return (
        record.version_id or head.version_id,
        record.size if record.size is not None else head.size,
        record.e_tag or head.e_tag,
    )


def rowset(name: str, table: Table, columns: Sequence[str]) -> TableValuedAlias:
    """``json_to_recordset(:name) AS name(column type, ...)``: any number of rows in one parameter."""
    return (
        func.json_to_recordset(bindparam(name, type_=JSON))
        .table_valued(*(column(c, table.c[c].type) for c in columns))
        .render_derived(name=name, with_types=True)
    )
