"""The shapes of marks people make, as polylines in layout millimetres (x right, y down).

Pure geometry from a random hand: no pixels here (``filler`` inks them). Shapes come from what
respondents do, never from what a reader copes with: a loop round an option is as big as the hand
makes it and crosses whatever frame lies in its way; a tick's tail runs on into the next row.

Every function takes the ``rng`` first and returns a list of strokes, each a list of (x, y) points.
"""

from __future__ import annotations

import numpy as np

from formgen.layout import Rect

Point = tuple[float, float]
Stroke = list[Point]

LOOP_REACH_MM = 3.9  # a loop reaches at most this far above/below the box it circles (~2 mm row gap + a third of the next box)


def contains(stroke: Stroke, x: float, y: float) -> bool:
    """Whether (x, y) lies inside the closed polygon ``stroke`` (even-odd rule)."""
    inside = False
    n = len(stroke)
    for i in range(n):
        (x0, y0), (x1, y1) = stroke[i], stroke[(i + 1) % n]
        if (y0 > y) != (y1 > y) and x < x0 + (x1 - x0) * (y - y0) / (y1 - y0):
            inside = not inside
    return inside


def loop(rng: np.random.Generator, target: Rect, *, slack: tuple[float, float] = (0.2, 1.8),
         aspect: tuple[float, float] = (0.45, 0.9), reach_mm: float = LOOP_REACH_MM) -> list[Stroke]:
    """A loop drawn round ``target`` (a box and its code, or a code alone), as people draw them.

    Ellipse-like, sometimes lopsided, tilted, open by 10-30 % or overdrawn in a spiral of up to two
    turns; always enclosing ``target`` as a whole turn would, and never reaching more than
    ``reach_mm`` above or below it.
    """
    cx, cy = target.x + target.w / 2 + rng.normal(0, 0.25), target.y + target.h / 2 + rng.normal(0, 0.15)
    a0, b0 = target.w / 2, target.h / 2
    s = float(rng.uniform(*slack))
    k = float(rng.uniform(*aspect))
    tilt = float(np.deg2rad(rng.uniform(-25, 25))) if rng.random() < 0.35 else float(rng.normal(0, 0.05))
    lop = (float(rng.uniform(0.04, 0.14)), float(rng.uniform(0, 2 * np.pi))) if rng.random() < 0.4 else (0.0, 0.0)
    kind = rng.choice(["closed", "open", "spiral"], p=[0.55, 0.25, 0.2])
    turns = {"closed": rng.uniform(1.0, 1.12), "open": rng.uniform(0.7, 0.9), "spiral": rng.uniform(1.4, 2.3)}[kind]
    growth = float(rng.uniform(-0.08, 0.1)) if kind == "spiral" else 0.0
    ax = float(np.sqrt((a0 + s) ** 2 + ((b0 + s) / k) ** 2))
    ay = k * ax
    corners = [(target.x, target.y), (target.x + target.w, target.y), (target.x, target.y + target.h),
               (target.x + target.w, target.y + target.h)]
    for _ in range(60):
        ring = _ring(cx, cy, ax, ay, tilt, lop, 1.0, 0.0, 0.0, 96)
        ys = [p[1] for p in ring]
        if max(ys) - (target.y + target.h) > reach_mm or target.y - min(ys) > reach_mm:
            tilt *= 0.7  # a tilted wide loop stands too tall: the hand levels it and flattens it
            ay *= 0.96
            ax *= 1.02
        elif not all(contains(ring, x, y) for x, y in corners):
            ax, ay = ax * 1.05, ay * 1.03
        else:
            break
    start = float(rng.uniform(0, 2 * np.pi))
    n = int(max(48, 64 * turns))
    stroke = _ring(cx, cy, ax, ay, tilt, lop, turns, start, growth, n)
    return [[(x + rng.normal(0, 0.04), y + rng.normal(0, 0.04)) for x, y in stroke]]


def _ring(cx: float, cy: float, ax: float, ay: float, tilt: float, lop: tuple[float, float], turns: float,
          start: float, growth: float, n: int) -> Stroke:
    t = np.linspace(0.0, 2 * np.pi * turns, n)
    r = 1 + lop[0] * np.cos(t + start - lop[1]) + growth * t / (2 * np.pi)
    u, v = ax * r * np.cos(t + start), ay * r * np.sin(t + start)
    c, s = np.cos(tilt), np.sin(tilt)
    return [(float(cx + c * a - s * b), float(cy + s * a + c * b)) for a, b in zip(u, v, strict=True)]


