"""Measure the respondent's ink in every answer box of an aligned page, against the blank master.

Images are numpy arrays indexed (row, col), uint8 greyscale, 0 = black; ``aligned`` is the scan warped
upright onto the layout at ``dpi`` and ``blank`` the blank master rendered at the same dpi and size.
Layout rectangles are mm (x, y, w, h) from the top-left corner, x = column.

New ink is dark in the scan and not printed on the blank. Each box is first re-aligned locally (the
page homography leaves ~1 mm of error on phone photos): the printed frame and code around the box are
matched against the blank within ``refine_mm``, and the shift is smoothed over neighbouring boxes so a
filled box (whose frame is hidden) borrows its neighbours' shift. Then per box:

* inner ink: share of new ink inside the frame, inset so the frame line never counts;
* ring ink: share of new ink in a band of ``ring_mm`` outside the frame, widened on the right over the
  printed code (circles around the code, ticks overflowing the box), other boxes excluded;
* darkness: mean darkness of the new ink.

States (``box_state``): cancelled = filled solid; marked = enough ink inside, or a circle/overflow in
the ring, or one thin stroke across the box; empty = no ink worth the name inside or around, and no
faint stroke across the box either (a light pencil tick on a pen sheet can stay under the sheet's ink
threshold: it is looked for from a few times the paper's own noise, see ``faint_threshold``); anything
else is uncertain and goes to a person. Thresholds start from the settings and adapt to the sheet
(pale pencil lowers them, see ``sheet_thresholds``) and to the box (a pale mark on a pen sheet). The
raw measures are returned so thresholds can be re-tuned later without re-scanning. A box that cannot
be registered against the blank is judged more strictly; a page where most cannot (the page transform
is off by more than ``refine_mm``) reports a low ``thresholds["registration"]``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from core.settings import RecognitionSettings
from core.types import BoxMeasure, BoxState
from formgen.layout import AnswerBox, PageLayout, Rect
from recognition.ink import (
    blank_ink_mask,
    darkness_map,
    faint_threshold,
    ink_threshold,
    mm_box_to_px,
    percentile95,
    px_per_mm,
    remove_specks,
    window_levels,
)
from recognition.strokes import Attribution, attribute_strokes

log = logging.getLogger(__name__)

NEIGHBOUR_MM = 15.0  # residual alignment error varies smoothly over a few centimetres
MATCH_MIN = 0.4  # normalised correlation below which a box's own shift estimate is not trusted


@dataclass(frozen=True)
class BlankMaster:
    """What the blank master page prints, prepared once per edition page (see ``prepare_blank``)."""

    darkness: np.ndarray  # uint8 (rows, cols), 0 paper .. 255 black
    printed: np.ndarray  # bool (rows, cols): printed ink grown by blank_dilate_mm
    # per matched window (row0, row1, col0, col1): does the blank print anything there to match?
    matchable: dict[tuple[int, int, int, int], bool] = field(default_factory=dict, compare=False, repr=False)


@dataclass
class PageInk:
    """The ink maps of one aligned page, shared by box measurement and handwriting regions."""

    darkness: np.ndarray  # uint8 (rows, cols), 0 paper .. 255 black, relative to the local paper
    ink: np.ndarray  # bool (rows, cols): darker than the sheet's threshold (printed or not)
    blank: BlankMaster
    threshold: float  # pixel darkness (0..1) counted as ink on this sheet
    level: float  # the sheet's typical ink darkness (pencil ~0.3, pen ~0.8)
    faint: float  # pixel darkness (0..1) from which faint ink is looked for (see faint_threshold)

    @property
    def printed(self) -> np.ndarray:
        return self.blank.printed


@dataclass
class BoxReadout:
    boxes: list[BoxMeasure]
    thresholds: dict[str, float]
    ink: PageInk
    centres: np.ndarray  # (n, 2) mm (x, y) of the boxes
    shifts: np.ndarray  # (n, 3): measured (dy, dx) px and 1.0 where the match was trusted
    attribution: Attribution | None = None  # who owns each stroke (for overlays and handwriting)


def prepare_blank(blank: np.ndarray, *, dpi: float, settings: RecognitionSettings) -> BlankMaster:
    """The blank master page (uint8 grey rendered at ``dpi``) ready for measuring; reuse it per sheet."""
    return BlankMaster(
        np.asarray(255 - blank, dtype=np.uint8), blank_ink_mask(blank, dpi=dpi, settings=settings)
    )


def page_ink(
    aligned: np.ndarray,
    blank: np.ndarray | BlankMaster,
    page: PageLayout,
    *,
    dpi: float,
    settings: RecognitionSettings,
) -> PageInk:
    """Compute the darkness and ink maps of ``aligned`` (see PageInk)."""
    if isinstance(blank, np.ndarray):
        blank = prepare_blank(match_size(blank, aligned.shape), dpi=dpi, settings=settings)
    elif blank.printed.shape != aligned.shape:
        blank = BlankMaster(
            255 - match_size(255 - blank.darkness, aligned.shape),
            match_size(blank.printed.view(np.uint8), aligned.shape, fill=0).view(bool),
        )
    darkness = darkness_map(aligned, dpi=dpi, settings=settings)
    interiors = [mm_box_to_px(b.x, b.y, b.w, b.h, dpi=dpi) for b in page.boxes]
    levels = window_levels(darkness, blank.printed, interiors)
    threshold, level = ink_threshold(darkness, blank.printed, interiors, settings=settings, levels=levels)
    faint = faint_threshold(levels, threshold=threshold, settings=settings)
    return PageInk(darkness, darkness > threshold * 255, blank, threshold, level, faint)


def match_size(blank: np.ndarray, shape: tuple[int, ...], *, fill: int = 255) -> np.ndarray:
    """The blank (uint8) cropped or padded with ``fill`` (white) at its bottom/right edge to ``shape``.

    Renderers round the page size differently (210 mm at 150 dpi is 1240 or 1241 px); both images
    share the top-left origin, so a pixel or two at the far edges does not matter. More is a mistake.
    """
    rows, cols = shape[:2]
    if abs(blank.shape[0] - rows) > 3 or abs(blank.shape[1] - cols) > 3:
        raise ValueError(f"aligned page {shape} and blank master {blank.shape} are not the same page size")
    out = np.full((rows, cols), fill, np.uint8)
    r, c = min(rows, blank.shape[0]), min(cols, blank.shape[1])
    out[:r, :c] = blank[:r, :c]
    return out


def _window(rect: Rect, margin_mm: float, *, dpi: float) -> tuple[int, int, int, int]:
    return mm_box_to_px(
        rect.x - margin_mm, rect.y - margin_mm, rect.w + 2 * margin_mm, rect.h + 2 * margin_mm, dpi=dpi
    )


def rect_shift(
    ink: PageInk, rect: Rect, *, dpi: float, settings: RecognitionSettings
) -> tuple[int, int, float]:
    """(dy, dx, score): the pixel shift within ``refine_mm`` best matching the blank's print at ``rect``.

    Score is the normalised correlation (TM_CCOEFF_NORMED) of the blank's darkness with the scan's;
    0 when nothing is printed there to match against, or when the best shift lies on the edge of the
    search range (the true shift may be larger: not to be trusted).
    """
    r = max(0, int(round(settings.refine_mm * px_per_mm(dpi))))
    rows, cols = ink.darkness.shape
    r0, r1, c0, c1 = _window(rect, settings.ring_mm, dpi=dpi)
    if r == 0 or r0 - r < 0 or c0 - r < 0 or r1 + r > rows or c1 + r > cols:
        return 0, 0, 0.0
    template = ink.blank.darkness[r0:r1, c0:c1]
    matchable = ink.blank.matchable.get((r0, r1, c0, c1))
    if matchable is None:  # the same for every sheet of the edition: decided once per blank master
        matchable = ink.blank.matchable[(r0, r1, c0, c1)] = float(template.std()) >= 1e-3
    if not matchable:
        return 0, 0, 0.0
    search = ink.darkness[r0 - r : r1 + r, c0 - r : c1 + r]
    score = cv2.matchTemplate(search, template, cv2.TM_CCOEFF_NORMED)
    _, best, _, (bx, by) = cv2.minMaxLoc(score)
    dy, dx = by - r, bx - r
    return dy, dx, float(best) if max(abs(dy), abs(dx)) < r else 0.0


def smooth_shifts(
    centres: np.ndarray, raw: np.ndarray, trusted: np.ndarray, at: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Median of the trusted shifts within NEIGHBOUR_MM of each point of ``at`` (mm (x, y), shape (m, 2)),
    or of the three nearest within four times that.

    ``centres`` (n, 2) mm and ``raw`` (n, 2) (dy, dx) px are the measured shifts. Returns the shifts
    (int (m, 2)) and whether each point had a trusted neighbour at all (bool (m,)): a point without one
    is not registered, and its ink cannot be told from a misplaced frame line.
    """
    at = np.asarray(at, float).reshape(-1, 2)
    distance = np.hypot(*(centres[None, :, :] - at[:, None, :]).transpose(2, 0, 1))  # (m, n)
    near = trusted[None, :] & (distance <= NEIGHBOUR_MM)
    # e.g. a filled box far from the others: its nearest few trusted boxes within reach
    reach = np.where(trusted[None, :] & (distance <= 4 * NEIGHBOUR_MM), distance, np.inf)
    nearest = np.sort(reach, axis=1)[:, :3]
    third = np.where(np.isfinite(nearest), nearest, 0.0).max(axis=1, initial=0.0)
    lonely = ~near.any(axis=1)
    near[lonely] = (reach <= third[:, None])[lonely]
    registered = near.any(axis=1)
    picked = np.where(near[:, :, None], raw[None, :, :], np.nan)  # (m, n, 2)
    out = np.zeros((len(at), 2), int)
    if registered.any():
        out[registered] = np.round(np.nanmedian(picked[registered], axis=1)).astype(int)
    return out, registered


