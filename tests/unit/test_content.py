"""Content sniffing rules on real file headers: executables never pass as documents, signatures match, text is text."""

from __future__ import annotations

import pytest

from landing.uploads import content
from tests.support import files


def check(declared: str, data: bytes) -> str | None:
    return content.violation(declared, content.detect(data))


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
        assert content.detect(data).media_type == detected


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
    assert content.detect(b"") is None
    assert content.violation("image/png", None) is None
