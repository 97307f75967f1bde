"""Every hostile case gets a clear error or a documented skip, logged once, and leaves no partial row."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from landing.handlers.ingest import handler
from landing.s3.fields import InvalidEvent
from tests.conftest import rows
from tests.support.events import s3_event, s3_record, sqs_event

CORPUS = Path(__file__).parent / "corpus"
CASES = {path.stem: json.loads(path.read_text()) for path in sorted(CORPUS.glob("*.json"))}
COMPANION = "companion.txt"


def deliveries(case: dict[str, Any]) -> list[str]:
    default = ["direct", "sqs"] if isinstance(case["payload"], dict) else ["sqs"]
    return case.get("deliveries", default)


PARAMS = [
    pytest.param(name, how, id=f"{name}[{how}]") for name, case in CASES.items() for how in deliveries(case)
]


def state() -> tuple[list[list[Any]], int]:
    objects = [[r["key"], r["is_deleted"]] for r in rows("SELECT key, is_deleted FROM objects ORDER BY key")]
    journal = rows("SELECT count(*) AS n FROM object_events")[0]["n"]
    return objects, journal


def test_the_corpus_has_at_least_forty_cases():
    assert len(CASES) >= 40
    assert {case["outcome"] for case in CASES.values()} == {"rejected", "skipped", "recorded"}


@pytest.mark.parametrize(("name", "how"), PARAMS)
def test_hostile_event(name, how, clean_db, s3_once, lambda_context, landing_logs):
    case = CASES[name]
    payload = case["payload"]
    if how == "sqs":
        body = payload if isinstance(payload, str) else json.dumps(payload)
        event = sqs_event(body, s3_event(s3_record(COMPANION)))
        hostile_id = event["Records"][0]["messageId"]
        result = handler(event, lambda_context)
    else:
        event = payload
        result = None
        if case["outcome"] == "rejected":
            with pytest.raises(InvalidEvent) as raised:
                handler(event, lambda_context)
            assert case["error"] in str(raised.value)
        else:
            result = handler(event, lambda_context)

    objects, journal = state()
    problems = landing_logs.problems()
    companion = [[COMPANION, False]] if how == "sqs" else []

    if case["outcome"] == "rejected":
        assert objects == companion, "a rejected event must leave no row"
        assert journal == len(companion)
        (line,) = problems  # logged once
        assert case["error"] in line["error"]
        if how == "sqs":
            assert result == {"batchItemFailures": [{"itemIdentifier": hostile_id}]}
            assert line["message_id"] == hostile_id
        else:
            assert line["message"] == "event rejected: not a usable S3 event"
    else:
        assert problems == []
        if how == "sqs":
            assert result == {"batchItemFailures": []}
        expected = sorted(case["objects"] + companion)
        assert objects == expected
        assert journal == case["journal"] + len(companion)


def test_a_rejected_event_is_logged_without_the_raw_event(clean_db, s3_once, lambda_context, landing_logs):
    """The log carries the reason and a truncated key, never the payload (which may hold tokens)."""
    record = s3_record("bad%zz")
    record["requestParameters"]["authorization"] = "CANARY-secret-token-0123456789"
    with pytest.raises(InvalidEvent):
        handler(s3_event(record), lambda_context)
    assert "CANARY" not in landing_logs.text
    (line,) = landing_logs.problems()
    assert "bad%zz" in line["error"]


def test_a_poison_message_does_not_hold_back_the_batch(clean_db, s3_once, lambda_context):
    """Ten messages, every other one hostile: the five good ones commit, the five bad are reported."""
    bodies: list[Any] = []
    for i in range(10):
        bodies.append("not json" if i % 2 else s3_event(s3_record(f"good-{i}.txt")))
    event = sqs_event(*bodies)
    result = handler(event, lambda_context)
    bad = [r["messageId"] for i, r in enumerate(event["Records"]) if i % 2]
    assert sorted(f["itemIdentifier"] for f in result["batchItemFailures"]) == sorted(bad)
    assert [o[0] for o in state()[0]] == [f"good-{i}.txt" for i in range(0, 10, 2)]
