"""Ingest service: enrich records (outside any transaction), then write them in the caller's session."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy.orm import Session

from landing.ingest import catalog
from landing.s3 import head as enrich
from landing.s3.events import Identity, S3Record
from landing.s3.head import Head, HeadOutcome, RetryableS3Error
from landing.uploads import lifecycle


def enrich_records(records: Sequence[S3Record]) -> dict[Identity, HeadOutcome]:
    """HEAD each create before the unit of work opens, so no transaction waits on S3."""
    return enrich.head_many(records)


def first_failure(
    records: Sequence[S3Record], heads: Mapping[Identity, HeadOutcome]
) -> RetryableS3Error | None:
    for record in records:
        outcome = heads.get(record.identity)
        if isinstance(outcome, RetryableS3Error):
            return outcome
    return None


def is_one_statement(records: Sequence[S3Record]) -> bool:
    """True when ``apply`` writes these records with a single statement (no upload to decide)."""
    return not lifecycle.concerns(records)


def apply(
    session: Session, records: Sequence[S3Record], heads: Mapping[Identity, HeadOutcome]
) -> catalog.WriteResult:
    """Everything one set of records changes, in the caller's unit of work (never commits)."""
    usable: dict[Identity, Head | None] = {
        identity: outcome for identity, outcome in heads.items() if not isinstance(outcome, Exception)
    }
    result = catalog.record_events(session, records, usable)
    # Uploads announced through the API are decided here, in the same unit of work; keys outside
    # the upload prefix cost no statement.
    lifecycle.on_recorded(session, records, usable)
    return result
