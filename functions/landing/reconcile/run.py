"""A reconcile run: the listing merged with the catalog in bounded batches, one session per batch."""

from __future__ import annotations

import time
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from landing.db.uow import session_scope
from landing.reconcile import compare
from landing.reconcile.compare import Comparison
from landing.reconcile.repairs import RepairResult, record_repairs
from landing.reconcile.sources import Source, listing_source
from landing.s3 import listing
from landing.s3.listing import Page

# Catalog rows compared per batch: twice a full listing page, so a page usually fits in one batch,
# and a bound on memory where the catalog holds far more keys than the bucket (a mass delete whose
# events were lost leaves a huge key range between two listed keys).
ROW_LIMIT = 2000
# Time kept back from the Lambda deadline: at least this, or twice the slowest batch so far.
MIN_MARGIN_MS = 10_000


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
            rows = compare.read_rows(session, bucket, prefix, lower, page.upper, row_limit + 1)
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
        comparison = compare.compare(entries, rows, listed_at, versioned=versioned)
        batch = Batch(lower, upper, listed_at, len(entries), len(rows), comparison, RepairResult(), (), 0)
        if not dry_run:
            heads = compare.head_creates(bucket, comparison.planned)
            repairs, unenriched = compare.to_repairs(bucket, comparison.planned, heads, listed_at)
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
