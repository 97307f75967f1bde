"""What a client announces for an upload, checked: file name, content type, size, checksum, metadata, method."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from landing.settings import Settings
from landing.uploads import presign
from landing.uploads.errors import (
    TooLarge,
    UnsupportedType,
    bad_request,
)

if TYPE_CHECKING:
    pass


REQUEST_FIELDS = frozenset({"filename", "content_type", "size", "checksum_sha256", "metadata", "method"})

MAX_FILENAME_CHARS = 1024

# S3 allows 2 KB of user metadata (names + values) and the upload id takes its share: 10 names of at
# most 64 and values of at most 128 characters stay within it, a rule JSON Schema can state exactly.
MAX_METADATA_ENTRIES = 10

MAX_METADATA_VALUE_CHARS = 128

METADATA_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")

PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]*")

# A file name must show something: one character that is whitespace to neither Python nor the
# ECMA-262 regexes of JSON Schema validators (the OpenAPI document carries this very class).
FILENAME_VISIBLE = re.compile(
    "[^\t\n\x0b\x0c\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"
)

MAX_CONTENT_TYPE_CHARS = 255

MEDIA_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"

# RFC 6838 type/subtype names and at most one charset parameter (plain or quoted). Only the space
# separates (never tab, CR/LF or a Unicode separator), so an accepted value is always a safe header.
CONTENT_TYPE = re.compile(
    rf"(?P<type>{MEDIA_NAME}/{MEDIA_NAME})"
    r"(?: *; *(?i:charset)=(?P<quote>\"?)[A-Za-z0-9._:+-]{1,40}(?P=quote))?"
)


@dataclass(frozen=True, slots=True)
class Intent:
    """A validated upload request."""

    filename: str
    content_type: str
    size: int
    method: str
    checksum_sha256: str | None
    metadata: dict[str, str]


def _string(body: Mapping[str, Any], name: str, required: bool = True, code: str = "") -> str | None:
    """A string field; an optional one may be left out, but null is not a string (the document says so)."""
    if name not in body and not required:
        return None
    value = body.get(name)
    if not isinstance(value, str):
        got = "missing" if name not in body else "null" if value is None else f"a {type(value).__name__}"
        raise bad_request(code or f"invalid_{name}", f"{name} must be a string, got {got}")
    return value


def whole_number(value: object) -> int | None:
    """A JSON integer: 5, or 5.0 (JSON Schema's integer is any number without a fraction); never true."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, int) else None


def parse_intent(body: object, settings: Settings) -> Intent:
    """Validate a POST /uploads body; raises UploadError (400/413/415) naming the first problem."""
    if not isinstance(body, Mapping):
        raise bad_request("invalid_body", "the body must be a JSON object")
    unknown = sorted(set(body) - REQUEST_FIELDS)
    if unknown:
        raise bad_request("unknown_field", f"unknown field(s): {', '.join(map(str, unknown))[:200]}")
    filename = _string(body, "filename")
    assert filename is not None
    if not FILENAME_VISIBLE.search(filename) or len(filename) > MAX_FILENAME_CHARS:
        raise bad_request("invalid_filename", f"filename must have 1 to {MAX_FILENAME_CHARS} characters")
    content_type = parse_content_type(_string(body, "content_type") or "", settings)
    size = whole_number(body.get("size"))
    if size is None:
        raise bad_request("invalid_size", "size must be an integer number of bytes")
    if size <= 0:
        raise bad_request("invalid_size", "size must be at least 1 byte")
    if size > settings.upload_max_size:
        raise TooLarge("too_large", f"size {size} is above the maximum of {settings.upload_max_size} bytes")
    # Exactly as the document spells it: "post" is not a method this API names.
    method = _string(body, "method", required=False)
    method = "POST" if method is None else method
    if method not in ("POST", "PUT"):
        raise bad_request("invalid_method", "method must be POST or PUT")
    if size > settings.multipart_threshold:
        method = "MULTIPART"
    checksum = _parse_checksum(
        _string(body, "checksum_sha256", required=False, code="invalid_checksum"), method
    )
    metadata = parse_metadata(body["metadata"]) if "metadata" in body else {}
    return Intent(filename, content_type, size, method, checksum, metadata)


def parse_content_type(raw: str, settings: Settings) -> str:
    value = raw.strip(" ")
    match = CONTENT_TYPE.fullmatch(value) if len(raw) <= MAX_CONTENT_TYPE_CHARS else None
    allowed = {media.lower() for media in settings.allowed_content_types}
    if match is None or match.group("type").lower() not in allowed:
        raise UnsupportedType(
            "unsupported_media_type",
            f"content_type {value[:100]!r} is not allowed: at most {MAX_CONTENT_TYPE_CHARS} ASCII "
            f"characters, type/subtype with at most a charset parameter; allowed types: "
            f"{', '.join(sorted(allowed))}",
        )
    return value


def _parse_checksum(raw: str | None, method: str) -> str | None:
    if raw is None:
        if method == "PUT":
            # Without a signed checksum a replayed PUT URL could carry any bytes of the signed length.
            raise bad_request(
                "checksum_required",
                'a PUT upload signs the body\'s SHA-256: send "checksum_sha256" (base64) or use POST',
            )
        return None
    try:
        digest = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != hashlib.sha256().digest_size:
        raise bad_request(
            "invalid_checksum", "checksum_sha256 must be the base64 of a 32-byte SHA-256 digest"
        )
    if method != "PUT":
        # S3 verifies a full-object SHA-256 on PUT only; accepting it elsewhere would promise a check
        # that never happens.
        raise bad_request(
            "checksum_unsupported",
            "checksum_sha256 is verified by S3 only for PUT uploads up to the multipart threshold; "
            'send "method": "PUT" or leave the checksum out',
        )
    return raw


def parse_metadata(raw: object) -> dict[str, str]:
    if not isinstance(raw, Mapping) or len(raw) > MAX_METADATA_ENTRIES:
        raise bad_request(
            "invalid_metadata", f"metadata must be an object of at most {MAX_METADATA_ENTRIES} string values"
        )
    metadata: dict[str, str] = {}
    for name, value in raw.items():
        if not isinstance(name, str) or not METADATA_NAME.fullmatch(name):
            raise bad_request(
                "invalid_metadata", f"metadata name {str(name)[:64]!r} must match {METADATA_NAME.pattern}"
            )
        if name == presign.UPLOAD_ID_META:
            raise bad_request("invalid_metadata", f"metadata name {name!r} is reserved")
        if (
            not isinstance(value, str)
            or not PRINTABLE_ASCII.fullmatch(value)
            or len(value) > MAX_METADATA_VALUE_CHARS
        ):
            raise bad_request(
                "invalid_metadata",
                f"metadata {name!r} must be printable ASCII text of at most {MAX_METADATA_VALUE_CHARS} characters",
            )
        metadata[name] = value
    return metadata
