"""Upload lifecycle rules: ingest moves pending uploads to uploaded/rejected, time moves them to expired."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from sqlalchemy import (
    BigInteger,
    DateTime,
    String,
    Table,
    Text,
    case,
    column,
    delete,
    event,
    func,
    select,
    tuple_,
    update,
    values,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Session, SessionTransaction

from landing.db.models import OUTBOX_WRITTEN, Object, Upload
from landing.observability import logger, metrics
from landing.s3.clients import s3_client
from landing.s3.head import Head
from landing.s3.notifications import Identity, S3Record
from landing.settings import get_settings
from landing.uploads import content, presign
from landing.uploads.content import media_type
from landing.uploads.presign import UPLOAD_ID_META

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from landing.s3.scans import ScanResult

uploads: Table = Upload.__table__  # type: ignore[assignment]
objects: Table = Object.__table__  # type: ignore[assignment]

# Statuses an object event may still decide. "expired" is included on purpose: an upload expires
# when no event came in time, and an event that arrives later proves the object was written while
# the presigned request was valid (S3 refuses expired signatures), so the truth wins. "uploaded"
# and "rejected" are final: redelivered or reordered events never change them.
OPEN_STATUSES = ("pending", "expired")
ABORTED_BY_CLIENT = "aborted by the client"
_PENDING_DELETES = "landing.uploads.lifecycle.pending_deletes"
_LISTENING = "landing.uploads.lifecycle.listening"


@dataclass(frozen=True, slots=True)
class ObjectVersion:
    bucket: str
    key: str
    version_id: str | None


def violation(
    upload_id: uuid.UUID,
    method: str | None,
    declared_type: str,
    max_size: int,
    size: int | None,
    head: Head | None,
) -> str | None:
    """Why an object breaks what its upload announced, or None when it does not.

    Size comes from the event; type and metadata from HeadObject when it answered, and what the
    bytes really are from the first bytes read (an object already gone is judged on its size alone). A POST may carry 1..announced bytes (its policy's
    range); a PUT or a multipart upload signed the exact length, so anything else was not ours.
    """
    if size is not None and size < 1:
        return "object is empty"
    if size is not None and size > max_size:
        return f"object is {size} bytes, more than the {max_size} announced"
    if size is not None and method in ("PUT", "MULTIPART") and size != max_size:
        return f"object is {size} bytes, not the {max_size} announced"
    if head is None:
        return None
    if media_type(head.content_type) != media_type(declared_type):
        return f"object content type {head.content_type!r} differs from the announced {declared_type!r}"
    encoding = (head.content_encoding or "").strip()
    if encoding and encoding.lower() != presign.CONTENT_ENCODING:
        # A browser would decode (gunzip...) the download: it gets other bytes than the ones checked.
        return f"object has Content-Encoding {encoding[:100]!r}, which the upload did not announce"
    carried = head.user_metadata.get(UPLOAD_ID_META)
    if carried != str(upload_id):
        return f"object metadata {UPLOAD_ID_META}={carried!r} does not name this upload"
    return content.violation(declared_type, detected_of(head))


def detected_of(head: Head | None) -> content.Detected | None:
    """What the object's first bytes are, when they were read."""
    if head is None or head.first_bytes is None:
        return None
    return content.detect(head.first_bytes, head.root_entry)


def more_to_read(first_bytes: bytes) -> int | None:
    """Where the content checks need another directory entry's worth of the object (an OLE file's
    root storage, which says whether it is an installer), or None."""
    return content.root_entry_offset(first_bytes)


def _concerned(records: Sequence[S3Record]) -> list[S3Record]:
    """Records that may decide an upload: creates under the upload prefix."""
    prefix = get_settings().upload_prefix
    return [r for r in records if r.record_type == "CREATE" and r.key.startswith(prefix)]


def concerns(records: Sequence[S3Record]) -> bool:
    """True when ``on_recorded`` has work (and statements) for these records."""
    return bool(_concerned(records))


def concerned_keys(records: Sequence[S3Record]) -> set[tuple[str, str]]:
    """(bucket, key) of the records that may decide an upload."""
    return {(r.bucket, r.key) for r in _concerned(records)}


