"""Measure the respondent's ink in every answer box of an aligned page, against the blank master.

Images are numpy arrays indexed (row, col), uint8 greyscale, 0 = black; ``aligned`` is the scan warped
upright onto the layout at ``dpi`` and ``blank`` the blank master rendered at the same dpi and size.
Layout rectangles are mm (x, y, w, h) from the top-left corner, x = column.

New ink is dark in the scan and not printed on the blank. Each box is first re-aligned locally (the
page homography leaves ~1 mm of error on phone photos): the printed frame and code around the box are
matched against the blank within ``refine_mm``, and the shift is smoothed over neighbouring boxes so a
filled box (whose frame is hidden) borrows its neighbours' shift. Then per box:

* inner ink: share of new ink inside the frame, inset so the frame line never counts;
* ring ink: share of new ink in a band of ``ring_mm`` outside the frame (circles around the printed code,
  ticks overflowing the box), other boxes excluded;
* darkness: mean darkness of the new ink.

The state follows thresholds adapted to the sheet (see ``sheet_thresholds``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from formgen.layout import AnswerBox, PageLayout, Rect
from phieu.settings import RecognitionSettings
from recognition.ink import (
    blank_ink_mask,
    darkness_map,
    ink_threshold,
    mm_box_to_px,
    px_per_mm,
    remove_specks,
)
from recognition.types import BoxMeasure, BoxState

log = logging.getLogger(__name__)

NEIGHBOUR_MM = 15.0  # residual alignment error varies smoothly over a few centimetres
MATCH_MIN = 0.4  # normalised correlation below which a box's own shift estimate is not trusted


@dataclass
class PageInk:
    """The ink maps of one aligned page, shared by box measurement and handwriting regions."""

    darkness: np.ndarray  # float32 (rows, cols), 0 paper .. 1 black, relative to local paper
    ink: np.ndarray  # bool (rows, cols): respondent-or-printed ink (specks are removed per window)
    printed: np.ndarray  # bool (rows, cols): what the blank prints, grown by blank_dilate_mm
    blank_darkness: np.ndarray  # float32 (rows, cols) of the blank master
    threshold: float  # pixel darkness counted as ink on this sheet
    level: float  # the sheet's typical ink darkness (pencil ~0.3, pen ~0.8)


@dataclass
class BoxReadout:
    boxes: list[BoxMeasure]
    thresholds: dict[str, float]
    ink: PageInk
    centres: np.ndarray  # (n, 2) mm (x, y) of the boxes
    shifts: np.ndarray  # (n, 3): measured (dy, dx) px and 1.0 where the match was trusted


def page_ink(aligned: np.ndarray, blank: np.ndarray, page: PageLayout, *, dpi: float,
             settings: RecognitionSettings) -> PageInk:
    """Compute the darkness and ink maps of ``aligned`` (see PageInk)."""
    if aligned.shape != blank.shape:
        raise ValueError(f"aligned page {aligned.shape} and blank master {blank.shape} differ in size")
    darkness = darkness_map(aligned, dpi=dpi, settings=settings)
    printed = blank_ink_mask(blank, dpi=dpi, settings=settings)
    interiors = [mm_box_to_px(b.x, b.y, b.w, b.h, dpi=dpi) for b in page.boxes]
    threshold, level = ink_threshold(darkness, printed, interiors, settings=settings)
    ink = darkness > threshold
    blank_darkness = 1.0 - blank.astype(np.float32) / 255.0
    return PageInk(darkness, ink, printed, blank_darkness, threshold, level)


def _window(rect: Rect, margin_mm: float, *, dpi: float) -> tuple[int, int, int, int]:
    return mm_box_to_px(rect.x - margin_mm, rect.y - margin_mm, rect.w + 2 * margin_mm, rect.h + 2 * margin_mm,
                        dpi=dpi)


def rect_shift(ink: PageInk, rect: Rect, *, dpi: float, settings: RecognitionSettings) -> tuple[int, int, float]:
    """(dy, dx, score): the pixel shift within ``refine_mm`` that best matches the blank's print around ``rect``.

    Score is the normalised correlation (TM_CCOEFF_NORMED) of the blank's darkness with the scan's;
    0 when nothing is printed there to match against.
    """
    r = max(0, int(round(settings.refine_mm * px_per_mm(dpi))))
    rows, cols = ink.darkness.shape
    r0, r1, c0, c1 = _window(rect, settings.ring_mm, dpi=dpi)
    if r == 0 or r0 - r < 0 or c0 - r < 0 or r1 + r > rows or c1 + r > cols:
        return 0, 0, 0.0
    template = ink.blank_darkness[r0:r1, c0:c1]
    if float(template.std()) < 1e-3:
        return 0, 0, 0.0
    search = ink.darkness[r0 - r:r1 + r, c0 - r:c1 + r]
    score = cv2.matchTemplate(search, template, cv2.TM_CCOEFF_NORMED)
    _, best, _, (bx, by) = cv2.minMaxLoc(score)
    return by - r, bx - r, float(best)


def smooth_shifts(centres: np.ndarray, raw: np.ndarray, trusted: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Median of the trusted shifts within NEIGHBOUR_MM of each point of ``at`` (mm (x, y), shape (m, 2)).

    ``centres`` (n, 2) mm and ``raw`` (n, 2) (dy, dx) px are the measured shifts; returns int (m, 2).
    """
    out = np.zeros((len(at), 2), int)
    for i, point in enumerate(at):
        near = trusted & (np.hypot(*(centres - point).T) <= NEIGHBOUR_MM)
        if near.any():
            out[i] = np.round(np.median(raw[near], axis=0)).astype(int)
    return out


