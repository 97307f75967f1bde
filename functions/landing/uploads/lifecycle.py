"""Upload lifecycle: the statuses, and what a status change does once it has committed (events, S3 deletes)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Table,
)
from sqlalchemy.orm import Session

from landing.db import uow
from landing.db.models import OUTBOX_WRITTEN, Object, Upload
from landing.observability import logger
from landing.outbox import publisher
from landing.s3.clients import s3_client

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


uploads: Table = Upload.__table__  # type: ignore[assignment]

objects: Table = Object.__table__  # type: ignore[assignment]

# Statuses an object event may still decide. "expired" is included on purpose: an upload expires
# when no event came in time, and an event that arrives later proves the object was written while
# the presigned request was valid (S3 refuses expired signatures), so the truth wins. "uploaded"
# and "rejected" are final: redelivered or reordered events never change them.
OPEN_STATUSES = ("pending", "expired")

ABORTED_BY_CLIENT = "aborted by the client"


@dataclass(frozen=True, slots=True)
class ObjectVersion:
    bucket: str
    key: str
    version_id: str | None


def note_changed(session: Session, upload_ids: Iterable[uuid.UUID]) -> None:
    """Remember which uploads this session moved: the database trigger wrote their lifecycle events
    to the outbox, published once the transaction has committed."""
    ids = set(upload_ids)
    if ids:
        session.info.setdefault(OUTBOX_WRITTEN, set()).update(ids)
        uow.after_commit(session, publisher.publish_committed)


def delete_after_commit(session: Session, target: ObjectVersion) -> None:
    """Delete an object version from S3 once the transaction that decided it has committed.

    Deleting before the commit could leave a pending upload whose object is gone if the
    transaction then rolled back; deleting after it can fail, which sweep() repairs later.
    """
    uow.after_commit(session, lambda _session, _context: _delete(target))


def _delete(target: ObjectVersion) -> None:
    delete_objects(s3_client(), [target])


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
