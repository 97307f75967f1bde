"""The application's database role: created by the migrations, allowed only the DML the functions need."""

from __future__ import annotations

import re

from sqlalchemy import Connection, text

ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# What the functions do to rows; never DDL, TRUNCATE, REFERENCES or TRIGGER.
TABLE_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"
# Alembic's bookkeeping belongs to the migrations alone.
MIGRATIONS_ONLY = ("alembic_version",)
# The journal's partition upkeep the scheduled pass runs: SECURITY DEFINER functions (revision 0008),
# the only DDL the role may cause; nobody else may execute them.
MAINTENANCE_FUNCTIONS = (
    "landing_journal_create_partition(date)",
    "landing_journal_drop_partition(text, timestamptz)",
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
    for function in MAINTENANCE_FUNCTIONS:
        if connection.execute(text("SELECT to_regprocedure(:f)"), {"f": function}).scalar() is not None:
            connection.execute(text(f"GRANT EXECUTE ON FUNCTION {namespace}.{function} TO {grantee}"))
