"""Publishing the outbox to EventBridge: right after the commit that wrote it, and by the scheduled pass."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from landing.db import uow
from landing.db.models import OUTBOX_WRITTEN
from landing.observability import logger, metrics
from landing.outbox import store
from landing.outbox.store import Pending
from landing.settings import get_settings

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

SOURCE = "landing.uploads"
# PutEvents accepts at most 10 entries per call.
MAX_ENTRIES = 10
# Entries EventBridge refused (throttled, internal errors) are sent again, alone, this many times
# in all before the row is left to the next pass.
ENTRY_ATTEMPTS = 3
# Rows per transaction of the scheduled pass: short row locks, bounded work per PutEvents burst.
PASS_CHUNK = 100
# One PutEvents call at worst (2 attempts x (1 s connect + 2 s read)) plus the unit of work's margin:
# with less time left an invocation leaves its rows to the scheduled pass instead of running into
# its timeout (an API caller would see a failure for a change that is committed).
RESERVE_MS = 6000 + uow.DEADLINE_MARGIN_MS


def has_time(context: Any | None) -> bool:
    """Whether the invocation can still afford a PutEvents call (no context: no deadline)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining):
        return True
    try:
        return int(remaining()) >= RESERVE_MS
    except (TypeError, ValueError):
        return True


@cache
def events_client() -> EventBridgeClient:
    """Built once per environment, lazily (tests install moto first); the endpoint comes from boto3's
    own configuration (AWS_ENDPOINT_URL for the local moto server)."""
    import boto3
    from botocore.config import Config

    # Worst case 2 attempts x (1 s connect + 2 s read) per call (RESERVE_MS): a silent EventBridge
    # leaves the rows to the scheduled pass well before the invocation's deadline.
    return boto3.client(
        "events",
        region_name=get_settings().aws_region,
        config=Config(
            connect_timeout=1, read_timeout=2, retries={"mode": "standard", "total_max_attempts": 2}
        ),
    )


def reset() -> None:
    """Forget the client (tests and the demo switch endpoints or install moto)."""
    events_client.cache_clear()


def entry(bus: str, pending: Pending) -> PutEventsRequestEntryTypeDef:
    """One row as a PutEvents entry: the detail the trigger wrote plus the event id consumers dedup on."""
    detail = {"event_id": str(pending.event_id), **pending.detail}
    resources = []
    if detail.get("bucket") and detail.get("key"):
        resources.append(f"arn:aws:s3:::{detail['bucket']}/{detail['key']}")
    return {
        "Source": SOURCE,
        "DetailType": pending.detail_type,
        "Detail": json.dumps(detail, separators=(",", ":")),
        "Resources": resources,
        "Time": pending.created_at,
        "EventBusName": bus,
    }


def put(
    client: EventBridgeClient, bus: str, rows: Sequence[Pending], context: Any | None = None
) -> tuple[list[int], dict[int, str]]:
    """PutEvents in calls of at most 10 entries; refused entries are retried by entry.

    Returns the ids EventBridge accepted and, for the others, why not. A failing call (no such bus,
    no permission, network) stops the round: the remaining rows wait for the next pass, as do rows
    the invocation has no time left to send (they are in neither answer).
    """
    from botocore.exceptions import BotoCoreError, ClientError

    published: list[int] = []
    failures: dict[int, str] = {}
    todo = list(rows)
    attempt = 1
    while todo:
        retry: list[Pending] = []
        for start in range(0, len(todo), MAX_ENTRIES):
            chunk = todo[start : start + MAX_ENTRIES]
            if not has_time(context):
                todo, retry = [], []
                break
            try:
                answer = client.put_events(Entries=[entry(bus, row) for row in chunk])
            except (BotoCoreError, ClientError) as error:
                for row in todo[start:]:
                    failures[row.id] = f"{type(error).__name__}: {error}"
                todo, retry = [], []
                break
            for row, result in zip(chunk, answer["Entries"], strict=True):
                if result.get("EventId") and not result.get("ErrorCode"):
                    published.append(row.id)
                    failures.pop(row.id, None)
                else:
                    failures[row.id] = f"{result.get('ErrorCode')}: {result.get('ErrorMessage')}"
                    retry.append(row)
        attempt += 1
        todo = retry if attempt <= ENTRY_ATTEMPTS else []
    return published, failures


