"""The page record, assembled once where its facts are known: what was read, how, and the images people see.

:func:`identified_outcome` and :func:`unreadable_outcome` build the :class:`core.types.PageOutcome`
the parent stores as it is: ``quality`` holds every fact about the page (resolution, source format,
decoder, alignment residual, thresholds, timings), and the aligned image carries its own resolution
(``aligned_dpi``), so a later change of ``canonical_dpi`` cannot mis-crop a stored page.

Images are numpy arrays indexed (row, col), uint8 grey with 0 = black.
"""

from __future__ import annotations

import time
from typing import Any

import cv2
import numpy as np

from core.types import Alignment, Identification, PageOutcome, PageReading
from scanner.types import PageImage


def identified_outcome(
    page: PageImage,
    ident: Identification,
    alignment: Alignment | None,
    aligned: np.ndarray | None,
    reading: PageReading | None,
    *,
    dpi: float,
    scanner_facts: dict[str, Any],
    timings: dict[str, float],
) -> PageOutcome:
    """The outcome of a page that was decoded: identified or not, read or not."""
    started = time.perf_counter()
    aligned_image = _jpeg(aligned) if aligned is not None else None
    # The original stays in the file store; a small copy of the page as read is kept only where a
    # person must look at the whole page (unidentified, blank, no alignment).
    page_image = None if reading is not None else _png(_downscale(page.image, page.dpi, dpi))
    timings = {**timings, "encode": (time.perf_counter() - started) * 1000}
    quality = {**scanner_facts, **page_facts(page, ident, alignment, reading, timings)}
    return PageOutcome(
        index=page.index,
        identification=ident,
        alignment=alignment,
        reading=reading,
        page_image=page_image,
        aligned_image=aligned_image,
        aligned_dpi=float(dpi) if aligned_image is not None else 0.0,
        quality=quality,
    )


def unreadable_outcome(index: int, reason: str, message: str) -> PageOutcome:
    """A page that could not be decoded or processed: its reason code and the message naming file and page."""
    ident = Identification(identity=None, reason=reason, detail=message)
    return PageOutcome(index=index, identification=ident, error=message, quality={"error": reason})


def page_facts(
    page: PageImage,
    ident: Identification,
    alignment: Alignment | None,
    reading: PageReading | None,
    timings: dict[str, float],
) -> dict[str, Any]:
    """Everything known about how a page was read, for ``Page.quality`` (and the benchmarks' stage times)."""
    quality: dict[str, Any] = {
        "dpi": round(float(page.dpi), 1),
        "source_format": page.source_format,
        "decode_scale": page.scale,
        "size_px": [int(page.image.shape[1]), int(page.image.shape[0])],
        "decoder": ident.decoder,
        "timings_ms": {k: round(v, 1) for k, v in {**ident.timings_ms, **timings}.items()},
    }
    if alignment is not None:
        quality.update(residual_mm=round(float(alignment.residual_mm), 4), marks_found=alignment.marks_found)
    if reading is not None and reading.thresholds:
        quality["thresholds"] = dict(reading.thresholds)
    return quality


def _downscale(image: np.ndarray, dpi: float, target_dpi: float) -> np.ndarray:
    if dpi <= target_dpi or dpi <= 0:
        return image
    factor = target_dpi / dpi
    return cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)


def reduced_png(page: PageImage, dpi: float) -> bytes:
    """The page as read, at ``dpi`` at most, as PNG for people."""
    return _png(_downscale(page.image, page.dpi, dpi))


# Images kept for people (review crops, whole-page views), never measured again: paper goes white
# and ink keeps 16 grey levels. Scanner noise then costs neither time (PNG of a noisy page took
# ~60 ms of CPU, this ~15 ms) nor space (~110 KB instead of ~850 KB per page at 150 dpi).
_PEOPLE_LUT = np.array([255 if v >= 224 else (v & 0xF0) | (v >> 4) for v in range(256)], dtype=np.uint8)
_REVIEW_JPEG_QUALITY = 85  # ~4 ms a 150 dpi page (PNG ~16 ms); text stays crisp for a person


def _png(image: np.ndarray) -> bytes:
    params = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]
    ok, buf = cv2.imencode(".png", cv2.LUT(image, _PEOPLE_LUT), params)
    if not ok:  # only on an empty image, which the scanner never hands us
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def _jpeg(image: np.ndarray) -> bytes:
    """The aligned page for reviewers (drawn over, never measured again): JPEG costs a quarter of PNG's CPU."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, _REVIEW_JPEG_QUALITY])
    if not ok:  # only on an empty image, which the scanner never hands us
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()