def on_recorded(session: Session, records: Sequence[S3Record], heads: Mapping[Identity, Head | None]) -> int:
    """Ingest hook, in the caller's unit of work: link objects to their uploads and decide the uploads.

    Costs nothing for keys outside the upload prefix. Returns how many uploads changed status.
    Rejected objects are deleted from S3 once the unit of work commits.
    """
    newest: dict[tuple[str, str], S3Record] = {}
    for record in _concerned(records):
        current = newest.get((record.bucket, record.key))
        if current is None or record.sequencer > current.sequencer:
            newest[(record.bucket, record.key)] = record
    if not newest:
        return 0
    announced = session.execute(
        select(
            uploads.c.id,
            uploads.c.bucket,
            uploads.c.key,
            uploads.c.method,
            uploads.c.content_type,
            uploads.c.max_size,
            uploads.c.status,
            uploads.c.e_tag,
            uploads.c.version_id,
        )
        .where(tuple_(uploads.c.bucket, uploads.c.key).in_(sorted(newest)))
        .order_by(uploads.c.id)
        # Locked, so an invocation deciding the same upload concurrently commits first and this
        # one sees the decision (and the accepted body) instead of a stale "pending".
        .with_for_update(of=uploads)
    ).all()
    if not announced:
        return 0
    # With REQUIRE_CLEAN_SCAN an accepted object waits for its malware verdict (on_verdict).
    accepted = "scanning" if get_settings().require_clean_scan else "uploaded"
    decisions = []
    replays = 0
    for upload in announced:
        record = newest[(upload.bucket, upload.key)]
        head = heads.get(record.identity)
        written = _written(record, head)
        if upload.status == "rejected":
            # The key is dead: a redelivered event, or bytes sent again through the same presigned
            # request, must not leave an object behind (a failed earlier delete is retried here too).
            _delete_after_commit(session, written)
            continue
        if upload.status not in OPEN_STATUSES:
            if is_replay(upload.e_tag, upload.version_id, record.e_tag, written.version_id) and _removable(
                session, record, written
            ):
                replays += 1
                logger.warning(
                    "bytes sent again to a decided upload's key: that version is removed",
                    extra={
                        "upload_id": str(upload.id),
                        "key": upload.key,
                        "version_id": written.version_id,
                        "e_tag": record.e_tag,
                    },
                )
                _delete_after_commit(session, written)
            continue
        reason = violation(upload.id, upload.method, upload.content_type, upload.max_size, record.size, head)
        status = "rejected" if reason else accepted
        detected = detected_of(head)
        decisions.append(
            (
                upload.id,
                upload.bucket,
                upload.key,
                status,
                record.size,
                reason,
                record.event_time,
                record.e_tag,
                written.version_id,
                detected.media_type if detected else None,
            )
        )
    if replays:
        metrics.add_metric(name="UploadReplaysRemoved", unit=MetricUnit.Count, value=replays)
    if not decisions:
        return 0
    changed = _decide(session, decisions)
    note_changed(session, (row.id for row in changed))
    for row in changed:
        if row.status == "rejected":
            record = newest[(row.bucket, row.key)]
            logger.warning(
                "upload rejected",
                extra={"upload_id": str(row.id), "key": row.key, "reason": row.rejection_reason},
            )
            _delete_after_commit(session, _written(record, heads.get(record.identity)))
    return len(changed)


def _written(record: S3Record, head: Head | None) -> ObjectVersion:
    """The version a create wrote: the event's, or HeadObject's when the event named none."""
    return ObjectVersion(record.bucket, record.key, record.version_id or (head.version_id if head else None))


def _removable(session: Session, record: S3Record, written: ObjectVersion) -> bool:
    """Whether deleting the replay can only remove the replayed bytes.

    With a version id the delete names that version, never the accepted one. Without (an
    unversioned bucket) it removes whatever the key holds now: only when the catalog says that
    is the replay (it won the ordering); an older write arriving late was overwritten already.
    """
    if written.version_id is not None:
        return True
    current = session.execute(
        select(objects.c.e_tag).where(
            objects.c.bucket == record.bucket, objects.c.key == record.key, objects.c.is_deleted.is_(False)
        )
    ).scalar_one_or_none()
    return current is not None and current == record.e_tag


def is_replay(
    e_tag: str | None, version_id: str | None, written_e_tag: str | None, written_version: str | None
) -> bool:
    """Whether a create for a decided upload's key wrote another body than the one decided on.

    Versions are compared when both are known (the same bytes sent again are still a new
    version); otherwise eTags (an unversioned bucket). An upload decided before its body was
    recorded (e_tag and version_id NULL) has nothing to compare with and is left alone.
    """
    if version_id is not None and written_version is not None:
        return written_version != version_id
    if e_tag is not None:
        return written_e_tag != e_tag
    return False


def note_changed(session: Session, upload_ids: Iterable[uuid.UUID]) -> None:
    """Remember which uploads this session moved: the database trigger wrote their lifecycle events
    to the outbox, and the unit of work publishes them once it has committed."""
    ids = set(upload_ids)
    if ids:
        session.info.setdefault(OUTBOX_WRITTEN, set()).update(ids)


