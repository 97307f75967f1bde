"""Ingest-time decisions: an announced upload becomes uploaded, scanning or rejected when its object lands."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from sqlalchemy import (
    BigInteger,
    DateTime,
    String,
    Text,
    column,
    select,
    tuple_,
    update,
    values,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Session

from landing.observability import logger, metrics
from landing.s3 import sniffing
from landing.s3.head import Head
from landing.s3.notifications import Identity, S3Record
from landing.s3.sniffing import media_type
from landing.settings import get_settings
from landing.uploads import content, presign
from landing.uploads.presign import UPLOAD_ID_META

if TYPE_CHECKING:
    pass
from landing.uploads.lifecycle import (
    OPEN_STATUSES,
    ObjectVersion,
    delete_after_commit,
    note_changed,
    objects,
    uploads,
)


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


def detected_of(head: Head | None) -> sniffing.Detected | None:
    """What the object's first bytes are, when they were read."""
    if head is None or head.first_bytes is None:
        return None
    return sniffing.detect(head.first_bytes, head.root_entry)


def on_recorded(session: Session, records: Sequence[S3Record], heads: Mapping[Identity, Head | None]) -> int:
    """Decide the uploads these creates (under the upload prefix: ingest/service.py picks them) may
    decide, in the caller's unit of work: link objects to their uploads, move the uploads. Returns how
    many uploads changed status. Rejected objects are deleted from S3 once the unit of work commits.
    """
    newest: dict[tuple[str, str], S3Record] = {}
    for record in records:
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
            delete_after_commit(session, written)
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
                delete_after_commit(session, written)
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
            delete_after_commit(session, _written(record, heads.get(record.identity)))
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