def local_shifts(
    ink: PageInk, boxes: Sequence[Rect], *, dpi: float, settings: RecognitionSettings
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per box (dy, dx) pixel shift from layout to scan, smoothed over neighbours.

    Returns (shifts int (n, 2), registered bool (n,), centres mm (n, 2), measured (n, 3): raw (dy, dx)
    and 1.0 where trusted) so handwriting regions can borrow the boxes' estimates.
    """
    measured = [rect_shift(ink, box, dpi=dpi, settings=settings) for box in boxes]
    raw = np.array([(dy, dx) for dy, dx, _ in measured], float).reshape(-1, 2)
    trusted = np.array([score >= MATCH_MIN for _, _, score in measured], bool)
    centres = np.array([box.centre for box in boxes], float).reshape(-1, 2)
    shifts, registered = smooth_shifts(centres, raw, trusted, centres)
    return shifts, registered, centres, np.column_stack([raw, trusted])


@dataclass(frozen=True)
class _Shares:
    inner: float  # share of new ink inside the frame
    ring: float  # share of new ink in the band around it
    darkness: float  # mean darkness of that ink
    span: float  # the widest ink stroke in the box: smaller bounding-box side / box side (0..1+)
    spread: float  # the same for all the ink in the box together (fragments of a grainy pencil stroke)
    scattered: float  # inner share of dark pixels, specks included, when they spread across the box
    total: float  # all the box's ink, inside and around, relative to the interior's area
    faint: float = 0.0  # spread (as ``spread``) of the faint ink inside: a pale stroke under the threshold
    extent: float = 0.0  # the larger side (mm) of the bounding box of all the ink inside
    loop: float = 0.0  # share of the directions around the option a loop owned by this box covers
    open_loop: float = 0.0  # an open loop round the option or a stroke beside it: doubtful on its own
    foreign: float = 0.0  # inner share of ink from strokes owned elsewhere (a neighbour's loop or overshoot)
    grains: float = 0.0  # span (as ``span``) of the widest stroke once grains a pixel apart are joined
    pale_stroke: float = 0.0  # the same for a pale stroke under the sheet's threshold (light pencil)
    sides: float = 1.0  # for a nearly solid box: ink share of the emptiest middle of a side (a cross's wedge)


def _shares(
    ink: PageInk,
    index: int,
    box: AnswerBox,
    shift: tuple[int, int],
    interiors: np.ndarray,
    attribution: Attribution,
    *,
    dpi: float,
    settings: RecognitionSettings,
) -> _Shares:
    """Ink measures of one box. ``interiors`` labels every box's frame area with its index + 1 (and
    handwriting regions with the number of boxes + 1).

    Ink blobs smaller than a speck are never ink. In the ring, blobs reaching into another box (that
    box's tick overflowing) or into a handwriting region are not this box's ink; inside the frame all
    ink counts, so a stroke across two boxes gives both ink and the answer goes to a person. In a box
    whose ink is paler than the sheet's (a pencil mark on a pen sheet), pixels count as ink from half
    that box's own ink darkness.
    """
    code_mm = settings.code_mm_per_char * len(box.value)  # the code printed right of the box
    w0, w1, v0, v1 = mm_box_to_px(
        box.x - settings.ring_mm,
        box.y - settings.ring_mm,
        box.w + 2 * settings.ring_mm + code_mm,
        box.h + 2 * settings.ring_mm,
        dpi=dpi,
    )
    rows, cols = ink.ink.shape
    dy, dx = shift
    r0, c0 = max(0, w0, -dy), max(0, v0, -dx)
    r1, c1 = min(rows, w1, rows - dy), min(cols, v1, cols - dx)
    if r1 <= r0 or c1 <= c0:
        return _Shares(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    printed = ink.printed[r0:r1, c0:c1]
    dark = ink.darkness[r0 + dy : r1 + dy, c0 + dx : c1 + dx]
    loop = float(attribution.looped[index])
    open_loop = float(attribution.doubt[index])
    b0, b1, a0, a1 = mm_box_to_px(box.x, box.y, box.w, box.h, dpi=dpi)
    inset = round(settings.inner_inset_mm * px_per_mm(dpi))
    interior = (
        slice(max(0, b0 + inset - r0), max(0, b1 - inset - r0)),
        slice(max(0, a0 + inset - c0), max(0, a1 - inset - c0)),
    )
    # Most boxes of a sheet hold nothing darker than the lowest threshold used below (the pencil
    # floor), or fewer such pixels than one speck (a fax's dust): no blob survives speck removal and
    # the scattered share stays below what box_state would notice, so they are empty by every
    # measure. Skip them (a third of a page's recognition time).
    some = (dark > settings.ink_darkness_floor * 255) & ~printed
    if not some.any():
        return _Shares(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, loop=loop, open_loop=open_loop)
    foreign = attribution.foreign(index, slice(r0 + dy, r1 + dy), slice(c0 + dx, c1 + dx))
    low = int(np.count_nonzero(some & ~foreign))
    if low == 0 or (
        low < settings.speck_mm2 * px_per_mm(dpi) ** 2
        and low < _dust_max(int(np.count_nonzero(~printed[interior])), settings)
    ):
        return _Shares(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, loop=loop, open_loop=open_loop)
    unprinted = dark[~printed & ~foreign]
    own_level = percentile95(unprinted) / 255 if unprinted.size else 0.0
    threshold = ink.threshold
    if own_level > 2 * settings.ink_darkness_floor:
        threshold = min(threshold, max(settings.ink_darkness_floor, own_level / 2))
    side = max(1, min(b1 - b0, a1 - a0) - 2 * inset)
    faint = pale_stroke = 0.0
    if ink.faint < threshold:  # a pale stroke may hide under this box's threshold
        pale = (dark[interior] > ink.faint * 255) & ~printed[interior] & ~foreign[interior]
        if np.count_nonzero(pale) >= settings.speck_mm2 * px_per_mm(dpi) ** 2:  # else specks at most
            pale = remove_specks(pale, dpi=dpi, settings=settings)
            faint = _spread(pale) / side
            # light pencil, not a rubbed-out ghost: a joined stroke across the box, darker than a ghost
            if faint >= settings.stroke_span_min and pale.any() and \
                    percentile95(dark[interior][pale]) >= 2 * ink.faint * 255:
                pale_stroke = _joined_span(pale) / side
    inside_foreign = float(((dark[interior] > threshold * 255) & foreign[interior] & ~printed[interior]).mean()) \
        if foreign[interior].size else 0.0
    candidate = (dark > threshold * 255) & ~printed & ~foreign
    if not candidate.any():  # most boxes of a sheet: nothing to label
        return _Shares(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, faint, 0.0, loop, open_loop, inside_foreign)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(candidate.view(np.uint8), connectivity=8)
    keep = stats[:, cv2.CC_STAT_AREA] >= settings.speck_mm2 * px_per_mm(dpi) ** 2
    keep[0] = False
    new = keep[
        labels
    ]  # inside the box every stroke counts, even one reaching a neighbour (then both have ink)
    area = interiors[r0:r1, c0:c1]
    inner = np.zeros(new.shape, bool)
    inner[interior] = True
    inner &= ~printed
    keep[np.unique(labels[(area > 0) & (area != index + 1)])] = False
    own = keep[labels]  # around the box only strokes that are not a neighbour's or a write-in's
    ring = area == 0  # the band around the box and its code; this and other boxes' frame areas excluded
    ring &= ~printed
    inner_share = float(new[inner].mean()) if inner.any() else 0.0
    ring_share = float(own[ring].mean()) if ring.any() else 0.0
    total = float(new[inner].sum() + own[ring].sum()) / max(1, int(inner.sum()))
    counted = (new & inner) | (own & ring)
    darkness = float(dark[counted].mean()) / 255 if counted.any() else 0.0
    in_box = np.unique(labels[new & inner])
    span = (
        max((min(stats[i, cv2.CC_STAT_WIDTH], stats[i, cv2.CC_STAT_HEIGHT]) for i in in_box), default=0)
        / side
    )
    spread = _spread(new & inner) / side
    extent = _extent(new & inner) / px_per_mm(dpi)
    # (only where the plainer measures would not already say "marked": it costs a labelling)
    grains = _joined_span(candidate & inner) / side if inner_share < settings.marked_above else 0.0
    dust = candidate & inner  # before speck removal: a pencil tick a fax turned into dots
    scattered = float(dust[inner].mean()) if _spread(dust) / side >= settings.stroke_span_min else 0.0
    sides = _sides(new[interior], inner[interior]) if inner_share >= settings.cancelled_above else 1.0
    return _Shares(inner_share, ring_share, darkness, float(span), float(spread), scattered, total, faint,
                   extent, loop, open_loop, inside_foreign, grains, pale_stroke, sides)


def _sides(ink: np.ndarray, counted: np.ndarray) -> float:
    """The least inked of the four patches at the middles of a box's sides (share of the ``counted``
    pixels, print excluded; 0..1): a fill covers them all; a cross, however heavy, leaves a white
    wedge at each."""
    h, w = ink.shape
    if h < 4 or w < 4:
        return 1.0
    dh, dw = max(1, h // 4), max(1, w // 4)
    mh, mw = slice(h // 2 - dh // 2, h // 2 + dh // 2 + 1), slice(w // 2 - dw // 2, w // 2 + dw // 2 + 1)
    shares = []
    for patch in ((slice(0, dh), mw), (slice(h - dh, h), mw), (mh, slice(0, dw)), (mh, slice(w - dw, w))):
        n = int(np.count_nonzero(counted[patch]))
        shares.append(np.count_nonzero(ink[patch] & counted[patch]) / n if n else 1.0)
    return float(min(shares))


def _dust_max(inner_px: int, settings: RecognitionSettings) -> float:
    """Dark pixels that cannot make a box of ``inner_px`` unprinted interior pixels uncertain, with a
    fifth to spare: box_state compares their share with empty_below * scale / 2, the scale never
    below light_ink_scale_min."""
    return 0.8 * settings.empty_below * settings.light_ink_scale_min / 2 * inner_px


def _joined_span(mask: np.ndarray) -> int:
    """The smaller side (px) of the widest stroke in ``mask`` once pixels a pixel apart are joined: a
    light pencil line on grainy paper, a fax's dotted stroke, is one stroke again."""
    if not mask.any():
        return 0
    joined = cv2.morphologyEx(mask.view(np.uint8), cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    count, _, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    return int(max((min(stats[i, cv2.CC_STAT_WIDTH], stats[i, cv2.CC_STAT_HEIGHT]) for i in range(1, count)),
                   default=0))


def _extent(mask: np.ndarray) -> int:
    """The larger side (px) of the bounding box of all True pixels of ``mask`` (0 when none)."""
    rows, cols = np.nonzero(mask)
    return int(max(np.ptp(rows), np.ptp(cols))) if rows.size else 0


def _spread(mask: np.ndarray) -> int:
    """The smaller side (px) of the bounding box of all True pixels of ``mask`` (0 when none)."""
    rows, cols = np.nonzero(mask)
    return int(min(np.ptp(rows), np.ptp(cols))) if rows.size else 0


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
        "faint_pixel": ink.faint,
        "ink_level": ink.level,
        "empty_below": settings.empty_below * scale,
        "marked_above": settings.marked_above * scale,
        "cancelled_above": settings.cancelled_above,
        "ring_empty_below": settings.ring_empty_below * scale,
        "ring_marked_above": settings.ring_marked_above * scale,
    }


