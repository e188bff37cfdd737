"""The worker side of the scan pipeline: one page in, one :class:`PageResult` out.

Pure computation (decode + identify + align + read); no database, no files written. A
:class:`PageWorker` owns everything it needs: the context that is the same for every page
(layouts, blank masters, secret, settings), its cache of rendered blank masters, and the scan file
it is reading (kept open between pages). It runs inside worker processes (one per process, see
``pipeline.executor``) or inline (``--jobs 1``, tests, re-reading a page), never shared between threads.

Images are numpy arrays indexed (row, col), uint8 grey with 0 = black.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from core.errors import InputFileError
from core.settings import Settings
from core.types import Identification, PageOutcome
from formgen.identity import SheetIdentity
from formgen.layout import Layout
from pipeline.outcome import identified_outcome, reduced_png, unreadable_outcome
from recognition.marks import BlankMaster, prepare_blank
from recognition.page import read_page
from scanner.align import find_alignment, warp_to_layout
from scanner.identify import identify_page
from scanner.ingest import ScanReader
from scanner.problems import explain
from scanner.register import Master, refine, search_page
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
    """One page to process: page ``index`` of the file at ``path``, which the worker decodes itself.

    ``page`` is given instead when the caller already holds the image (a person turned it).
    ``name`` is what a person calls the file (the original name of a copy in the file store).
    """

    file_key: int  # the caller's handle (the scan file's or the page's database id)
    path: Path
    index: int  # 0-based page index in the file
    page: PageImage | None = None
    name: str = ""

    @property
    def shown(self) -> str:
        return self.name or str(self.path)


@dataclass
class PageResult:
    file_key: int
    outcome: PageOutcome
    seconds: float
    timings_ms: dict[str, float] = field(default_factory=dict)
    file_error: str | None = None  # the whole file could not be opened: nothing to record for this page
    file_reason: str | None = None  # its reason code (scanner.problems.REASONS)

    @property
    def unreadable(self) -> bool:
        """The page could not be decoded or processed (its outcome's ``error`` says why)."""
        return self.outcome.error is not None


def configure_process() -> None:
    """One worker per core already: OpenCV's and tesseract's own threads would only contend."""
    cv2.setNumThreads(1)
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # tesseract's OpenMP threads spin and halved OCR speed


# What a reduced decode may have caused (a QR code or a mark too fine at that resolution); a forged
# or unknown code, a blank back or a duplicate would read the same in full.
_RETRY_IN_FULL = frozenset({"unreadable", "no_marks"})


class PageWorker:
    """Processes pages with one context; owns its blank-master cache and the file it is reading."""

    def __init__(self, context: WorkerContext) -> None:
        self.context = context
        self.reader = ScanReader(context.settings.scan)
        self._blanks: dict[tuple[str, str, int], BlankMaster] = {}
        self._masters: dict[tuple[str, str, int], Master] = {}

    def close(self) -> None:
        """Close the scan file kept open (end of a run, or before the file is removed)."""
        self.reader.close()

    def process(self, job: PageJob) -> PageResult:
        """Decode, identify, align and read one page. Never raises: the outcome says what went wrong."""
        started = time.perf_counter()
        try:
            return self._process(job, started)
        except Exception as exc:  # noqa: BLE001 - one bad page must not stop a batch of thousands
            log.exception("%s trang %d: lỗi khi xử lý", job.shown, job.index + 1)
            message = explain(job.shown, job.index, "processing_error", f"{type(exc).__name__}: {exc}")
            return PageResult(job.file_key, unreadable_outcome(job.index, "processing_error", message),
                              time.perf_counter() - started)

    def _process(self, job: PageJob, started: float) -> PageResult:
        page = job.page
        if page is None:
            try:
                read = self.reader.read_page(job.path, job.index, name=job.name or None)
            except InputFileError as exc:  # the file itself cannot be opened: the parent fails the file
                outcome = unreadable_outcome(job.index, exc.reason, str(exc))
                return PageResult(job.file_key, outcome, 0.0, file_error=str(exc), file_reason=exc.reason)
            if isinstance(read, PageError):
                outcome = unreadable_outcome(job.index, read.reason, read.message)
                return PageResult(job.file_key, outcome, time.perf_counter() - started)
            page = read
        outcome, timings = self.identify_and_read(page)
        if page.scale > 1 and outcome.identification.reason in _RETRY_IN_FULL:
            outcome, timings = self._retry_in_full(job, outcome, timings)
        return PageResult(job.file_key, outcome, time.perf_counter() - started, timings)

    def blank_master(self, survey: str, edition: str, page_number: int) -> BlankMaster:
        """The unstamped master page rendered at the canonical dpi and prepared for measuring, cached."""
        key = (survey, edition, page_number)
        if key not in self._blanks:
            dpi = self.context.settings.recognition.canonical_dpi
            image = render_pdf_page(self.context.blank_pdfs[(survey, edition)], page_number - 1, dpi=dpi)
            self._blanks[key] = prepare_blank(image, dpi=dpi, settings=self.context.settings.recognition)
        return self._blanks[key]

    def registration_master(self, survey: str, edition: str, page_number: int) -> Master:
        """The blank master prepared for registration on print (pages with marks missing), cached."""
        key = (survey, edition, page_number)
        if key not in self._masters:
            page = self.context.editions[(survey, edition)].page(page_number)
            self._masters[key] = Master.from_darkness(
                self.blank_master(*key).darkness, dpi=self.context.settings.recognition.canonical_dpi,
                width_mm=page.width, height_mm=page.height)
        return self._masters[key]

    def identify_and_read(self, page: PageImage) -> tuple[PageOutcome, dict[str, float]]:
        context = self.context
        dpi = context.settings.recognition.canonical_dpi
        t0 = time.perf_counter()
        scanned = identify_page(
            page, editions=context.editions, secret=context.secret, settings=context.settings.scan, canonical_dpi=dpi,
            masters=self.registration_master,
        )
        t1 = time.perf_counter()
        timings = {"identify": (t1 - t0) * 1000}
        ident, aligned, reading = scanned.identification, scanned.canonical, None
        if ident.identity is not None and aligned is not None:
            layout = context.editions[(ident.identity.survey, ident.identity.edition)]
            blank = self.blank_master(ident.identity.survey, ident.identity.edition, ident.identity.page)
            reading = read_page(aligned, blank, layout.page(ident.identity.page), layout, dpi=dpi,
                                settings=context.settings.recognition, ocr=context.ocr, visible=scanned.visible)
            timings["read"] = (time.perf_counter() - t1) * 1000
        outcome = identified_outcome(page, ident, scanned.alignment, aligned, reading, dpi=dpi,
                                     scanner_facts=dict(scanned.quality), timings=timings)
        return outcome, timings

    def read_assigned(self, page: PageImage, identity: SheetIdentity) -> PageOutcome:
        """Align and read a page whose identity a person gave (its code was unreadable).

        The marks are searched with the layout of the assigned edition; without them the page stays
        identified but unread (reason ``no_marks``), for the person to look at again.
        """
        context = self.context
        dpi = context.settings.recognition.canonical_dpi
        layout = context.editions[(identity.survey, identity.edition)]
        page_layout = layout.page(identity.page)
        alignment = find_alignment(page.image, marks=page_layout.marks, dpi=page.dpi, settings=context.settings.scan)
        if alignment is None or alignment.marks_found < 4:  # corners cut off: the print says where it lies
            master = self.registration_master(identity.survey, identity.edition, identity.page)
            rough = [alignment.mm_to_px] if alignment is not None else []
            rough += [found for _, found, score in search_page(page.image, dpi=page.dpi, masters={"page": master})[:2]
                      if score >= 0.2]
            alignment = next((a for a in (refine(page.image, r, master, settings=context.settings.scan, method="print")
                                          for r in rough) if a is not None), alignment)
        ident = Identification(identity=identity, decoder="person", detail="Người duyệt đã gán phiếu và trang.")
        if alignment is None:
            ident.reason = "no_marks"
            ident.detail = "Không tìm thấy dấu định vị; hãy xoay trang hoặc quét lại. / Registration marks not found."
            return PageOutcome(index=page.index, identification=ident, page_image=reduced_png(page, dpi))
        canonical = warp_to_layout(page.image, alignment, width_mm=page_layout.width, height_mm=page_layout.height,
                                   dpi=dpi)
        blank = self.blank_master(identity.survey, identity.edition, identity.page)
        reading = read_page(canonical, blank, page_layout, layout, dpi=dpi, settings=context.settings.recognition,
                            ocr=context.ocr)
        return identified_outcome(page, ident, alignment, canonical, reading, dpi=dpi, scanner_facts={}, timings={})

    def _retry_in_full(
        self, job: PageJob, outcome: PageOutcome, timings: dict[str, float]
    ) -> tuple[PageOutcome, dict[str, float]]:
        """The page decoded again at full resolution and identified once more; the first outcome stands
        when that does no better."""
        started = time.perf_counter()
        try:
            page = self.reader.read_page(job.path, job.index, full=True, name=job.name or None)
        except InputFileError:  # gone since: keep the first reading
            return outcome, timings
        if isinstance(page, PageError):
            return outcome, timings
        second, second_timings = self.identify_and_read(page)
        second_timings["full_resolution_retry"] = round((time.perf_counter() - started) * 1000, 1)
        second.quality.setdefault("timings_ms", {})["full_resolution_retry"] = second_timings["full_resolution_retry"]
        if second.identification.reason in _RETRY_IN_FULL and outcome.identification.identity is not None:
            return outcome, timings  # no better, and the first knew at least who the page is
        return second, second_timings
