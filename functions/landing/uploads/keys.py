"""Server-chosen object keys: the owner as one key segment, the file name made safe, the extension the type allows."""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid
from typing import TYPE_CHECKING

from landing.s3 import sniffing
from landing.settings import Settings
from landing.uploads import content
from landing.uploads.errors import (
    Unauthorized,
    bad_request,
)

if TYPE_CHECKING:
    pass


ANONYMOUS = "anonymous"

# Room left in a 1024-byte key for the file name once prefix, owner and uuid are in.
MAX_KEY_NAME_BYTES = 200

MAX_EXTENSION_CHARS = 16

HASHED_OWNER = "h-"

MAX_OWNER_CHARS = 2048

OWNER_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")


def sanitise_filename(filename: str) -> str:
    """A safe last key segment: base name only, no control or path characters, bounded length.

    '../../etc/passwd' -> 'passwd'; 'a\\x00b.txt' -> 'ab.txt'; '..' -> 'file'.
    """
    name = unicodedata.normalize("NFC", filename)
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")  # control, format, unassigned
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(c if c.isalnum() or c in "-_.() " else "_" for c in name)
    name = re.sub(r"\s+", " ", name).strip(" .")
    if not name:
        return "file"
    if len(name.encode("utf-8")) > MAX_KEY_NAME_BYTES:
        stem, dot, extension = name.rpartition(".")
        if not dot or not stem or len(extension) > MAX_EXTENSION_CHARS:
            stem, extension = name, ""
        suffix = f".{extension}" if extension else ""
        budget = MAX_KEY_NAME_BYTES - len(suffix.encode("utf-8"))
        stem = stem.encode("utf-8")[:budget].decode("utf-8", errors="ignore").rstrip(" .")
        name = (stem or "file") + suffix
    return name


def checked_owner(owner: str) -> str:
    """An identity the database can store and compare exactly; anything else is refused (401)."""
    if len(owner) > MAX_OWNER_CHARS or any(unicodedata.category(c) == "Cc" for c in owner):
        raise Unauthorized("unauthorized", "the caller's identity is not usable as an owner")
    return owner


def owner_segment(owner: str) -> str:
    """The owner as one key segment: itself when plainly safe, else a digest of it.

    The two forms never meet: a digest always starts with "h-" and an owner that itself starts with
    "h-" is always digested, so no `sub` can name the folder another owner's digest produced.
    """
    if OWNER_SEGMENT.fullmatch(owner) and not owner.startswith(HASHED_OWNER):
        return owner
    return HASHED_OWNER + hashlib.sha256(owner.encode("utf-8")).hexdigest()[:40]


def owner_prefix(settings: Settings, owner: str) -> str:
    return f"{settings.upload_prefix}{owner_segment(owner)}/"


def new_key(settings: Settings, owner: str, upload_id: uuid.UUID, filename: str, content_type: str) -> str:
    """uploads/<owner>/<uuid>/<sanitised filename>: chosen by the server, unique per upload.

    The name's extension follows the declared type (content.stored_name), and a name Windows or a
    desktop would run when opened (.exe, .hta, .bat, .js, .lnk...) is refused (400) unless the type
    itself is an executable one: the bytes of most script formats cannot tell them from text, so the
    name is what must not say "run me". Content-Disposition repeats this name (presign.py).
    """
    name = sanitise_filename(filename)
    if content.executable_name(name, content_type):
        raise bad_request(
            "executable_filename",
            f"files named *.{content.extension(name)} are run when opened and are not accepted as "
            f"{sniffing.media_type(content_type)}",
        )
    name = sanitise_filename(content.stored_name(name, content_type))
    return f"{owner_prefix(settings, owner)}{upload_id}/{name}"
