"""A CREATE and a DELETE with one sequencer, in two invocations: the DELETE wins whichever commits first."""

from __future__ import annotations

from typing import Any

import pytest

from landing.handlers.ingest import handler
from tests.conftest import rows
from tests.support.events import delete_record, s3_event, s3_record, sqs_event

pytestmark = pytest.mark.usefixtures("clean_db", "s3")

SEQUENCER = "0055AED6DCD90281E5"
# The same sequencer as S3 may spell it in another notification: lower case, longer padding.
SAME_SEQUENCER_RESPELLED = SEQUENCER.lower() + "00"


def create(sequencer: str = SEQUENCER) -> dict[str, Any]:
    return s3_record("tie.txt", sequencer=sequencer, etag="etag-tie", size=7)


def delete(sequencer: str = SEQUENCER) -> dict[str, Any]:
    return delete_record("tie.txt", sequencer)


def invoke(path: str, record: dict[str, Any], context: Any) -> None:
    event = s3_event(record)
    if path == "sqs":
        assert handler(sqs_event(event), context) == {"batchItemFailures": []}
    else:
        handler(event, context)


def state() -> tuple[bool, int | None, str | None, bool]:
    (row,) = rows("SELECT is_deleted, size, e_tag, deleted_at IS NOT NULL AS stamped FROM objects")
    return row["is_deleted"], row["size"], row["e_tag"], row["stamped"]


def journal() -> list[str]:
    return [r["record_type"] for r in rows("SELECT record_type FROM object_events ORDER BY record_type")]


TOMBSTONE = (True, None, None, True)


@pytest.mark.parametrize("path", ["direct", "sqs"])
def test_a_delete_after_a_create_with_the_same_sequencer_leaves_a_tombstone(path, lambda_context):
    invoke(path, create(), lambda_context)
    assert state() == (False, 7, "etag-tie", False)  # the first invocation really stored the object

    invoke(path, delete(), lambda_context)

    assert state() == TOMBSTONE
    assert journal() == ["CREATE", "DELETE"]


@pytest.mark.parametrize("path", ["direct", "sqs"])
def test_a_create_after_a_delete_with_the_same_sequencer_does_not_resurrect(path, lambda_context):
    invoke(path, delete(), lambda_context)
    assert state() == TOMBSTONE

    invoke(path, create(), lambda_context)

    assert state() == TOMBSTONE
    assert journal() == ["CREATE", "DELETE"]


@pytest.mark.parametrize("first", ["create", "delete"])
def test_the_tie_is_decided_on_the_normalised_sequencer_across_paths(first, lambda_context):
    """One event direct, the other through SQS spelled differently: still the same sequencer, still a tie."""
    records = {"create": create(), "delete": delete(SAME_SEQUENCER_RESPELLED)}
    second = "delete" if first == "create" else "create"
    invoke("direct", records[first], lambda_context)
    invoke("sqs", records[second], lambda_context)

    assert state() == TOMBSTONE
    assert journal() == ["CREATE", "DELETE"]
