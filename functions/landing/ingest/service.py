"""Ingest service: enrich records (outside any transaction), then write them in the caller's session."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy.orm import Session

from landing.errors import RetryableS3Error
from landing.ingest import catalog, metadata, verdicts
from landing.s3 import head, sniffing
from landing.s3.head import Head, HeadOutcome
from landing.s3.notifications import Identity, S3Record
from landing.s3.scans import ScanResult
from landing.settings import get_settings
from landing.uploads import decisions


def enrich_records(records: Sequence[S3Record]) -> dict[Identity, HeadOutcome]:
    """HEAD each create and metadata update before the unit of work opens, so no transaction waits
    on S3."""
    return head.head_many(records, follow=sniffing.root_entry_offset)


def first_failure(
    records: Sequence[S3Record], heads: Mapping[Identity, HeadOutcome]
) -> RetryableS3Error | None:
    for record in records:
        outcome = heads.get(record.identity)
        if isinstance(outcome, RetryableS3Error):
            return outcome
    return None


def announced(records: Sequence[S3Record]) -> list[S3Record]:
    """The records that may decide an upload announced through the API: creates under the upload prefix."""
    prefix = get_settings().upload_prefix
    return [r for r in records if r.record_type == "CREATE" and r.key.startswith(prefix)]


def is_one_statement(records: Sequence[S3Record], scans: Sequence[ScanResult] = ()) -> bool:
    """True when ``apply`` writes these records with a single statement (no upload to decide, no
    malware scan result to record, no metadata update to apply)."""
    return not scans and not announced(records) and not metadata.has_metadata_updates(records)


def apply(
    session: Session,
    records: Sequence[S3Record],
    heads: Mapping[Identity, HeadOutcome],
    scans: Sequence[ScanResult] = (),
) -> catalog.WriteResult:
    """Everything one set of records and malware scan results changes, in the caller's unit of work
    (never commits). Scan results count like events: a redelivered one is a duplicate, one about a
    body that is not current is stale."""
    usable: dict[Identity, Head | None] = {
        identity: outcome for identity, outcome in heads.items() if not isinstance(outcome, Exception)
    }
    result = catalog.record_events(session, records, usable)
    uploads = announced(records)
    if uploads:
        # Uploads announced through the API are decided here, in the same unit of work: the one call
        # into uploads/ per event. Keys outside the upload prefix cost no statement.
        decisions.on_recorded(session, uploads, usable)
        # A verdict may have come first; only uploads' keys pay for the look-up (bucket drops' verdicts
        # apply when they name the current body on arrival).
        verdicts.apply_early_verdicts(session, {(r.bucket, r.key) for r in uploads})
    if not scans:
        return result
    scanned = verdicts.record_scans(session, scans)
    return catalog.WriteResult(
        received=result.received + scanned.received,
        journalled=result.journalled + scanned.journalled,
        applied=result.applied + scanned.applied,
    )
