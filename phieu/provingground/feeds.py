"""Sheets through an office scanner as it really goes: askew feeds into an A4 scan area, clipped
corners and QR codes, torn and stapled sheets, black-and-white mode.

The scan area is the paper's own size (an A4 bed, or a scanner cropping to the page), never larger
than a turned sheet: a sheet fed 3-4 degrees askew and a little off-centre loses whatever sticks
out, corner marks included. Scanners' border cleanup whitens a few millimetres round the edge.
Every answer area, the digits line and (except in ``qr-clipped``) the QR with its quiet zone stay
on the image: a reader is asked to read what is there, not to guess.

Profiles (all ``f(image, rng, *, dpi, page, turn) -> Degraded``):

- ``askew-clipped``: 3-4 degrees askew, shifted so that one to four corner marks fall beyond the
  scan area or its cleaned border (60 %); a torn corner or two (20 %); a stapled corner, mostly
  folded over its mark (20 %); a crease across the sheet now and then.
- ``qr-clipped``: the scan area's edge, or the paper's own edge (the QR printed near it), cuts the
  QR's quiet zone without touching its modules; fed any way round, upside down included.
- ``bw-scanner``: an office scanner in black-and-white mode at 200 or 300 dpi with its own
  thresholding (a fixed level, a dynamic local one, or ordered dithering of greys).
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from formgen.layout import PageLayout

from .damage import CORNERS, SheetGeometry, crease, fold_corner, sheet_geometry, staple, tear_corner
from .degrade import MM_PER_INCH, Degraded, _paper

_BAYER = np.array([[0, 32, 8, 40, 2, 34, 10, 42], [48, 16, 56, 24, 50, 18, 58, 26],
                   [12, 44, 4, 36, 14, 46, 6, 38], [60, 28, 52, 20, 62, 30, 54, 22],
                   [3, 35, 11, 43, 1, 33, 9, 41], [51, 19, 59, 27, 49, 17, 57, 25],
                   [15, 47, 7, 39, 13, 45, 5, 37], [63, 31, 55, 23, 61, 29, 53, 21]], np.float32) / 64


def feed_matrix(size: tuple[int, int], dpi: float, out_dpi: float, angle: float, shift_mm: np.ndarray,
                area: tuple[int, int]) -> np.ndarray:
    """3x3 page px -> scan px: turn ``angle`` degrees (counter-clockwise as displayed) about the
    sheet's centre, scale to ``out_dpi``, put the centre at the scan area's centre plus ``shift_mm``."""
    w, h = size
    m = np.asarray(cv2.getRotationMatrix2D((w / 2, h / 2), angle, out_dpi / dpi), np.float64)
    m[:, 2] += (area[0] / 2 - w / 2, area[1] / 2 - h / 2)
    m[:, 2] += np.asarray(shift_mm, np.float64) * out_dpi / MM_PER_INCH
    return np.vstack([m, [0.0, 0.0, 1.0]])


def quarter_turn(image: np.ndarray, t: np.ndarray, turn: int) -> tuple[np.ndarray, np.ndarray]:
    """``image`` turned by ``turn`` degrees (a multiple of 90, counter-clockwise as displayed) and the
    transform composed with it."""
    k = (turn // 90) % 4
    h, w = image.shape[:2]
    r = {0: np.eye(3),
         1: np.array([[0, 1, 0], [-1, 0, w - 1], [0, 0, 1]], np.float64),
         2: np.array([[-1, 0, w - 1], [0, -1, h - 1], [0, 0, 1]], np.float64),
         3: np.array([[0, -1, h - 1], [1, 0, 0], [0, 0, 1]], np.float64)}[k]
    return np.ascontiguousarray(np.rot90(image, k)), r @ t


def _mapped(points: np.ndarray, t: np.ndarray) -> np.ndarray:
    p = np.c_[points, np.ones(len(points))] @ t.T
    return p[:, :2] / p[:, 2:]


def _inside(points: np.ndarray, t: np.ndarray, area: tuple[int, int], border_px: float) -> np.ndarray:
    q = _mapped(points, t)
    return np.asarray((q[:, 0] >= border_px) & (q[:, 0] < area[0] - border_px)
                      & (q[:, 1] >= border_px) & (q[:, 1] < area[1] - border_px))


def _scan(image: np.ndarray, paper: np.ndarray | None, t: np.ndarray, area: tuple[int, int],
          rng: np.random.Generator, *, border_px: int) -> tuple[np.ndarray, str]:
    """The scan area as the scanner sees it: the sheet where it lies, the lid elsewhere (white,
    grey or black), a thin shadow along the paper's edge, the cleaned border white."""
    k = abs(t[0, 0]) + abs(t[0, 1])
    flags = cv2.INTER_AREA if k < 0.99 else cv2.INTER_LINEAR
    warped = cv2.warpAffine(image, t[:2], area, flags=flags, borderValue=255)
    sheet = paper if paper is not None else np.full(image.shape[:2], 255, np.uint8)
    mask = cv2.warpAffine(sheet, t[:2], area, flags=cv2.INTER_LINEAR, borderValue=0)
    lid_kind = str(rng.choice(["white", "grey", "black"], p=[0.6, 0.3, 0.1]))
    lid = {"white": rng.uniform(228, 250), "grey": rng.uniform(165, 210), "black": rng.uniform(25, 60)}[lid_kind]
    alpha = mask.astype(np.float32) / 255
    rim = cv2.GaussianBlur(cv2.dilate(mask, np.ones((5, 5), np.uint8)), (0, 0), 1.5).astype(np.float32) / 255
    background = float(lid) * (1 - float(rng.uniform(0.15, 0.35)) * (rim - alpha).clip(0, 1))
    out = warped.astype(np.float32) * alpha + background * (1 - alpha)
    img = np.clip(out, 0, 255).astype(np.uint8)
    if border_px > 0:
        img[:border_px], img[-border_px:], img[:, :border_px], img[:, -border_px:] = 255, 255, 255, 255
    return img, f"{lid_kind} lid"


