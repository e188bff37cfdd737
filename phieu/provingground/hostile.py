"""Hostile scan files, made byte by byte: what a careless or malicious source may hand a scanning station.

Each builder writes one file and returns its path. Used by the hostile corpus of the tests
(``tests/hostile_corpus.py``, where each file has its expected outcome), the loaders' fuzz test and
``benchmarks/hostile.py``. Nothing here is a real decoder exploit: these are files whose headers lie
about their size, or that no reader can open, which is what exhausts or stops a pipeline.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pikepdf


def password_pdf(path: Path, *, source: Path | None = None, password: str = "mat-khau") -> Path:
    """A PDF that opens only with a user password (``source``'s pages, or one blank A4 page)."""
    pdf = pikepdf.open(source) if source is not None else pikepdf.new()
    with pdf:
        if source is None:
            pdf.add_blank_page(page_size=(595, 842))
        pdf.save(path, encryption=pikepdf.Encryption(user=password, owner=password + "-owner"))
    return path


def mediabox_bomb_pdf(path: Path, *, points: float = 14_400) -> Path:
    """A tiny PDF whose one page is ``points`` square (14,400 pt = 5 m: ~60,000 px a side at 300 dpi)."""
    with pikepdf.new() as pdf:
        pdf.add_blank_page(page_size=(points, points))
        pdf.save(path)
    return path


def user_unit_pdf(path: Path, *, unit: float = 75_000) -> Path:
    """An A4 page scaled by ``/UserUnit`` (PDF 1.6): its true size is ``unit`` times larger."""
    with pikepdf.new() as pdf:
        pdf.add_blank_page(page_size=(595, 842))
        pdf.pages[0].obj.UserUnit = unit
        pdf.save(path)
    return path


def empty_pdf(path: Path) -> Path:
    """A well-formed PDF with no page at all."""
    with pikepdf.new() as pdf:
        pdf.save(path)
    return path


def pixel_bomb_png(path: Path, *, side: int = 30_000) -> Path:
    """A 109-byte PNG whose header claims ``side`` × ``side`` grey pixels (its data holds one row)."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    data = zlib.compress(b"\x00" + b"\xff" * side)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", data) + _chunk(b"IEND", b""))
    return path


def pixel_bomb_jpeg(path: Path, *, side: int = 30_000) -> Path:
    """A small JPEG whose frame header (SOF0) claims ``side`` × ``side`` pixels."""
    ok, encoded = cv2.imencode(".jpg", np.full((16, 16), 255, np.uint8))
    assert ok
    data = bytearray(encoded.tobytes())
    sof = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, side, side)
    path.write_bytes(bytes(data))
    return path


def huge_tiff(path: Path, *, side: int = 60_000) -> Path:
    """A TIFF whose width and length tags claim ``side`` pixels (one 16-byte strip of data)."""
    count = 9
    data_offset = 8 + 2 + 12 * count + 4
    entries = [(256, 4, side), (257, 4, side), (258, 3, 8), (259, 3, 1), (262, 3, 1), (273, 4, data_offset),
               (277, 3, 1), (278, 4, side), (279, 4, 16)]
    ifd = struct.pack("<H", count)
    for tag, kind, value in entries:
        packed = struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, kind, 1) + packed
    path.write_bytes(b"II*\x00" + struct.pack("<I", 8) + ifd + b"\x00\x00\x00\x00" + b"\xff" * 16)
    return path


def zero_bytes(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def truncated(source: Path, path: Path, *, keep: float = 0.5) -> Path:
    """The first ``keep`` share of ``source``'s bytes (a copy or a transfer cut short)."""
    data = source.read_bytes()
    path.write_bytes(data[: max(1, int(len(data) * keep))])
    return path


def not_a_scan(path: Path) -> Path:
    """Text under a scan's name (an e-mail saved as .pdf, a file renamed by mistake)."""
    path.write_text("Đây không phải bản quét / this is not a scan\n", encoding="utf-8")
    return path


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
