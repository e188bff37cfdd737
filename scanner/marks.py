"""Find the registration marks of a page: solid squares, the bottom-right one a solid circle.

Method: reduce the page to ``ScanSettings.mark_search_dpi`` (INTER_AREA), threshold it locally
(adaptive mean, so phone-photo shading does not matter), keep connected components of about the
mark's size that are solid, square-ish and dark inside (printed text and QR modules blur to grey at
that resolution), then choose the four (or three) that form the marks' rectangle. Each chosen mark
is refined on the full-resolution image: its centroid, and its fill of the minimum-area rectangle,
which tells the circle (pi/4) from the squares (1).

Coordinates: images are numpy (row, col); points are (x, y) pixels with x = column, in the
convention of OpenCV (pixel centres at integer coordinates).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from core.settings import ScanSettings

log = logging.getLogger(__name__)

MM_PER_INCH = 25.4
# Candidates kept for the geometric search, best first (C(12, 4) = 495 quadruples at most).
_MAX_CANDIDATES = 12
# Blobs refined on the full-resolution image to find those candidates.
_MAX_REFINED = 36
# Equal-area side of a disc against the square of the same width (sqrt(pi / 4)).
_DISC_SIDE = 0.886
# Fill of the minimum-area rectangle a refined mark reaches at least (a disc: 0.785, blurred a little less).
_MARK_FILL_MIN = 0.72
# Fill of the minimum-area rectangle: a disc fills pi/4 = 0.785 of it, a square 1; a blob below
# _MIN_FILL is neither; _MIN_SOLIDITY rejects hollow or ragged shapes (hull area share).
_MIN_FILL = 0.6
_MIN_SOLIDITY = 0.85
_MIN_SQUARENESS = 0.7
# A mark cut by the image edge is still used while it keeps this share of its extent; its centre
# then comes from the uncut edge.
_CLIP_KEEP = 0.9
# Gaps narrower than this share of a mark's side are closed before the mark is measured.
_GAP_SHARE = 0.08


@dataclass(frozen=True)
class MarkCandidate:
    """A solid blob that may be a registration mark, in full-resolution image pixels."""

    x: float
    y: float
    side: float  # sqrt of its area: the side of an equal-area square
    fill: float  # area / minimum-area rectangle: ~1 square, ~0.785 circle
    darkness: float  # 0 paper .. 1 black, mean over its interior


def reduce(image: np.ndarray, factor: int) -> np.ndarray:
    """Area-average ``image`` by an integer ``factor`` (OpenCV's fast path; the ragged edge is dropped).

    Pixel (r, c) of the result covers rows r*factor .. (r+1)*factor - 1 of the input.
    """
    if factor <= 1:
        return image
    rows, cols = image.shape[0] // factor, image.shape[1] // factor
    return cv2.resize(image[: rows * factor, : cols * factor], (cols, rows), interpolation=cv2.INTER_AREA)


def search_copy(image: np.ndarray, *, dpi: float, settings: ScanSettings) -> np.ndarray:
    """The page reduced to about ``settings.mark_search_dpi``: computed once per page, it serves the
    blank-page test and the mark search."""
    return reduce(image, _search_factor(dpi, settings))


def _search_factor(dpi: float, settings: ScanSettings) -> int:
    return max(1, round(dpi / settings.mark_search_dpi))


def find_candidates(
    image: np.ndarray,
    *,
    dpi: float,
    mark_mm: float,
    settings: ScanSettings,
    small: np.ndarray | None = None,
) -> list[MarkCandidate]:
    """Mark-like blobs in a uint8 greyscale page, best first, positions refined on ``image``.

    ``dpi`` is the page's resolution (estimated is fine: sizes are tolerant by
    ``settings.mark_size_tolerance``); ``small`` its ``search_copy`` when the caller has it already.
    Returns at most a dozen candidates.
    """
    factor = _search_factor(dpi, settings)
    if small is None:
        small = reduce(image, factor)
    side = mark_mm / MM_PER_INCH * dpi / factor  # expected side in the reduced copy
    tol = settings.mark_size_tolerance
    block = int(4 * side) | 1
    binary = cv2.adaptiveThreshold(small, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, block, 20)
    count, labels, stats, _ = _components(binary)
    paper = float(np.percentile(small[:: 4, :: 4], 90)) or 1.0
    plausible = _plausible_blobs(stats, side, tol)
    darkness = _blob_darkness(small, binary, labels, count, stats, paper)
    plausible = plausible[darkness[plausible] >= settings.mark_darkness_min]
    x, y, w, h = (stats[plausible, i] for i in range(4))
    # darkest first (then right-most, lowest); only the first _MAX_REFINED solid ones are refined
    order = np.lexsort((y + h / 2, x + w / 2, darkness[plausible]))[::-1]
    coarse = []
    for label in plausible[order]:
        bx, by, bw, bh, _ = (int(v) for v in stats[label])
        if _shape((labels[by:by + bh, bx:bx + bw] == label).astype(np.uint8)) is not None:
            coarse.append((float(darkness[label]), bx + bw / 2, by + bh / 2))
            if len(coarse) == _MAX_REFINED:
                break
    refined = []
    # Large print has many bold glyphs as dark as a mark at the reduced resolution: refine more than
    # are kept, and keep only blobs that are still mark-sized and solid at full resolution.
    for dark, cx, cy in coarse:
        found = refine(image, (cx * factor, cy * factor), side=side * factor)
        if found is not None and _mark_like(found, side * factor, tol):
            refined.append(MarkCandidate(found.x, found.y, found.side, found.fill, dark))
            if len(refined) == _MAX_CANDIDATES:
                break
    return refined


def _blob_darkness(
    small: np.ndarray, binary: np.ndarray, labels: np.ndarray, count: int, stats: np.ndarray, paper: float
) -> np.ndarray:
    """Per component label: 1 - mean grey / paper over its interior (the blob eroded by one pixel, so
    its blurred rim does not pale it), over all of it for blobs too small to erode. All labels at
    once: a page has hundreds of glyph-sized blobs, a Python loop over them cost milliseconds."""
    interior = cv2.erode(binary, np.ones((3, 3), np.uint8)) > 0
    whole = binary > 0
    sums = np.bincount(labels[interior], weights=small[interior], minlength=count)
    sizes = np.bincount(labels[interior], minlength=count)
    tiny = np.minimum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]) <= 6
    sums[tiny] = np.bincount(labels[whole], weights=small[whole], minlength=count)[tiny]
    sizes[tiny] = np.bincount(labels[whole], minlength=count)[tiny]
    means = np.divide(sums, sizes, out=np.full(count, paper, np.float64), where=sizes > 0)
    return 1.0 - means / paper


def _components(binary: np.ndarray) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """8-connected components with stats and centroids, by Grana's BBDT: the same components as
    OpenCV's default (Spaghetti) in a quarter to a sixth of the time on mark-sized crops."""
    count, labels, stats, centroids = cv2.connectedComponentsWithStatsWithAlgorithm(binary, 8, cv2.CV_32S, cv2.CCL_BBDT)
    return int(count), labels, stats, centroids


