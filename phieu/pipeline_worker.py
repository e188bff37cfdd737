"""The worker side of the scan pipeline: one page in, one :class:`PageOutcome` out.

Pure computation (identify + align + read); no database, no files written. It runs inside worker
processes (or inline for ``--jobs 1`` and tests). Everything a worker needs that is the same for
every page (layouts, blank masters, secret, settings) arrives once, in :class:`WorkerContext`;
blank masters are rendered lazily, once per worker and per (survey, edition, page).

Images are numpy arrays indexed (row, col), uint8 grey with 0 = black.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from core.errors import InputFileError
from core.settings import Settings
from core.types import Identification, PageOutcome
from formgen.identity import SheetIdentity
from formgen.layout import Layout
from recognition.marks import BlankMaster, prepare_blank
from recognition.page import read_page
from scanner.align import find_alignment, warp_to_layout
from scanner.identify import identify_page
from scanner.ingest import read_page as read_scan_page
from scanner.register import Master
from scanner.render import render_pdf_page
from scanner.types import PageError, PageImage

log = logging.getLogger(__name__)

EditionKey = tuple[str, str]  # (survey code, edition code)


@dataclass(frozen=True)
class WorkerContext:
    """What every page needs, sent once to each worker process."""

    editions: dict[EditionKey, Layout]
    blank_pdfs: dict[EditionKey, bytes]
    secret: bytes
    settings: Settings
    ocr: bool = True


@dataclass
class PageJob:
    """One page to process: where it came from and the page as read (decoded by the parent's reader).

    ``error`` is set (and ``page`` is None) when the page could not be read at all: the worker then
    returns an unidentified outcome that names the file and page, so nothing is silently dropped.
    """

    file_key: int  # the parent's handle for the scan file (its database id)
    path: Path
    index: int  # 0-based page index in the file
    page: PageImage | None
    error: str | None = None
    read_here: bool = False  # the worker decodes page ``index`` of ``path`` itself, sparing the parent


@dataclass
class PageResult:
    file_key: int
    outcome: PageOutcome
    seconds: float
    timings_ms: dict[str, float] = field(default_factory=dict)
    file_error: str | None = None  # the whole file (a one-page image) could not be opened: nothing to record


_CONTEXT: WorkerContext | None = None
_BLANKS: dict[tuple[str, str, int], BlankMaster] = {}
_MASTERS: dict[tuple[str, str, int], Master] = {}


def init_worker(context: WorkerContext) -> None:
    """Process initialiser: keep the context and start with an empty cache of blank masters."""
    global _CONTEXT
    _CONTEXT = context
    _BLANKS.clear()
    _MASTERS.clear()
    cv2.setNumThreads(1)  # one process per core already; OpenCV's own threads would only contend
    # the same for tesseract (handwriting drafts): its OpenMP threads spin and halved our OCR speed
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")


def blank_master(survey: str, edition: str, page_number: int) -> BlankMaster:
    """The unstamped master page rendered at the canonical dpi and prepared for measuring, cached for
    the life of the worker."""
    context = _require_context()
    key = (survey, edition, page_number)
    if key not in _BLANKS:
        dpi = context.settings.recognition.canonical_dpi
        image = render_pdf_page(context.blank_pdfs[(survey, edition)], page_number - 1, dpi=dpi)
        _BLANKS[key] = prepare_blank(image, dpi=dpi, settings=context.settings.recognition)
    return _BLANKS[key]


def registration_master(survey: str, edition: str, page_number: int) -> Master:
    """The blank master prepared for registration on print (pages with marks missing), cached."""
    key = (survey, edition, page_number)
    if key not in _MASTERS:
        context = _require_context()
        page = context.editions[(survey, edition)].page(page_number)
        _MASTERS[key] = Master.from_darkness(blank_master(*key).darkness, dpi=context.settings.recognition.canonical_dpi,
                                             width_mm=page.width, height_mm=page.height)
    return _MASTERS[key]


def process_page(job: PageJob) -> PageResult:
    """Identify, align and read one page. Never raises for a bad page: the outcome says what went wrong."""
    context = _require_context()
    started = time.perf_counter()
    if job.read_here:
        job, file_error = _read_in_worker(job, context)
        if file_error is not None:
            return PageResult(job.file_key, _unreadable(job, file_error), 0.0, file_error=file_error)
    if job.page is None or job.page.image is None:
        outcome = _unreadable(job, job.error or _where(job, "không đọc được ảnh trang"))
        return PageResult(job.file_key, outcome, time.perf_counter() - started)
    try:
        outcome, timings = _identify_and_read(job.page, context)
        if job.page.scale > 1 and outcome.identification.reason in _RETRY_IN_FULL:
            outcome, timings = _retry_in_full(job, context, outcome, timings)
    except Exception as exc:  # noqa: BLE001 - one bad page must not stop a batch of thousands
        log.exception("%s trang %d: lỗi khi xử lý", job.path.name, job.index + 1)
        outcome = _unreadable(job, _where(job, f"lỗi khi xử lý trang ({type(exc).__name__}: {exc})"))
        timings = {}
    return PageResult(job.file_key, outcome, time.perf_counter() - started, timings)


# What a reduced decode may have caused (a QR code or a mark too fine at that resolution); a forged
# or unknown code, a blank back or a duplicate would read the same in full.
_RETRY_IN_FULL = frozenset({"unreadable", "no_marks"})


def _retry_in_full(
    job: PageJob, context: WorkerContext, outcome: PageOutcome, timings: dict[str, float]
) -> tuple[PageOutcome, dict[str, float]]:
    """The page decoded again at full resolution and identified once more; the first outcome stands
    when that does no better."""
    started = time.perf_counter()
    full_settings = context.settings.scan.model_copy(update={"decode_dpi": 0})
    try:
        page = read_scan_page(job.path, job.index, settings=full_settings)
    except InputFileError:  # gone since (or a page handed in without its file): keep the first reading
        return outcome, timings
    if isinstance(page, PageError):
        return outcome, timings
    second, second_timings = _identify_and_read(page, context)
    second_timings["full_resolution_retry"] = round((time.perf_counter() - started) * 1000, 1)
    second.quality.setdefault("timings_ms", {})["full_resolution_retry"] = second_timings["full_resolution_retry"]
    if second.identification.reason in _RETRY_IN_FULL and outcome.identification.identity is not None:
        return outcome, timings  # no better, and the first knew at least who the page is
    return second, second_timings


def _read_in_worker(job: PageJob, context: WorkerContext) -> tuple[PageJob, str | None]:
    """Decode the job's page from its file: (the job with its page or page error, file error)."""
    try:
        page = read_scan_page(job.path, job.index, settings=context.settings.scan)
    except InputFileError as exc:  # the file itself cannot be opened: the parent fails the file
        return job, str(exc)
    if isinstance(page, PageError):
        return PageJob(job.file_key, job.path, job.index, None, page.message), None
    return PageJob(job.file_key, job.path, job.index, page), None


def _identify_and_read(page: PageImage, context: WorkerContext) -> tuple[PageOutcome, dict[str, float]]:
    dpi = context.settings.recognition.canonical_dpi
    t0 = time.perf_counter()
    scanned = identify_page(
        page, editions=context.editions, secret=context.secret, settings=context.settings.scan, canonical_dpi=dpi,
        masters=registration_master,
    )
    t1 = time.perf_counter()
    timings = {"identify": (t1 - t0) * 1000}
    ident = scanned.identification
    reading = None
    aligned = scanned.canonical
    if ident.identity is not None and aligned is not None:
        layout = context.editions[(ident.identity.survey, ident.identity.edition)]
        page_layout = layout.page(ident.identity.page)
        blank = blank_master(ident.identity.survey, ident.identity.edition, ident.identity.page)
        reading = read_page(
            aligned, blank, page_layout, layout, dpi=dpi, settings=context.settings.recognition, ocr=context.ocr,
            visible=scanned.visible,
        )
        timings["read"] = (time.perf_counter() - t1) * 1000
    t2 = time.perf_counter()
    aligned_png = _jpeg(aligned) if aligned is not None else None
    # The original stays in the file store; a small copy of the page as read is kept only where a
    # person must look at the whole page (unidentified, blank, no alignment).
    page_png = None if reading is not None else _png(_downscale(page.image, page.dpi, dpi))
    timings["encode"] = (time.perf_counter() - t2) * 1000
    quality = {**scanned.quality, **_quality(page, scanned.alignment, ident, timings)}
    outcome = PageOutcome(
        index=page.index,
        identification=ident,
        alignment=scanned.alignment,
        reading=reading,
        page_image_png=page_png,
        aligned_png=aligned_png,
        quality=quality,
    )
    return outcome, timings


def read_assigned(page: PageImage, identity: SheetIdentity) -> PageOutcome:
    """Align and read a page whose identity a person gave (its code was unreadable).

    The marks are searched with the layout of the assigned edition; without them the page stays
    identified but unread (reason ``no_marks``), for the person to look at again.
    """
    context = _require_context()
    dpi = context.settings.recognition.canonical_dpi
    layout = context.editions[(identity.survey, identity.edition)]
    page_layout = layout.page(identity.page)
    alignment = find_alignment(page.image, marks=page_layout.marks, dpi=page.dpi, settings=context.settings.scan)
    ident = Identification(identity=identity, decoder="person", detail="Người duyệt đã gán phiếu và trang.")
    if alignment is None:
        ident.reason = "no_marks"
        ident.detail = "Không tìm thấy dấu định vị; hãy xoay trang hoặc quét lại. / Registration marks not found."
        return PageOutcome(index=page.index, identification=ident, page_image_png=_png(_downscale(page.image, page.dpi, dpi)))
    canonical = warp_to_layout(page.image, alignment, width_mm=page_layout.width, height_mm=page_layout.height, dpi=dpi)
    blank = blank_master(identity.survey, identity.edition, identity.page)
    reading = read_page(canonical, blank, page_layout, layout, dpi=dpi, settings=context.settings.recognition, ocr=context.ocr)
    return PageOutcome(
        index=page.index,
        identification=ident,
        alignment=alignment,
        reading=reading,
        aligned_png=_jpeg(canonical),
        quality=_quality(page, alignment, ident, {}),
    )


def _quality(page: PageImage, alignment: Any, ident: Identification, timings: dict[str, float]) -> dict[str, Any]:
    quality: dict[str, Any] = {
        "dpi": round(float(page.dpi), 1),
        "source_format": page.source_format,
        "decode_scale": page.scale,
        "size_px": [int(page.image.shape[1]), int(page.image.shape[0])],
        "decoder": ident.decoder,
        "timings_ms": {k: round(v, 1) for k, v in {**ident.timings_ms, **timings}.items()},
    }
    if alignment is not None:
        quality.update(residual_mm=round(float(alignment.residual_mm), 3), marks_found=alignment.marks_found)
    return quality


def _where(job: PageJob, message: str) -> str:
    return f"Tệp {job.path.name}, trang {job.index + 1}: {message}. Quét lại trang này. / Page unreadable: rescan it."


def _unreadable(job: PageJob, detail: str) -> PageOutcome:
    ident = Identification(identity=None, reason="unreadable_image", detail=detail)
    return PageOutcome(index=job.index, identification=ident, error=detail)


def _downscale(image: np.ndarray, dpi: float, target_dpi: int) -> np.ndarray:
    if dpi <= target_dpi or dpi <= 0:
        return image
    factor = target_dpi / dpi
    return cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)


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
    params = [cv2.IMWRITE_JPEG_QUALITY, _REVIEW_JPEG_QUALITY]
    ok, buf = cv2.imencode(".jpg", image, params)
    if not ok:  # only on an empty image, which the scanner never hands us
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def _require_context() -> WorkerContext:
    if _CONTEXT is None:
        raise RuntimeError("init_worker() was not called in this process")
    return _CONTEXT
