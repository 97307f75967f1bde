"""Key decoding and parsing, property-based: every key S3 can hold round-trips; nothing crashes the parser."""

from __future__ import annotations

import json
from urllib.parse import quote, quote_plus

from hypothesis import example, given, settings
from hypothesis import strategies as st

from landing.s3 import deliveries, fields, notifications
from landing.s3.fields import MAX_KEY_BYTES, InvalidEvent
from tests.support.events import eventbridge_event, s3_event, s3_record

# Any Unicode S3 accepts in a key: no NUL (PostgreSQL text cannot hold it), no lone surrogates
# (not UTF-8), at most 1024 bytes once UTF-8 encoded.
keys = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=300,
).filter(lambda k: len(k.encode("utf-8")) <= MAX_KEY_BYTES)


def s3_encode(key: str) -> str:
    """How S3 writes keys into notifications: form-URL-encoding, '/' kept, space as '+'."""
    return quote_plus(key, safe="/")


@given(keys)
@example("a b+c%2B/ü/\u2603")
@example("+")
@example("%")
@example("%2B")
@example(" " * 5)
@example("é" * 512)
def test_every_s3_key_round_trips_through_a_notification(key):
    (record,) = notifications.from_s3_notification(s3_event(s3_record(s3_encode(key))), source="s3").records
    assert record.key == key


@given(keys)
def test_every_s3_key_round_trips_through_eventbridge_and_sqs(key):
    (from_eb,) = notifications.from_eventbridge(eventbridge_event(s3_encode(key))).records
    body = json.dumps(s3_event(s3_record(quote_plus(key))))  # '/' encoded too, as moto does
    (from_sqs,) = deliveries.from_sqs_body(body).records
    assert from_eb.key == from_sqs.key == key


@given(st.text(max_size=80))
@example("%")
@example("%g0")
@example("%C3")
@example("%ED%A0%80")  # an encoded surrogate: not UTF-8
@example("\ud800")
@example("%00")
def test_any_raw_key_decodes_or_is_rejected_clearly(raw):
    try:
        key = fields.decode_key(raw)
    except InvalidEvent as error:
        assert str(error)
        return
    assert key and "\x00" not in key
    assert len(key.encode("utf-8")) <= MAX_KEY_BYTES
    # Decoding is stable: the decoded key, encoded again, decodes to itself.
    assert fields.decode_key(quote(key, safe="")) == key


# Leaf strings may hold anything JSON can escape, lone surrogates and NUL included.
any_text = st.text(
    st.sampled_from(["a", "0", "%", "+", "\x00", "\ud800", "\x1f", "é"])
    | st.characters(blacklist_categories=()),
    max_size=20,
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = [
    ("eventName",),
    ("eventTime",),
    ("eventSource",),
    ("responseElements",),
    ("s3",),
    ("s3", "bucket"),
    ("s3", "bucket", "name"),
    ("s3", "object"),
    ("s3", "object", "key"),
    ("s3", "object", "size"),
    ("s3", "object", "eTag"),
    ("s3", "object", "sequencer"),
    ("s3", "object", "versionId"),
]


@settings(max_examples=300)
@given(st.sampled_from(FIELDS), st.one_of(any_text, json_values))
def test_any_value_in_any_field_parses_or_is_rejected_clearly(path, value):
    """Whatever a field holds, the parser returns records or raises InvalidEvent, nothing else
    (anything else would fail a whole SQS batch instead of one message)."""
    record = s3_record("k")
    target = record
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    body = json.dumps(s3_event(record))
    try:
        parsed = deliveries.from_sqs_body(body)
    except InvalidEvent:
        return
    for accepted in parsed.records:
        assert_storable(accepted)


def assert_storable(record: notifications.S3Record) -> None:
    """What the parser lets through fits the columns: text without NUL, valid UTF-8, bigint sizes."""
    for name in ("bucket", "key", "event_name", "sequencer", "version_id", "e_tag", "request_id"):
        value = getattr(record, name)
        if value is not None:
            assert "\x00" not in value
            value.encode("utf-8")
    assert record.size is None or 0 <= record.size < 2**63


@given(st.one_of(st.text(st.characters(blacklist_categories=()), max_size=200), json_values.map(json.dumps)))
def test_any_sqs_body_parses_or_is_rejected_clearly(body):
    try:
        parsed = deliveries.from_sqs_body(body)
    except InvalidEvent:
        return
    for accepted in parsed.records:
        assert_storable(accepted)
