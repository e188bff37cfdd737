"""Read one aligned page: every box measured, every answer of the page's questions, every write-in.

Images are numpy arrays indexed (row, col), uint8 greyscale, 0 = black: ``aligned`` is the scan warped
upright onto the layout at ``dpi`` (scanner.align), ``blank`` the blank master page rendered at the same
dpi and size, or that page prepared once with ``recognition.marks.prepare_blank`` (saves ~10 ms a
page when many sheets of one edition are read). Pure: no I/O, the caller stores the PageReading.
"""

from __future__ import annotations

import logging

import numpy as np

from core.settings import RecognitionSettings
from core.types import PageReading
from formgen.layout import Layout, PageLayout
from recognition.handwriting import confirm_number_frames, read_regions
from recognition.marks import BlankMaster, fully_visible, read_boxes
from recognition.rules import answers_for_page

log = logging.getLogger(__name__)


def _unseen_regions(answers: list, page_layout: PageLayout, visible: np.ndarray, *, dpi: float) -> None:
    """Write-ins partly beyond the scanned image: nobody can say they are empty."""
    cut = {r.id for r in page_layout.regions if not fully_visible(visible, r, dpi=dpi)}
    for answer in answers:
        if answer.kind in ("writein", "text") and (answer.item in cut or any(
                r.question == answer.question and r.kind == "text" for r in page_layout.regions if r.id in cut)):
            answer.state, answer.needs_review, answer.reason, answer.confidence = "unreadable", True, "outside_scan", 0.0


def read_page(
    aligned: np.ndarray,
    blank: np.ndarray | BlankMaster,
    page_layout: PageLayout,
    layout: Layout,
    *,
    dpi: float,
    settings: RecognitionSettings,
    ocr: bool = True,
    visible: np.ndarray | None = None,
) -> PageReading:
    """Boxes, answers (one per question / grid row with boxes here, one per handwriting region) and the
    per-sheet thresholds used. ``ocr=False`` skips the tesseract drafts (regions are still judged).

    When fewer than ``settings.min_registration`` of the boxes line up with the blank (the page
    transform is off by more than the local re-alignment can absorb), no box is trusted: every answer
    of the page goes to review with reason "misaligned". A number also written in its "Viết số" frame
    stays out of review when the digit draft agrees with the marked columns (``ocr=True`` only).

    ``visible`` (bool, like ``aligned``) says where the scan shows the page: a box or write-in beyond
    the scanned image (a corner fed out of the scan area) is never read as empty; its answer goes to
    a person (reason "outside_scan").
    """
    readout = read_boxes(aligned, blank, page_layout, dpi=dpi, settings=settings, visible=visible)
    answers = answers_for_page(
        readout.boxes, page_layout, layout, settings=settings, thresholds=readout.thresholds
    )
    if readout.thresholds["registration"] < settings.min_registration:
        log.warning(
            "page %d: only %.0f%% of the boxes line up with the blank master; every answer goes to review",
            page_layout.number,
            100 * readout.thresholds["registration"],
        )
        for answer in answers:
            answer.state, answer.value, answer.needs_review = "uncertain", None, True
            answer.reason, answer.confidence = "misaligned", 0.0
    numbers = frozenset(q.id for q in layout.questions if q.kind == "number")
    answers += read_regions(
        aligned, readout, page_layout, dpi=dpi, settings=settings, ocr=ocr, number_questions=numbers
    )
    confirm_number_frames(answers, numbers)
    if visible is not None:
        _unseen_regions(answers, page_layout, visible, dpi=dpi)
    log.debug(
        "page %d: %d boxes, %d answers, %d to review",
        page_layout.number,
        len(readout.boxes),
        len(answers),
        sum(a.needs_review for a in answers),
    )
    return PageReading(boxes=readout.boxes, answers=answers, thresholds=readout.thresholds)
