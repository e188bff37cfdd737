"""Whose ink is it? Every stroke near the answer boxes is given to an option, by its shape.

A respondent answers with a tick, a cross or a fill inside a box, or by circling the box and its
printed code (khoanh tròn, as the ministry's own paper forms teach). On a grid whose rows are about
2 mm apart, a loop around one option crosses the frame of the option above or below, and a tick may
overshoot into the next box: counting ink box by box gives those neighbours a mark. So each stroke
(connected new ink: dark in the scan, not printed on the blank master, rejoined across small gaps
and across the printed frames, rules and codes it crosses) is attributed once:

* a loop belongs to the option it goes round: a closed loop (a hole in the stroke) holds the centre
  of the option's box or code; an open one runs round the box, the code or both in most directions,
  in a band just outside them, and nowhere cuts through them (a neighbour's loop crossing this box
  cuts through it). Loops round several options belong to each (two marks: a person decides), and
  two loops joined into one stroke are still two loops;
* an open loop (round an option on about half its sides) makes that option doubtful unless its box
  holds a mark of its own;
* any other stroke belongs to the box holding most of its ink inside the frame, provided that ink
  is a mark there (it spans the box, or fills a fair part of it); ink it leaves in another box (an
  overshoot) is not that box's mark, unless it spans that box too (a tick joined to a neighbour's
  loop). A stroke spread evenly over boxes belongs to each of them;
* a stroke with no mark in any box belongs to the option it lies beside (a tick on the code); a long
  one that only grazes boxes makes the options it half surrounds doubtful; anything else (a margin
  line, writing in a write-in frame) is nobody's.

Images are numpy (row, col) at the aligned page's ``dpi``; layout rectangles are mm (x, y, w, h);
``shifts`` are each box's (dy, dx) pixel offset from layout to scan (``recognition.marks``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, overload

import cv2
import numpy as np

from core.settings import RecognitionSettings
from formgen.layout import AnswerBox
from recognition.ink import px_per_mm

_BAND_GAP_MM = 8.0  # strokes are labelled band by band down the page, bands split by this much blank paper
_WINDOW_MM = 4.0  # ink is looked at this far beyond a loop's reach (a loop is seen whole, not cut there)
_BINS = 16  # directions around an option in which a loop's ink is looked for
_MAX_PIXELS = 2500  # a stroke's pixels sampled for its shape
_PEN_MM = 0.25  # the thinnest pen a loop's length is measured with
_CROSSING = 0.75  # ink nearer a rectangle's centre than this share of the way to its edge cuts through it
_RIM_INK = 0.3  # share of a closed loop's rim that must be real ink (bridges over print: the rest)
_LOOP_SPREAD_MM = 0.8  # an open loop's own ink: within this of its typical distance in each direction
_LOOP_AREA_MM = 2.5  # ink within this of what a closed loop encloses is explained by it (bridges, spurs)
_FILLS = 0.15
_EDGE_SHARE = 0.2  # the outer part of a box's interior, as a share of its side: where a loop's arc grazes it
_CENTRAL = 0.3  # a mark in a box passes within this share of its side from the box's middle
_LOOP_PIECE = 0.6  # a piece of ink in a box this much a loop's own ink is that loop crossing it
_LOOP_TOUCH = 0.3  # a piece this little a loop's own ink is a mark of its own that touches the loop


@dataclass
class Attribution:
    """Who owns the new ink of a page.

    ``labels`` (int32): the stroke each new-ink pixel belongs to (0: none), over the part of the aligned
    page that holds strokes, whose top-left pixel is ``origin`` (row, col).
    ``decided[s]``: stroke s was attributed (specks are not); ``owned[s, k]``: box k counts stroke s as
    its own ink. ``looped[k]``: the share of directions round box k's option a loop it owns covers
    (0: none); ``doubt[k]``: the same for an open loop or a long stroke half round it, and ``why[k]``
    which doubt it is (loop, beside, stray).
    """

    labels: np.ndarray
    decided: np.ndarray
    owned: np.ndarray
    looped: np.ndarray
    doubt: np.ndarray
    origin: tuple[int, int] = (0, 0)
    leftovers: list[np.ndarray] = field(default_factory=list)  # (n, 2) (y, x) ink no loop explains
    why: dict[int, str] = field(default_factory=dict)  # box index -> what makes it doubtful: loop|beside|stray

    def doubt_about(self, index: int, share: float, why: str) -> None:
        if share > self.doubt[index]:
            self.doubt[index], self.why[index] = share, why

    def foreign(self, index: int, rows: slice, cols: slice) -> np.ndarray:
        """Bool window (``rows``, ``cols`` of the aligned page): ink of strokes attributed, and not to
        box ``index``."""
        out = np.zeros((rows.stop - rows.start, cols.stop - cols.start), bool)
        if not self.decided.any():
            return out
        r0, c0 = self.origin
        a0, a1 = max(rows.start, r0), min(rows.stop, r0 + self.labels.shape[0])
        b0, b1 = max(cols.start, c0), min(cols.stop, c0 + self.labels.shape[1])
        if a1 > a0 and b1 > b0:
            window = self.labels[a0 - r0:a1 - r0, b0 - c0:b1 - c0]
            out[a0 - rows.start:a1 - rows.start, b0 - cols.start:b1 - cols.start] = \
                self.decided[window] & ~self.owned[window, index]
        return out

    def own(self, stroke: int, boxes: Sequence[int]) -> None:
        self.decided[stroke] = True
        self.owned[stroke, list(boxes)] = True


@dataclass(frozen=True)
class _Zones:
    """Per box, in aligned-page pixels: interior (r0, r1, c0, c1), the rectangles a loop may go round
    as (x0, y0, x1, y1) for box, code and both, and how far beyond them a loop may run."""

    interior: np.ndarray  # (n, 4) int
    rects: np.ndarray  # (n, 3, 4) float
    side: np.ndarray  # (n,) float: interior side
    reach: float  # px
    px_mm: float


def attribute_strokes(
    ink_mask: np.ndarray,
    printed: np.ndarray,
    boxes: Sequence[AnswerBox],
    shifts: np.ndarray,
    regions: np.ndarray,
    *,
    dpi: float,
    settings: RecognitionSettings,
) -> Attribution:
    """Attribute the strokes near ``boxes`` (see the module docstring).

    ``ink_mask`` is the page's ink (bool, aligned page), ``printed`` the blank master's print (bool,
    layout position), ``shifts`` (n, 2) int (dy, dx) per box, ``regions`` bool: handwriting regions
    (aligned page), whose writing is nobody's mark.
    """
    n = len(boxes)
    result = Attribution(np.zeros((0, 0), np.int32), np.zeros(1, bool), np.zeros((1, n), bool),
                         np.zeros(n, np.float32), np.zeros(n, np.float32))
    if not n:
        return result
    zones = _zones(boxes, shifts, dpi=dpi, settings=settings)
    new, printed_here = _new_ink(ink_mask, printed, zones, shifts)
    rows, cols = np.flatnonzero(new.any(axis=1)), np.flatnonzero(new.any(axis=0))
    if not rows.size:
        return result
    margin = int(settings.rejoin_mm * zones.px_mm) + 2
    r0, r1 = max(0, rows[0] - margin), min(new.shape[0], rows[-1] + margin + 1)
    c0, c1 = max(0, cols[0] - margin), min(new.shape[1], cols[-1] + margin + 1)
    result.labels, result.origin = np.zeros((r1 - r0, c1 - c0), np.int32), (int(r0), int(c0))
    strokes: list[tuple[int, np.ndarray, np.ndarray, _Shape]] = []
    # band by band down the page (questions): labelling the strokes' surroundings only, not the whole page
    for b0, b1 in _bands(rows, gap=int(_BAND_GAP_MM * zones.px_mm), margin=margin, limit=new.shape[0]):
        strokes += _label_band(new, printed_here, (b0, b1), (c0, c1), result, zones, dpi=dpi, settings=settings)
    count = int(result.labels.max()) + 1
    result.decided, result.owned = np.zeros(count, bool), np.zeros((count, n), bool)
    for label, ys, xs, shape in strokes:
        _attribute(label, ys, xs, shape, zones, regions, result, settings)
    _pooled_doubts(result, zones, settings)
    return result


def _bands(rows: np.ndarray, *, gap: int, margin: int, limit: int) -> list[tuple[int, int]]:
    """Runs of ``rows`` (sorted row indexes holding ink) split where more than ``gap`` rows hold none,
    each grown by ``margin``."""
    splits = np.flatnonzero(np.diff(rows) > gap)
    starts, ends = np.concatenate([[rows[0]], rows[splits + 1]]), np.concatenate([rows[splits], [rows[-1]]])
    return [(max(0, int(a) - margin), min(limit, int(b) + margin + 1)) for a, b in zip(starts, ends, strict=True)]


def _label_band(
    new: np.ndarray, printed_here: np.ndarray, band: tuple[int, int], span: tuple[int, int], result: Attribution,
    zones: _Zones, *, dpi: float, settings: RecognitionSettings,
) -> list[tuple[int, np.ndarray, np.ndarray, _Shape]]:
    """Label the strokes of one band of the page into ``result.labels`` (numbered after those already
    there); returns (label, rows, cols, shape) of each stroke big enough to attribute."""
    (r0, r1), (c0, c1) = band, span
    crop = new[r0:r1, c0:c1]
    grouped = _rejoined(crop, printed_here[r0:r1, c0:c1], dpi=dpi, settings=settings)
    count, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(
        grouped.view(np.uint8), 8, cv2.CV_32S, cv2.CCL_BBDT)
    first = int(result.labels.max())
    o0, o1 = result.origin
    window = result.labels[r0 - o0:r1 - o0, :]
    window[crop & (labels > 0)] = labels[crop & (labels > 0)] + first  # bridges carry no ink of their own
    found: list[tuple[int, np.ndarray, np.ndarray, _Shape]] = []
    min_px = settings.speck_mm2 * zones.px_mm**2
    for k in range(1, count):
        x, y, w, h, area = (int(v) for v in stats[k])
        if area < min_px:
            continue
        stroke = labels[y:y + h, x:x + w] == k
        ys, xs = np.nonzero(stroke & crop[y:y + h, x:x + w])
        if ys.size < min_px:
            continue

        found.append((k + first, ys + y + r0, xs + x + c0, _Shape(stroke, crop[y:y + h, x:x + w], (x + c0, y + r0))))
    return found


def _pooled_doubts(result: Attribution, zones: _Zones, settings: RecognitionSettings) -> None:
    """A loop broken into pieces that joined other strokes: the pieces no loop explains, pooled over
    the page, going round an option (counting only those nearest to it) make it doubtful."""
    if not result.leftovers:
        return
    pool = np.concatenate(result.leftovers)
    if len(pool) < settings.loop_min_mm * _PEN_MM * zones.px_mm**2:
        return
    ys, xs = pool[:, 0], pool[:, 1]
    box = zones.rects[:, 2]
    r = zones.reach
    near = np.flatnonzero((box[:, 0] - r <= xs.max()) & (box[:, 2] + r >= xs.min())
                          & (box[:, 1] - r <= ys.max()) & (box[:, 3] + r >= ys.min()))
    nearest = _nearest(ys, xs, zones, near)
    for i in np.unique(nearest):
        mine = nearest == i
        cover = max(_ring_score(ys[mine], xs[mine], rect, r) for rect in zones.rects[i])
        if cover >= settings.open_loop_cover_min and result.looped[i] == 0:
            result.doubt_about(i, cover, "loop")


def _zones(boxes: Sequence[AnswerBox], shifts: np.ndarray, *, dpi: float, settings: RecognitionSettings) -> _Zones:
    """Every box's interior and loop rectangles in aligned-page pixels (one array pass: this runs for every page)."""
    k, inset = px_per_mm(dpi), settings.inner_inset_mm
    mm = np.array([(b.x, b.y, b.w, b.h, *_code_mm(b, settings)) for b in boxes], float).reshape(-1, 8)
    x, y, w, h, cx0, cy0, cx1, cy1 = mm.T
    dy, dx = np.asarray(shifts, float).reshape(-1, 2).T
    # as mm_box_to_px rounds: rows from y, columns from x
    interior = np.column_stack([np.round((y + inset) * k) + dy, np.round((y + h - inset) * k) + dy,
                                np.round((x + inset) * k) + dx, np.round((x + w - inset) * k) + dx]).astype(int)
    side = np.minimum(interior[:, 1] - interior[:, 0], interior[:, 3] - interior[:, 2]).astype(float)
    rects = np.stack([np.column_stack([x0 * k + dx, y0 * k + dy, x1 * k + dx, y1 * k + dy]) for x0, y0, x1, y1 in
                      ((x, y, x + w, y + h), (cx0, cy0, cx1, cy1), (x, y, cx1, y + h))], axis=1)
    return _Zones(interior, rects, side, settings.loop_reach_mm * k, k)


