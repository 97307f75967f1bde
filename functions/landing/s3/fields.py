"""The checked fields of an AWS event: keys, times, sequencers, sizes, names; InvalidEvent says what is wrong."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeGuard
from urllib.parse import unquote_plus

# Normalised sequencers are upper-case hex, right-padded with "0" to this width (AWS: "pad the
# shorter value with zeros on the right, then compare lexicographically").
SEQUENCER_WIDTH = 32
MAX_KEY_BYTES = 1024
# Longest value accepted for names, ids and tags carried by an event (S3's own are far shorter).
MAX_FIELD_CHARS = 1024
MAX_SIZE = 2**63 - 1  # the objects.size column is a bigint
# Bucket names, including legacy us-east-1 ones (upper case, "_", up to 255 characters).
_BUCKET = re.compile(r"[A-Za-z0-9._-]{1,255}")
_HEX = re.compile(r"[0-9A-Fa-f]+")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


class InvalidEvent(ValueError):
    """A payload or record that is not a usable S3 event; the message says what and where."""


def decode_key(raw: object) -> str:
    """Decode an S3 notification key (form-URL-encoded: '+' is a space, '%2B' a plus), strictly."""
    if not isinstance(raw, str) or raw == "":
        raise InvalidEvent(f"object key must be a non-empty string, got {type(raw).__name__}")
    if _BAD_PERCENT.search(raw):
        raise InvalidEvent(f"object key has an invalid percent escape: {raw[:200]!r}")
    try:
        key = unquote_plus(raw, errors="strict")
    except UnicodeDecodeError:
        raise InvalidEvent(f"object key is not valid UTF-8 once decoded: {raw[:200]!r}") from None
    if "\x00" in key:
        raise InvalidEvent(f"object key contains a NUL character: {raw[:200]!r}")
    if not is_utf8(key):
        raise InvalidEvent(f"object key is not valid UTF-8 (lone surrogate): {raw[:200]!r}")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise InvalidEvent(f"object key is longer than {MAX_KEY_BYTES} bytes: {raw[:100]!r}...")
    return key


def is_utf8(text: str) -> bool:
    """False for strings holding lone surrogates (JSON "\\udcff"), which no database column accepts."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def checked_text(raw: str, name: str) -> str:
    """A string field that PostgreSQL text can hold and a log line can show: no NUL, valid UTF-8."""
    if "\x00" in raw or not is_utf8(raw):
        raise InvalidEvent(f"{name} contains a NUL or is not valid UTF-8: {raw[:100]!r}")
    if len(raw) > MAX_FIELD_CHARS:
        raise InvalidEvent(f"{name} is longer than {MAX_FIELD_CHARS} characters: {raw[:100]!r}...")
    return raw


def parse_time(raw: object) -> datetime:
    if not isinstance(raw, str):
        raise InvalidEvent(f"event time must be an ISO-8601 string, got {type(raw).__name__}")
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidEvent(f"event time is not ISO-8601: {raw[:64]!r}") from None
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def normalise_sequencer(raw: object, event_time: datetime) -> str:
    """Upper-case, right-pad to SEQUENCER_WIDTH; without a sequencer, derive one from the event time.

    The fallback (moto, hand-made events) is the event time in microseconds since the epoch as 16
    hex digits, padded the same way: later events still sort later, but two events for one key in
    the same microsecond cannot be ordered, and the DELETE wins such a tie.
    """
    if raw is None or raw == "":
        micros = int(event_time.timestamp() * 1_000_000)
        return f"{max(micros, 0):016X}".ljust(SEQUENCER_WIDTH, "0")
    if not isinstance(raw, str) or not _HEX.fullmatch(raw) or len(raw) > SEQUENCER_WIDTH:
        raise InvalidEvent(f"sequencer must be hex of at most {SEQUENCER_WIDTH} digits, got {raw!r}")
    return raw.upper().ljust(SEQUENCER_WIDTH, "0")


def checked_size(raw: object) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= MAX_SIZE:
        raise InvalidEvent(f"object size must be an integer from 0 to 2^63-1, got {repr(raw)[:40]}")
    return raw


def optional_text(raw: object, name: str) -> str | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise InvalidEvent(f"{name} must be a string, got {type(raw).__name__}")
    return checked_text(raw, name)


def version_of(raw: object, name: str) -> str | None:
    """A version id; "null" (the version of writes to an unversioned bucket) is stored as no version,
    as reconcile's listing stores it, so both sides describe such an object the same way."""
    value = optional_text(raw, name)
    return None if value == "null" else value


def etag_of(raw: object) -> str | None:
    value = optional_text(raw, "eTag")
    return value.strip('"') if value else None


def bucket_name(raw: object) -> str:
    if not isinstance(raw, str) or not _BUCKET.fullmatch(raw):
        shown = repr(raw[:100]) if isinstance(raw, str) else type(raw).__name__
        raise InvalidEvent(f"bucket name must be 1-255 of [A-Za-z0-9._-], got {shown}")
    return raw


def is_mapping(raw: object) -> TypeGuard[Mapping[str, Any]]:
    # dict is what json.loads and Lambda hand us; the Mapping ABC check costs several times more.
    return type(raw) is dict or isinstance(raw, Mapping)


def mapping_of(raw: object, what: str) -> Mapping[str, Any]:
    if not is_mapping(raw):
        raise InvalidEvent(f"{what} must be an object, got {type(raw).__name__}")
    return raw


def section_of(raw: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """An optional object of a record (responseElements, userIdentity...): {} when absent or not one."""
    value = raw.get(name)
    return value if is_mapping(value) else {}


def describe(raw: object) -> str:
    """What a refused payload is, for the error message: its type, or its first keys and the fields
    that say where it came from (eventSource, source, detail-type, Type...)."""
    if not is_mapping(raw):
        return f"a JSON {type(raw).__name__}"
    keys = sorted(str(name) for name in raw)[:8]
    said = [
        f"{name}={str(raw[name])[:60]!r}"
        for name in ("eventSource", "EventSource", "source", "detail-type", "Type", "Event", "TopicArn")
        if name in raw and isinstance(raw[name], str)
    ]
    return ", ".join([f"keys {keys}", *said])
