"""What happens to the paper before it reaches the scanner: torn corners, staples, folded-over
corners, creases; and the sheet's geometry that says what such damage may cover.

Everything here works in the page's own pixels (uint8 grey, 0 = black, (x, y) = (column, row)),
before any scanning, so a degradation's transform still maps the printed page exactly. A damaged
page carries a ``paper`` mask (255 where paper is, 0 where it was torn or folded away); a folded
corner also paints the back of the flap over the page. Damage never touches an answer area, the
QR code (with 2 modules of its quiet zone) or the printed digits line: ``SheetGeometry.spared``
checks that, and the damage shrinks until it holds.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from formgen.layout import PageLayout, Rect, standard_marks

MM_PER_INCH = 25.4
_QR_QUIET_MODULES = 4  # formgen prints the QR with a 4-module quiet zone inside layout.qr


@dataclass
class SheetGeometry:
    """Points (page px, x y) of what a degradation must keep or may lose."""

    marks: dict[str, np.ndarray]  # name -> 25 points spread over the printed mark
    answers: np.ndarray  # answer boxes (grown 1.5 mm), handwriting regions, the digits line
    qr_guard: np.ndarray  # the QR with 2 modules of its quiet zone
    qr_modules: Rect  # the QR's printed modules (px)
    quiet_px: float  # the quiet zone's width (px)
    px_per_mm: float
    size: tuple[int, int]  # (w, h) of the page image
    hidden: np.ndarray | None = None  # 255 where a folded flap lies over the page

    @property
    def keep(self) -> np.ndarray:
        """Every point no damage may take away (answers, digits, QR)."""
        return np.concatenate([self.answers, self.qr_guard])

    def lost(self, kept: np.ndarray) -> tuple[str, ...]:
        """Names of marks whose points are mostly not kept (``kept``: a bool per mark point, in the
        order of ``all_mark_points``)."""
        return tuple(name for i, name in enumerate(self.marks) if kept[i * 25 : (i + 1) * 25].mean() < 0.5)

    def on_paper(self, points: np.ndarray, paper: np.ndarray | None) -> np.ndarray:
        """Which points (page px) are on the paper and not under a folded flap."""
        return _inside_paper(paper, points) & ~(_inside_paper(self.hidden, points) if self.hidden is not None
                                                 else np.zeros(len(points), bool))

    def all_mark_points(self) -> np.ndarray:
        return np.concatenate(list(self.marks.values()))


def sheet_geometry(image: np.ndarray, dpi: float, page: PageLayout | None) -> SheetGeometry:
    """The geometry of ``page`` printed on ``image`` (the standard A4 sheet when ``page`` is None)."""
    s = dpi / MM_PER_INCH
    h, w = image.shape[:2]
    if page is None:
        wmm, hmm = w / s, h / s
        marks = standard_marks(wmm, hmm, inset=10.0, size=6.0)
        qr = Rect(x=wmm - 39.0, y=7.0, w=18.0, h=18.0)
        rects: list[Rect] = []
    else:
        marks, qr = page.marks, page.qr
        rects = [_grow(b, 1.5) for b in page.boxes] + [_grow(r, 0.5) for r in page.regions]
        rects.append(_grow(page.digits_text, 1.0))
    grid = np.linspace(-0.4, 0.4, 5)
    points: dict[str, np.ndarray] = {}
    for m in marks:
        dx, dy = np.meshgrid(grid * m.size, grid * m.size)
        points[m.name] = np.c_[(m.cx + dx.ravel()) * s, (m.cy + dy.ravel()) * s]
    modules = _qr_modules(image, qr, s)
    quiet = max(1.0, (qr.w * s - modules.w) / 2)
    guarded = Rect(x=modules.x - 2 * quiet / _QR_QUIET_MODULES, y=modules.y - 2 * quiet / _QR_QUIET_MODULES,
                   w=modules.w + 4 * quiet / _QR_QUIET_MODULES, h=modules.h + 4 * quiet / _QR_QUIET_MODULES)
    answers = [_corners(_scale(r, s)) for r in rects] or [np.zeros((0, 2))]
    return SheetGeometry(points, np.concatenate(answers), _corners(guarded), modules, quiet, s, (w, h))


def _qr_modules(image: np.ndarray, qr: Rect, s: float) -> Rect:
    """The printed modules' extent inside the QR's layout square (px); the square itself if blank."""
    x0, y0 = int(qr.x * s), int(qr.y * s)
    patch = image[y0 : int((qr.y + qr.h) * s), x0 : int((qr.x + qr.w) * s)] < 128
    ys, xs = np.nonzero(patch)
    if xs.size == 0:
        return _scale(qr, s)
    return Rect(x=float(x0 + xs.min()), y=float(y0 + ys.min()), w=float(np.ptp(xs) + 1), h=float(np.ptp(ys) + 1))


def _grow(r: Rect, mm: float) -> Rect:
    return Rect(x=r.x - mm, y=r.y - mm, w=r.w + 2 * mm, h=r.h + 2 * mm)


def _scale(r: Rect, s: float) -> Rect:
    return Rect(x=r.x * s, y=r.y * s, w=r.w * s, h=r.h * s)


def _corners(r: Rect) -> np.ndarray:
    xs = np.linspace(r.x, r.x + r.w, 3)
    ys = np.linspace(r.y, r.y + r.h, 3)
    return np.array([(x, y) for x in xs for y in ys], np.float64)


# --- damage --------------------------------------------------------------------------------------

CORNERS = ("top_left", "top_right", "bottom_left", "bottom_right")


def _corner_frame(corner: str, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Origin and unit axes (pointing into the page along both edges) of a page corner, px."""
    w, h = size
    ox = 0.0 if "left" in corner else float(w)
    oy = 0.0 if "top" in corner else float(h)
    return np.array([ox, oy]), np.array([1.0 if "left" in corner else -1.0, 1.0 if "top" in corner else -1.0])


