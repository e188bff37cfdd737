"""Registration from what is printed: the page's frames, codes and text matched against the blank master.

For pages whose registration marks are missing (a corner fed beyond the scan area, torn, stapled
over) or cannot be trusted. Given a rough transform (from the QR code, the surviving marks, or a
search over the whole page), patches of the blank master that print something (box frames, text)
are looked for in the scan around where the rough transform puts them; each patch found is one
correspondence layout mm -> image px, and a robust fit (RANSAC) over all of them gives the
transform. It is done twice: coarsely (50 dpi, wide search) then finely (the master's own
resolution, narrow search). The fit is only returned when enough patches, spread over the page,
agree with it to within ``ScanSettings.fit_residual_max_mm``.

``search_page`` finds a rough transform with no anchor at all (no marks, no readable code): the
page's skew from its text lines, then the master page and quarter turn that correlate best.

Coordinates: layout mm from the page's top-left (x right, y down); image points (x, y) pixels,
x = column; images numpy (row, col), uint8 grey with 0 = black (masters: darkness, 0 = paper).
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import cv2
import numpy as np

from core.settings import ScanSettings
from core.types import Alignment
from scanner.align import warp_to_layout
from scanner.marks import MM_PER_INCH, reduce

log = logging.getLogger(__name__)

COARSE_DPI = 50.0
SEARCH_DPI = 25.0  # the whole-page search for pages with no anchor at all
# (tile side mm, search reach mm, on the fine master) of the two passes
_PASSES = ((24.0, 10.0, False), (12.0, 2.0, True))
_MATCH_MIN = 0.5  # normalised correlation a patch must reach to count
_MIN_TILES = 8
_SPREAD_MIN = 0.45  # the matched patches span this share of the page's width and height at least


@dataclass(frozen=True)
class Master:
    """A blank master page prepared for registration: its print as darkness at two resolutions."""

    coarse: np.ndarray  # uint8 (rows, cols) at COARSE_DPI, 0 paper .. 255 ink
    fine: np.ndarray  # uint8 at ``fine_dpi``
    fine_dpi: float
    width_mm: float
    height_mm: float

    @property
    def coarse_dpi(self) -> float:
        return self.coarse.shape[1] / self.width_mm * MM_PER_INCH

    @classmethod
    def from_darkness(cls, darkness: np.ndarray, *, dpi: float, width_mm: float, height_mm: float) -> Master:
        """From the blank master's darkness (255 - grey) rendered at ``dpi`` (the canonical page)."""
        factor = max(1, round(dpi / COARSE_DPI))
        coarse = cv2.resize(darkness, None, fx=1 / factor, fy=1 / factor, interpolation=cv2.INTER_AREA)
        return cls(coarse, darkness, dpi, width_mm, height_mm)


def refine(
    image: np.ndarray,
    rough: np.ndarray,
    master: Master,
    *,
    settings: ScanSettings,
    method: str,
    marks_found: int = 0,
    passes: tuple[tuple[float, float, bool], ...] = _PASSES,
) -> Alignment | None:
    """The transform layout mm -> ``image`` px that puts the master's print on the scan's, starting
    from ``rough`` (3x3, within about 10 mm). None when too few patches agree."""
    matrix = np.asarray(rough, np.float64)
    residual = 0.0
    for tile_mm, reach_mm, fine in passes:
        ref, dpi = (master.fine, master.fine_dpi) if fine else (master.coarse, master.coarse_dpi)
        found = _correspondences(image, matrix, ref, dpi, master, tile_mm=tile_mm, reach_mm=reach_mm,
                                 step=1.0 if fine else 0.5)
        fitted = _fit(found, matrix, settings=settings, master=master)
        if fitted is None:
            log.debug("registration on print: too few patches agree (%d found)", len(found[0]))
            return None
        matrix, residual = fitted
    top = cv2.perspectiveTransform(np.array([[[0.0, 0.0], [1.0, 0.0]]]), matrix)[0]
    dx, dy = top[1] - top[0]
    rotation = int(round(np.degrees(np.arctan2(dy, dx)) / 90.0)) % 4 * 90
    return Alignment(mm_to_px=matrix, rotation=rotation, residual_mm=residual, marks_found=marks_found,
                     method=method)


