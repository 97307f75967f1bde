"""Malware scan verdicts: journal every result, mark the object body it names, hand uploads their verdict."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, and_, func, literal, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from landing.db.models import Object, ObjectScan
from landing.s3.scans import MAX_CLOCK_SKEW, ScanResult
from landing.uploads import quarantine

objects: Table = Object.__table__  # type: ignore[assignment]
object_scans: Table = ObjectScan.__table__  # type: ignore[assignment]
THREATS_FOUND = "THREATS_FOUND"


@dataclass(frozen=True, slots=True)
class ScanWriteResult:
    received: int
    journalled: int
    applied: int
    uploads_changed: int


def _journal_row(scan: ScanResult) -> dict[str, Any]:
    return {
        "event_id": scan.event_id,
        "bucket": scan.bucket,
        "key": scan.key,
        "version_id": scan.version_id,
        "e_tag": scan.e_tag,
        "scan_status": scan.scan_status,
        "scan_result_status": scan.result,
        "threats": list(scan.threats) or None,
        "record_timestamp": scan.event_time,
        "source": scan.source,
    }


def names_body(e_tag: str | None, version_id: str | None) -> Any:
    """The objects row describes the body this verdict is about: same eTag (when the result has one)
    and, when both sides know a version, the same version. A result naming neither matches nothing."""
    version_matches = or_(
        literal(version_id in (None, "null")),
        objects.c.version_id.is_(None),
        objects.c.version_id == version_id,
    )
    if e_tag is None:
        return and_(literal(version_id not in (None, "null")), objects.c.version_id == version_id)
    return and_(objects.c.e_tag == e_tag, version_matches)


def record_scans(session: Session, scans: Sequence[ScanResult]) -> ScanWriteResult:
    """Journal each distinct result; apply new ones to the object body they name, in event-time order.

    A redelivered result (same EventBridge id) is not journalled again and changes nothing; a result
    about a body that is no longer current (overwritten, deleted, not yet recorded) is journalled
    only; of two results for one body, the later scan wins.
    """
    if not scans:
        return ScanWriteResult(0, 0, 0, 0)
    unique = {scan.event_id: scan for scan in scans}
    new_ids = set(
        session.execute(
            insert(object_scans)
            .values([_journal_row(scan) for _, scan in sorted(unique.items())])
            .on_conflict_do_nothing(constraint="uq_object_scans_event_id")
            .returning(object_scans.c.event_id)
        ).scalars()
    )
    applied, changed = _apply(session, [unique[i] for i in new_ids])
    return ScanWriteResult(len(scans), len(new_ids), applied, changed)


def _apply(session: Session, scans: Sequence[ScanResult]) -> tuple[int, int]:
    """Mark each object body a result names (later scans win); returns (applied, uploads moved)."""
    marked_scans: list[tuple[ScanResult, Any]] = []
    for scan in sorted(scans, key=lambda s: (s.event_time, s.event_id)):
        conditions = [
            objects.c.bucket == scan.bucket,
            objects.c.key == scan.key,
            objects.c.is_deleted.is_(False),
            names_body(scan.e_tag, scan.version_id),
            or_(objects.c.scanned_at.is_(None), objects.c.scanned_at < scan.event_time),
        ]
        if not scan.infected:
            # A threat found in a body stays found: no later verdict about the same body (clean,
            # unsupported, failed) clears it. Only a new body (another eTag/version) starts over.
            conditions.append(objects.c.scan_status.is_distinct_from(THREATS_FOUND))
        marked = session.execute(
            update(objects)
            .where(*conditions)
            .values(scan_status=scan.result, scanned_at=scan.event_time, updated_at=func.now())
            .returning(objects.c.upload_id, objects.c.version_id)
        ).one_or_none()
        if marked is not None:
            marked_scans.append((scan, marked))
    changed = sum(
        quarantine.on_verdict(session, upload_id, scan, version_id)
        for scan, (upload_id, version_id) in marked_scans
        if upload_id is not None
    )
    return len(marked_scans), changed


def apply_early_verdicts(session: Session, keys: Collection[tuple[str, str]]) -> int:
    """Verdicts journalled before their object's create event was recorded (GuardDuty can be faster
    than a queued S3 notification): apply those naming the body now current. Returns uploads moved."""
    if not keys:
        return 0
    rows = session.execute(
        select(object_scans)
        .where(
            tuple_(object_scans.c.bucket, object_scans.c.key).in_(sorted(keys)),
            # Results journalled before verdicts were taken from EventBridge only (an SQS body could
            # be anyone's), or dated beyond the clock skew then allowed, are history, never applied.
            object_scans.c.source == "eventbridge",
            object_scans.c.record_timestamp <= func.now() + MAX_CLOCK_SKEW,
        )
        .order_by(object_scans.c.record_timestamp, object_scans.c.event_id)
    ).all()
    if not rows:
        return 0
    early = [
        ScanResult(
            event_id=row.event_id,
            bucket=row.bucket,
            key=row.key,
            e_tag=row.e_tag,
            version_id=row.version_id,
            scan_status=row.scan_status,
            result=row.scan_result_status,
            threats=tuple(row.threats or ()),
            event_time=row.record_timestamp,
            source="eventbridge",
        )
        for row in rows
    ]
    return _apply(session, early)[1]