def _inside_paper(mask: np.ndarray | None, points: np.ndarray) -> np.ndarray:
    if mask is None:
        return np.ones(len(points), bool)
    h, w = mask.shape
    xs = np.clip(points[:, 0].astype(int), 0, w - 1)
    ys = np.clip(points[:, 1].astype(int), 0, h - 1)
    return np.asarray(mask[ys, xs] > 127)


def spared(geo: SheetGeometry, paper: np.ndarray | None) -> bool:
    """Whether every answer area, the QR and the digits line are still on the paper."""
    return bool(_inside_paper(paper, geo.keep).all())


def tear_corner(image: np.ndarray, paper: np.ndarray, geo: SheetGeometry, corner: str,
                rng: np.random.Generator) -> str | None:
    """Tear ``corner`` off along a ragged curve 14-26 mm from it (in place); None if it would reach an
    answer area even when small."""
    s = geo.px_per_mm
    origin, axes = _corner_frame(corner, geo.size)
    for scale in (1.0, 0.85, 0.7, 0.55):
        a, b = rng.uniform(14, 26, 2) * s * scale
        bulge = float(rng.uniform(0.0, 0.35))
        t = np.linspace(0, 1, 60)
        # from the point a along the first edge to the point b along the other, bulging inwards
        ux, uy = a * (1 - t) + bulge * a * np.sin(np.pi * t), b * t + bulge * b * np.sin(np.pi * t)
        ux += rng.normal(0, 0.35 * s, t.size).cumsum() * 0.15
        uy += rng.normal(0, 0.35 * s, t.size).cumsum() * 0.15
        curve = np.c_[ux, uy]
        polygon = np.vstack([[[0, 0]], curve, [[0, 0]]]) * axes + origin
        trial = paper.copy()
        cv2.fillPoly(trial, [np.round(polygon * 16).astype(np.int32)], 0, cv2.LINE_AA, 4)
        if spared(geo, trial):
            paper[:] = trial
            image[trial < 128] = 255
            return f"torn corner {corner} ({a / s:.0f}×{b / s:.0f} mm)"
    return None


def staple(image: np.ndarray, geo: SheetGeometry, corner: str, rng: np.random.Generator) -> str:
    """A staple through ``corner`` (in place): a metal bar 12 mm long with its shadow, near or over
    the corner mark."""
    s = geo.px_per_mm
    origin, axes = _corner_frame(corner, geo.size)
    centre = origin + axes * rng.uniform(6, 14, 2) * s
    angle = float(rng.choice([rng.uniform(30, 60), rng.uniform(-8, 8)]))
    d = np.array([np.cos(np.deg2rad(angle)), np.sin(np.deg2rad(angle))]) * axes
    half = 6.2 * s
    p0, p1 = centre - d * half, centre + d * half
    shade = np.zeros(image.shape[:2], np.float32)
    off = rng.uniform(0.4, 0.8, 2) * s
    _line(shade, p0 + off, p1 + off, 1.4 * s, 0.35)
    shade = np.asarray(cv2.GaussianBlur(shade, (0, 0), 0.5 * s), np.float32)
    metal = np.zeros_like(shade)
    _line(metal, p0, p1, 0.8 * s, 1.0)
    shine = np.zeros_like(shade)
    _line(shine, p0 + d * 0.3 * s, p1 - d * 0.3 * s, 0.25 * s, 1.0)
    out = image.astype(np.float32) * (1 - shade)
    out = out * (1 - metal) + metal * float(rng.uniform(55, 95))  # the bar, dark grey
    out += shine * metal * float(rng.uniform(50, 100))  # the light catching its round top
    image[:] = np.clip(out, 0, 255).astype(np.uint8)
    return f"staple {corner}"