def _correspondences(
    image: np.ndarray, matrix: np.ndarray, ref: np.ndarray, dpi: float, master: Master, *, tile_mm: float,
    reach_mm: float, step: float,
) -> tuple[np.ndarray, np.ndarray]:
    """(layout mm, image px) of the master's patches found in the scan warped by ``matrix``."""
    warped = 255 - warp_to_layout(image, _alignment(matrix), width_mm=master.width_mm,
                                  height_mm=master.height_mm, dpi=dpi)
    rows, cols = min(ref.shape[0], warped.shape[0]), min(ref.shape[1], warped.shape[1])
    k = dpi / MM_PER_INCH
    side, reach = int(tile_mm * k), max(2, int(reach_mm * k))
    src, dst = [], []
    stride = max(1, int(side * step))
    for r0 in range(reach, rows - side - reach, stride):
        for c0 in range(reach, cols - side - reach, stride):
            template = ref[r0:r0 + side, c0:c0 + side]
            if float(template.std()) < 12.0:  # blank paper there: nothing to match
                continue
            window = warped[r0 - reach:r0 + side + reach, c0 - reach:c0 + side + reach]
            if float(window.std()) < 6.0:  # cut off, or empty in the scan
                continue
            score = cv2.matchTemplate(window, template, cv2.TM_CCOEFF_NORMED)
            _, best, _, (bx, by) = cv2.minMaxLoc(score)
            if best < _MATCH_MIN or not (0 < bx < 2 * reach and 0 < by < 2 * reach):
                continue
            sx, sy = _subpixel(score, bx, by)
            centre = np.array([c0 + side / 2 - 0.5, r0 + side / 2 - 0.5])
            src.append((centre + 0.5) / k)
            dst.append((centre + np.array([sx - reach, sy - reach]) + 0.5) / k)
    if not src:
        return np.zeros((0, 2)), np.zeros((0, 2))
    to_px = cv2.perspectiveTransform(np.array(dst, np.float64).reshape(1, -1, 2), matrix)[0]
    return np.array(src, np.float64), to_px


def _subpixel(score: np.ndarray, x: int, y: int) -> tuple[float, float]:
    """The peak of ``score`` at (x, y) refined by a parabola through its neighbours."""
    def offset(a: float, b: float, c: float) -> float:
        d = a - 2 * b + c
        return 0.0 if d >= 0 else 0.5 * (a - c) / d
    return (x + offset(score[y, x - 1], score[y, x], score[y, x + 1]),
            y + offset(score[y - 1, x], score[y, x], score[y + 1, x]))


def _fit(
    found: tuple[np.ndarray, np.ndarray], rough: np.ndarray, *, settings: ScanSettings, master: Master
) -> tuple[np.ndarray, float] | None:
    """(homography, mean misfit mm of the patches that agree) or None."""
    mm, px = found
    if len(mm) < _MIN_TILES:
        return None
    scale = float(np.sqrt(abs(np.linalg.det(rough[:2, :2]))))  # px per mm, roughly
    threshold = settings.fit_residual_max_mm * 2 * scale
    matrix, inliers = cv2.findHomography(mm, px, cv2.RANSAC, threshold)
    if matrix is None:
        return None
    keep = inliers.ravel().astype(bool)
    spread = np.ptp(mm[keep], axis=0) / np.array([master.width_mm, master.height_mm]) if keep.any() else np.zeros(2)
    if keep.sum() < max(_MIN_TILES, 0.4 * len(mm)) or spread.min() < _SPREAD_MIN:
        return None
    fitted = cv2.perspectiveTransform(mm[keep].reshape(1, -1, 2), matrix)[0]
    residual = float(np.mean(np.hypot(*(fitted - px[keep]).T))) / scale
    if residual > settings.fit_residual_max_mm:
        return None
    return matrix, residual


def _alignment(matrix: np.ndarray) -> Alignment:
    return Alignment(mm_to_px=matrix, rotation=0, residual_mm=0.0, marks_found=0)


Key = TypeVar("Key", bound=Hashable)