def _decide(session: Session, decisions: list[tuple[Any, ...]]) -> list[Any]:
    """One statement: link objects rows to their uploads; move open uploads to their decided status."""
    decided = (
        values(
            column("id", UUID(as_uuid=True)),
            column("bucket", Text),
            column("key", Text),
            column("status", String),
            column("size", BigInteger),
            column("reason", Text),
            column("completed_at", DateTime(timezone=True)),
            column("e_tag", Text),
            column("version_id", Text),
            column("detected_type", Text),
            name="decided",
        )
        .data(decisions)
        .cte("decided")
    )
    linked = (
        update(objects)
        .where(
            objects.c.bucket == decided.c.bucket,
            objects.c.key == decided.c.key,
            objects.c.upload_id.is_distinct_from(decided.c.id),
        )
        .values(upload_id=decided.c.id)
        .returning(objects.c.key)
        .cte("linked")
    )
    moved = (
        update(uploads)
        .where(uploads.c.id == decided.c.id, uploads.c.status.in_(OPEN_STATUSES))
        .values(
            status=decided.c.status,
            size=decided.c.size,
            rejection_reason=decided.c.reason,
            completed_at=decided.c.completed_at,
            e_tag=decided.c.e_tag,
            version_id=decided.c.version_id,
            detected_type=decided.c.detected_type,
        )
        .returning(
            uploads.c.id, uploads.c.bucket, uploads.c.key, uploads.c.status, uploads.c.rejection_reason
        )
        .cte("moved")
    )
    statement = select(moved).add_cte(linked)
    return list(session.execute(statement).all())


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
        _delete_after_commit(session, ObjectVersion(moved.bucket, moved.key, version_id))
    return 1


def _names_decided_body(e_tag: str | None, version_id: str | None) -> Any:
    """SQL: the body (eTag, version) is the one the upload was decided on, or none is recorded yet;
    ``is_replay`` negated (versions compared when both are known, else eTags)."""
    same_e_tag = uploads.c.e_tag.is_(None) | (uploads.c.e_tag == e_tag)
    if version_id is None:
        return same_e_tag
    return (uploads.c.version_id == version_id) | (uploads.c.version_id.is_(None) & same_e_tag)


def _delete_after_commit(session: Session, target: ObjectVersion) -> None:
    """Queue an S3 delete for when the session's outermost transaction commits.

    Deleting before the commit could leave a pending upload whose object is gone if the
    transaction then rolled back; deleting after it can fail, which sweep() repairs later.
    """
    if not session.info.get(_LISTENING):
        session.info[_LISTENING] = True
        event.listen(session, "after_commit", _after_commit)
        event.listen(session, "after_soft_rollback", _after_soft_rollback)
    transaction = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_PENDING_DELETES, []).append((transaction, target))


def _within(transaction: SessionTransaction | None, ancestor: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False


def _after_soft_rollback(session: Session, previous_transaction: SessionTransaction) -> None:
    """Forget deletes queued inside a transaction or savepoint that rolled back."""
    pending = session.info.get(_PENDING_DELETES) or []
    session.info[_PENDING_DELETES] = [
        (transaction, target)
        for transaction, target in pending
        if not _within(transaction, previous_transaction)
    ]


def _after_commit(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint was released; the outer transaction may still roll back
    pending = session.info.pop(_PENDING_DELETES, None) or []
    if pending:
        delete_objects(s3_client(), [target for _, target in pending])


def delete_objects(client: S3Client, targets: Sequence[ObjectVersion]) -> int:
    """Delete rejected objects and replays (the exact version when known); failures are logged for sweep()."""
    from botocore.exceptions import BotoCoreError, ClientError

    deleted = 0
    for target in targets:
        params: dict[str, Any] = {"Bucket": target.bucket, "Key": target.key}
        if target.version_id and target.version_id != "null":
            params["VersionId"] = target.version_id
        try:
            client.delete_object(**params)
        except (BotoCoreError, ClientError) as error:
            logger.error(
                "could not delete an object version; the scheduled sweep will retry",
                extra={"bucket": target.bucket, "key": target.key, "error": str(error)},
            )
            continue
        deleted += 1
    return deleted


def _due_before(now: datetime) -> datetime:
    """Presigned requests that expired before this instant (the grace period ago) are due."""
    return now - timedelta(seconds=get_settings().upload_grace_s)


def due_condition(now: datetime) -> Any:
    """Pending uploads whose presigned request expired more than the grace period ago."""
    return (uploads.c.status == "pending") & (uploads.c.expires_at < _due_before(now))


def is_due(upload: Upload, now: datetime) -> bool:
    """The same rule as due_condition, on a row already read: lets readers skip a useless UPDATE."""
    return upload.status == "pending" and upload.expires_at < _due_before(now)


def expire_due(
    session: Session, now: datetime, *, owner: str | None = None, upload_id: uuid.UUID | None = None
) -> int:
    """Mark due pending uploads expired (all, one owner's, or one); returns how many changed.

    The WHERE repeats status = 'pending', so an upload decided by ingest meanwhile is never moved back.
    """
    statement = update(uploads).where(due_condition(now)).values(status="expired")
    if owner is not None:
        statement = statement.where(uploads.c.owner == owner)
    if upload_id is not None:
        statement = statement.where(uploads.c.id == upload_id)
    expired = [row.id for row in session.execute(statement.returning(uploads.c.id))]
    note_changed(session, expired)
    return len(expired)


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
