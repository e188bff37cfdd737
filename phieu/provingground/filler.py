"""Draw a respondent's marks on a rasterised sheet: ticks, crosses, fills, loops, pencil, write-ins.

Images are uint8 greyscale numpy arrays indexed (row, col), 0 = black. Geometry is (x, y) with
x = column; layout millimetres (from the page's top-left) become pixels as ``mm * dpi / 25.4``.
Strokes are anti-aliased cv2 polylines with a trembling hand (jittered points, varying width and
darkness); ink darkens the paper multiplicatively, so printed lines stay visible under it. Pencil
is light grey and grainy. Handwriting stays strictly inside its HandwritingRegion. The styles of
issue 8 (loops, overshooting ticks, marker, skipping pens, ghosts, scribbles, strays, real marks cut
from real scans) take their shapes from ``strokes`` and are drawn whatever the neighbouring boxes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from formgen.layout import AnswerBox, HandwritingRegion, PageLayout, Rect

from . import strokes as shapes
from .realmarks import MarkBank, paste_mark
from .truth import CODE_LABEL_MM, ROOMY_MM, MarkSpec, SheetTruth, free_space_mm

log = logging.getLogger(__name__)

MM_PER_INCH = 25.4

_SUBPIXEL_BITS = 4  # cv2 fixed-point drawing: 1/16 px precision
Point = tuple[float, float]


@dataclass(frozen=True)
class Pen:
    width_mm: float
    ink: float  # grey level of a fully inked pixel (0 black .. 255 white)
    grain: float  # share of pixels the pen skips (pencil on paper texture)


def sheet_pen(rng: np.random.Generator) -> Pen:
    """One person's ballpoint or felt pen: black to light blue in grey, lines 0.3-0.6 mm wide."""
    return Pen(width_mm=float(rng.uniform(0.3, 0.6)), ink=float(rng.uniform(15, 85)), grain=0.0)


def pencil(rng: np.random.Generator) -> Pen:
    return Pen(width_mm=float(rng.uniform(0.3, 0.5)), ink=float(rng.uniform(105, 150)), grain=0.3)


def rubbed_out(rng: np.random.Generator) -> Pen:
    """What an eraser leaves of a pencil mark: a faint, broad, patchy grey."""
    return Pen(width_mm=float(rng.uniform(0.6, 1.0)), ink=float(rng.uniform(200, 230)), grain=0.5)


def marker(rng: np.random.Generator) -> Pen:
    """A felt-tip marker: broad (0.8-1.3 mm) and nearly black."""
    return Pen(width_mm=float(rng.uniform(0.8, 1.3)), ink=float(rng.uniform(5, 35)), grain=0.0)


def light_pencil(rng: np.random.Generator) -> Pen:
    """A hard pencil pressed lightly: thin, pale, grainy, yet plainly a stroke on white paper."""
    return Pen(width_mm=float(rng.uniform(0.25, 0.4)), ink=float(rng.uniform(150, 185)), grain=0.35)


def ghost_pen(rng: np.random.Generator) -> Pen:
    """What an eraser leaves of a firm pencil mark: pale grey, patchy, smeared, its shape still there."""
    return Pen(width_mm=float(rng.uniform(0.35, 0.5)), ink=float(rng.uniform(150, 195)), grain=0.4)


def fill_page(
    image: np.ndarray,
    page: PageLayout,
    truth: SheetTruth,
    *,
    dpi: float = 300.0,
    rng: np.random.Generator,
    bank: MarkBank | None = None,
) -> np.ndarray:
    """A copy of ``image`` (the stamped page rendered at ``dpi``) with ``truth``'s marks for this page.

    ``bank``: real pen marks for the styles ``real`` and ``real_solid`` (required when they occur).
    """
    out = image.copy()
    boxes = {b.id: b for b in page.boxes}
    regions = {r.id: r for r in page.regions}
    hand = _Hand(out, dpi, rng, sheet_pen(rng), clean=image, bank=bank, frames=page.boxes)
    free = free_space_mm(page)
    for mark in truth.marks_on_page(set(boxes) | set(regions)):
        if mark.style == "write":
            hand.write(regions[mark.box_id])
        else:
            hand.mark(boxes[mark.box_id], mark, roomy=free[mark.box_id][1] >= ROOMY_MM)
    return out