def _finish(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Optics, paper and sensor, as the office profile; returns the JPEG quality to write with."""
    img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.3, 0.8)))
    img = _paper(img, rng, gain=float(rng.uniform(0.92, 0.99)), texture=float(rng.uniform(1.5, 4)),
                 noise=float(rng.uniform(1.5, 4)))
    return img, int(rng.integers(75, 91))


def _area(image: np.ndarray, dpi: float, out_dpi: float) -> tuple[int, int]:
    h, w = image.shape[:2]
    return int(round(w * out_dpi / dpi)), int(round(h * out_dpi / dpi))


def _steady(geo: SheetGeometry, image: np.ndarray, dpi: float, out_dpi: float, rng: np.random.Generator,
            paper: np.ndarray | None, *, spread: float, limit: float) -> tuple[np.ndarray, float]:
    """An ordinary feed (small skew and shift) that keeps every mark and answer area; (transform, angle)."""
    area = _area(image, dpi, out_dpi)
    marks = geo.all_mark_points()
    for _ in range(40):
        angle = float(np.clip(rng.normal(0, spread), -limit, limit))
        t = feed_matrix(geo.size, dpi, out_dpi, angle, rng.uniform(-2, 2, 2), area)
        if _inside(marks, t, area, 2).all() and _inside(geo.keep, t, area, 2).all():
            return t, angle
    return feed_matrix(geo.size, dpi, out_dpi, 0.0, np.zeros(2), area), 0.0


def askew_clipped(image: np.ndarray, rng: np.random.Generator, *, dpi: float, page: PageLayout | None,
                  turn: int = 0) -> Degraded:
    geo = sheet_geometry(image, dpi, page)
    out_dpi = 300.0 if rng.random() < 0.6 else 200.0
    variant = str(rng.choice(["askew", "torn", "staple"], p=[0.6, 0.2, 0.2]))
    img, paper, damage = image.copy(), None, []
    if variant == "torn":
        paper = np.full(image.shape[:2], 255, np.uint8)
        for corner in rng.permutation(CORNERS)[: 1 + int(rng.random() < 0.3)]:
            damage.append(tear_corner(img, paper, geo, str(corner), rng))
    elif variant == "staple":
        corner = "top_left" if rng.random() < 0.8 else "top_right"
        damage.append(staple(img, geo, corner, rng))
        if rng.random() < 0.7:
            paper = np.full(image.shape[:2], 255, np.uint8)
            damage.append(fold_corner(img, paper, geo, corner, rng))
    if rng.random() < 0.3:
        damage.append(crease(img, rng, px_per_mm=geo.px_per_mm))
    area = _area(image, dpi, out_dpi)
    border = 0
    if variant == "askew":
        t, angle, border = _aim(geo, image, dpi, out_dpi, rng, target=int(rng.integers(1, 5)))
        damage.append(f"fed {angle:+.1f}° askew, border cleanup {border / out_dpi * MM_PER_INCH:.1f} mm")
        if not _inside(geo.qr_guard, t, area, border).all():
            damage.append("QR corner cut")
    else:
        t, angle = _steady(geo, image, dpi, out_dpi, rng, paper, spread=1.0, limit=2.0)
    marks = geo.all_mark_points()
    lost = geo.lost(_inside(marks, t, area, border) & geo.on_paper(marks, paper))
    scanned, lid = _scan(img, paper, t, area, rng, border_px=border)
    scanned, t = quarter_turn(scanned, t, turn)
    scanned, quality = _finish(scanned, rng)
    words = tuple(d for d in damage if d) + (lid,)
    return Degraded(scanned, out_dpi, t, "askew-clipped", turn, quality, damage=words, lost_marks=lost)


def _aim(geo: SheetGeometry, image: np.ndarray, dpi: float, out_dpi: float, rng: np.random.Generator, *,
         target: int) -> tuple[np.ndarray, float, int]:
    """A 3-4 degree feed, shift and border cleanup that lose ``target`` corner marks (or as near as
    the sheet allows, at least one) and keep every answer area and the digits whole, and the QR with
    its quiet zone too, except when all four marks go: an A4 area that cuts all four corners off a
    sheet 3-4 degrees askew cuts into the QR's corner as well."""
    area = _area(image, dpi, out_dpi)
    marks = geo.all_mark_points()
    px = out_dpi / MM_PER_INCH
    keep = geo.answers if target == 4 else geo.keep
    best: tuple[int, np.ndarray, float, int] | None = None
    for _ in range(400):
        angle = float(rng.choice([-1, 1]) * rng.uniform(3, 4))
        border = int(round(float(rng.uniform(2, 5.5)) * px)) if rng.random() < 0.6 else 0
        t = feed_matrix(geo.size, dpi, out_dpi, angle, rng.uniform(-10, 10, 2), area)
        if not _inside(keep, t, area, border + px).all():
            continue
        lost = len(geo.lost(_inside(marks, t, area, border)))
        if lost == target:
            return t, angle, border
        if lost >= 1 and (best is None or abs(lost - target) < abs(best[0] - target)):
            best = (lost, t, angle, border)
    if best is not None:
        return best[1], best[2], best[3]
    angle = 3.5
    return feed_matrix(geo.size, dpi, out_dpi, angle, np.zeros(2), area), angle, 0


def qr_clipped(image: np.ndarray, rng: np.random.Generator, *, dpi: float, page: PageLayout | None,
               turn: int = 0) -> Degraded:
    geo = sheet_geometry(image, dpi, page)
    turn = int(rng.choice([0, 180, 90, 270], p=[0.4, 0.3, 0.15, 0.15]))
    out_dpi = 300.0 if rng.random() < 0.6 else 200.0
    area = _area(image, dpi, out_dpi)
    qr, quiet = geo.qr_modules, geo.quiet_px
    px = out_dpi / dpi
    img, paper = image.copy(), None
    edge = "paper" if rng.random() < 0.5 else "scan area"
    t = feed_matrix(geo.size, dpi, out_dpi, 0.0, np.zeros(2), area)
    for _ in range(40):
        angle = float(np.clip(rng.normal(0, 0.6), -1.2, 1.2))
        depth = float(rng.uniform(0.15 * geo.px_per_mm, 0.85 * quiet))  # cut this far above the modules
        if edge == "paper":  # the sheet ends there: what lies above was never on paper
            paper = np.full(image.shape[:2], 255, np.uint8)
            cut = qr.y - depth
            slope = float(np.tan(np.deg2rad(rng.uniform(-0.6, 0.6))))
            top = np.array([[0, 0], [geo.size[0], 0], [geo.size[0], cut + slope * (geo.size[0] - qr.x - qr.w / 2)],
                            [0, cut - slope * (qr.x + qr.w / 2)]])
            cv2.fillPoly(paper, [np.round(top * 16).astype(np.int32)], 0, cv2.LINE_AA, 4)
            shift = np.array([rng.uniform(-2, 2), -cut / geo.px_per_mm + rng.uniform(1, 3)])
            t = feed_matrix(geo.size, dpi, out_dpi, angle, shift, area)
        else:  # the scan area's top edge runs through the quiet zone
            t = feed_matrix(geo.size, dpi, out_dpi, angle, np.array([rng.uniform(-2, 2), 0.0]), area)
            y_at = _mapped(np.array([[qr.x + qr.w / 2, qr.y - depth]]), t)[0, 1]
            t[1, 2] -= y_at
        modules = np.array([[qr.x, qr.y], [qr.x + qr.w, qr.y], [qr.x, qr.y + qr.h], [qr.x + qr.w, qr.y + qr.h]])
        zone = np.array([[qr.x - quiet, qr.y - quiet], [qr.x + qr.w + quiet, qr.y - quiet]])
        on = _inside(modules, t, area, 1) & geo.on_paper(modules, paper)
        cut_zone = ~(_inside(zone, t, area, 0) & geo.on_paper(zone, paper))
        others = _inside(geo.answers, t, area, px)
        if on.all() and cut_zone.any() and others.all():
            break
    if edge == "paper" and paper is not None:
        img[paper < 128] = 255
    marks = geo.all_mark_points()
    lost = geo.lost(_inside(marks, t, area, 0) & geo.on_paper(marks, paper))
    scanned, lid = _scan(img, paper, t, area, rng, border_px=0)
    scanned, t = quarter_turn(scanned, t, turn)
    scanned, quality = _finish(scanned, rng)
    words = (f"QR quiet zone cut by the {edge} edge", f"fed turned {turn}°", lid)
    return Degraded(scanned, out_dpi, t, "qr-clipped", turn, quality, damage=words, lost_marks=lost)


def bw_scanner(image: np.ndarray, rng: np.random.Generator, *, dpi: float, page: PageLayout | None,
               turn: int = 0) -> Degraded:
    geo = sheet_geometry(image, dpi, page)
    out_dpi = 300.0 if rng.random() < 0.5 else 200.0
    t, _angle = _steady(geo, image, dpi, out_dpi, rng, None, spread=0.7, limit=1.5)
    scanned, _lid = _scan(image, None, t, _area(image, dpi, out_dpi), rng, border_px=0)
    scanned = cv2.GaussianBlur(scanned, (0, 0), float(rng.uniform(0.35, 0.8)) * out_dpi / 300)
    grey = _paper(scanned, rng, gain=float(rng.uniform(0.95, 1.0)), texture=float(rng.uniform(0.5, 2)),
                  noise=float(rng.uniform(2, 5)))
    mode = str(rng.choice(["fixed", "dynamic", "dither"], p=[0.35, 0.5, 0.15]))
    binary = _threshold(grey, mode, rng, out_dpi)
    h, w = binary.shape
    dust = int(rng.integers(0, 150))
    binary[rng.integers(0, h, dust), rng.integers(0, w, dust)] = 0
    binary, t = quarter_turn(binary, t, turn)
    return Degraded(binary, out_dpi, t, "bw-scanner", turn, None, damage=(f"black-and-white, {mode} threshold",))


def _threshold(grey: np.ndarray, mode: str, rng: np.random.Generator, out_dpi: float) -> np.ndarray:
    """A scanner's own black-and-white decision: 0 or 255."""
    if mode == "fixed":
        black = grey < float(rng.uniform(135, 175))
    elif mode == "dynamic":  # darker than the neighbourhood (about 2.5 mm round), or plainly dark
        block = int(2.5 * out_dpi / MM_PER_INCH) | 1
        local = cv2.boxFilter(grey, cv2.CV_32F, (block, block))
        black = ((grey < local - float(rng.uniform(8, 20))) & (grey < 215)) | (grey < 90)
    else:  # ordered dithering of the greys, text stays solid
        h, w = grey.shape
        tiles = np.tile(_BAYER, (h // 8 + 1, w // 8 + 1))[:h, :w]
        low, high = 90.0, float(rng.uniform(195, 215))
        black = grey < low + (high - low) * tiles
    return np.where(black, 0, 255).astype(np.uint8)


FEEDS: dict[str, Callable[..., Degraded]] = {
    "askew-clipped": askew_clipped,
    "qr-clipped": qr_clipped,
    "bw-scanner": bw_scanner,
}
