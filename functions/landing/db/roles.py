"""The application's database role: created by the migrations, allowed only the DML the functions need."""

from __future__ import annotations

import re

from sqlalchemy import Connection, text

ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# What the functions do to rows; never DDL, TRUNCATE, REFERENCES or TRIGGER.
TABLE_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"
# Alembic's bookkeeping belongs to the migrations alone.
MIGRATIONS_ONLY = ("alembic_version",)
# The journals are append-only by grant: rows are inserted and read, never changed or removed by the
# functions (they insert with ON CONFLICT DO NOTHING). Partitions are covered too, since a partition
# named directly is checked on its own privileges, not its parent's.
APPEND_ONLY = ("object_events", "object_scans")
APPEND_ONLY_REVOKED = "UPDATE, DELETE, TRUNCATE"
# The journal's upkeep the scheduled pass runs: SECURITY DEFINER functions (revisions 0008 and 0009),
# the only DDL, and the only journal deletes, the role may cause; nobody else may execute them.
MAINTENANCE_FUNCTIONS = (
    "landing_journal_create_partition(date)",
    "landing_journal_drop_partition(text, timestamptz)",
    "landing_journal_expire_default(timestamptz)",
)


def grant_application_role(connection: Connection, role: str) -> None:
    """Create ``role`` (LOGIN, IAM-authenticated on RDS) if missing and grant it exactly the DML it needs.

    Runs after every upgrade, so tables a later migration adds are granted too. The connection's user
    (the migration user) keeps owning the schema; the role may not create anything in it.
    """
    if not ROLE_NAME.fullmatch(role):
        raise ValueError(f"database role {role!r} must match {ROLE_NAME.pattern}")
    schema = connection.execute(text("SELECT current_schema()")).scalar_one()
    quote = connection.dialect.identifier_preparer.quote
    grantee, namespace = quote(role), quote(schema)
    if not connection.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first():
        connection.execute(text(f"CREATE ROLE {grantee} LOGIN"))
    if connection.execute(text("SELECT 1 FROM pg_roles WHERE rolname = 'rds_iam'")).first():
        connection.execute(text(f"GRANT rds_iam TO {grantee}"))
    connection.execute(text(f"REVOKE CREATE ON SCHEMA {namespace} FROM PUBLIC"))
    connection.execute(text(f"GRANT USAGE ON SCHEMA {namespace} TO {grantee}"))
    connection.execute(text(f"GRANT {TABLE_PRIVILEGES} ON ALL TABLES IN SCHEMA {namespace} TO {grantee}"))
    connection.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {namespace} TO {grantee}"))
    for table in MIGRATIONS_ONLY:
        connection.execute(text(f"REVOKE ALL ON TABLE {namespace}.{quote(table)} FROM {grantee}"))
    for table in APPEND_ONLY:
        for name in _table_and_partitions(connection, f"{namespace}.{quote(table)}"):
            connection.execute(text(f"REVOKE {APPEND_ONLY_REVOKED} ON TABLE {name} FROM {grantee}"))
    for function in MAINTENANCE_FUNCTIONS:
        if connection.execute(text("SELECT to_regprocedure(:f)"), {"f": function}).scalar() is not None:
            connection.execute(text(f"GRANT EXECUTE ON FUNCTION {namespace}.{function} TO {grantee}"))


def _table_and_partitions(connection: Connection, table: str) -> list[str]:
    """``table`` and every partition under it (any depth), as quoted, schema-qualified names."""
    found = connection.execute(
        text(
            "WITH RECURSIVE tree(oid) AS (SELECT to_regclass(:table)::oid UNION ALL "
            "SELECT i.inhrelid FROM pg_inherits i JOIN tree ON i.inhparent = tree.oid) "
            "SELECT oid::regclass::text FROM tree WHERE oid IS NOT NULL"
        ),
        {"table": table},
    )
    return [str(name) for (name,) in found]