def tick(rng: np.random.Generator, r: Rect, *, over: bool = False) -> list[Stroke]:
    """A tick in the box; ``over``: its long stroke runs 1.5-5 mm on past the top-right corner
    (into the row above, the next code), and it may start left of the frame."""
    j = rng.normal
    start = (r.x + r.w * (0.18 + j(0, 0.06)), r.y + r.h * (0.5 + j(0, 0.08)))
    low = (r.x + r.w * (0.42 + j(0, 0.06)), r.y + r.h * (0.82 + j(0, 0.06)))
    end = (r.x + r.w * (0.88 + j(0, 0.08)), r.y + r.h * (0.12 + j(0, 0.08)))
    if over:
        if rng.random() < 0.4:
            start = (r.x - float(rng.uniform(0.3, 1.5)), r.y + r.h * float(rng.uniform(0.3, 0.6)))
        angle = np.deg2rad(rng.uniform(45, 75))
        length = float(rng.uniform(1.5, 5.0)) + float(np.hypot(r.x + r.w - low[0], low[1] - r.y))
        end = (low[0] + length * float(np.cos(angle)), low[1] - length * float(np.sin(angle)))
    return [path(rng, [start, low, end])]


def cross(rng: np.random.Generator, r: Rect, *, over: bool = False) -> list[Stroke]:
    """Two strokes corner to corner; ``over``: each end runs 1-3.5 mm past its corner."""
    j = rng.normal
    a, b = 0.15, 0.85
    strokes = []
    for (x0, y0), (x1, y1) in (((a, a), (b, b)), ((b, a), (a, b))):
        p0 = (r.x + r.w * (x0 + j(0, 0.06)), r.y + r.h * (y0 + j(0, 0.06)))
        p1 = (r.x + r.w * (x1 + j(0, 0.06)), r.y + r.h * (y1 + j(0, 0.06)))
        if over:
            d = np.subtract(p1, p0) / max(float(np.hypot(*np.subtract(p1, p0))), 1e-6)
            e0 = float(rng.uniform(1.0, 3.5)) + 0.15 * r.w * 1.41
            e1 = float(rng.uniform(1.0, 3.5)) + 0.15 * r.w * 1.41
            p0 = (p0[0] - d[0] * e0, p0[1] - d[1] * e0)
            p1 = (p1[0] + d[0] * e1, p1[1] + d[1] * e1)
        strokes.append(path(rng, [p0, p1]))
    return strokes


def tick_over_code(rng: np.random.Generator, box: Rect, code: Rect) -> list[Stroke]:
    """A tick drawn over the printed code beside the box (not in it), as on forms that ask to tick
    or circle the code."""
    x0 = max(code.x - float(rng.uniform(-0.2, 0.5)), box.x + box.w + 0.4)
    x1 = code.x + code.w + float(rng.uniform(0.5, 2.0))
    top, bottom = code.y - float(rng.uniform(0.3, 1.2)), code.y + code.h + float(rng.uniform(-0.2, 0.4))
    start = (x0, top + (bottom - top) * float(rng.uniform(0.45, 0.65)))
    low = (x0 + (x1 - x0) * float(rng.uniform(0.3, 0.45)), bottom)
    return [path(rng, [start, low, (x1, top)])]


def scribble(rng: np.random.Generator, r: Rect) -> list[Stroke]:
    """A box scribbled out: a dense zigzag at any angle, 0.3-1.5 mm past the frame, sometimes
    hatched over a second time across."""
    strokes = []
    for layer in range(1 if rng.random() < 0.5 else 2):
        angle = float(rng.uniform(0, np.pi)) + layer * np.pi / 2
        over = float(rng.uniform(0.3, 1.5))
        half = max(r.w, r.h) / 2 + over
        cx, cy = r.x + r.w / 2, r.y + r.h / 2
        d, n = np.array([np.cos(angle), np.sin(angle)]), np.array([-np.sin(angle), np.cos(angle)])
        count = int(rng.integers(9, 16))
        points = []
        for i in range(count):
            offset = -half + 2 * half * i / (count - 1) + float(rng.normal(0, 0.1))
            end = half * (1 if i % 2 else -1) * float(rng.uniform(0.85, 1.05))
            points.append((cx + n[0] * offset + d[0] * end, cy + n[1] * offset + d[1] * end))
        strokes.append(_clip_to(points, _grow(r, over)))
    return strokes


