"""What an object's first bytes are (executables, scripts, OLE installers, signatures), whoever uploaded it."""

from __future__ import annotations

import re
import struct
import uuid
from dataclasses import dataclass
from functools import lru_cache

from landing.s3.head import DIRECTORY_ENTRY_BYTES

ZIP = "zip"

OLE = "ole"

TEXT_APPLICATION = re.compile(
    r"application/(json|xml|javascript|ecmascript|x-ndjson|x-yaml|yaml|csv|sql|x-www-form-urlencoded"
    r"|ld\+json|[\w.+-]+\+(json|xml))"
)

# Bytes that never occur in text (NUL and the C0 controls but tab, LF, FF, CR, ESC).
_BINARY_BYTES = bytes([*range(0, 8), 11, *range(14, 27), *range(28, 32)])

# The root storage CLSIDs of Windows Installer files, as stored: little-endian (uuid bytes_le).
_INSTALLER_CLSIDS = {
    uuid.UUID("000C1084-0000-0000-C000-000000000046").bytes_le: (
        "application/x-msi",
        "a Windows Installer package (MSI)",
    ),
    uuid.UUID("000C1086-0000-0000-C000-000000000046").bytes_le: (
        "application/x-msi",
        "a Windows Installer patch (MSP)",
    ),
    uuid.UUID("000C1082-0000-0000-C000-000000000046").bytes_le: (
        "application/x-msi",
        "a Windows Installer transform (MST)",
    ),
}

_OLE_MAGIC = bytes.fromhex("d0cf11e0a1b11ae1")

# Formats puremagic recognises by a signature specific enough to decide a rejection: a Windows shortcut,
# a registry file, an Internet shortcut, compiled HTML help, an MMC console (its XML form; the OLE form
# is judged by its root storage like any OLE file).
_EXECUTABLE_MATCHES = {".lnk", ".reg", ".url", ".chm", ".msc"}

# Script formats without a magic number that markup still gives away: an HTML Application (its
# HTA:APPLICATION element), a Windows Script File (a <job> or <package> root), a scriptlet.
_MARKUP_SCRIPTS = (
    (re.compile(rb"<\s*hta:application\b", re.I), "an HTML Application (HTA)"),
    (re.compile(rb"<\s*scriptlet\b", re.I), "a Windows scriptlet (SCT)"),
    (
        re.compile(rb"\A\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--.*?-->\s*)*<\s*(?:job|package)\b", re.I | re.S),
        "a Windows Script File (WSF)",
    ),
)

_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "ash", "csh", "tcsh", "fish"})


@dataclass(frozen=True, slots=True)
class Detected:
    """What the bytes are: a media type to store, and words for a person."""

    media_type: str
    label: str
    executable: bool = False


