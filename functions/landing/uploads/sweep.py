"""The scheduled sweep: expire, reject unscanned, abort multipart parts, delete leftovers and replays, prune."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from aws_lambda_powertools.metrics import MetricUnit
from sqlalchemy import (
    case,
    delete,
    select,
    update,
)
from sqlalchemy.orm import Session

from landing.observability import logger, metrics
from landing.settings import get_settings
from landing.uploads import presign

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

from landing.uploads.expiry import expire_due
from landing.uploads.lifecycle import ObjectVersion, delete_objects, note_changed, objects, uploads

# Decided rows deleted per scheduled pass at most; a backlog shrinks over several passes.
PRUNE_BATCH = 1000


@dataclass(frozen=True, slots=True)
class SweepResult:
    expired: int
    aborted: int
    deleted: int
    pruned: int
    unscanned: int = 0
    replaced: int = 0


# Uploads that keep the body they were decided on: any other body at their key is a replay.
ACCEPTED_STATUSES = ("uploaded", "scanning")


def replaced_bodies(session: Session, limit: int) -> list[ObjectVersion]:
    """Current objects at accepted uploads' keys that are not the accepted body, as the catalog says.

    A replay whose delete failed (ingest tries once, after its commit), or one ingest never decided
    on (its event lost, a repair by reconcile) stays until a pass deletes it. Bodies are compared as
    ``is_replay`` does: versions when both are known, else eTags; an upload without a recorded body
    is left alone. The join runs on objects.upload_id (a partial index: upload objects only).
    """
    differs = case(
        (
            uploads.c.version_id.is_not(None) & objects.c.version_id.is_not(None),
            objects.c.version_id != uploads.c.version_id,
        ),
        else_=uploads.c.e_tag.is_not(None) & objects.c.e_tag.is_distinct_from(uploads.c.e_tag),
    )
    rows = session.execute(
        select(objects.c.bucket, objects.c.key, objects.c.version_id)
        .join(uploads, uploads.c.id == objects.c.upload_id)
        .where(uploads.c.status.in_(ACCEPTED_STATUSES), objects.c.is_deleted.is_(False), differs)
        .order_by(objects.c.bucket, objects.c.key)
        .limit(limit)
    ).all()
    return [ObjectVersion(r.bucket, r.key, r.version_id) for r in rows]


def prune_decided(session: Session, now: datetime, retention_days: int, limit: int = PRUNE_BATCH) -> int:
    """Delete decided upload rows whose presigned request expired more than ``retention_days`` ago.

    Kept regardless of age: pending rows, rows whose multipart parts are not yet aborted, and rows a
    current object is linked to (that link is the object's recorded owner, what GET /objects lists).
    The request expired long ago, so no replay can arrive for a key whose row is gone.
    """
    if retention_days <= 0:
        return 0
    linked = (
        select(objects.c.upload_id)
        .where(objects.c.upload_id == uploads.c.id, objects.c.is_deleted.is_(False))
        .exists()
    )
    doomed = (
        select(uploads.c.id)
        .where(
            uploads.c.status != "pending",
            uploads.c.expires_at < now - timedelta(days=retention_days),
            uploads.c.multipart_upload_id.is_(None),
            ~linked,
        )
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    result = session.execute(delete(uploads).where(uploads.c.id.in_(doomed)).returning(uploads.c.id))
    return len(result.all())


def reject_unscanned(session: Session, now: datetime) -> int:
    """Reject uploads still waiting for a malware verdict SCAN_TIMEOUT after their object arrived:
    a clean verdict is required and none came (GuardDuty off, or its event lost). Their objects are
    deleted by the same pass, as rejected leftovers."""
    timeout = get_settings().scan_timeout_s
    rejected = list(
        session.execute(
            update(uploads)
            .where(uploads.c.status == "scanning", uploads.c.completed_at < now - timedelta(seconds=timeout))
            .values(
                status="rejected",
                rejection_reason=f"no malware verdict within {timeout} s: a clean verdict is required",
            )
            .returning(uploads.c.id)
        ).scalars()
    )
    note_changed(session, rejected)
    return len(rejected)


def sweep(session: Session, client: S3Client, now: datetime, limit: int = 100) -> SweepResult:
    """The scheduled pass: expire due uploads, reject uploads whose malware verdict never came, abort
    multipart uploads, delete rejected and quarantined leftovers, prune decided rows past their retention.

    S3 calls happen inside the unit of work but only touch rows this pass owns (expired, rejected),
    and each pass handles at most ``limit`` of each, so a backlog is worked off over several runs.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    expired = expire_due(session, now)
    unscanned = reject_unscanned(session, now)
    multiparts = session.execute(
        select(uploads.c.id, uploads.c.bucket, uploads.c.key, uploads.c.multipart_upload_id)
        .where(uploads.c.status == "expired", uploads.c.multipart_upload_id.is_not(None))
        .order_by(uploads.c.expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    aborted = []
    for row in multiparts:
        try:
            presign.abort_multipart(
                client, bucket=row.bucket, key=row.key, multipart_upload_id=row.multipart_upload_id
            )
        except (BotoCoreError, ClientError) as error:
            logger.error("could not abort a multipart upload", extra={"key": row.key, "error": str(error)})
            continue
        aborted.append(row.id)
    if aborted:
        # Cleared once S3 no longer holds the parts, so the next pass does not try again.
        session.execute(update(uploads).where(uploads.c.id.in_(aborted)).values(multipart_upload_id=None))
    leftovers = session.execute(
        select(objects.c.bucket, objects.c.key, objects.c.version_id)
        .join(uploads, uploads.c.id == objects.c.upload_id)
        .where(uploads.c.status.in_(("rejected", "quarantined")), objects.c.is_deleted.is_(False))
        .order_by(objects.c.bucket, objects.c.key)
        .limit(limit)
    ).all()
    deleted = delete_objects(client, [ObjectVersion(r.bucket, r.key, r.version_id) for r in leftovers])
    # Deleted again on every pass until the catalog shows the accepted body (S3's delete event moves
    # the row back): a count that stays above 0 pass after pass means the deletes do not converge.
    replaced = replaced_bodies(session, limit)
    metrics.add_metric(name="AcceptedBodiesReplaced", unit=MetricUnit.Count, value=len(replaced))
    if replaced:
        logger.warning(
            "accepted uploads' keys hold other bodies; deleting them",
            extra={"count": len(replaced), "key": replaced[0].key, "version_id": replaced[0].version_id},
        )
    deleted += delete_objects(client, replaced)
    pruned = prune_decided(session, now, get_settings().upload_retention_days)
    return SweepResult(
        expired=expired,
        aborted=len(aborted),
        deleted=deleted,
        pruned=pruned,
        unscanned=unscanned,
        replaced=len(replaced),
    )