def _code_mm(box: AnswerBox, settings: RecognitionSettings) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) mm of the code printed beside ``box`` (``AnswerBox.code_rect``, without building
    a model: this runs for every box of every page)."""
    if box.code_w > 0:
        h = box.code_h or box.h
        x0, y0 = box.x + box.code_dx, box.y + (box.h - h) / 2
        return x0, y0, x0 + box.code_w, y0 + h
    return box.x + box.w, box.y, box.x + box.w + settings.code_mm_per_char * len(box.value), box.y + box.h


def _new_ink(
    ink_mask: np.ndarray, printed: np.ndarray, zones: _Zones, shifts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(new ink near the boxes, the blank's print there): ink not printed on the blank, the print at
    each box's own shift (both on the aligned page). Boxes sharing a shift (most of a scanned page)
    are done together, over the rectangle that holds their surroundings."""
    rows, cols = ink_mask.shape
    near = np.zeros((rows, cols), bool)
    printed_here = np.zeros((rows, cols), bool)
    grow = int(zones.reach + _WINDOW_MM * zones.px_mm)  # whole loops, even the widest, are taken in
    shifts = np.asarray(shifts, int).reshape(-1, 2)
    for dy, dx in {(int(a), int(b)) for a, b in shifts}:
        group = zones.rects[(shifts[:, 0] == dy) & (shifts[:, 1] == dx), 2]
        a0, a1 = max(0, int(group[:, 1].min()) - grow), min(rows, int(group[:, 3].max()) + grow)
        b0, b1 = max(0, int(group[:, 0].min()) - grow), min(cols, int(group[:, 2].max()) + grow)
        # the layout window this part of the scan shows, within the page
        s0, s1, t0, t1 = max(0, a0 - dy), min(rows, a1 - dy), max(0, b0 - dx), min(cols, b1 - dx)
        if s1 <= s0 or t1 <= t0:
            continue
        near[s0 + dy:s1 + dy, t0 + dx:t1 + dx] = True
        printed_here[s0 + dy:s1 + dy, t0 + dx:t1 + dx] |= printed[s0:s1, t0:t1]
    return ink_mask & near & ~printed_here, printed_here


