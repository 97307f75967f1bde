"""Malware verdicts on uploads: quarantine on threats, release or reject what waited for a clean verdict."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    func,
    update,
)
from sqlalchemy.orm import Session

from landing.observability import logger

if TYPE_CHECKING:
    from landing.s3.scans import ScanResult
from landing.uploads.lifecycle import ObjectVersion, delete_after_commit, note_changed, uploads


def verdict_outcome(scan: ScanResult) -> tuple[str, tuple[str, ...], str | None]:
    """(status, from which statuses, reason) a malware verdict moves an upload to.

    Threats quarantine an accepted upload, whether or not it still waited for its verdict. Waiting
    uploads ("scanning", REQUIRE_CLEAN_SCAN) count as done on a clean verdict; a scan that could
    not judge the object (UNSUPPORTED, ACCESS_DENIED, FAILED) rejects them: a clean verdict was
    required and none will come. Already-rejected uploads keep their status.
    """
    if scan.infected:
        threats = ", ".join(scan.threats) or "an unnamed threat"
        return "quarantined", ("uploaded", "scanning"), f"malware scan found {threats}"[:1000]
    if scan.result == "NO_THREATS_FOUND":
        return "uploaded", ("scanning",), None
    return "rejected", ("scanning",), f"malware scan result {scan.result}: a clean verdict is required"


def on_verdict(session: Session, upload_id: uuid.UUID, scan: ScanResult, version_id: str | None) -> int:
    """Ingest hook for a malware verdict on an upload's current object; returns 1 if its status moved.

    The verdict is copied to the upload (GET /uploads/{id} shows it); a quarantined or rejected
    upload's object version is deleted once the unit of work commits, like a rejected one. A verdict
    about another body than the one the upload was decided on (a replay still current at the key,
    which is deleted anyway) changes nothing: a replayed form must not get a clean upload quarantined.
    """
    decided_on = _names_decided_body(scan.e_tag, version_id)
    session.execute(
        update(uploads)
        .where(
            uploads.c.id == upload_id,
            decided_on,
            uploads.c.scanned_at.is_(None) | (uploads.c.scanned_at <= scan.event_time),
        )
        .values(scan_status=scan.result, scanned_at=scan.event_time)
    )
    status, from_statuses, reason = verdict_outcome(scan)
    moved = session.execute(
        update(uploads)
        .where(uploads.c.id == upload_id, decided_on, uploads.c.status.in_(from_statuses))
        .values(
            status=status,
            rejection_reason=reason,
            completed_at=func.coalesce(uploads.c.completed_at, scan.event_time),
        )
        .returning(uploads.c.id, uploads.c.bucket, uploads.c.key)
    ).one_or_none()
    if moved is None:
        return 0
    # The status trigger wrote the Upload Quarantined/Completed/Rejected event; publish it after commit.
    note_changed(session, [moved.id])
    if status != "uploaded":
        logger.warning(
            f"upload {status}",
            extra={"upload_id": str(moved.id), "key": moved.key, "reason": reason, "scan": scan.event_id},
        )
        delete_after_commit(session, ObjectVersion(moved.bucket, moved.key, version_id))
    return 1


def _names_decided_body(e_tag: str | None, version_id: str | None) -> Any:
    """SQL: the body (eTag, version) is the one the upload was decided on, or none is recorded yet;
    ``is_replay`` negated (versions compared when both are known, else eTags)."""
    same_e_tag = uploads.c.e_tag.is_(None) | (uploads.c.e_tag == e_tag)
    if version_id is None:
        return same_e_tag
    return (uploads.c.version_id == version_id) | (uploads.c.version_id.is_(None) & same_e_tag)