def code_rect(image: np.ndarray, box: Rect, dpi: float) -> Rect:
    """Where the option's code is printed (bold, just right of the box), measured on the clean page.

    The first run of ink right of the frame, at most 3.5 mm wide; the usual place when none is found.
    """
    s = dpi / MM_PER_INCH
    x0, x1 = int((box.x + box.w + 0.35) * s), int((box.x + box.w + 6.0) * s)
    y0, y1 = int(box.y * s), int((box.y + box.h) * s)
    band = image[max(0, y0) : y1, max(0, x0) : x1] < 128
    cols = np.flatnonzero(band.any(axis=0))
    if cols.size == 0:
        return Rect(x=box.x + box.w + 1.5, y=box.y + 1.1, w=2.5, h=3.2)
    gaps = np.flatnonzero(np.diff(cols) > 0.5 * s)
    last = cols[gaps[0]] if gaps.size else cols[-1]
    first, last = int(cols[0]), int(min(last, cols[0] + 3.5 * s))
    rows = np.flatnonzero(band[:, first : last + 1].any(axis=1))
    return Rect(x=(x0 + first) / s, y=(y0 + int(rows[0])) / s, w=(last - first + 1) / s, h=(int(rows[-1]) - int(rows[0]) + 1) / s)


class _Hand:
    """Draws strokes onto ``image`` in place, one local patch at a time (fast on 300 dpi pages)."""

    def __init__(
        self,
        image: np.ndarray,
        dpi: float,
        rng: np.random.Generator,
        pen: Pen,
        *,
        clean: np.ndarray | None = None,
        bank: MarkBank | None = None,
        frames: list[AnswerBox] | None = None,
    ) -> None:
        self.image = image
        self.dpi = dpi
        self.px_per_mm = dpi / MM_PER_INCH
        self.rng = rng
        self.pen = pen
        self.clean = image.copy() if clean is None else clean
        self.bank = bank
        self.frames: list[Rect] = list(frames or [])

    def mark(self, box: AnswerBox, mark: MarkSpec, *, roomy: bool = True) -> None:
        """``roomy``: there is free paper above and below the box (else circles hug the code only)."""
        draw: dict[str, Callable[[Rect], list[list[Point]]]] = {
            "tick": self._tick,
            "cross": self._cross,
            "pencil": self._tick_or_cross,
            "overflow": self._overflow,
            "circle": self._circle if roomy else self._circle_code,
        }
        if mark.style in _NEW_STYLES:
            self._mark_as_people_do(box, mark.style)
        elif mark.style in ("fill", "cancel"):
            self._solid(box, full=mark.style == "cancel")
        elif mark.style == "dot":
            self._dot(box)
        elif mark.style == "erased":
            self._ink(self._tick_or_cross(box), rubbed_out(self.rng), _grow(box, 4.0), smudge_mm=0.3)
        else:
            pen = pencil(self.rng) if mark.style == "pencil" else self._wobbled_pen()
            self._ink(draw[mark.style](box), pen, _grow(box, 4.0))

    def _mark_as_people_do(self, box: AnswerBox, style: str) -> None:
        """The issue-8 styles: shapes from ``strokes``, drawn whatever lies next to the box."""
        rng = self.rng
        if style in ("real", "real_solid"):
            if self.bank is None:
                raise ValueError(f"style {style!r} needs real marks: pass a MarkBank to fill_page")
            paste_mark(self.image, box, self.bank.pick(rng, solid=style == "real_solid"), dpi=self.dpi, rng=rng)
            return
        if style in ("loop", "loop_code", "check_out"):
            code = code_rect(self.clean, box, self.dpi)
            if style == "loop":
                target = Rect(x=box.x, y=box.y, w=code.x + code.w - box.x, h=box.h)
                self._ink(shapes.loop(rng, target), self._wobbled_pen())
            elif style == "loop_code":
                self._ink(shapes.loop(rng, code, slack=(0.25, 1.1), aspect=(0.75, 1.15)), self._wobbled_pen())
            else:
                self._ink(shapes.tick_over_code(rng, box, code), self._wobbled_pen())
        elif style == "tick_over":
            self._ink(shapes.tick(rng, box, over=True), self._wobbled_pen())
        elif style == "cross_over":
            self._ink(shapes.cross(rng, box, over=True), self._wobbled_pen())
        elif style == "marker":
            drawn = shapes.tick(rng, box, over=rng.random() < 0.3) if rng.random() < 0.5 else shapes.cross(rng, box)
            self._ink(drawn, marker(rng), smudge_mm=0.06)
        elif style == "light":
            self._ink(self._tick_or_cross(box), light_pencil(rng))
        elif style == "skip":
            drawn = shapes.tick(rng, box) if rng.random() < 0.5 else shapes.cross(rng, box)
            for piece in shapes.broken(rng, drawn):  # the ballpoint's pressure and ink vary along the way
                p = self.pen
                self._ink([piece], Pen(p.width_mm * float(rng.uniform(0.7, 1.0)), p.ink + float(rng.uniform(0, 60)), 0.1))
        elif style == "scribble":
            self._ink(shapes.scribble(rng, box), self._wobbled_pen())
        elif style == "ghost":
            self._ink(self._tick_or_cross(box), ghost_pen(rng), smudge_mm=float(rng.uniform(0.1, 0.25)), patchy=0.35)
        elif style == "stray":
            pen = Pen(float(rng.uniform(0.35, 1.0)), self.pen.ink, 0.0)  # a fine dot to a pen rest's blot
            self._ink(shapes.stray(rng, box, self.frames, pad=pen.width_mm / 2 + 0.3), pen)

    def write(self, region: HandwritingRegion) -> None:
        """Cursive-like scribbles on lines 7 mm apart (~3 mm letters), strictly inside the region."""
        inner = _grow(region, -1.0)
        line_h = min(7.0, inner.h)
        strokes: list[list[Point]] = []
        lines = max(1, int(inner.h // line_h))
        for line in range(int(self.rng.integers(1, lines + 1))):
            base = inner.y + line_h * (line + 0.75)
            x = inner.x + float(self.rng.uniform(0, 4))
            end = inner.x + inner.w * float(self.rng.uniform(0.45, 1.0))
            while x < end - 3:
                width = min(float(self.rng.uniform(6, 18)), end - x)
                strokes.append(self._word(x, base, width, line_h * 0.45))
                x += width + float(self.rng.uniform(1.5, 3.5))
        clipped = [
            [
                (min(max(px, inner.x), inner.x + inner.w), min(max(py, inner.y), inner.y + inner.h))
                for px, py in s
            ]
            for s in strokes
        ]
        pen = Pen(self.pen.width_mm * 0.8, self.pen.ink, 0.0)
        self._ink(clipped, pen, inner, clip=inner)

    # --- shapes (mm, page coordinates) -------------------------------------------------------------

    def _tick(self, r: Rect) -> list[list[Point]]:
        j = self._jitter
        return [
            self._path(
                [
                    (r.x + r.w * (0.18 + j(0.06)), r.y + r.h * (0.5 + j(0.08))),
                    (r.x + r.w * (0.42 + j(0.06)), r.y + r.h * (0.82 + j(0.06))),
                    (r.x + r.w * (0.88 + j(0.08)), r.y + r.h * (0.12 + j(0.08))),
                ]
            )
        ]

    def _cross(self, r: Rect) -> list[list[Point]]:
        j = self._jitter
        a, b = 0.15, 0.85
        return [
            self._path(
                [
                    (r.x + r.w * (a + j(0.06)), r.y + r.h * (a + j(0.06))),
                    (r.x + r.w * (b + j(0.06)), r.y + r.h * (b + j(0.06))),
                ]
            ),
            self._path(
                [
                    (r.x + r.w * (b + j(0.06)), r.y + r.h * (a + j(0.06))),
                    (r.x + r.w * (a + j(0.06)), r.y + r.h * (b + j(0.06))),
                ]
            ),
        ]

    def _tick_or_cross(self, r: Rect) -> list[list[Point]]:
        return self._tick(r) if self.rng.random() < 0.5 else self._cross(r)

    def _overflow(self, r: Rect) -> list[list[Point]]:
        """A big tick whose long stroke, or a cross whose arms, run 1-2 mm past the frame."""
        j, u = self._jitter, self.rng.uniform
        reach = float(u(1.0, 2.0))
        if self.rng.random() < 0.5:
            start = (r.x + r.w * (0.15 + j(0.05)), r.y + r.h * (0.45 + j(0.08)))
            low = (r.x + r.w * (0.42 + j(0.05)), r.y + r.h * (0.88 + j(0.04)))
            return [self._path([start, low, (r.x + r.w + reach * 0.7, r.y - reach * 0.7)])]
        out = reach * 0.7
        return [
            self._path(
                [(r.x - out + j(0.2), r.y - out + j(0.2)), (r.x + r.w + out + j(0.2), r.y + r.h + out)]
            ),
            self._path(
                [(r.x + r.w + out + j(0.2), r.y - out + j(0.2)), (r.x - out + j(0.2), r.y + r.h + out)]
            ),
        ]

    def _circle(self, r: Rect) -> list[list[Point]]:
        """An ellipse around the box and its printed code (beside it, on the right), not quite closed."""
        label_w = CODE_LABEL_MM
        cx, cy = r.x + (r.w + label_w) / 2, r.y + r.h / 2
        ax = (r.w + label_w) / 2 + float(self.rng.uniform(0.9, 1.4))
        ay = r.h / 2 + float(self.rng.uniform(0.6, 1.1))
        return self._ellipse(cx, cy, ax, ay)

    def _ellipse(self, cx: float, cy: float, ax: float, ay: float) -> list[list[Point]]:
        """An ellipse drawn in one go, starting anywhere, not quite closed or a little overdrawn."""
        start = float(self.rng.uniform(0, 2 * np.pi))
        sweep = float(self.rng.uniform(1.9, 2.15)) * np.pi
        t = np.linspace(start, start + sweep, 48)
        wobble = 1 + 0.04 * np.sin(t * float(self.rng.uniform(2, 4)))
        return [[(cx + ax * w * np.cos(a), cy + ay * w * np.sin(a)) for a, w in zip(t, wobble, strict=True)]]

    def _circle_code(self, r: Rect) -> list[list[Point]]:
        """A small ellipse round the printed code only; its left arc cuts through the box's right side."""
        cx, cy = r.x + r.w + CODE_LABEL_MM / 2, r.y + r.h / 2
        ax = CODE_LABEL_MM / 2 + float(self.rng.uniform(0.9, 1.4))
        ay = r.h / 2 - float(self.rng.uniform(0.2, 0.6))
        return self._ellipse(cx, cy, ax, ay)

    def _word(self, x: float, base: float, width: float, height: float) -> list[Point]:
        """Loops and humps of varying height, about one letter per 2 mm: cursive from arm's length."""
        n = max(12, int(width * 5))
        t = np.linspace(0.0, 1.0, n)
        letters = width / 2.0
        phase = 2 * np.pi * letters * t + self.rng.normal(0, 0.15, n).cumsum() * 0.3
        heights = self.rng.choice([0.5, 0.5, 0.7, 1.0, 1.4], int(letters) + 3)  # x-height, ascenders
        tall = np.interp(phase / (2 * np.pi), np.arange(len(heights)), heights)
        xs = x + width * t - 0.5 * np.cos(phase)
        ys = base - height * tall * (0.5 - 0.5 * np.cos(phase))
        return [(float(a), float(b)) for a, b in zip(xs, ys, strict=True)]

    def _path(self, corners: list[Point]) -> list[Point]:
        """Corners joined by slightly trembling segments (several points per mm)."""
        pts: list[Point] = []
        for (x0, y0), (x1, y1) in zip(corners, corners[1:], strict=False):
            n = max(3, int(np.hypot(x1 - x0, y1 - y0) * 2))
            for t in np.linspace(0, 1, n, endpoint=False):
                pts.append((x0 + (x1 - x0) * t + self._jitter(0.06), y0 + (y1 - y0) * t + self._jitter(0.06)))
        pts.append(corners[-1])
        return pts

    def _jitter(self, scale: float) -> float:
        return float(self.rng.normal(0, scale))

    # --- ink on pixels -----------------------------------------------------------------------------

    def _wobbled_pen(self) -> Pen:
        p = self.pen
        return Pen(p.width_mm * float(self.rng.uniform(0.85, 1.15)), p.ink + self._jitter(6), p.grain)

    def _solid(self, box: AnswerBox, *, full: bool) -> None:
        """Blacken the box: a dense zigzag of a broad stroke; ``full`` (cancel) also fills the gaps."""
        pen = Pen(max(0.6, self.pen.width_mm * 1.4), self.pen.ink, 0.0)
        r = _grow(box, -0.2)
        rows = int(r.h / (pen.width_mm * 0.7)) + 2
        zig = [
            (
                r.x + (r.w if i % 2 else 0) + self._jitter(0.15),
                r.y + r.h * i / (rows - 1) + self._jitter(0.08),
            )
            for i in range(rows)
        ]
        strokes = [zig]
        if full:
            strokes.append([(r.x, r.y), (r.x + r.w, r.y), (r.x + r.w, r.y + r.h), (r.x, r.y + r.h)])
        self._ink(strokes, pen, _grow(box, 1.5), filled=full)

    def _dot(self, box: AnswerBox) -> None:
        """A pen rest: a dot of ~0.5 mm inside or just beside the box."""
        cx = box.x + box.w * float(self.rng.uniform(-0.1, 1.1))
        cy = box.y + box.h * float(self.rng.uniform(-0.1, 1.1))
        pen = Pen(float(self.rng.uniform(0.4, 0.6)), self.pen.ink, 0.0)
        self._ink([[(cx, cy), (cx + 0.05, cy + 0.05)]], pen, _grow(box, 2.0))

    def _ink(
        self,
        strokes: list[list[Point]],
        pen: Pen,
        area: Rect | None = None,
        *,
        clip: Rect | None = None,
        filled: bool = False,
        smudge_mm: float = 0.0,
        patchy: float = 0.0,
    ) -> None:
        """Render ``strokes`` (mm) with ``pen`` into the image patch under ``area`` (mm; default: round
        the strokes). ``patchy``: share of the stroke an eraser took away, in soft patches."""
        strokes = [st for st in strokes if st]
        if not strokes:
            return
        if area is None:
            xs, ys = [x for st in strokes for x, _ in st], [y for st in strokes for _, y in st]
            area = _grow(Rect(x=min(xs), y=min(ys), w=max(xs) - min(xs), h=max(ys) - min(ys)), pen.width_mm + 1.0)
        s = self.px_per_mm
        h, w = self.image.shape[:2]
        x0, y0 = max(0, int(area.x * s)), max(0, int(area.y * s))
        x1, y1 = min(w, int((area.x + area.w) * s) + 2), min(h, int((area.y + area.h) * s) + 2)
        if x1 <= x0 or y1 <= y0:
            return
        alpha = np.zeros((y1 - y0, x1 - x0), np.uint8)
        scale = s * (1 << _SUBPIXEL_BITS)
        polys = [np.round((np.array(st) - (x0 / s, y0 / s)) * scale).astype(np.int32) for st in strokes]
        width = max(1, round(pen.width_mm * s))
        if filled:
            cv2.fillPoly(alpha, polys[-1:], 255, cv2.LINE_AA, _SUBPIXEL_BITS)
        cv2.polylines(alpha, polys, False, 255, width, cv2.LINE_AA, _SUBPIXEL_BITS)
        a = alpha.astype(np.float32) / 255.0
        if pen.grain > 0:
            a *= self.rng.random(a.shape, dtype=np.float32) > pen.grain
        if patchy > 0:  # a smooth random field: the eraser passed more here than there
            coarse = self.rng.random((a.shape[0] // 12 + 2, a.shape[1] // 12 + 2)).astype(np.float32)
            field = cv2.resize(coarse, (a.shape[1], a.shape[0]), interpolation=cv2.INTER_CUBIC)
            a *= np.clip((field - patchy) * 4.0, 0.0, 1.0)
        if smudge_mm > 0:
            a = np.asarray(cv2.GaussianBlur(a, (0, 0), smudge_mm * s), np.float32)
        if clip is not None:
            a *= _rect_mask(a.shape, clip, (x0, y0), s)
        patch = self.image[y0:y1, x0:x1].astype(np.float32)
        darken = 1.0 - a * (1.0 - np.clip(pen.ink, 0, 255) / 255.0)
        self.image[y0:y1, x0:x1] = np.clip(patch * darken, 0, 255).astype(np.uint8)


_NEW_STYLES = frozenset(
    {"loop", "loop_code", "tick_over", "cross_over", "marker", "skip", "light", "check_out", "real", "real_solid",
     "scribble", "ghost", "stray"}
)


def _grow(r: Rect, mm: float) -> Rect:
    return Rect(x=r.x - mm, y=r.y - mm, w=r.w + 2 * mm, h=r.h + 2 * mm)


def _rect_mask(shape: tuple[int, ...], r: Rect, origin: tuple[int, int], s: float) -> np.ndarray:
    """1 inside ``r`` (mm), 0 outside, on a patch whose top-left pixel is ``origin`` (x, y)."""
    mask = np.zeros(shape[:2], np.float32)
    cx0, cy0 = int(np.ceil(r.x * s)) - origin[0], int(np.ceil(r.y * s)) - origin[1]
    cx1, cy1 = int((r.x + r.w) * s) - origin[0], int((r.y + r.h) * s) - origin[1]
    mask[max(0, cy0) : max(0, cy1), max(0, cx0) : max(0, cx1)] = 1.0
    return mask