def _rejoined(new: np.ndarray, printed: np.ndarray, *, dpi: float, settings: RecognitionSettings) -> np.ndarray:
    """New ink with its gaps bridged: a stroke crossing (or running along) a frame, a rule or a bold
    code is cut there by the blank's grown print, so each piece reaches ``rejoin_mm`` into the print
    and both sides meet; a skipping pen's gaps (``gap_mm``) are closed."""
    k = px_per_mm(dpi)
    gaps = cv2.morphologyEx(new.view(np.uint8), cv2.MORPH_CLOSE, np.ones((_odd(settings.gap_mm * k),) * 2, np.uint8)) > 0
    reach = np.ones((2 * _odd(settings.rejoin_mm * k) + 1,) * 2, np.uint8)
    return new | gaps | ((cv2.dilate(new.view(np.uint8), reach) > 0) & printed)


def _odd(px: float) -> int:
    return max(3, int(round(px)) | 1)


def _ring_score(ys: np.ndarray, xs: np.ndarray, rect: np.ndarray, reach: float) -> float:
    """Share of _BINS directions round ``rect`` (x0, y0, x1, y1) in which the stroke runs in a band
    just outside it (from _CROSSING of the way to its edge, to ``reach`` beyond) and nowhere cuts
    deeper into it."""
    x0, y0, x1, y1 = rect
    cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, max(1.0, (x1 - x0) / 2), max(1.0, (y1 - y0) / 2)
    dx, dy = xs - cx, ys - cy
    d = np.hypot(dx, dy)
    angle = np.arctan2(dy, dx)
    # distance from the centre to the rectangle's edge in each pixel's direction
    edge = np.minimum(hw / np.maximum(np.abs(np.cos(angle)), 1e-6), hh / np.maximum(np.abs(np.sin(angle)), 1e-6))
    bins = ((angle + np.pi) * (_BINS / (2 * np.pi))).astype(int) % _BINS
    band = (d >= _CROSSING * edge) & (d <= edge + reach)
    crossing = np.zeros(_BINS, bool)
    crossing[bins[d < _CROSSING * edge]] = True
    ring = np.zeros(_BINS, bool)
    ring[bins[band]] = True
    return float(np.count_nonzero(ring & ~crossing)) / _BINS