def fold_corner(image: np.ndarray, paper: np.ndarray, geo: SheetGeometry, corner: str,
                rng: np.random.Generator) -> str | None:
    """Fold ``corner`` over onto the page (in place): the flap beyond a fold line 16-30 mm from the
    corner shows the paper's back (faint mirrored show-through) over what lies under it."""
    s = geo.px_per_mm
    origin, axes = _corner_frame(corner, geo.size)
    for scale in (1.0, 0.85, 0.7, 0.6):
        a, b = rng.uniform(16, 30, 2) * s * scale
        pa, pb = origin + axes * (a, 0), origin + axes * (0, b)
        # the flap: the corner triangle mirrored across the line pa-pb
        n = np.array([-(pb - pa)[1], (pb - pa)[0]])
        n /= np.linalg.norm(n)
        mirrored_corner = origin - 2 * np.dot(origin - pa, n) * n
        flap = np.array([pa, pb, mirrored_corner])
        covered = np.zeros_like(paper)
        cv2.fillPoly(covered, [np.round(flap * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
        gone = np.zeros_like(paper)
        cv2.fillPoly(gone, [np.round(np.array([origin, pa, pb]) * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
        trial = np.minimum(paper, 255 - gone)
        if not spared(geo, np.minimum(trial, 255 - covered)):
            continue
        m = cv2.getAffineTransform(np.array([origin, pa, pb], np.float32), np.array([mirrored_corner, pa, pb], np.float32))
        back = cv2.warpAffine(image, m, (image.shape[1], image.shape[0]), flags=cv2.INTER_LINEAR, borderValue=255)
        tone, show = float(rng.uniform(225, 245)), float(rng.uniform(0.04, 0.12))
        back = tone * (1 - show * (1 - back.astype(np.float32) / 255)) * float(rng.uniform(0.9, 0.98))
        alpha = covered.astype(np.float32) / 255
        shadow = cv2.GaussianBlur(cv2.dilate(covered, np.ones((3, 3), np.uint8), iterations=int(s)), (0, 0), s)
        out = image.astype(np.float32) * (1 - 0.18 * shadow.astype(np.float32) / 255)
        out = out * (1 - alpha) + back * alpha
        image[:] = np.clip(np.where(trial < 128, 255, out), 0, 255).astype(np.uint8)
        paper[:] = trial
        geo.hidden = covered if geo.hidden is None else np.maximum(geo.hidden, covered)
        return f"corner {corner} folded over ({a / s:.0f}×{b / s:.0f} mm)"
    return None


def crease(image: np.ndarray, rng: np.random.Generator, *, px_per_mm: float) -> str:
    """A fold line across the page (in place): a thin grey line, shaded a little on one side."""
    h, w = image.shape[:2]
    across = rng.random() < 0.7
    at = float(rng.uniform(0.3, 0.7)) * (h if across else w)
    tilt = float(np.tan(np.deg2rad(rng.uniform(-1.5, 1.5))))
    small = 8  # the profile is smooth: computed coarse, scaled up
    yy, xx = np.mgrid[0 : h // small + 1, 0 : w // small + 1].astype(np.float32) * small
    dist = (yy - at - tilt * xx) if across else (xx - at - tilt * yy)
    dist /= px_per_mm
    line = float(rng.uniform(0.07, 0.18)) * np.exp(-(dist / float(rng.uniform(0.15, 0.3))) ** 2)
    side = float(rng.uniform(0.02, 0.07)) * np.exp(-np.maximum(dist, 0) / float(rng.uniform(2, 7))) * (dist > 0)
    gain = cv2.resize((1 - line - side).astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    image[:] = np.clip(image.astype(np.float32) * gain, 0, 255).astype(np.uint8)
    return "crease " + ("across" if across else "down") + f" at {at / px_per_mm:.0f} mm"


def _line(canvas: np.ndarray, p0: np.ndarray, p1: np.ndarray, width: float, value: float) -> None:
    a = np.round(p0 * 16).astype(np.int32)
    b = np.round(p1 * 16).astype(np.int32)
    cv2.line(canvas, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), value, max(1, int(round(width))), cv2.LINE_AA, 4)
