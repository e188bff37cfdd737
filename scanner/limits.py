"""Checks made before anything is decoded: what a file really is, and whether it is small enough to read.

A header that claims 30,000 × 30,000 pixels, or a 541-byte PDF whose page is 5 m wide, would take
gigabytes to decode or render; here they are refused from the few bytes that state their size, with
the limits of :class:`core.settings.ScanSettings` (each with a default that real scanners fit).
Every refusal is a :class:`scanner.problems.ReadProblem` carrying its reason code.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import pikepdf
from PIL import Image

from core.settings import ScanSettings
from scanner.problems import ReadProblem

MM_PER_INCH = 25.4
POINTS_PER_INCH = 72.0
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),  # BigTIFF
    (b"MM\x00+", "tiff"),
)
_PDF_SEARCH_BYTES = 1024  # a PDF header may follow some junk (the PDF reference allows it in the first 1 KB)


def sniff(path: Path) -> str | None:
    """What the file's first bytes say it is (pdf, tiff, png, jpeg), or None when none of them."""
    with open(path, "rb") as fh:
        head = fh.read(_PDF_SEARCH_BYTES)
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return "pdf" if b"%PDF-" in head else None


def check_file(path: Path, settings: ScanSettings) -> int:
    """The file's size in bytes, refused when empty or larger than ``settings.max_file_mb``."""
    size = path.stat().st_size
    if size == 0:
        raise ReadProblem("empty_file")
    if size > settings.max_file_mb * 2**20:
        raise ReadProblem("file_too_large", f"{size / 2**20:.0f} MB > {settings.max_file_mb} MB, scan.max_file_mb")
    return size


def check_pages(count: int, settings: ScanSettings) -> int:
    if count > settings.max_pages_per_file:
        raise ReadProblem("too_many_pages", f"{count} > {settings.max_pages_per_file}, scan.max_pages_per_file")
    return count


def check_pixels(width: int, height: int, settings: ScanSettings) -> None:
    """Refuse a page image whose stated size is over ``settings.max_page_pixels`` (or is nonsense)."""
    if width <= 0 or height <= 0:
        raise ReadProblem("corrupt_page", f"{width} × {height} px")
    if width * height > settings.max_page_pixels:
        raise ReadProblem("pixel_limit", f"{width} × {height} = {width * height / 1e6:.0f} triệu điểm ảnh / megapixels "
                                         f"> {settings.max_page_pixels / 1e6:.0f}, scan.max_page_pixels")


def image_header_size(source: Path | bytes) -> tuple[int, int]:
    """(width, height) an image file (or encoded bytes) states in its header; nothing is decoded.

    Pillow's own bomb check raises ``DecompressionBombError`` past twice its default limit (our
    callers classify it as ``pixel_limit``); its warning below that is ours to judge, not a failure.
    """
    fh = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")  # noqa: SIM115 - closed below
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(fh) as im:
                return int(im.size[0]), int(im.size[1])
    finally:
        fh.close()


def pdf_page_size_mm(page: pikepdf.Page) -> tuple[float, float]:
    """(width, height) of a PDF page in mm: its MediaBox scaled by /UserUnit (PDF 1.6)."""
    box = page.mediabox
    unit = float(page.obj.get("/UserUnit", 1.0))
    width_pt = abs(float(box[2]) - float(box[0])) * unit
    height_pt = abs(float(box[3]) - float(box[1])) * unit
    k = MM_PER_INCH / POINTS_PER_INCH
    return width_pt * k, height_pt * k


def check_pdf_page(page: pikepdf.Page, settings: ScanSettings) -> tuple[float, float]:
    """Refuse a PDF page larger than any sheet before it is rendered; returns its size in mm."""
    width, height = pdf_page_size_mm(page)
    if not (width > 0 and height > 0):
        raise ReadProblem("corrupt_page", f"MediaBox {width:.0f} × {height:.0f} mm")
    if max(width, height) > settings.max_page_mm:
        size = f"{width:.0f} × {height:.0f} mm" if max(width, height) < 10_000 else f"{width / 1000:.0f} × {height / 1000:.0f} m"
        raise ReadProblem("page_size_limit", f"{size} > {settings.max_page_mm:.0f} mm, scan.max_page_mm")
    return width, height


def check_render(width_pt: float, height_pt: float, dpi: float, settings: ScanSettings) -> None:
    """The bitmap pdfium would allocate for a page of this size at ``dpi``, checked against the pixel limit."""
    check_pixels(round(width_pt / POINTS_PER_INCH * dpi), round(height_pt / POINTS_PER_INCH * dpi), settings)
