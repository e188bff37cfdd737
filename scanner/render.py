"""Rasterise PDF pages to greyscale arrays with PDFium: blank masters for recognition, scanned PDF
pages without an embedded page image, and (in the proving ground) stamped sheets.

Returns uint8 arrays indexed (row, col), 0 = black, of ``round(page_size_in * dpi)`` pixels.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium

POINTS_PER_INCH = 72.0


def _open(pdf: bytes | Path) -> pdfium.PdfDocument:
    return pdfium.PdfDocument(pdf if isinstance(pdf, bytes) else str(pdf))


def render_page(page: pdfium.PdfPage, dpi: float) -> np.ndarray:
    """One open PDFium page at ``dpi`` as uint8 grey."""
    bitmap = page.render(scale=dpi / POINTS_PER_INCH, grayscale=True)
    image = bitmap.to_numpy()
    if image.ndim == 3:  # a PDFium build that ignores the grey request gives BGR(x)
        image = image[..., :3].mean(axis=2).astype(np.uint8)
    return np.ascontiguousarray(image)


def render_pdf_page(pdf: bytes | Path, page_index: int, *, dpi: float = 300.0) -> np.ndarray:
    """Page ``page_index`` (0-based) of ``pdf`` rendered at ``dpi`` as uint8 grey."""
    doc = _open(pdf)
    try:
        return render_page(doc[page_index], dpi)
    finally:
        doc.close()


def iter_render_pdf(pdf: bytes | Path, *, dpi: float = 300.0) -> Iterator[np.ndarray]:
    """Every page of ``pdf`` in order, rendered one at a time (memory stays at one page)."""
    doc = _open(pdf)
    try:
        for index in range(len(doc)):
            yield render_page(doc[index], dpi)
    finally:
        doc.close()


def page_count(pdf: bytes | Path) -> int:
    doc = _open(pdf)
    try:
        return len(doc)
    finally:
        doc.close()