def _mark_like(found: MarkCandidate, side: float, tol: float) -> bool:
    """A refined blob of a mark's size (a disc has 0.886 of a square's equal-area side) that fills
    its minimum-area rectangle as a square or a disc does (glyphs and strokes fill less)."""
    return (1 - tol) * _DISC_SIDE * side <= found.side <= (1 + tol) * side and found.fill >= _MARK_FILL_MIN


def _plausible_blobs(stats: np.ndarray, side: float, tol: float) -> np.ndarray:
    """Labels of components whose area and bounding box could be a mark of ``side`` pixels (any angle)."""
    x, y, w, h, area = stats[1:].T.astype(np.float64)
    ok = (area >= (side * (1 - tol)) ** 2 * 0.7) & (area <= (side * (1 + tol)) ** 2)
    ok &= np.maximum(w, h) <= side * (1 + tol) * 1.45
    ok &= area >= 0.45 * w * h  # a square at 45 degrees still fills half of its bounding box
    ok &= (w >= 0.6 * h) & (h >= 0.6 * w)
    return np.flatnonzero(ok) + 1


def _shape(mask: np.ndarray) -> tuple[float, float] | None:
    """(fill of the min-area rectangle, solidity) of a blob mask if it is solid and square-ish."""
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    contour = max(contours, key=cv2.contourArea)
    (_, _), (rw, rh), _ = cv2.minAreaRect(contour)
    if min(rw, rh) <= 0 or min(rw, rh) / max(rw, rh) < _MIN_SQUARENESS:
        return None
    area = float(mask.sum())
    hull = cv2.contourArea(cv2.convexHull(contour))
    # On few pixels the contour runs through pixel centres: compare like with like, half a pixel grown.
    perimeter = cv2.arcLength(contour, True)
    solidity = area / (hull + perimeter / 2 + 1) if hull > 0 else 0.0
    fill = area / ((rw + 1) * (rh + 1))
    if solidity < _MIN_SOLIDITY * 0.9 or fill < _MIN_FILL:
        return None
    return fill, solidity


