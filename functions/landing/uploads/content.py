"""Content sniffing: what an object's first bytes really are, and whether that fits its declared type."""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from functools import lru_cache

# The rules, one table (docs/content-checks.md repeats it):
# 1. executables and scripts are accepted only under an executable declared type;
# 2. a declared type with a signature (image/*, audio/*, video/*, application/pdf, archives, Office
#    files...) needs detected bytes of the same family;
# 3. text/* (and JSON, XML, CSV...) must not be binary;
# 4. any other declared type (application/octet-stream...) takes anything but rule 1's.
EXECUTABLE_TYPES = frozenset(
    {
        "application/vnd.microsoft.portable-executable",
        "application/x-msdownload",
        "application/x-dosexec",
        "application/x-executable",
        "application/x-elf",
        "application/x-sharedlib",
        "application/x-mach-binary",
        "application/x-msi",
        "application/x-ms-installer",
        "application/wasm",
        "application/java-vm",
        "application/x-sh",
        "application/x-shellscript",
        "text/x-shellscript",
        "text/x-script",
        "text/x-python",
        "text/x-script.python",
    }
)
_ZIP = "zip"
_OLE = "ole"
# Declared or detected media type -> the family its signature belongs to.
_FAMILY_PREFIXES = {"image/": "image", "audio/": "audio-video", "video/": "audio-video", "font/": "font"}
_FAMILIES = {
    "application/pdf": "pdf",
    "application/zip": _ZIP,
    "application/x-zip-compressed": _ZIP,
    "application/epub+zip": _ZIP,
    "application/java-archive": _ZIP,
    "application/msword": _OLE,
    "application/vnd.ms-excel": _OLE,
    "application/vnd.ms-powerpoint": _OLE,
    "application/vnd.ms-outlook": _OLE,
    "application/x-ole-storage": _OLE,
    "application/gzip": "gzip",
    "application/x-gzip": "gzip",
    "application/x-tar": "tar",
    "application/x-7z-compressed": "7z",
    "application/vnd.rar": "rar",
    "application/x-rar-compressed": "rar",
    "application/x-bzip2": "bzip2",
    "application/zstd": "zstd",
    "application/ogg": "audio-video",
    "application/x-sqlite3": "sqlite",
    "application/vnd.sqlite3": "sqlite",
}
# Zip containers: Office Open XML, OpenDocument.
_FAMILY_PATTERNS = (
    ("application/vnd.openxmlformats-officedocument.", _ZIP),
    ("application/vnd.oasis.opendocument.", _ZIP),
    ("application/vnd.ms-", _OLE),
)
_TEXT_APPLICATION = re.compile(
    r"application/(json|xml|javascript|ecmascript|x-ndjson|x-yaml|yaml|csv|sql|x-www-form-urlencoded"
    r"|ld\+json|[\w.+-]+\+(json|xml))"
)
# Bytes that never occur in text (NUL and the C0 controls but tab, LF, FF, CR, ESC).
_BINARY_BYTES = bytes([*range(0, 8), 11, *range(14, 27), *range(28, 32)])
_MSI_CLSID = bytes.fromhex("84100c00000000000c00000000000046")
_OLE_MAGIC = bytes.fromhex("d0cf11e0a1b11ae1")
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


def family(declared_or_detected: str) -> str | None:
    """The signature family of a media type, or None for types without one (text, octet-stream)."""
    kind = media_type(declared_or_detected)
    if kind == "image/svg+xml":
        return "image"  # XML text, but an image by its declared use and by what puremagic reports
    for prefix, name in _FAMILY_PREFIXES.items():
        if kind.startswith(prefix):
            return name
    if kind in _FAMILIES:
        return _FAMILIES[kind]
    return next((name for prefix, name in _FAMILY_PATTERNS if kind.startswith(prefix)), None)


def is_text_type(declared: str) -> bool:
    kind = media_type(declared)
    return (kind.startswith("text/") and kind not in EXECUTABLE_TYPES) or bool(
        _TEXT_APPLICATION.fullmatch(kind)
    )


def _executable(data: bytes) -> Detected | None:
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
    if data.startswith(_OLE_MAGIC) and _is_msi(data):
        return Detected("application/x-msi", "a Windows Installer package (MSI)", True)
    return None


def _is_msi(data: bytes) -> bool:
    """An OLE compound file whose root storage has the Windows Installer CLSID (when the directory
    sector lies within the bytes read; otherwise it counts as an Office document)."""
    if len(data) < 0x40:
        return False
    sector_shift = struct.unpack_from("<H", data, 0x1E)[0]
    first_directory = struct.unpack_from("<I", data, 0x30)[0]
    if not 7 <= sector_shift <= 16:
        return False
    root = (first_directory + 1) * (1 << sector_shift)
    return data[root + 0x50 : root + 0x60] == _MSI_CLSID


def _looks_binary(data: bytes) -> bool:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False  # UTF-16 text with its byte order mark: NULs are expected
    return any(byte in _BINARY_BYTES for byte in data)


@lru_cache(maxsize=64)
def detect(data: bytes) -> Detected | None:
    """What the first bytes of an object are; None for an empty object."""
    if not data:
        return None
    found = _executable(data)
    if found is not None:
        return found
    # Imported on first use: its signature database costs ~30 ms, which bucket drops never pay.
    import puremagic

    try:
        matches = puremagic.magic_string(data)
    except puremagic.PureError:
        matches = []
    best = next((m for m in matches if m.mime_type), None)
    if best is not None:
        kind = media_type(best.mime_type)
        if kind.startswith("text/") or _TEXT_APPLICATION.fullmatch(kind) or kind == "image/svg+xml":
            if not _looks_binary(data):
                return Detected(kind, best.name.strip() or kind)
        else:
            return Detected(kind, best.name.strip() or kind)
    if _looks_binary(data):
        name = matches[0].name.strip() if matches else "unrecognised binary data"
        return Detected("application/octet-stream", name)
    return Detected("text/plain", "text")


def violation(declared: str, detected: Detected | None) -> str | None:
    """Why bytes of this kind may not be accepted under the declared type, or None."""
    if detected is None:
        return None
    kind = media_type(declared)
    what = f"{detected.label} ({detected.media_type})"
    if detected.executable:
        if kind in EXECUTABLE_TYPES:
            return None
        return f"content is {what}: executables and scripts are not accepted as {kind}"
    wanted = family(kind)
    if wanted is not None:
        if family(detected.media_type) == wanted:
            return None
        return f"content is {what}, not the {kind} declared"
    if is_text_type(kind) and family(detected.media_type) is not None:
        return f"content is {what}, not text as {kind} declares"
    if is_text_type(kind) and detected.media_type == "application/octet-stream":
        return f"content is binary ({detected.label}), not text as {kind} declares"
    return None