def _solid(m: _Shares, t: dict[str, float], settings: RecognitionSettings) -> bool:
    """Filled solid (a cancellation): ink over nearly all the box, the middles of its sides included."""
    return m.inner >= t["cancelled_above"] and m.sides >= settings.fill_sides_min


def light_ink_scale(darkness: float, *, settings: RecognitionSettings) -> float:
    """1.0 for pen-dark ink, down to ``light_ink_scale_min`` for pale pencil."""
    return float(np.clip(darkness / settings.pen_darkness, settings.light_ink_scale_min, 1.0))


def box_state(
    m: _Shares, t: dict[str, float], *, registered: bool, settings: RecognitionSettings
) -> BoxState:
    """Empty / marked / cancelled / uncertain from a box's ink measures.

    The sheet's thresholds ``t`` shrink once more for a box whose own ink is paler than pen. A box
    that could not be registered against the blank is empty only when it holds no ink at all, and
    marked only with twice the usual ink.
    """
    k = light_ink_scale(m.darkness, settings=settings) if m.darkness > 0 else 1.0
    nothing = (
        m.inner < t["empty_below"] * k
        and m.ring < t["ring_empty_below"] * k
        and m.spread < settings.stroke_span_min  # faint ink spread across the box is not nothing,
        and m.scattered < t["empty_below"] * k / 2  # nor a stroke dissolved into dots,
        and m.faint < settings.stroke_span_min  # nor a pale stroke under the sheet's threshold
    )
    if m.loop >= settings.loop_cover_min:
        return "cancelled" if _solid(m, t, settings) else "marked"  # circled: the loop says which
    if m.open_loop >= 1.0:
        return "uncertain"  # ink joined to another option's loop: a mark of its own, or that loop? a person decides
    if m.open_loop > 0 and m.inner < t["marked_above"] * k:
        return "uncertain"  # half circled: meant, or a slip of the pen? a person decides
    dot = 0 < m.extent <= settings.dot_mm and m.inner < t["marked_above"] * k and m.ring < t["ring_marked_above"] * k
    if dot and m.faint < settings.stroke_span_min and m.scattered < t["empty_below"] * k / 2:
        return "empty"  # one pen rest in the box, nothing paler around it: not a mark
    if not registered:  # slivers of misplaced frame lines can fake thin ink, never a fill or a heavy mark
        if _solid(m, t, settings):
            return "cancelled"
        return "empty" if nothing else "marked" if m.inner >= 2 * t["marked_above"] else "uncertain"
    if _solid(m, t, settings):
        return "cancelled"
    if m.inner >= t["marked_above"] * k:
        return "marked"
    if m.ring >= t["ring_marked_above"] * k:
        return "marked"  # a circle around the box and its printed code, or a tick drawn beside it
    around = m.inner >= t["empty_below"] * k and m.ring >= t["ring_empty_below"] * k
    if around and m.total >= 2 * t["marked_above"] * k:
        return "marked"  # ink both inside and around, plenty in all: a circle cutting the box, an overflow
    if m.inner >= t["empty_below"] * k / 2 and m.span >= settings.stroke_span_min:
        return "marked"  # one stroke across the box: a thin tick or cross
    if m.inner >= t["empty_below"] * k and m.spread >= settings.stroke_span_min:
        return "marked"  # ink enough, spread across the box: a stroke broken up by a fax or grainy pencil
    if m.inner >= t["empty_below"] * k / 4 and m.grains >= settings.stroke_span_min + 0.2:
        return "marked"  # a light pencil stroke, grains joined, right across the box
    if m.pale_stroke >= settings.stroke_span_min + 0.2:
        return "marked"  # light pencil on a pen sheet: paler than its threshold, but a stroke across the box
    return "empty" if nothing else "uncertain"


