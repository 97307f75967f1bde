"""The content rules of uploads: the detected bytes against the declared type, and the names a type allows."""

from __future__ import annotations

from landing.s3.sniffing import OLE, TEXT_APPLICATION, ZIP, Detected, media_type

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

# Declared or detected media type -> the family its signature belongs to.
_FAMILY_PREFIXES = {"image/": "image", "audio/": "audio-video", "video/": "audio-video", "font/": "font"}

_FAMILIES = {
    "application/pdf": "pdf",
    "application/zip": ZIP,
    "application/x-zip-compressed": ZIP,
    "application/epub+zip": ZIP,
    "application/java-archive": ZIP,
    "application/msword": OLE,
    "application/vnd.ms-excel": OLE,
    "application/vnd.ms-powerpoint": OLE,
    "application/vnd.ms-outlook": OLE,
    "application/x-ole-storage": OLE,
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
    ("application/vnd.openxmlformats-officedocument.", ZIP),
    ("application/vnd.oasis.opendocument.", ZIP),
    ("application/vnd.ms-", OLE),
)

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
        TEXT_APPLICATION.fullmatch(kind)
    )


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
