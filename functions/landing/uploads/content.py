"""Content sniffing: what an object's first bytes really are, and whether that fits its declared type."""

from __future__ import annotations

import re
import struct
import uuid
from dataclasses import dataclass
from functools import lru_cache

# One directory entry (128 bytes): the root storage is the directory's first; ingest reads it there.
from landing.s3.head import DIRECTORY_ENTRY_BYTES

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
# File name extensions Windows runs, or hands to a script host, a shell or an installer, when a user
# opens the file. Most of these formats have no magic number (a .bat, .vbs or .js is plain text), so a
# file name with one is refused when announced, and a key's extension follows its declared type.
# Windows: programs, installers, script hosts, shortcuts, consoles, help, images it mounts.
_WINDOWS_EXTENSIONS = (
    "ade adp app application appref-ms appx appxbundle bas bat cer chm cmd com cpl diagcab dll drv exe "
    "gadget grp hlp hta htt inf ins iso isp its jar jnlp js jse lnk mad maf mag mam maq mar mas mat mau "
    "mav maw mcf mda mdb mde mdt mdw mdz msc msh msh1 msh1xml msh2 msh2xml mshxml msi msix msixbundle "
    "msp mst ocx ops pcd pif plg prf prg ps1 ps1xml ps2 ps2xml psc1 psc2 psd1 psm1 py pyc pyw reg scf "
    "scr sct search-ms settingcontent-ms shb shs sys theme url vb vbe vbp vbs vhd vhdx vsmacros vsw "
    "website ws wsc wsf wsh xbap xll xnk"
)
# Unix and macOS: shell scripts, launchers, packages and disk images.
_UNIX_EXTENSIONS = "action apk bash command csh deb desktop dmg ksh mpkg pkg rpm run scpt sh workflow xpi zsh"
EXECUTABLE_EXTENSIONS = frozenset(f"{_WINDOWS_EXTENSIONS} {_UNIX_EXTENSIONS}".split())
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


# The extensions a stored file may keep under each declared type (the first one is added otherwise).
# A table of our own rather than mimetypes: its map changes between Python versions (keys would too)
# and lists .bat and .exe under text/plain and application/octet-stream.
_EXTENSIONS = {
    "text/plain": ("txt", "text", "log", "md", "asc", "ini", "cfg", "conf"),
    "text/csv": ("csv",),
    "text/tab-separated-values": ("tsv", "tab"),
    "text/markdown": ("md", "markdown"),
    "text/html": ("html", "htm"),
    "text/xml": ("xml",),
    "text/calendar": ("ics",),
    "application/xml": ("xml",),
    "application/json": ("json",),
    "application/x-ndjson": ("ndjson", "jsonl"),
    "application/octet-stream": ("bin",),
    "application/pdf": ("pdf",),
    "application/zip": ("zip",),
    "application/x-zip-compressed": ("zip",),
    "application/gzip": ("gz", "tgz"),
    "application/x-gzip": ("gz", "tgz"),
    "application/x-tar": ("tar",),
    "application/x-7z-compressed": ("7z",),
    "application/vnd.rar": ("rar",),
    "application/x-bzip2": ("bz2",),
    "application/zstd": ("zst",),
    "application/epub+zip": ("epub",),
    "application/msword": ("doc", "dot"),
    "application/vnd.ms-excel": ("xls", "xlt"),
    "application/vnd.ms-powerpoint": ("ppt", "pps", "pot"),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ("docx",),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ("xlsx",),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ("pptx",),
    "application/vnd.oasis.opendocument.text": ("odt",),
    "application/vnd.oasis.opendocument.spreadsheet": ("ods",),
    "application/vnd.oasis.opendocument.presentation": ("odp",),
    "application/x-sqlite3": ("sqlite", "sqlite3", "db"),
    "application/vnd.sqlite3": ("sqlite", "sqlite3", "db"),
    "application/ogg": ("ogg", "ogx"),
    "image/jpeg": ("jpg", "jpeg", "jpe", "jfif"),
    "image/png": ("png",),
    "image/gif": ("gif",),
    "image/webp": ("webp",),
    "image/avif": ("avif",),
    "image/heic": ("heic",),
    "image/heif": ("heif",),
    "image/tiff": ("tif", "tiff"),
    "image/bmp": ("bmp",),
    "image/svg+xml": ("svg",),
    "audio/mpeg": ("mp3",),
    "audio/mp4": ("m4a",),
    "audio/ogg": ("ogg", "oga", "opus"),
    "audio/wav": ("wav",),
    "audio/flac": ("flac",),
    "video/mp4": ("mp4", "m4v"),
    "video/webm": ("webm",),
    "video/quicktime": ("mov",),
    "font/woff": ("woff",),
    "font/woff2": ("woff2",),
    "font/ttf": ("ttf",),
    "font/otf": ("otf",),
}
# A declared type this table does not know gets an inert extension: nothing opens it by its name.
UNKNOWN_TYPE_EXTENSION = "bin"


def extension(name: str) -> str:
    """'Report.PDF' -> 'pdf'; '' without one."""
    stem, dot, suffix = name.rpartition(".")
    return suffix.lower() if dot and stem else ""


def executable_name(name: str, declared: str) -> bool:
    """Whether a file of this name would be run (not viewed) when opened, under a declared type that
    does not say it is executable."""
    return extension(name) in EXECUTABLE_EXTENSIONS and media_type(declared) not in EXECUTABLE_TYPES


def stored_name(name: str, declared: str) -> str:
    """The name a key ends with: the client's, with an extension of the declared type appended when it
    has none of that type's (a download is opened by its extension: 'page.html' declared text/plain is
    stored as 'page.html.txt'). Executable types, allowed only when configured, keep their name."""
    kind = media_type(declared)
    if kind in EXECUTABLE_TYPES:
        return name
    allowed = _EXTENSIONS.get(kind, (UNKNOWN_TYPE_EXTENSION,))
    if extension(name) in allowed:
        return name
    return f"{name}.{allowed[0]}"