def search_page(
    image: np.ndarray,
    *,
    dpi: float,
    masters: Mapping[Key, Master],
) -> list[tuple[Key, np.ndarray, float]]:
    """Rough transforms for a page with no anchor: [(master key, 3x3 layout mm -> image px, score)],
    best first, one per master that correlates at all.

    The page's skew comes from its text lines (the turn that makes the row profile sharpest, within
    ``_SKEW_RANGE`` either way of the four quarter turns); the master and quarter turn from the best
    normalised correlation of the deskewed page with each master, at SEARCH_DPI.
    """
    factor = max(1, int(dpi / SEARCH_DPI))
    small = 255 - reduce(image, factor)
    k_img = dpi / factor / MM_PER_INCH  # px per mm of ``small``
    skews = _skew(small)
    found = []
    for key, master in masters.items():
        ref = cv2.resize(master.coarse, None, fx=SEARCH_DPI / COARSE_DPI, fy=SEARCH_DPI / COARSE_DPI,
                         interpolation=cv2.INTER_AREA)
        k_ref = SEARCH_DPI / MM_PER_INCH
        for turn in (0, 90, 180, 270):
            rot = _rotation_about_centre(small.shape, skews[turn % 180 == 90] + turn, k_ref / k_img)
            upright = cv2.warpAffine(small, rot[:2], _turned_size(small.shape, turn, k_ref / k_img),
                                     flags=cv2.INTER_AREA, borderValue=0)
            pad = int(30 * k_ref)
            canvas = cv2.copyMakeBorder(upright, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
            if canvas.shape[0] < ref.shape[0] or canvas.shape[1] < ref.shape[1]:
                continue
            score = cv2.matchTemplate(canvas, ref, cv2.TM_CCOEFF_NORMED)
            _, best, _, (bx, by) = cv2.minMaxLoc(score)
            # layout mm -> ref px -> canvas px -> upright px -> small px -> image px
            mm_to_canvas = np.array([[k_ref, 0, bx], [0, k_ref, by], [0, 0, 1.0]])
            unpad = np.array([[1, 0, -pad], [0, 1, -pad], [0, 0, 1.0]])
            to_small = np.linalg.inv(rot)
            to_image = np.array([[factor, 0, (factor - 1) / 2], [0, factor, (factor - 1) / 2], [0, 0, 1.0]])
            found.append((key, to_image @ to_small @ unpad @ mm_to_canvas, float(best)))
    found.sort(key=lambda f: -f[2])
    return found


_SKEW_RANGE = 8.0  # degrees either way


def _skew(dark: np.ndarray) -> tuple[float, float]:
    """The skew (degrees to undo) that makes the text lines sharpest if they run across the image,
    and if they run down it (a page turned a quarter)."""
    best = [(0.0, -1.0), (0.0, -1.0)]
    centre = (dark.shape[1] / 2, dark.shape[0] / 2)
    for angle in np.arange(-_SKEW_RANGE, _SKEW_RANGE + 0.01, 0.5):
        m = cv2.getRotationMatrix2D(centre, float(angle), 1.0)
        turned = cv2.warpAffine(dark, m, (dark.shape[1], dark.shape[0]), flags=cv2.INTER_NEAREST, borderValue=0)
        for across, profile in enumerate((turned.sum(axis=1), turned.sum(axis=0))):
            sharp = float(np.var(np.diff(profile.astype(np.float64))))
            if sharp > best[across][1]:
                best[across] = (float(angle), sharp)
    return best[0][0], best[1][0]


def _rotation_about_centre(shape: tuple[int, ...], degrees: float, scale: float) -> np.ndarray:
    """3x3: small px -> upright px, turning by ``degrees`` (counter-clockwise as seen) and scaling, the
    result centred in _turned_size."""
    h, w = shape[:2]
    m = np.asarray(cv2.getRotationMatrix2D((w / 2, h / 2), degrees, scale), np.float64)
    out_w, out_h = _turned_size(shape, int(round(degrees / 90.0)) * 90 % 180, scale)
    m[:, 2] += np.array([out_w / 2 - w / 2, out_h / 2 - h / 2])
    return np.vstack([m, [0, 0, 1.0]])


def _turned_size(shape: tuple[int, ...], turn: float, scale: float) -> tuple[int, int]:
    h, w = shape[:2]
    if int(turn) % 180 == 90:
        h, w = w, h
    return int(w * scale) + 2, int(h * scale) + 2