def fully_visible(visible: np.ndarray, rect: Rect, *, dpi: float, margin_mm: float = 0.0) -> bool:
    """``rect`` (mm, grown by ``margin_mm``) lies wholly where the scan shows the page."""
    r0, r1, c0, c1 = mm_box_to_px(rect.x - margin_mm, rect.y - margin_mm, rect.w + 2 * margin_mm,
                                  rect.h + 2 * margin_mm, dpi=dpi)
    rows, cols = visible.shape
    if r0 < 0 or c0 < 0 or r1 > rows or c1 > cols:
        return False
    return bool(visible[r0:r1, c0:c1].all())


def read_boxes(
    aligned: np.ndarray,
    blank: np.ndarray | BlankMaster,
    page: PageLayout,
    *,
    dpi: float,
    settings: RecognitionSettings,
    visible: np.ndarray | None = None,
) -> BoxReadout:
    """Measure every box of ``page``; returns the measures, the thresholds used and the ink maps.

    ``thresholds["registration"]`` is the share of boxes registered against the blank: a page whose
    alignment is off by more than ``refine_mm`` has few, and ``read_page`` sends it all to review.
    """
    ink = page_ink(aligned, blank, page, dpi=dpi, settings=settings)
    boxes = list(page.boxes)
    shifts, registered, centres, measured = local_shifts(ink, boxes, dpi=dpi, settings=settings)
    interiors = np.zeros(aligned.shape, np.int32)  # box i's frame area is i + 1; handwriting regions n + 1
    for i, rect in enumerate([*boxes, *page.regions]):
        r0, r1, c0, c1 = mm_box_to_px(rect.x, rect.y, rect.w, rect.h, dpi=dpi)
        interiors[r0:r1, c0:c1] = min(i, len(boxes)) + 1
    thresholds = sheet_thresholds(ink, settings=settings)
    thresholds["registration"] = float(registered.mean()) if len(boxes) else 1.0
    attribution = attribute_strokes(ink.ink, ink.printed, boxes, shifts, interiors == len(boxes) + 1,
                                    dpi=dpi, settings=settings)
    measures = []
    for i, (box, (dy, dx)) in enumerate(zip(boxes, shifts, strict=True)):
        m = _shares(ink, i, box, (int(dy), int(dx)), interiors, attribution, dpi=dpi, settings=settings)
        state = box_state(m, thresholds, registered=bool(registered[i]), settings=settings)
        if visible is not None and not fully_visible(visible, box, dpi=dpi, margin_mm=settings.ring_mm):
            state = "unseen"  # beyond the scanned image: blank paper there says nothing
        why = attribution.why.get(i, "") if state == "uncertain" and m.open_loop > 0 else ""
        measures.append(BoxMeasure(box.id, round(m.inner, 4), round(m.ring, 4), round(m.darkness, 4), state, why))
    return BoxReadout(measures, thresholds, ink, centres, measured, attribution)


def measure_boxes(
    aligned: np.ndarray,
    blank: np.ndarray | BlankMaster,
    page: PageLayout,
    *,
    dpi: float,
    settings: RecognitionSettings,
) -> list[BoxMeasure]:
    """Measure every answer box of ``page`` on the aligned scan (see the module docstring)."""
    return read_boxes(aligned, blank, page, dpi=dpi, settings=settings).boxes
