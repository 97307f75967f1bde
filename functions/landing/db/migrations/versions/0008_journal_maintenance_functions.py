"""Partition upkeep as SECURITY DEFINER functions, so the functions' row-only role can run it.

The scheduled pass runs as DATABASE_APP_ROLE, which may read and write rows but not create, attach,
detach or drop tables. These two functions, owned by the migration user, are the only DDL it may
cause: create a month's partition (moving rows the default holds for it), and detach and drop a
partition wholly before a cutoff with no row at or after it. EXECUTE is revoked from PUBLIC and
granted to the application role by landing.db.roles.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    "id, bucket, key, sequence_number, record_type, event_name, record_timestamp, version_id, "
    "size, e_tag, request_id, source, received_at"
)
ALL_COLUMNS = f"{COLUMNS}, record_month"
# search_path is pinned so a caller cannot redirect the names the functions use.
CREATE_PARTITION = f"""
CREATE FUNCTION landing_journal_create_partition(month date) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = {{schema}}, pg_temp AS $$
DECLARE
    lower_bound date := date_trunc('month', month)::date;
    upper_bound date := (date_trunc('month', month) + interval '1 month')::date;
    name text := 'object_events_' || to_char(month, 'YYYY_MM');
    moved bigint := 0;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
               WHERE i.inhparent = 'object_events'::regclass AND c.relname = name) THEN
        RETURN 0;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM object_events_default
                   WHERE record_month >= lower_bound AND record_month < upper_bound) THEN
        EXECUTE format('CREATE TABLE %I PARTITION OF object_events FOR VALUES FROM (%L) TO (%L)',
                       name, lower_bound, upper_bound);
        RETURN 0;
    END IF;
    -- PostgreSQL refuses a partition whose rows sit in the default: move them into a plain table,
    -- then attach it.
    EXECUTE format('CREATE TABLE %I (LIKE object_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name);
    EXECUTE format('WITH moved AS (DELETE FROM object_events_default WHERE record_month >= %L '
                   'AND record_month < %L RETURNING {ALL_COLUMNS}) '
                   'INSERT INTO %I ({ALL_COLUMNS}) SELECT {ALL_COLUMNS} FROM moved',
                   lower_bound, upper_bound, name);
    GET DIAGNOSTICS moved = ROW_COUNT;
    EXECUTE format('ALTER TABLE object_events ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                   name, lower_bound, upper_bound);
    RETURN moved;
END
$$"""
DROP_PARTITION = """
CREATE FUNCTION landing_journal_drop_partition(name text, cutoff timestamptz) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
DECLARE
    upper_bound date;
    unexpired boolean;
BEGIN
    -- Only a monthly partition of the journal (never the default, never another table) whose
    -- whole range ends by the cutoff and that holds no row at or after it.
    SELECT (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \\(''([0-9-]+)''\\)'))[1]::date
      INTO upper_bound
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'object_events'::regclass AND c.relname = name;
    IF upper_bound IS NULL OR (upper_bound::timestamp AT TIME ZONE 'UTC') > cutoff THEN
        RETURN false;
    END IF;
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE record_timestamp >= %L)', name, cutoff)
       INTO unexpired;
    IF unexpired THEN
        RETURN false;
    END IF;
    EXECUTE format('ALTER TABLE object_events DETACH PARTITION %I', name);
    EXECUTE format('DROP TABLE %I', name);
    RETURN true;
END
$$"""
SIGNATURES = ("landing_journal_create_partition(date)", "landing_journal_drop_partition(text, timestamptz)")


def upgrade() -> None:
    schema = op.get_bind().execute(sa.text("SELECT quote_ident(current_schema())")).scalar_one()
    op.execute(sa.text(CREATE_PARTITION.replace("{schema}", schema)))
    op.execute(sa.text(DROP_PARTITION.replace("{schema}", schema)))
    for signature in SIGNATURES:
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")


def downgrade() -> None:
    for signature in SIGNATURES:
        op.execute(f"DROP FUNCTION {signature}")