@dataclass(frozen=True, slots=True)
class Published:
    published: int = 0
    failed: int = 0
    discarded: int = 0
    # The newest row this round claimed: the next round of the same pass starts after it.
    last_id: int | None = None


def publish(
    session: Session,
    context: Any | None,
    limit: int,
    upload_ids: set[uuid.UUID] | None = None,
    after_id: int | None = None,
) -> Published:
    """One transaction on an idle session: claim rows, PutEvents, delete what was accepted.

    Without EVENT_BUS_NAME nothing is published: the claimed rows are discarded, so a deployment
    without a bus never accumulates an outbox.
    """
    bus = get_settings().event_bus_name
    with session.begin():
        uow.bound_statements(session, uow.statement_budget_ms(context))
        rows = store.claim(session, limit, upload_ids, after_id)
        if not rows:
            return Published(last_id=after_id)
        last_id = rows[-1].id
        if not bus:
            store.remove(session, [row.id for row in rows])
            return Published(discarded=len(rows), last_id=last_id)
        published, failures = put(events_client(), bus, rows, context)
        store.remove(session, published)
        store.mark_failed(session, failures)
    if failures:
        logger.warning(
            "lifecycle events not accepted by EventBridge; the scheduled pass retries them",
            extra={"failed": len(failures), "error": next(iter(failures.values()))},
        )
    return Published(published=len(published), failed=len(failures), last_id=last_id)


def _count(result: Published) -> None:
    from aws_lambda_powertools.metrics import MetricUnit

    metrics.add_metric(name="EventsPublished", unit=MetricUnit.Count, value=result.published)
    metrics.add_metric(name="EventPublishFailures", unit=MetricUnit.Count, value=result.failed)


def publish_committed(session: Session, context: Any | None) -> None:
    """After-commit action (uploads' note_changed queues it with db/uow.py's after_commit): publish the
    events of the uploads this session changed, before the invocation returns. Never raises: the change is committed, and whatever is not published waits in the outbox."""
    upload_ids: set[uuid.UUID] = session.info.pop(OUTBOX_WRITTEN, None) or set()
    if not upload_ids or not get_settings().event_bus_name or session.in_transaction():
        return
    if not has_time(context):
        logger.info("no time left to publish lifecycle events; the scheduled pass will")
        return
    try:
        # Bounded like one round of the scheduled pass: a bulk expiry leaves the rest to the pass.
        limit = min(len(upload_ids) * 2 + MAX_ENTRIES, PASS_CHUNK)
        result = publish(session, context, limit=limit, upload_ids=upload_ids)
    except Exception:
        logger.exception("could not publish lifecycle events; the scheduled pass will")
        result = Published(failed=len(upload_ids))
    _count(result)


@dataclass(frozen=True, slots=True)
class PassResult:
    published: int
    failed: int
    discarded: int
    backlog: int
    oldest_age_s: float


def drain(session: Session, context: Any | None, limit: int | None = None) -> PassResult:
    """The scheduled pass: publish what the outbox still holds, oldest first, at most ``limit`` rows,
    in short transactions, each row tried once; stops at the first round EventBridge accepts nothing
    of (it is down or the bus is missing: the rest would fail alike). Then measures
    the backlog (rows and the oldest row's age) for the alarm."""
    from aws_lambda_powertools.metrics import MetricUnit

    budget = limit or get_settings().event_publish_limit
    published = failed = discarded = 0
    after_id: int | None = None
    while budget > 0 and has_time(context):
        result = publish(session, context, limit=min(PASS_CHUNK, budget), after_id=after_id)
        after_id = result.last_id
        published += result.published
        failed += result.failed
        discarded += result.discarded
        handled = result.published + result.failed + result.discarded
        budget -= handled
        if handled < PASS_CHUNK or not (result.published or result.discarded):
            break
    with session.begin():
        waiting = store.backlog(session)
    _count(Published(published=published, failed=failed))
    metrics.add_metric(name="OutboxBacklog", unit=MetricUnit.Count, value=waiting.rows)
    metrics.add_metric(name="OutboxOldestAgeSeconds", unit=MetricUnit.Seconds, value=waiting.oldest_age_s)
    return PassResult(published, failed, discarded, waiting.rows, waiting.oldest_age_s)
