"""A reconcile run: listing pages cut into bounded batches, one session per batch, resumable state."""

from __future__ import annotations

import time
from bisect import bisect_right
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Table, case, func, literal_column, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from landing.db.models import ReconcileState
from landing.db.uow import session_scope, unit_of_work
from landing.reconcile import compare as reconcile
from landing.reconcile.compare import Comparison
from landing.reconcile.repairs import RepairResult, record_repairs
from landing.s3 import clients, inventory, listing
from landing.s3.listing import Page

reconcile_state: Table = ReconcileState.__table__  # type: ignore[assignment]

# Catalog rows compared per batch: twice a full listing page, so a page usually fits in one batch,
# and a bound on memory where the catalog holds far more keys than the bucket (a mass delete whose
# events were lost leaves a huge key range between two listed keys).
ROW_LIMIT = 2000
# Time kept back from the Lambda deadline: at least this, or twice the slowest batch so far.
MIN_MARGIN_MS = 10_000


class LeaseLost(RuntimeError):
    """Another invocation took over this run (ours outlived its lease): stop without writing."""


@dataclass
class Totals:
    scanned: int = 0
    rows: int = 0
    planned: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    left_alone: int = 0
    unenriched: int = 0
    batches: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def repaired(self) -> int:
        return self.inserted + self.updated + self.deleted

    @property
    def per_second(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.scanned / elapsed if elapsed > 0 else 0.0

    def add(self, batch: Batch) -> None:
        self.scanned += batch.scanned
        self.rows += batch.rows
        self.planned += len(batch.comparison.planned)
        self.inserted += batch.result.inserted
        self.updated += batch.result.updated
        self.deleted += batch.result.deleted
        self.left_alone += len(batch.comparison.left_alone) + batch.skipped_by_guard
        self.unenriched += len(batch.unenriched)
        self.batches += 1


@dataclass(frozen=True, slots=True)
class Batch:
    """One key range (lower, upper] compared and repaired in one session; upper None = to the end."""

    lower: str | None
    upper: str | None
    listed_at: datetime
    scanned: int
    rows: int
    comparison: Comparison
    result: RepairResult
    # Keys written from the listing alone: HeadObject had no answer for the listed object.
    unenriched: tuple[str, ...]
    # Repairs written with a guard that found the row changed between comparison and write.
    skipped_by_guard: int


@dataclass(frozen=True, slots=True)
class Outcome:
    complete: bool
    after_key: str | None
    versioned: bool
    totals: Totals


Checkpoint = Callable[[Session, Batch], None]


@dataclass(frozen=True, slots=True)
class Source:
    """Where the bucket's state comes from: the live listing, or an S3 Inventory report.

    ``pages(after_key, page_size)`` streams the current state in key order. ``taken_at`` is when an
    inventory was taken: the guard's listing time, so rows written by live events since the report
    are left alone however old it is. None (the live listing) reads the database clock before each page.
    """

    versioned: bool
    pages: Callable[[str | None, int], Iterator[Page]]
    taken_at: datetime | None = None
    description: str = ""
    bucket: str | None = None


def listing_source(bucket: str, prefix: str) -> Source:
    client = clients.s3_client()
    versioned = listing.is_versioned(client, bucket)
    api = "ListObjectVersions" if versioned else "ListObjectsV2"

    def pages(after_key: str | None, page_size: int) -> Iterator[Page]:
        return listing.pages(
            client, bucket, prefix, versioned=versioned, after_key=after_key, page_size=page_size
        )

    return Source(versioned, pages, None, f"with {api}", bucket)


def inventory_source(manifest_uri: str, prefix: str) -> Source:
    client = clients.s3_client()
    manifest = inventory.read_manifest(client, manifest_uri)

    def pages(after_key: str | None, page_size: int) -> Iterator[Page]:
        return inventory.pages(client, manifest, prefix, after_key=after_key, page_size=page_size)

    taken = f"from the inventory of {manifest.taken_at:%Y-%m-%d %H:%M} UTC ({manifest_uri})"
    return Source(manifest.versioned, pages, manifest.taken_at, taken, manifest.source_bucket)


def _database_clock(session: Session) -> datetime:
    """The database's clock: updated_at is written with it, so the listing time is compared on it."""
    with session.begin():
        now: datetime = session.execute(select(func.clock_timestamp())).scalar_one()
    return now


class _Cursor:
    """The merge of the listing (page by page) with the catalog (keyset chunks), as bounded batches."""

    def __init__(self, pages: Iterator[Page], after_key: str | None, taken_at: datetime | None) -> None:
        self.pages = pages
        self.taken_at = taken_at
        self.lower = after_key
        self.page: Page | None = None
        self.position = 0
        self.listed_at: datetime | None = None
        self.done = False

    def needs_page(self) -> bool:
        return self.page is None or (self.page.upper is not None and self.lower == self.page.upper)

    def fetch(self, session: Session) -> Page:
        # Read the clock before asking S3: a row written after this instant may be newer than the
        # page, and is left alone.
        self.listed_at = self.taken_at or _database_clock(session)
        self.page = None  # the previous page is done with: never hold two
        # No page at all ends the listing like an empty last page would.
        self.page = next(self.pages, Page((), None))
        self.position = 0
        return self.page


def run(
    bucket: str,
    prefix: str = "",
    *,
    dry_run: bool = False,
    after_key: str | None = None,
    page_size: int = listing.MAX_PAGE_SIZE,
    row_limit: int = ROW_LIMIT,
    context: Any | None = None,
    remaining_ms: Callable[[], int] | None = None,
    on_batch: Callable[[Batch, Totals], None] | None = None,
    checkpoint: Checkpoint | None = None,
    source: Source | None = None,
) -> Outcome:
    """Walk the listing of ``bucket``/``prefix`` after ``after_key`` and repair the catalog.

    Each batch opens its own session: a short transaction to read the database clock before a
    listing page is requested, one to read the catalog rows of the batch's key range, HeadObject
    calls with no transaction open, then one transaction that writes the repairs and the
    ``checkpoint`` together. ``dry_run`` stops after the comparison and writes nothing. With
    ``remaining_ms`` the run stops before a batch when less time is left than the margin.
    ``source`` replaces the live listing (an inventory report); the comparison is the same.
    """
    if source is None:
        source = listing_source(bucket, prefix)
    versioned = source.versioned
    cursor = _Cursor(source.pages(after_key, page_size), after_key, source.taken_at)
    totals = Totals()
    slowest_ms = 0.0
    while not cursor.done:
        if remaining_ms is not None and remaining_ms() < max(MIN_MARGIN_MS, 2 * slowest_ms):
            return Outcome(False, cursor.lower, versioned, totals)
        started = time.monotonic()
        batch = _batch(
            cursor,
            bucket,
            prefix,
            versioned,
            dry_run=dry_run,
            row_limit=row_limit,
            context=context,
            checkpoint=checkpoint,
        )
        slowest_ms = max(slowest_ms, (time.monotonic() - started) * 1000)
        totals.add(batch)
        if on_batch is not None:
            on_batch(batch, totals)
    return Outcome(True, None, versioned, totals)


def _batch(
    cursor: _Cursor,
    bucket: str,
    prefix: str,
    versioned: bool,
    *,
    dry_run: bool,
    row_limit: int,
    context: Any | None,
    checkpoint: Checkpoint | None,
) -> Batch:
    with session_scope(context) as work:
        page = cursor.fetch(work.session) if cursor.needs_page() else cursor.page
        assert page is not None and cursor.listed_at is not None
        listed_at, lower = cursor.listed_at, cursor.lower
        with work.transaction() as session:
            rows = reconcile.read_rows(session, bucket, prefix, lower, page.upper, row_limit + 1)
        upper = page.upper
        if len(rows) > row_limit:
            # More catalog rows than a batch holds: stop this batch at the last one it can take.
            rows = rows[:row_limit]
            upper = rows[-1].key
        end = (
            len(page.entries)
            if upper is None
            else bisect_right(page.entries, upper, lo=cursor.position, key=lambda entry: entry.key)
        )
        entries = page.entries[cursor.position : end]
        comparison = reconcile.compare(entries, rows, listed_at, versioned=versioned)
        batch = Batch(lower, upper, listed_at, len(entries), len(rows), comparison, RepairResult(), (), 0)
        if not dry_run:
            heads = reconcile.head_creates(bucket, comparison.planned)
            repairs, unenriched = reconcile.to_repairs(bucket, comparison.planned, heads, listed_at)
            # A new bound: the listing and HeadObject calls above took some of the remaining time.
            with work.transaction() as session:
                result = record_repairs(session, repairs, listed_at)
                batch = replace(
                    batch,
                    result=result,
                    unenriched=tuple(unenriched),
                    skipped_by_guard=len(repairs) - result.applied,
                )
                if checkpoint is not None:
                    checkpoint(session, batch)
    cursor.position = end
    cursor.lower = upper
    cursor.done = upper is None
    return batch


# -- resumable state for the scheduled function ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claim:
    """The run this invocation holds: where it resumes, and when the run began."""

    after_key: str | None
    run_started_at: datetime
    resumed: bool


COUNTERS = ("scanned", "inserted", "updated", "deleted", "left_alone")


def _lease(seconds: float) -> Any:
    return func.now() + func.make_interval(0, 0, 0, 0, 0, 0, max(seconds, 1.0))


def claim(session: Session, bucket: str, prefix: str, owner: str, lease_s: float) -> Claim | None:
    """Take the run for (bucket, prefix): resume an unfinished one, or start over after a finished one.

    None when another invocation holds an unexpired lease on it.
    """
    state = reconcile_state.c
    upsert = insert(reconcile_state).values(
        bucket=bucket, prefix=prefix, owner=owner, lease_expires_at=_lease(lease_s)
    )
    unfinished = state.finished_at.is_(None)
    fresh = {name: case((unfinished, state[name]), else_=0) for name in COUNTERS}
    statement = upsert.on_conflict_do_update(
        index_elements=[state.bucket, state.prefix],
        set_={
            "owner": upsert.excluded.owner,
            "lease_expires_at": upsert.excluded.lease_expires_at,
            "after_key": case((unfinished, state.after_key), else_=None),
            "run_started_at": case((unfinished, state.run_started_at), else_=func.now()),
            "finished_at": None,
            "updated_at": func.now(),
            **fresh,
        },
        where=(
            state.lease_expires_at.is_(None)
            | (state.lease_expires_at < func.now())
            | (state.owner == upsert.excluded.owner)
        ),
    ).returning(state.after_key, state.run_started_at, state.scanned > 0)
    row = session.execute(statement).first()
    if row is None:
        return None
    after_key, run_started_at, progressed = row
    return Claim(after_key, run_started_at, resumed=bool(after_key) or bool(progressed))


def save_progress(
    session: Session, bucket: str, prefix: str, owner: str, batch: Batch, lease_s: float
) -> None:
    """Record a batch's resume point and counts, in the batch's own transaction; raises LeaseLost."""
    state = reconcile_state.c
    counts = {
        "scanned": batch.scanned,
        "inserted": batch.result.inserted,
        "updated": batch.result.updated,
        "deleted": batch.result.deleted,
        "left_alone": len(batch.comparison.left_alone) + batch.skipped_by_guard,
    }
    statement: Any = (
        update(reconcile_state)
        .where(
            state.bucket == bucket,
            state.prefix == prefix,
            state.owner == owner,
            state.finished_at.is_(None),
        )
        .values(
            after_key=batch.upper,
            finished_at=func.now() if batch.upper is None else None,
            lease_expires_at=_lease(lease_s),
            updated_at=func.now(),
            **{name: state[name] + value for name, value in counts.items()},
        )
        .returning(literal_column("1"))
    )
    if session.execute(statement).first() is None:
        raise LeaseLost(f"reconcile of s3://{bucket}/{prefix} is now held by another invocation")


def release(session: Session, bucket: str, prefix: str, owner: str) -> None:
    """Let the next invocation take the run at once instead of waiting for the lease to expire."""
    state = reconcile_state.c
    session.execute(
        update(reconcile_state)
        .where(state.bucket == bucket, state.prefix == prefix, state.owner == owner)
        .values(lease_expires_at=func.now(), updated_at=func.now())
    )


def state_of(session: Session, bucket: str, prefix: str) -> dict[str, Any] | None:
    state = reconcile_state.c
    row = session.execute(
        select(reconcile_state).where(state.bucket == bucket, state.prefix == prefix)
    ).first()
    return dict(row._mapping) if row is not None else None


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def scheduled(
    bucket: str,
    prefix: str,
    context: Any,
    *,
    page_size: int = listing.MAX_PAGE_SIZE,
    row_limit: int = ROW_LIMIT,
) -> dict[str, Any]:
    """One invocation of the scheduled reconcile: claim the run, continue it until the time margin,
    checkpoint after every batch, release. The next invocation resumes from the stored ``after_key``.
    """
    owner = str(context.aws_request_id)

    def lease_s() -> float:
        # Our lease ends with the invocation: a crashed one frees the run by its own deadline.
        return float(context.get_remaining_time_in_millis()) / 1000

    with unit_of_work(context) as session:
        held = claim(session, bucket, prefix, owner, lease_s())
    if held is None:
        return {"bucket": bucket, "prefix": prefix, "status": "busy"}

    def checkpoint(session: Session, batch: Batch) -> None:
        save_progress(session, bucket, prefix, owner, batch, lease_s())

    try:
        outcome = run(
            bucket,
            prefix,
            after_key=held.after_key,
            page_size=page_size,
            row_limit=row_limit,
            context=context,
            remaining_ms=context.get_remaining_time_in_millis,
            checkpoint=checkpoint,
        )
    finally:
        # If the database is what failed, the lease still ends at our deadline: keep the first error.
        with suppress(SQLAlchemyError), unit_of_work(context) as session:
            release(session, bucket, prefix, owner)
    with unit_of_work(context) as session:
        state = state_of(session, bucket, prefix) or {}
    totals = outcome.totals
    return {
        "bucket": bucket,
        "prefix": prefix,
        "status": "complete" if outcome.complete else "in_progress",
        "resumed": held.resumed,
        "after_key": outcome.after_key,
        "invocation": {
            "scanned": totals.scanned,
            "inserted": totals.inserted,
            "updated": totals.updated,
            "deleted": totals.deleted,
            "left_alone": totals.left_alone,
            "batches": totals.batches,
        },
        # Lambda serialises the response with json: timestamps as ISO 8601 text.
        "run": {name: _plain(state.get(name)) for name in ("run_started_at", "finished_at", *COUNTERS)},
    }