def stray(rng: np.random.Generator, box: Rect, avoid: list[Rect], *, pad: float = 0.5) -> list[Stroke]:
    """A pen rest beside ``box``: a dot, a blot, a short dash or a hook, 0.4-2.5 mm outside its frame
    and at least ``pad`` mm (the pen's half width and some) from every frame of ``avoid``."""
    for _ in range(40):
        side = int(rng.integers(4))
        gap = float(rng.uniform(0.4, 2.5))
        along = float(rng.uniform(-0.3, 1.3))
        if side == 0:
            x, y = box.x + box.w * along, box.y - gap
        elif side == 1:
            x, y = box.x + box.w * along, box.y + box.h + gap
        elif side == 2:
            x, y = box.x - gap, box.y + box.h * along
        else:
            x, y = box.x + box.w + gap, box.y + box.h * along
        shape = _blot(rng, x, y)
        if not any(_hits(shape, _grow(other, pad)) for other in avoid):
            return shape
    return []


def _blot(rng: np.random.Generator, x: float, y: float) -> list[Stroke]:
    kind = rng.choice(["dot", "dash", "hook"], p=[0.6, 0.25, 0.15])
    if kind == "dot":
        return [[(x, y), (x + float(rng.normal(0, 0.05)), y + float(rng.normal(0, 0.05)))]]
    angle = float(rng.uniform(0, 2 * np.pi))
    length = float(rng.uniform(0.6, 1.8))
    end = (x + length * np.cos(angle), y + length * np.sin(angle))
    if kind == "dash":
        return [[(x, y), (float(end[0]), float(end[1]))]]
    bend = angle + np.pi * 0.6
    return [[(x, y), (float(end[0]), float(end[1])), (float(end[0] + 0.4 * np.cos(bend)), float(end[1] + 0.4 * np.sin(bend)))]]


def _hits(strokes: list[Stroke], r: Rect) -> bool:
    return any(r.x <= x <= r.x + r.w and r.y <= y <= r.y + r.h for s in strokes for x, y in s)


def path(rng: np.random.Generator, corners: list[Point], *, tremble: float = 0.06) -> Stroke:
    """Corners joined by slightly trembling segments (several points per mm)."""
    pts: list[Point] = []
    for (x0, y0), (x1, y1) in zip(corners, corners[1:], strict=False):
        n = max(3, int(np.hypot(x1 - x0, y1 - y0) * 2))
        for t in np.linspace(0, 1, n, endpoint=False):
            pts.append((x0 + (x1 - x0) * t + float(rng.normal(0, tremble)),
                        y0 + (y1 - y0) * t + float(rng.normal(0, tremble))))
    pts.append(corners[-1])
    return pts


def broken(rng: np.random.Generator, strokes: list[Stroke]) -> list[Stroke]:
    """A skipping, drying ballpoint: each stroke split into dashes 0.8-3 mm long with 0.5-1.5 mm gaps."""
    pieces: list[Stroke] = []
    for stroke in strokes:
        pts = np.array(stroke)
        seg = np.hypot(*np.diff(pts, axis=0).T)
        at = np.r_[0.0, np.cumsum(seg)]
        pos, on = 0.0, True
        while pos < at[-1]:
            length = float(rng.uniform(0.8, 3.0) if on else rng.uniform(0.5, 1.5))
            if on:
                ts = np.linspace(pos, min(pos + length, at[-1]), max(2, int(length * 4)))
                xs, ys = np.interp(ts, at, pts[:, 0]), np.interp(ts, at, pts[:, 1])
                pieces.append([(float(a), float(b)) for a, b in zip(xs, ys, strict=True)])
            pos += length
            on = not on
    return pieces


def _grow(r: Rect, mm: float) -> Rect:
    return Rect(x=r.x - mm, y=r.y - mm, w=r.w + 2 * mm, h=r.h + 2 * mm)


def _clip_to(points: list[Point], r: Rect) -> Stroke:
    return [(min(max(x, r.x), r.x + r.w), min(max(y, r.y), r.y + r.h)) for x, y in points]