def _in_any(ys: np.ndarray, xs: np.ndarray, zones: _Zones) -> bool:
    """Some pixel lies inside some box's interior."""
    i = zones.interior
    near = (i[:, 0] <= ys.max()) & (i[:, 1] > ys.min()) & (i[:, 2] <= xs.max()) & (i[:, 3] > xs.min())
    return any(_inside(ys, xs, rect).any() for rect in i[near])


def _nearest(ys: np.ndarray, xs: np.ndarray, zones: _Zones, near: np.ndarray) -> np.ndarray:
    """Per pixel, the option (index, of ``near``) whose box and code it lies nearest to."""
    if not near.size:
        return np.full(ys.size, -1)
    x0, y0, x1, y1 = (zones.rects[near, 2, j][:, None] for j in range(4))
    dx = np.maximum(np.maximum(x0 - xs, xs - x1), 0)
    dy = np.maximum(np.maximum(y0 - ys, ys - y1), 0)
    return np.asarray(near[np.argmin(np.hypot(dx, dy), axis=0)])


def _inside(ys: np.ndarray, xs: np.ndarray, rect: np.ndarray) -> np.ndarray:
    r0, r1, c0, c1 = rect
    return (ys >= r0) & (ys < r1) & (xs >= c0) & (xs < c1)


def _is_mark(
    ys: np.ndarray, xs: np.ndarray, sel: np.ndarray, zones: _Zones, i: int, full_size: int,
    loop_ink: np.ndarray | None = None,
) -> int:
    """How surely the stroke's ink inside box ``i`` (``sel``) is a mark there: 2 a piece of it spans the
    box through its middle and is not a loop's own ink, or fills a fair part of it (``full_size`` pixels
    of the stroke before sampling; ``sel`` may be a sample); 1 such a piece partly a loop's ink; 0 none.
    Pieces mostly ``loop_ink`` (a neighbour's loop crossing the box) do not count: two arcs crossing
    the box's top and bottom are no mark, a tick joined to such an arc is."""
    if not sel.any():
        return 0
    r0, r1, c0, c1 = zones.interior[i]
    piece = np.zeros((r1 - r0, c1 - c0), np.uint8)
    piece[ys[sel] - r0, xs[sel] - c0] = 1
    piece = cv2.dilate(piece, np.ones((3, 3), np.uint8))  # a sampled stroke is whole again
    count, labels, stats, _ = cv2.connectedComponentsWithStats(piece, connectivity=8)
    of = labels[ys[sel] - r0, xs[sel] - c0]
    on_loop = loop_ink[sel] if loop_ink is not None else np.zeros(of.size, bool)
    scale = full_size / ys.size
    area = max(1, (r1 - r0) * (c1 - c0))
    cy, cx = (r0 + r1) / 2, (c0 + c1) / 2
    central = np.hypot(ys[sel] - cy, xs[sel] - cx) <= _CENTRAL * zones.side[i]
    grade = 0
    for k in range(1, count):
        mine = of == k
        share = float(on_loop[mine].mean())
        if share >= _LOOP_PIECE:
            # mostly a loop crossing the box, but what is not the loop's may still span it: a tick
            # drawn over the arc. A person decides.
            other = mine & ~on_loop
            side = zones.side[i]
            if other.sum() * scale >= 0.5 * side * max(1.0, _PEN_MM * zones.px_mm) and central[other].any() \
                    and np.hypot(np.ptp(ys[sel][other]), np.ptp(xs[sel][other])) >= 0.5 * side:
                grade = max(grade, 1)
            continue
        # a tick or a cross passes near the box's middle; the arc of a neighbour's loop dipping into it does not
        wide = min(stats[k, cv2.CC_STAT_WIDTH], stats[k, cv2.CC_STAT_HEIGHT]) - 2 >= 0.4 * zones.side[i]
        if (wide and central[mine].any()) or mine.sum() * scale / area >= _FILLS:
            grade = max(grade, 2 if share <= _LOOP_TOUCH else 1)
    return grade


