"""Photos of a sheet lying on a table: find the sheet against its background, straighten it, even out the light.

A phone photo shows the sheet somewhere in the picture, in perspective, on a darker surface, under
uneven light; nothing in the file says how many pixels a millimetre is. A scanner's page fills its
image on white (or on black, for scanners with a dark lid). So before the marks are looked for:

1. the picture's border is compared with its middle: a border clearly darker than the paper means
   the sheet lies on something (a photo, or a scan on a dark lid);
2. the paper is the largest bright region (Otsu's threshold on a small copy, holes closed); its
   outline, simplified to four corners, is the sheet;
3. the sheet is warped to an upright A4-shaped page at the resolution the photo gives it (the
   page's true top is found later, by its marks and code), and divided by its own paper level
   (a grey closing wider than any mark), which takes out shadows and light falling off.

Nothing is changed when no sheet stands out (a scan, a photo of a sheet on a white table): the page
goes on as it came.

Images are numpy (row, col) uint8 grey, 0 = black; points (x, y) with x = column.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import cv2
import numpy as np

from core.settings import ScanSettings
from scanner.marks import reduce
from scanner.types import PageImage

log = logging.getLogger(__name__)

MM_PER_INCH = 25.4
A4_MM = (210.0, 297.0)
_SMALL_SIDE = 700  # the copy the sheet is looked for on (px, long side)
_BORDER = 0.03  # share of the picture's side taken as its border
_DARKER = 0.75  # a border below this share of the paper's brightness: the sheet lies on something
_MIN_AREA = 0.2  # the sheet covers at least this share of the picture
_ASPECT_TOLERANCE = 0.15  # relative, on the long/short side ratio (perspective, curl)
_MAX_DPI = 300.0


def straighten(page: PageImage, *, settings: ScanSettings) -> tuple[PageImage, np.ndarray | None]:
    """(the page with the sheet found, straightened and its light evened out, the 3x3 map from
    ``page``'s pixels to the new page's); ``(page, None)`` when the picture is not a sheet lying on a
    darker surface."""
    image = page.image
    factor = int(np.ceil(max(image.shape[:2]) / _SMALL_SIDE))
    if factor <= 1:
        return page, None
    small = reduce(image, factor)  # by a whole factor: OpenCV's fast path (a fractional one costs ~15 ms)
    scale = 1.0 / factor
    if not _on_a_surface(small):
        return page, None
    corners = _sheet_corners(small)
    if corners is None:
        log.info("%s trang %d: nền tối nhưng không tìm thấy tờ phiếu", page.source.name, page.index + 1)
        return page, None
    # small px -> page px, pixel centres kept
    corners = (corners + 0.5) / scale - 0.5
    upright, dpi, matrix = _rectified(image, corners, settings)
    log.info("%s trang %d: ảnh chụp, tờ phiếu được cắt và làm thẳng (%.0f dpi)", page.source.name,
             page.index + 1, dpi)
    straight = replace(page, image=_even_light(upright, dpi), dpi=dpi, scale=1,
                       source_format=f"{page.source_format}+sheet")
    return straight, matrix


def _on_a_surface(small: np.ndarray) -> bool:
    """The picture's border is clearly darker than the paper in its middle."""
    h, w = small.shape
    b = max(2, int(_BORDER * min(h, w)))
    border = np.concatenate([small[:b].ravel(), small[-b:].ravel(), small[:, :b].ravel(), small[:, -b:].ravel()])
    middle = small[h // 4: 3 * h // 4, w // 4: 3 * w // 4]
    paper = float(np.percentile(middle, 90))
    return paper > 0 and float(np.median(border)) < _DARKER * paper


def _sheet_corners(small: np.ndarray) -> np.ndarray | None:
    """(4, 2) float corners (x, y) of the sheet in ``small``, clockwise from the top-left as seen, or None."""
    blurred = cv2.GaussianBlur(small, (5, 5), 0)
    _, bright = cv2.threshold(blurred, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    k = max(3, int(min(small.shape) * 0.02) | 1)
    bright = cv2.morphologyEx(bright, cv2.MORPH_CLOSE, np.ones((k, k), np.uint8))
    contours, _ = cv2.findContours(bright, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    outline = max(contours, key=cv2.contourArea)
    area = cv2.contourArea(outline)
    if area < _MIN_AREA * small.size:
        return None
    x, y, w, h = cv2.boundingRect(outline)
    if x <= 1 or y <= 1 or x + w >= small.shape[1] - 1 or y + h >= small.shape[0] - 1:
        return None  # the sheet runs out of the picture: not a whole sheet to straighten
    hull = cv2.convexHull(outline)
    quad = None
    for eps in (0.01, 0.02, 0.03, 0.05):
        approx = cv2.approxPolyDP(hull, eps * cv2.arcLength(hull, True), True)
        if len(approx) == 4:
            quad = approx.reshape(4, 2).astype(np.float64)
            break
    if quad is None:  # rounded or torn corners: the tightest rectangle
        quad = cv2.boxPoints(cv2.minAreaRect(hull)).astype(np.float64)
    quad = _clockwise(quad)
    sides = np.hypot(*(quad - np.roll(quad, -1, axis=0)).T)
    long_side, short_side = (sides[0] + sides[2]) / 2, (sides[1] + sides[3]) / 2
    ratio = max(long_side, short_side) / max(1.0, min(long_side, short_side))
    if abs(ratio / (A4_MM[1] / A4_MM[0]) - 1.0) > _ASPECT_TOLERANCE:
        return None
    return quad


def _clockwise(quad: np.ndarray) -> np.ndarray:
    """The four points ordered clockwise as seen (image y down), starting top-left."""
    centre = quad.mean(axis=0)
    order = np.argsort(np.arctan2(quad[:, 1] - centre[1], quad[:, 0] - centre[0]))
    quad = quad[order]
    start = int(np.argmin(quad.sum(axis=1)))
    return np.roll(quad, -start, axis=0)


def _rectified(
    image: np.ndarray, corners: np.ndarray, settings: ScanSettings
) -> tuple[np.ndarray, float, np.ndarray]:
    """(the sheet warped to an upright page, portrait, at the resolution the photo gives it; its dpi;
    the 3x3 map from ``image`` px to it)."""
    sides = np.hypot(*(corners - np.roll(corners, -1, axis=0)).T)
    across, down = (sides[0] + sides[2]) / 2, (sides[1] + sides[3]) / 2
    portrait = down >= across
    long_px, short_px = max(across, down), min(across, down)
    dpi = min(_MAX_DPI, max(long_px / (A4_MM[1] / MM_PER_INCH), short_px / (A4_MM[0] / MM_PER_INCH)))
    dpi = max(dpi, float(settings.min_dpi))
    w, h = int(round(A4_MM[0] / MM_PER_INCH * dpi)), int(round(A4_MM[1] / MM_PER_INCH * dpi))
    target = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float32)
    source = corners if portrait else np.roll(corners, -1, axis=0)  # a sheet lying across: its left side up
    matrix = cv2.getPerspectiveTransform(source.astype(np.float32), target)
    upright = cv2.warpPerspective(image, matrix, (w, h), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
    return upright, dpi, np.asarray(matrix, np.float64)


def _even_light(image: np.ndarray, dpi: float) -> np.ndarray:
    """``image`` divided by its paper level (a grey closing over ~12 mm, smoothed): paper becomes white
    everywhere, ink keeps its contrast."""
    k = max(3, int(12 / MM_PER_INCH * dpi / 4) | 1)
    small = cv2.resize(image, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
    paper = cv2.dilate(small, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    paper = cv2.blur(paper, (k, k))
    paper = np.maximum(cv2.resize(paper, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR), 1)
    return np.asarray(cv2.divide(image, paper, scale=255.0), np.uint8)