def media_type(content_type: str | None) -> str:
    """'Text/Plain; charset=utf-8' -> 'text/plain' (parameters and case do not change the type)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def _executable(data: bytes, root_entry: bytes | None = None) -> Detected | None:
    """Signatures checked here rather than trusted to a database: these decide a rejection."""
    head = data.removeprefix(b"\xef\xbb\xbf")
    if head.startswith(b"#!"):
        line = head[2:].split(b"\n", 1)[0].strip().decode("utf-8", "replace")[:100]
        words = line.replace("/usr/bin/env ", "").split()
        interpreter = words[0].rsplit("/", 1)[-1] if words else ""
        kind = "text/x-shellscript" if interpreter in _SHELLS else "text/x-script"
        return Detected(kind, f"a script (#!{line})", executable=True)
    if data.startswith(b"MZ"):
        (offset,) = struct.unpack_from("<I", data, 0x3C) if len(data) >= 0x40 else (0,)
        if 0 < offset <= len(data) - 4 and data[offset : offset + 4] == b"PE\x00\x00":
            return Detected(
                "application/vnd.microsoft.portable-executable", "a Windows executable (PE)", True
            )
        return Detected("application/x-dosexec", "a DOS/Windows executable (MZ)", True)
    if data.startswith(b"\x7fELF"):
        return Detected("application/x-elf", "a Linux/Unix executable (ELF)", True)
    if data[:4] in (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe"):
        return Detected("application/x-mach-binary", "a macOS executable (Mach-O)", True)
    if data.startswith(b"\xca\xfe\xba\xbe"):
        return Detected("application/x-mach-binary", "a Mach-O universal binary or Java class", True)
    if data.startswith(b"\x00asm"):
        return Detected("application/wasm", "a WebAssembly module", True)
    if data.startswith(_OLE_MAGIC):
        return _ole(data, root_entry)
    text = head[:4096]
    for pattern, label in _MARKUP_SCRIPTS:
        if pattern.search(text):
            return Detected("text/x-script", label, executable=True)
    return None


def root_entry_offset(data: bytes) -> int | None:
    """Where an OLE compound file's root directory entry starts (sector (first directory + 1) times the
    sector size), or None when ``data`` is no OLE header. The directory can lie anywhere in the file,
    far past the first bytes read: the reader fetches the entry there (s3/head.py)."""
    if not data.startswith(_OLE_MAGIC) or len(data) < 0x40:
        return None
    sector_shift: int = struct.unpack_from("<H", data, 0x1E)[0]
    first_directory: int = struct.unpack_from("<I", data, 0x30)[0]
    if not 7 <= sector_shift <= 16:
        return None
    return (first_directory + 1) << sector_shift


def _ole(data: bytes, root_entry: bytes | None) -> Detected | None:
    """An OLE compound file (Office 97-2003, MSI, MSG...) is an installer unless its root storage says
    otherwise: the Windows Installer CLSIDs, or no readable root entry at all, count as executable."""
    offset = root_entry_offset(data)
    if offset is not None and offset + DIRECTORY_ENTRY_BYTES <= len(data):
        root_entry = data[offset : offset + DIRECTORY_ENTRY_BYTES]
    if (
        offset is None
        or root_entry is None
        or len(root_entry) < DIRECTORY_ENTRY_BYTES
        or root_entry[0x42] != 5
    ):
        # Not proven otherwise: the directory could not be read, or its first entry is no root storage.
        return Detected(
            "application/x-msi",
            "an OLE compound file whose root storage could not be read (possibly an installer)",
            True,
        )
    installer = _INSTALLER_CLSIDS.get(bytes(root_entry[0x50:0x60]))
    if installer is not None:
        return Detected(installer[0], installer[1], True)
    return None


def _looks_binary(data: bytes) -> bool:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False  # UTF-16 text with its byte order mark: NULs are expected
    return any(byte in _BINARY_BYTES for byte in data)


@lru_cache(maxsize=64)
def detect(data: bytes, root_entry: bytes | None = None) -> Detected | None:
    """What the first bytes of an object are; None for an empty object.

    ``root_entry``: an OLE file's root directory entry when it lies past ``data`` (root_entry_offset).
    """
    if not data:
        return None
    found = _executable(data, root_entry)
    if found is not None:
        return found
    # Imported on first use: its signature database costs ~30 ms, which bucket drops never pay.
    import puremagic

    try:
        matches = puremagic.magic_string(data)
    except puremagic.PureError:
        matches = []
    if not data.startswith(_OLE_MAGIC):
        runs = next((m for m in matches if m.extension.lower() in _EXECUTABLE_MATCHES), None)
        if runs is not None:
            kind = media_type(runs.mime_type) or "application/octet-stream"
            label = f"{runs.name.strip()} ({runs.extension.lower()})"
            return Detected(kind, label, executable=True)
    best = next((m for m in matches if m.mime_type), None)
    if best is not None:
        kind = media_type(best.mime_type)
        if kind.startswith("text/") or TEXT_APPLICATION.fullmatch(kind) or kind == "image/svg+xml":
            if not _looks_binary(data):
                return Detected(kind, best.name.strip() or kind)
        else:
            return Detected(kind, best.name.strip() or kind)
    if _looks_binary(data):
        name = matches[0].name.strip() if matches else "unrecognised binary data"
        return Detected("application/octet-stream", name)
    return Detected("text/plain", "text")