def local_shifts(ink: PageInk, boxes: Sequence[Rect], *, dpi: float,
                 settings: RecognitionSettings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per box (dy, dx) pixel shift from layout to scan, smoothed over neighbours.

    Returns (shifts int (n, 2), centres mm (n, 2), raw shifts (n, 2) with a trusted mask (n,)) packed
    as (shifts, centres, raw_and_trust) so regions can borrow the boxes' estimates.
    """
    measured = [rect_shift(ink, box, dpi=dpi, settings=settings) for box in boxes]
    raw = np.array([(dy, dx) for dy, dx, _ in measured], float).reshape(-1, 2)
    trusted = np.array([score >= MATCH_MIN for _, _, score in measured], bool)
    centres = np.array([box.centre for box in boxes], float).reshape(-1, 2)
    return smooth_shifts(centres, raw, trusted, centres), centres, np.column_stack([raw, trusted])


def _shares(ink: PageInk, box: AnswerBox, shift: tuple[int, int], others: np.ndarray, *, dpi: float,
            settings: RecognitionSettings) -> tuple[float, float, float]:
    """(inner ink share, ring ink share, mean darkness of the new ink) of one box, specks removed."""
    w0, w1, v0, v1 = _window(box, settings.ring_mm, dpi=dpi)
    rows, cols = ink.ink.shape
    dy, dx = shift
    r0, c0 = max(0, w0, -dy), max(0, v0, -dx)
    r1, c1 = min(rows, w1, rows - dy), min(cols, v1, cols - dx)
    if r1 <= r0 or c1 <= c0:
        return 0.0, 0.0, 0.0
    printed = ink.printed[r0:r1, c0:c1]
    new = remove_specks(ink.ink[r0 + dy:r1 + dy, c0 + dx:c1 + dx] & ~printed, dpi=dpi, settings=settings)
    dark = ink.darkness[r0 + dy:r1 + dy, c0 + dx:c1 + dx]
    b0, b1, a0, a1 = mm_box_to_px(box.x, box.y, box.w, box.h, dpi=dpi)
    inset = round(settings.inner_inset_mm * px_per_mm(dpi))
    inner = np.zeros(new.shape, bool)
    inner[max(0, b0 + inset - r0):max(0, b1 - inset - r0), max(0, a0 + inset - c0):max(0, a1 - inset - c0)] = True
    ring = ~others[r0:r1, c0:c1]  # the band around the box, other boxes' and this one's frames excluded
    inner &= ~printed
    ring &= ~printed
    inner_share = float(new[inner].mean()) if inner.any() else 0.0
    ring_share = float(new[ring].mean()) if ring.any() else 0.0
    counted = new & (inner | ring)
    darkness = float(dark[counted].mean()) if counted.any() else 0.0
    return inner_share, ring_share, darkness


def sheet_thresholds(ink: PageInk, *, settings: RecognitionSettings) -> dict[str, float]:
    """Box-state thresholds for this sheet, from the settings' defaults.

    Light pencil leaves thinner, greyer, grainier strokes, so the same tick covers less of a box: when
    the sheet's ink level is paler than pen, the empty/marked/ring thresholds shrink with it (never below
    ``light_ink_scale_min``); the cancelled (solid fill) threshold stays, a fill is a fill in any medium.
    ``box_state`` shrinks them further for a single pale box on a pen sheet.
    """
    scale = light_ink_scale(ink.level, settings=settings)
    return {
        "ink_pixel": ink.threshold,
        "ink_level": ink.level,
        "empty_below": settings.empty_below * scale,
        "marked_above": settings.marked_above * scale,
        "cancelled_above": settings.cancelled_above,
        "ring_empty_below": settings.ring_empty_below * scale,
        "ring_marked_above": settings.ring_marked_above * scale,
    }


def light_ink_scale(darkness: float, *, settings: RecognitionSettings) -> float:
    """1.0 for pen-dark ink, down to ``light_ink_scale_min`` for pale pencil."""
    return float(np.clip(darkness / settings.pen_darkness, settings.light_ink_scale_min, 1.0))


def box_state(inner: float, ring: float, darkness: float, t: dict[str, float], *,
              settings: RecognitionSettings) -> BoxState:
    """Empty / marked / cancelled / uncertain from a box's inner and ring ink shares and ink darkness.

    The sheet's thresholds ``t`` shrink once more for a box whose own ink is paler than pen.
    """
    k = light_ink_scale(darkness, settings=settings) if darkness > 0 else 1.0
    if inner >= t["cancelled_above"]:
        return "cancelled"
    if inner >= t["marked_above"] * k:
        return "marked"
    if inner < t["empty_below"] * k:
        if ring < t["ring_empty_below"] * k:
            return "empty"
        if ring >= t["ring_marked_above"] * k:
            return "marked"  # a circle around the printed code, or a tick drawn beside the box
    return "uncertain"


def read_boxes(aligned: np.ndarray, blank: np.ndarray, page: PageLayout, *, dpi: float,
               settings: RecognitionSettings) -> BoxReadout:
    """Measure every box of ``page``; returns the measures, the thresholds used and the ink maps."""
    ink = page_ink(aligned, blank, page, dpi=dpi, settings=settings)
    boxes = list(page.boxes)
    shifts, centres, measured = local_shifts(ink, boxes, dpi=dpi, settings=settings)
    others = np.zeros(aligned.shape, bool)
    for box in boxes:
        r0, r1, c0, c1 = mm_box_to_px(box.x, box.y, box.w, box.h, dpi=dpi)
        others[r0:r1, c0:c1] = True
    thresholds = sheet_thresholds(ink, settings=settings)
    measures = []
    for box, (dy, dx) in zip(boxes, shifts, strict=True):
        inner, ring, dark = _shares(ink, box, (int(dy), int(dx)), others, dpi=dpi, settings=settings)
        state = box_state(inner, ring, dark, thresholds, settings=settings)
        measures.append(BoxMeasure(box.id, round(inner, 4), round(ring, 4), round(dark, 4), state))
    return BoxReadout(measures, thresholds, ink, centres, measured)


def measure_boxes(aligned: np.ndarray, blank: np.ndarray, page: PageLayout, *, dpi: float,
                  settings: RecognitionSettings) -> list[BoxMeasure]:
    """Measure every answer box of ``page`` on the aligned scan (see the module docstring)."""
    return read_boxes(aligned, blank, page, dpi=dpi, settings=settings).boxes
