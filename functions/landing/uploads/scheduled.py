"""The uploads function's scheduled pass: expire due uploads, publish what the outbox holds, keep the journal."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from landing.db import journal
from landing.db.uow import session_scope, unit_of_work
from landing.observability import logger, metrics
from landing.outbox import publisher
from landing.s3 import clients
from landing.settings import get_settings
from landing.uploads import sweep


def is_schedule(event: object) -> bool:
    return (
        isinstance(event, dict)
        and event.get("source") == "aws.events"
        and event.get("detail-type") == "Scheduled Event"
    )


def _journal_maintenance(context: Any, now: datetime) -> None:
    """Journal partitions for the months ahead, retention's expired months dropped, the default watched.

    In AWS the functions connect as the DML-only application role: the partition DDL goes through
    the journal's SECURITY DEFINER functions (migration 0008), the only DDL that role may cause.
    Its own transaction, after the expiry pass and the outbox: its DDL takes short exclusive locks on
    the journal that must not be held while uploads are swept, and a lock timeout here (ingest busy)
    leaves that work done and is retried by the next scheduled pass.
    """
    with unit_of_work(context) as session:
        result = journal.maintain(session.connection(), now, get_settings().journal_retention_days)
    metrics.add_metric(
        name="JournalPartitionsDropped", unit=MetricUnit.Count, value=len(result.partitions_dropped)
    )
    metrics.add_metric(name="JournalDefaultPartitionRows", unit=MetricUnit.Count, value=result.default_rows)
    if result.default_rows:
        # Events outside every monthly partition: a clock far off, or an event older than retention.
        logger.warning("journal rows in the default partition", extra={"rows": result.default_rows})
    logger.info("journal maintenance", extra=asdict(result))


def run(context: Any) -> dict[str, Any]:
    """EventBridge schedule: expire due uploads, abort their multipart parts, delete rejected leftovers,
    publish the lifecycle events the outbox still holds, then keep the journal's partitions."""
    now = datetime.now(UTC)
    with unit_of_work(context) as session:
        result = sweep.sweep(session, clients.signing_client(), now)
    metrics.add_metric(name="UploadsExpired", unit=MetricUnit.Count, value=result.expired)
    with session_scope(context) as work:
        events = publisher.drain(work.session, context)
    logger.info("expiry pass", extra={**asdict(result), "events": asdict(events)})
    _journal_maintenance(context, now)
    return {**asdict(result), "events": asdict(events)}
