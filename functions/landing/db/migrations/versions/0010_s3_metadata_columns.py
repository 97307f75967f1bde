"""S3 Metadata's columns on objects and the journal, and UPDATE_METADATA records.

Every added column is nullable with no default, so PostgreSQL (11 and later) records it in the
catalog only: no row is rewritten, whatever the tables hold (objects: milliseconds). record_type
widens from varchar(8) to varchar(16), which rewrites no row either, but PostgreSQL rebuilds every
index holding the column on a partitioned table (it reuses index storage only on plain tables): the
journal's identity index, partition by partition, under the ACCESS EXCLUSIVE lock of this
transaction. That is the migration's cost, 1-4 s per million journal rows here (docs/journal.md):
ingest writes wait on the lock, fail at their lock timeout and are retried. lock_timeout makes the
migration itself give up (and change nothing) rather than queue behind a long transaction. The check
on record_type is replaced NOT VALID: every existing row passed the stricter check it replaces, so
validating would only read the whole journal under the same lock. The partition upkeep function of
revision 0008 moves rows out of the default partition column by column: it is redefined with the new
columns.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08
"""

import importlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (name, type) in the order they are added; objects gets the same less the journal-only three.
METADATA = (
    ("object_tags", "jsonb"),
    ("is_delete_marker", "boolean"),
    ("is_multipart", "boolean"),
    ("encryption_status", "text"),
    ("is_bucket_key_enabled", "boolean"),
    ("kms_key_arn", "text"),
    ("requester", "text"),
    ("source_ip_address", "text"),
    ("restore_status", "text"),
    ("restore_expiry_date", "timestamptz"),
)
JOURNAL_ONLY = (("storage_class", "text"), ("checksum_algorithm", "text"), ("user_metadata", "jsonb"))
RECORD_TYPES = "('CREATE', 'DELETE', 'UPDATE_METADATA')"
OLD_RECORD_TYPES = "('CREATE', 'DELETE')"
# Each DDL statement waits at most this long for its lock, then the migration fails and changes nothing.
LOCK_TIMEOUT = "5s"


def _previous() -> object:
    return importlib.import_module("landing.db.migrations.versions.0008_journal_maintenance_functions")


def _create_partition_function(columns: str) -> str:
    previous = _previous()
    schema = op.get_bind().execute(sa.text("SELECT quote_ident(current_schema())")).scalar_one()
    body: str = previous.CREATE_PARTITION.replace(previous.ALL_COLUMNS, columns)  # type: ignore[attr-defined]
    return body.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1).replace("{schema}", schema)


def upgrade() -> None:
    op.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    # Rebuilding the identity index takes as long as the journal is large.
    op.execute("SET LOCAL statement_timeout = 0")
    op.execute("ALTER TABLE objects " + ", ".join(f"ADD COLUMN {name} {kind}" for name, kind in METADATA))
    op.execute(
        "ALTER TABLE object_events "
        + ", ".join(f"ADD COLUMN {name} {kind}" for name, kind in (*JOURNAL_ONLY, *METADATA))
        + ", ALTER COLUMN record_type TYPE varchar(16)"
        + ", DROP CONSTRAINT ck_object_events_record_type"
        + f", ADD CONSTRAINT ck_object_events_record_type CHECK (record_type IN {RECORD_TYPES}) NOT VALID"
    )
    new_columns = ", ".join(name for name, _ in (*JOURNAL_ONLY, *METADATA))
    op.execute(sa.text(_create_partition_function(f"{_previous().ALL_COLUMNS}, {new_columns}")))  # type: ignore[attr-defined]


def downgrade() -> None:
    op.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    op.execute("SET LOCAL statement_timeout = 0")
    # UPDATE_METADATA records have no place in the older journal.
    op.execute("DELETE FROM object_events WHERE record_type = 'UPDATE_METADATA'")
    op.execute(sa.text(_create_partition_function(_previous().ALL_COLUMNS)))  # type: ignore[attr-defined]
    op.execute(
        "ALTER TABLE object_events "
        + ", ".join(f"DROP COLUMN {name}" for name, _ in (*JOURNAL_ONLY, *METADATA))
        + ", DROP CONSTRAINT ck_object_events_record_type"
        + f", ADD CONSTRAINT ck_object_events_record_type CHECK (record_type IN {OLD_RECORD_TYPES})"
        + ", ALTER COLUMN record_type TYPE varchar(8)"
    )
    op.execute("ALTER TABLE objects " + ", ".join(f"DROP COLUMN {name}" for name, _ in METADATA))
