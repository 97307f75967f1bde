"""docs/schema.md's side-by-side table says the truth about our columns."""

from __future__ import annotations

import re
from pathlib import Path

from landing.db.models import Object, ObjectEvent

DOC = Path(__file__).resolve().parents[2] / "docs" / "schema.md"
# S3 Metadata's journal table (S3 user guide, "S3 Metadata journal tables schema"), in its order.
JOURNAL = [
    "bucket",
    "key",
    "sequence_number",
    "record_type",
    "record_timestamp",
    "version_id",
    "is_delete_marker",
    "size",
    "last_modified_date",
    "e_tag",
    "storage_class",
    "is_multipart",
    "encryption_status",
    "is_bucket_key_enabled",
    "kms_key_arn",
    "checksum_algorithm",
    "object_tags",
    "user_metadata",
    "requester",
    "source_ip_address",
    "request_id",
]
INVENTORY = [
    c
    for c in JOURNAL
    if c not in ("record_type", "record_timestamp", "requester", "source_ip_address", "request_id")
]
ROW = re.compile(r"^\| `(\w+)` \| (yes|no) \| (yes|no) \| (same|ours only|theirs only) \|", re.M)


def side_by_side() -> dict[str, tuple[str, str, str]]:
    text = DOC.read_text().split("## Side by side with Amazon S3 Metadata", 1)[1]
    return {name: (journal, inventory, verdict) for name, journal, inventory, verdict in ROW.findall(text)}


def test_every_s3_metadata_column_has_a_row():
    rows = side_by_side()
    assert list(rows) == JOURNAL
    assert [name for name, (_, inventory, _) in rows.items() if inventory == "yes"] == INVENTORY


def test_every_column_said_to_be_the_same_exists_where_s3_metadata_has_it():
    journal = set(ObjectEvent.__table__.columns.keys())
    current = set(Object.__table__.columns.keys())
    for name, (in_journal, in_inventory, verdict) in side_by_side().items():
        if verdict != "same":
            continue
        if in_journal == "yes":
            assert name in journal, name
        if in_inventory == "yes":
            assert name in current, name
