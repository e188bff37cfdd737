"""Handwriting regions: is anything written, the crop for the reviewer, and a Vietnamese OCR draft.

Images are numpy arrays indexed (row, col), uint8 greyscale, 0 = black; regions are layout rectangles in
mm (x, y, w, h) from the page's top-left corner, x = column.

A region has writing when its new ink (dark in the scan, not printed on the blank after a local
re-alignment) covers more than ``handwriting_ink_min`` of it AND holds at least one stroke spanning
``handwriting_min_stroke_mm``: printed lines and labels, dust and stray dots never count, so empty
write-ins stay out of the review queue. Written regions always go to review (a person confirms
handwriting); a write-in of an "other" option is extra text for its question (kind "writein",
item = the region id) and does not change the choice read from the boxes.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from core.settings import RecognitionSettings
from core.types import AnswerReading
from formgen.layout import HandwritingRegion, PageLayout
from recognition.ink import grow_mask, mm_box_to_px, px_per_mm
from recognition.marks import MATCH_MIN, BoxReadout, PageInk, rect_shift, smooth_shifts
from scanner.tesseract import NOTHING, OcrResult, ocr_reading

log = logging.getLogger(__name__)

CROP_MARGIN_MM = 2.0  # context around a region in the reviewer's crop
OCR_SCALE = 2  # tesseract reads best near 300 dpi; the canonical page is 150
OCR_PSM = 6  # a block of text lines


def region_shift(
    readout: BoxReadout, region: HandwritingRegion, *, dpi: float, settings: RecognitionSettings
) -> tuple[int, int]:
    """(dy, dx) px: the region's own match with the blank, else the nearby boxes' shift, else none."""
    dy, dx, score = rect_shift(readout.ink, region, dpi=dpi, settings=settings)
    if score >= MATCH_MIN:
        return dy, dx
    trusted = readout.shifts[:, 2] > 0 if len(readout.shifts) else np.zeros(0, bool)
    at = np.array([region.centre], float)
    shifts, _ = smooth_shifts(readout.centres, readout.shifts[:, :2], trusted, at)
    return int(shifts[0, 0]), int(shifts[0, 1])


def new_ink(
    ink: PageInk,
    region: HandwritingRegion,
    shift: tuple[int, int],
    *,
    dpi: float,
    settings: RecognitionSettings,
) -> np.ndarray:
    """Bool (rows, cols) of the region: ink in the scan that the blank does not print.

    The blank's print is grown once more than for boxes: the long printed lines of a write-in would
    otherwise leave slivers along their edges wherever the alignment is a pixel off.
    """
    r0, r1, c0, c1 = mm_box_to_px(region.x, region.y, region.w, region.h, dpi=dpi)
    rows, cols = ink.ink.shape
    dy, dx = shift
    r0, c0 = max(0, r0, -dy), max(0, c0, -dx)
    r1, c1 = min(rows, r1, rows - dy), min(cols, c1, cols - dx)
    if r1 <= r0 or c1 <= c0:
        return np.zeros((0, 0), bool)
    printed = grow_mask(ink.printed[r0:r1, c0:c1], settings.blank_dilate_mm * px_per_mm(dpi))
    return ink.ink[r0 + dy : r1 + dy, c0 + dx : c1 + dx] & ~printed


def has_writing(mask: np.ndarray, *, dpi: float, settings: RecognitionSettings) -> tuple[bool, float]:
    """(written?, ink share) of a region's new-ink mask (see the module docstring).

    A stroke must span ``handwriting_min_stroke_mm`` one way and a third of that the other way: a
    sliver of a printed line left by a pixel of misalignment is long but never that tall.
    """
    if mask.size == 0:
        return False, 0.0
    share = float(mask.mean())
    if share < settings.handwriting_ink_min:
        return False, share
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    long_side = settings.handwriting_min_stroke_mm * px_per_mm(dpi)
    sizes = stats[1:count, [cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT]]
    strokes = (sizes.max(axis=1) >= long_side) & (sizes.min(axis=1) >= long_side / 3)
    return bool(strokes.any()), share


def region_crop(aligned: np.ndarray, region: HandwritingRegion, *, dpi: float) -> np.ndarray:
    """The region with CROP_MARGIN_MM of context, cut from the aligned page (for the reviewer)."""
    m = CROP_MARGIN_MM
    r0, r1, c0, c1 = mm_box_to_px(region.x - m, region.y - m, region.w + 2 * m, region.h + 2 * m, dpi=dpi)
    return aligned[max(0, r0) : max(0, r1), max(0, c0) : max(0, c1)]


def ocr_draft(
    aligned: np.ndarray,
    mask: np.ndarray,
    region: HandwritingRegion,
    shift: tuple[int, int],
    *,
    dpi: float,
    settings: RecognitionSettings,
    digits: bool = False,
) -> OcrResult:
    """Vietnamese OCR of the handwriting only (printed pixels are whitened so labels are not read), with
    tesseract's own confidence: the review UI offers the draft only when it is high enough.

    ``digits``: the region holds a number ("Viết số" beside digit columns): one line, digits only.
    """
    r0, r1, c0, c1 = mm_box_to_px(region.x, region.y, region.w, region.h, dpi=dpi)
    dy, dx = shift
    r0, c0 = max(0, r0 + dy), max(0, c0 + dx)
    crop = aligned[r0 : r0 + mask.shape[0], c0 : c0 + mask.shape[1]].copy()
    if crop.shape != mask.shape:
        return NOTHING
    crop[~grow_mask(mask, 1)] = 255
    crop = cv2.resize(crop, None, fx=OCR_SCALE, fy=OCR_SCALE, interpolation=cv2.INTER_CUBIC)
    if digits:
        return ocr_reading(crop, lang="eng", psm=7, whitelist="0123456789")
    return ocr_reading(crop, lang=settings.ocr_language, psm=OCR_PSM)


def _words_only(text: str) -> str:
    """The draft without the specks tesseract reads as lone punctuation ("Thổ _ |" is "Thổ")."""
    lines = (" ".join(w for w in line.split() if any(c.isalnum() for c in w)) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def read_region(
    aligned: np.ndarray,
    readout: BoxReadout,
    region: HandwritingRegion,
    *,
    dpi: float,
    settings: RecognitionSettings,
    ocr: bool = True,
    digits: bool = False,
) -> AnswerReading:
    """The reading of one write-in or free-text region: ink (to review, with crop and draft) or no_ink."""
    item = region.id if region.kind == "writein" else ""
    reading = AnswerReading(region.question, item, region.kind, None, "no_ink", False)
    shift = region_shift(readout, region, dpi=dpi, settings=settings)
    mask = new_ink(readout.ink, region, shift, dpi=dpi, settings=settings)
    written, share = has_writing(mask, dpi=dpi, settings=settings)
    if not written:
        reading.confidence = round(0.5 + 0.5 * min(1.0, 1 - share / settings.handwriting_ink_min), 3)
        return reading
    reading.state, reading.needs_review, reading.reason = "ink", True, "writein"
    reading.confidence = 0.0
    ok, png = cv2.imencode(".png", region_crop(aligned, region, dpi=dpi))
    reading.crop_png = png.tobytes() if ok else None
    if ocr:
        draft = ocr_draft(aligned, mask, region, shift, dpi=dpi, settings=settings, digits=digits)
        reading.ocr_draft, reading.ocr_confidence = _words_only(draft.text) or None, draft.confidence
    return reading


def read_regions(
    aligned: np.ndarray,
    readout: BoxReadout,
    page: PageLayout,
    *,
    dpi: float,
    settings: RecognitionSettings,
    ocr: bool = True,
    number_questions: frozenset[str] = frozenset(),
) -> list[AnswerReading]:
    """Readings of every handwriting region of ``page`` (OCR only where there is ink); regions of
    ``number_questions`` are read as digits."""
    return [
        read_region(
            aligned,
            readout,
            region,
            dpi=dpi,
            settings=settings,
            ocr=ocr,
            digits=region.question in number_questions,
        )
        for region in page.regions
    ]


def confirm_number_frames(answers: list[AnswerReading], number_questions: frozenset[str]) -> None:
    """A number written in its frame AND marked in the digit columns needs no person when both agree.

    In place: the frame's reading stays "ink" with its crop, but leaves review when its digit draft
    equals the number the columns gave without doubt. Anything else (no draft, a different number,
    columns unread) keeps it in review.
    """
    numbers = {a.question: a for a in answers if a.kind == "number"}
    for frame in answers:
        number = numbers.get(frame.question)
        if (
            frame.question not in number_questions
            or frame.state != "ink"
            or number is None
            or number.state != "answered"
            or number.needs_review
            or not frame.ocr_draft
        ):
            continue
        if frame.ocr_draft.isdigit() and int(frame.ocr_draft) == int(number.value or -1):
            frame.needs_review, frame.reason, frame.confidence = False, None, number.confidence