def refine(image: np.ndarray, centre: tuple[float, float], *, side: float) -> MarkCandidate | None:
    """The mark blob nearest ``centre`` (x, y) in a window of the full-resolution image, or None."""
    half = int(side * 1.3) + 2
    x0, y0 = max(0, int(centre[0]) - half), max(0, int(centre[1]) - half)
    crop = image[y0:int(centre[1]) + half + 1, x0:int(centre[0]) + half + 1]
    if crop.size == 0:
        return None
    _, binary = cv2.threshold(crop, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    # Close small gaps (a fax's dropped scan line, specks of paper) that would split the mark.
    gap = max(3, int(side * _GAP_SHARE) | 1)
    binary = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, np.ones((gap, gap), np.uint8))
    count, labels, stats, centroids = _components(binary)
    if count < 2:
        return None
    local = np.array([centre[0] - x0, centre[1] - y0])
    big = [i for i in range(1, count) if stats[i, cv2.CC_STAT_AREA] >= (side * 0.4) ** 2]
    if not big:
        return None
    best = min(big, key=lambda i: float(np.hypot(*(centroids[i] - local))))
    if _clipped(stats[best], (x0, y0), image.shape):
        return None  # cut by the image edge: its centroid would be off by a good part of a mark
    mask = (labels == best).astype(np.uint8)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    (_, _), (rw, rh), _ = cv2.minAreaRect(max(contours, key=cv2.contourArea))
    area = float(stats[best, cv2.CC_STAT_AREA])
    fill = area / max((rw + 1) * (rh + 1), 1.0)
    cx, cy = _edge_centre(stats[best], centroids[best], (x0, y0), image.shape)
    return MarkCandidate(float(cx + x0), float(cy + y0), float(np.sqrt(area)), float(fill), 1.0)


def _edge_centre(
    stat: np.ndarray, centroid: np.ndarray, origin: tuple[int, int], shape: tuple[int, ...]
) -> tuple[float, float]:
    """The blob's centre (crop coordinates): its centroid, except along an axis where the image border
    cuts it; there, half the uncut extent from the far edge (a mark is as wide as it is high)."""
    left, top, width, height = (int(v) for v in stat[:4])
    extent = max(width, height)
    centre = [float(centroid[0]), float(centroid[1])]
    for axis, (start, size, limit) in enumerate([(left, width, shape[1]), (top, height, shape[0])]):
        if start + origin[axis] <= 0:
            centre[axis] = start + size - 1 - (extent - 1) / 2
        elif start + origin[axis] + size >= limit:
            centre[axis] = start + (extent - 1) / 2
    return centre[0], centre[1]


def _clipped(stat: np.ndarray, origin: tuple[int, int], shape: tuple[int, ...]) -> bool:
    """True when a blob (stats row, in a crop at ``origin``) is cut noticeably by the image border.

    A mark is as wide as it is high; one that touches the border and has lost more than
    ``1 - _CLIP_KEEP`` of its extent is refused (its centre is then guessed from too little).
    """
    left, top = int(stat[0]) + origin[0], int(stat[1]) + origin[1]
    width, height = int(stat[2]), int(stat[3])
    touches = left <= 0 or top <= 0 or left + width >= shape[1] or top + height >= shape[0]
    return touches and min(width, height) < _CLIP_KEEP * max(width, height)