class _Shape:
    """One stroke on its bounding box, for what needs its whole pixels (looked at only where needed):
    its closed loops, and which of its ink a loop's ring is made of.

    ``stroke`` (bool) includes the bridges over print, ``ink`` (bool, same window) only real ink;
    ``origin`` is the window's top-left (x, y) on the aligned page.
    """

    def __init__(self, stroke: np.ndarray, ink: np.ndarray, origin: tuple[int, int]) -> None:
        self.stroke, self.ink, self.origin = stroke, ink, origin
        self._skeleton: tuple[np.ndarray, np.ndarray] | None = None

    def holes(self, zones: _Zones) -> list[np.ndarray]:
        return _holes(self.stroke, self.ink, self.origin, zones)

    def skeleton(self) -> tuple[np.ndarray, np.ndarray]:
        """(row, col) of the stroke's centre line (thinned; bridges included, so a ring stays whole),
        and for every pixel of the window the index of its nearest centre-line pixel."""
        if self._skeleton is None:
            thin = cv2.ximgproc.thinning(self.stroke.view(np.uint8) * 255) > 0  # type: ignore[attr-defined]
            rows, cols = np.nonzero(thin)
            if rows.size == 0:
                rows, cols = np.nonzero(self.stroke)
                thin = self.stroke
            # labels number the zero pixels (the centre line) in raster order, as np.nonzero lists them
            _, nearest = cv2.distanceTransformWithLabels((~thin).view(np.uint8), cv2.DIST_L2, 3,
                                                         labelType=cv2.DIST_LABEL_PIXEL)
            self._skeleton = (np.column_stack([rows, cols]), nearest)
        return self._skeleton

    def cycles(self) -> np.ndarray:
        """The centre line pruned to its cycles (window mask): ends cut back until none is left, so a
        tick joined to a loop, or its tail, is gone and the loops remain."""
        centre, _ = self.skeleton()
        line = np.zeros(self.stroke.shape, np.uint8)
        line[centre[:, 0], centre[:, 1]] = 1
        kernel = np.ones((3, 3), np.float32)
        while True:
            ends = (line > 0) & (cv2.filter2D(line, cv2.CV_16S, kernel, borderType=cv2.BORDER_CONSTANT) <= 2)
            if not ends.any():
                return line > 0
            line[ends] = 0

    def ring_of(self, hole: np.ndarray, reach: int) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        """A test for centre-line pixels (page rows, cols) on the ring round a closed loop's ``hole``
        (contour, page coordinates): the cycles bordering the hole, and those bordering the slivers
        between passes of a loop drawn twice (what lies wholly within ``reach`` px of the hole)."""
        cycles = self.cycles()
        x0, y0 = self.origin
        filled = np.zeros(cycles.shape, np.uint8)
        cv2.drawContours(filled, [hole], -1, 1, cv2.FILLED, offset=(-x0, -y0))
        count, parts = cv2.connectedComponents((~cycles).view(np.uint8), connectivity=4)
        near = cv2.dilate(filled, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1)))
        size = np.bincount(parts.ravel(), minlength=count)
        within = np.bincount(parts.ravel(), weights=(near > 0).ravel(), minlength=count)
        edge = np.unique(np.concatenate([parts[0], parts[-1], parts[:, 0], parts[:, -1]]))
        inner = (within == size) & (size > 0)
        inner[edge] = False
        inner[0] = False  # the cycles themselves
        around = cv2.dilate(inner[parts].view(np.uint8), cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3)))
        ring = cycles & (around > 0)

        def test(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
            return np.asarray(ring[rows - y0, cols - x0])
        return test

    def on_rings(self, ys: np.ndarray, xs: np.ndarray, ring: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
        """Which of the pixels (page ``ys``, ``xs``) belong to a ring: their nearest centre-line pixel is
        one that ``ring(rows, cols)`` (page coordinates) says lies on it. A tick that touches a loop
        has a centre line of its own, leaving the ring: its ink stays its own."""
        centre, nearest = self.skeleton()
        x0, y0 = self.origin
        on = ring(centre[:, 0] + y0, centre[:, 1] + x0)
        which = nearest[ys - y0, xs - x0] - 1
        return np.asarray(on[np.clip(which, 0, len(on) - 1)])


def _holes(stroke: np.ndarray, ink: np.ndarray, origin: tuple[int, int], zones: _Zones) -> list[np.ndarray]:
    """The closed loops of a stroke (bool mask, bridges over print included, at ``origin`` (x, y)):
    its holes at least a box's quarter in area whose rim is mostly real ink (``ink``, same window),
    not bridges (print bridged on several sides, a box's frame between two strokes, is no loop).
    Contours (N, 1, 2) of aligned-page (x, y) points."""
    if stroke.shape[0] < 5 or stroke.shape[1] < 5:
        return []
    contours, hierarchy = cv2.findContours(stroke.view(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    if hierarchy is None:
        return []
    least = 0.25 * float(np.median(zones.side)) ** 2
    near_ink = cv2.dilate(ink.view(np.uint8), np.ones((5, 5), np.uint8)) > 0
    holes = []
    for contour, (_, _, _, parent) in zip(contours, hierarchy[0], strict=True):
        if parent < 0 or cv2.contourArea(contour) < least:
            continue
        rim = contour.reshape(-1, 2)
        if near_ink[rim[:, 1], rim[:, 0]].mean() >= _RIM_INK:
            holes.append(contour + np.array(origin, np.int32))
    return holes


def _enclosed(
    shape: _Shape, ys: np.ndarray, xs: np.ndarray, zones: _Zones, near: np.ndarray
) -> tuple[list[int], np.ndarray, np.ndarray]:
    """(the options near a stroke whose box or code centre lies inside one of its closed loops; which
    of the stroke's pixels (``ys``, ``xs``) make up those loops' rings; which lie within
    ``_LOOP_AREA_MM`` of what they enclose: ink a loop explains, though a mark in a box there stays a mark)."""
    found, rings, area = [], np.zeros(ys.size, bool), np.zeros(ys.size, bool)
    for hole in shape.holes(zones):
        inside = [int(i) for i in near if any(
            cv2.pointPolygonTest(hole, ((x0 + x1) / 2, (y0 + y1) / 2), False) > 0 for x0, y0, x1, y1 in zones.rects[i, :2])]
        if not inside:
            continue
        found += [i for i in inside if i not in found]
        x, y, w, h = cv2.boundingRect(hole)
        grow = int(_LOOP_AREA_MM * zones.px_mm) + 1
        mask = np.zeros((h + 2 * grow, w + 2 * grow), np.uint8)
        cv2.drawContours(mask, [hole], -1, 1, cv2.FILLED, offset=(grow - x, grow - y))
        rings |= shape.on_rings(ys, xs, shape.ring_of(hole, grow))
        ry, rx = ys - (y - grow), xs - (x - grow)
        ok = (ry >= 0) & (ry < h + 2 * grow) & (rx >= 0) & (rx < w + 2 * grow)
        mask = np.asarray(cv2.dilate(mask, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)), np.uint8)
        area[ok] |= mask[ry[ok], rx[ok]] > 0
    return found, rings, area


def _attribute(
    label: int, ys: np.ndarray, xs: np.ndarray, shape: _Shape, zones: _Zones,
    regions: np.ndarray, result: Attribution, settings: RecognitionSettings,
) -> None:
    """Decide who owns one stroke (``ys``, ``xs``: its pixels; ``shape``: its whole pixels, for closed
    loops and rings, looked at only when needed) and record it in ``result``."""
    if regions[ys, xs].mean() > 0.3:  # writing in a write-in frame beside an option
        result.own(label, [])
        return
    size = ys.size
    if max(np.ptp(ys), np.ptp(xs)) <= settings.dot_mm * zones.px_mm and not _in_any(ys, xs, zones):
        result.own(label, [])  # a pen rest beside a box: nobody's mark
        return
    if size > _MAX_PIXELS:  # the shape is the same on a sample
        pick = np.linspace(0, size - 1, _MAX_PIXELS).astype(int)
        ys, xs = ys[pick], xs[pick]
    box = zones.rects[:, 2]
    r = zones.reach
    near = np.flatnonzero((box[:, 0] - r <= xs.max()) & (box[:, 2] + r >= xs.min())
                          & (box[:, 1] - r <= ys.max()) & (box[:, 3] + r >= ys.min()))
    in_box = {int(i): _inside(ys, xs, zones.interior[i]) for i in near}
    inside = {i: int(sel.sum()) for i, sel in in_box.items()}
    first = max(inside, key=lambda i: inside[i], default=None)
    if first is not None and inside[first] >= 0.85 * ys.size:  # a tick, a cross or a fill in one box
        _give(result, label, [first], ys, xs, zones, in_box, size)
        return
    loops, used, explained = _enclosed(shape, ys, xs, zones, near)
    # the ink left over may go round other options: open loops (closed ones were holes), best first,
    # each loop's own ink set aside before the next is looked for
    loop_px = settings.loop_min_mm * _PEN_MM * zones.px_mm**2 * ys.size / size  # in the sample
    found_closed = len(loops)
    before: dict[int, float] = {}
    while True:
        free = {i: sel[~used] for i, sel in in_box.items() if i not in loops}
        score, rects = _loop_scores(ys[~used], xs[~used], zones, free, loop_px, best_rect=True)
        if len(loops) == found_closed:  # the scores before any open loop was claimed
            before = score
        top = max(score, key=lambda i: score[i], default=None)
        if top is None or score[top] < settings.loop_cover_min:
            break
        loops.append(top)
        free_y, free_x = ys[~used], xs[~used]
        cores = _cores(free_y, free_x, zones, free)  # a mark inside another box is no part of this loop
        band = _on_loop(free_y, free_x, rects[top], zones, skip=(cores >= 0) & (cores != top))
        on_ring = _ring_test(free_y[band], free_x[band], rects[top], zones)
        used[np.flatnonzero(~used)[shape.on_rings(free_y, free_x, on_ring)]] = True
    # half round an option: meant for it? a person decides (a mark elsewhere stays). Only the ink
    # nearer this option than any other counts: the arcs of loops round its neighbours do not. Ink
    # an open loop round a neighbour took counts too: that claim was a guess (two loops on adjacent
    # rows can each look like the one round the option between them).
    nearest = _nearest(ys, xs, zones, near)
    for i in before:
        if i in loops or before[i] < settings.open_loop_cover_min:
            continue
        if before[i] >= settings.loop_cover_min:  # went round it, until a neighbour's loop took the ink
            result.doubt_about(i, before[i], "loop")
            continue
        mine = ~used & ~explained & (nearest == i)
        own = _loop_scores(ys[mine], xs[mine], zones, {i: in_box[i][mine]}, loop_px)[i]
        if own >= settings.open_loop_cover_min:
            result.doubt_about(i, own, "loop")
    # what no loop explains and lies in no box: pieces of a loop split over several strokes
    boxed = np.logical_or.reduce(list(in_box.values())) if in_box else np.zeros(ys.size, bool)
    rest = ~used & ~explained & ~boxed & ~np.isin(nearest, loops)
    result.leftovers.append(np.column_stack([ys[rest], xs[rest]]))
    if loops:
        for i in loops:
            result.looped[i] = 1.0
        # the loops' own ink (round closed ones) is no mark in the boxes it crosses
        _give(result, label, loops, ys, xs, zones, in_box, size, loop_ink=used)
        return
    marked = [i for i in in_box if _is_mark(ys, xs, in_box[i], zones, i, size)]
    if marked:
        dominant = first if first in marked and inside[first] >= settings.stroke_owner_share * sum(inside.values()) \
            else None
        _give(result, label, [dominant] if dominant is not None else marked, ys, xs, zones, in_box, size)
        return
    beside = _beside(ys, xs, zones, near, settings)
    if beside is not None:  # a tick on the code, or a piece of a loop: meant, but which? a person decides
        result.doubt_about(beside, settings.open_loop_cover_min, "beside")
    elif size >= loop_px * size / ys.size and near.size:  # a long stroke near options, no one's: never dropped
        votes = np.bincount(np.searchsorted(near, _nearest(ys, xs, zones, near)), minlength=near.size)
        unexplained = int(near[int(np.argmax(votes))])
        result.doubt_about(unexplained, settings.open_loop_cover_min, "stray")
    result.own(label, [] if beside is None else [beside])


@overload
def _loop_scores(ys: np.ndarray, xs: np.ndarray, zones: _Zones, in_box: dict[int, np.ndarray], loop_px: float,
                 *, best_rect: Literal[False] = False) -> dict[int, float]: ...
@overload
def _loop_scores(ys: np.ndarray, xs: np.ndarray, zones: _Zones, in_box: dict[int, np.ndarray], loop_px: float,
                 *, best_rect: Literal[True]) -> tuple[dict[int, float], dict[int, np.ndarray]]: ...
def _loop_scores(
    ys: np.ndarray, xs: np.ndarray, zones: _Zones, in_box: dict[int, np.ndarray], loop_px: float,
    *, best_rect: bool = False,
) -> dict[int, float] | tuple[dict[int, float], dict[int, np.ndarray]]:
    """Per option near the stroke: how well the stroke goes round its box, its code or both (the best
    of the three, see _ring_score; with ``best_rect``, also which of the three rectangles). Ink inside
    another box is that box's business, no evidence here; less ink than a loop's (``loop_px``) goes
    round nothing. Ink in the outer _EDGE_SHARE of a box is an arc grazing it, and counts."""
    which = _cores(ys, xs, zones, in_box)
    score: dict[int, float] = {}
    rects: dict[int, np.ndarray] = {}
    for i in in_box:
        mine = (which == -1) | (which == i)
        if mine.sum() < loop_px:
            score[i] = 0.0
            continue
        found = [_ring_score(ys[mine], xs[mine], rect, zones.reach) for rect in zones.rects[i]]
        h = int(np.argmax(found))
        score[i], rects[i] = found[h], zones.rects[i, h]
    return (score, rects) if best_rect else score


def _cores(ys: np.ndarray, xs: np.ndarray, zones: _Zones, in_box: dict[int, np.ndarray]) -> np.ndarray:
    """Per pixel, the option in the core of whose box it lies (-1: none): inside the box but not in its
    outer _EDGE_SHARE, where a loop's arc grazing the box runs."""
    which = np.full(ys.size, -1)
    for i, sel in in_box.items():
        r0, r1, c0, c1 = zones.interior[i]
        m = _EDGE_SHARE * (r1 - r0)
        which[sel & (ys >= r0 + m) & (ys < r1 - m) & (xs >= c0 + m) & (xs < c1 - m)] = i
    return which


def _ring_test(
    ring_ys: np.ndarray, ring_xs: np.ndarray, rect: np.ndarray, zones: _Zones
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """A test for centre-line pixels (page rows, cols) lying on the open loop round ``rect`` whose own
    ink is (``ring_ys``, ``ring_xs``): within a pen's width of that ink."""
    grid: set[tuple[int, int]] = set()
    cell = max(1, int(_LOOP_SPREAD_MM * zones.px_mm))
    for r, c in zip((ring_ys // cell).tolist(), (ring_xs // cell).tolist(), strict=True):
        grid.add((r, c))

    def test(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return np.array([(r // cell, c // cell) in grid for r, c in zip(rows.tolist(), cols.tolist(), strict=True)],
                        bool)
    return test


def _on_loop(ys: np.ndarray, xs: np.ndarray, rect: np.ndarray, zones: _Zones, skip: np.ndarray) -> np.ndarray:
    """Which of the pixels make up a loop round ``rect``: in each direction, those within
    _LOOP_SPREAD_MM of the loop's own typical distance beyond the rectangle's edge (a loop touching
    another keeps only its own ink). ``skip``: pixels that are no part of it whatever their distance."""
    x0, y0, x1, y1 = rect
    cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, max(1.0, (x1 - x0) / 2), max(1.0, (y1 - y0) / 2)
    dx, dy = xs - cx, ys - cy
    angle = np.arctan2(dy, dx)
    edge = np.minimum(hw / np.maximum(np.abs(np.cos(angle)), 1e-6), hh / np.maximum(np.abs(np.sin(angle)), 1e-6))
    beyond = np.hypot(dx, dy) - edge
    bins = ((angle + np.pi) * (_BINS / (2 * np.pi))).astype(int) % _BINS
    band = (beyond >= -(1 - _CROSSING) * edge) & (beyond <= zones.reach) & ~skip
    typical = np.full(_BINS, np.nan)
    for b in np.unique(bins[band]):
        typical[b] = float(np.median(beyond[band & (bins == b)]))
    # the loop's distance varies smoothly round it: a tick that touches it, in two or three directions,
    # does not move the median of five neighbouring directions
    padded = np.concatenate([typical[-2:], typical, typical[:2]])
    smooth = np.array([np.nanmedian(padded[b:b + 5]) if np.isfinite(padded[b:b + 5]).any() else np.nan
                       for b in range(_BINS)])
    on = band & (np.abs(beyond - smooth[bins]) <= _LOOP_SPREAD_MM * zones.px_mm)
    return on


def _give(
    result: Attribution, label: int, owners: list[int], ys: np.ndarray, xs: np.ndarray, zones: _Zones,
    in_box: dict[int, np.ndarray], size: int, loop_ink: np.ndarray | None = None,
) -> None:
    """The stroke is ``owners``'; another box it also marks (a tick there joined to this stroke, not a
    loop's arc grazing its edge) counts it as its own ink too."""
    grades = {i: _is_mark(ys, xs, sel, zones, i, size, loop_ink) for i, sel in in_box.items() if i not in owners}
    result.own(label, [*owners, *(i for i, g in grades.items() if g)])
    for i, g in grades.items():
        if g == 1:  # a mark joined to another option's loop, or that loop crossing the box? a person says
            result.doubt_about(i, 1.0, "loop")


def _beside(
    ys: np.ndarray, xs: np.ndarray, zones: _Zones, near: np.ndarray, settings: RecognitionSettings
) -> int | None:
    """The option a stroke with no mark in any box lies beside (its box and code grown by
    ``beside_mm``), if one holds most of it."""
    grow = settings.beside_mm * zones.px_mm
    best, best_n = None, 0
    for i in near:
        x0, y0, x1, y1 = zones.rects[i, 2]
        n = int(((ys >= y0 - grow) & (ys < y1 + grow) & (xs >= x0 - grow) & (xs < x1 + grow)).sum())
        if n > best_n:
            best, best_n = int(i), n
    return best if best_n >= 0.6 * ys.size else None
