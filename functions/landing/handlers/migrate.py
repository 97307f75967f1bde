"""MigrateFunction: a CloudFormation custom resource that applies the Alembic migrations on deploy."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import CloudFormationCustomResourceEvent

from landing import custom_resource
from landing.observability import logger

PHYSICAL_RESOURCE_ID = "landing-database-migrations"


def _apply_migrations() -> str:
    # Imported here so that a broken configuration (say DATABASE_URL) is reported to CloudFormation
    # as FAILED with its message instead of failing the import and leaving the stack waiting.
    from landing.db import engine as db
    from landing.db import migrate

    revision = migrate.upgrade(db.require_engine())
    return revision or ""


def _migrate(request: CloudFormationCustomResourceEvent) -> tuple[str, dict[str, str]]:
    if request.request_type == "Delete":
        return "nothing to undo: migrations and data stay with the database", {}
    revision = _apply_migrations()
    return f"database at revision {revision}", {"Revision": revision}


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Create/Update: upgrade to head. Delete: keep the database. Always answer CloudFormation."""
    return custom_resource.respond(event, context, PHYSICAL_RESOURCE_ID, _migrate)
