"""Pictures for people: crops of questions with the machine's reading drawn over them, whole pages.

Pure functions over arrays (numpy (row, col) images; rectangles in layout mm as (x, y, w, h) with
x = column) plus one small decode cache. Colours by ``BoxReading.state``: marked blue, uncertain
orange, cancelled red, empty light grey.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import cv2
import numpy as np

from formgen.layout import AnswerBox, Rect

STATE_COLOURS_BGR = {
    "marked": (230, 90, 20),
    "uncertain": (0, 140, 255),
    "cancelled": (40, 40, 220),
    "empty": (200, 200, 200),
}
CROP_MARGIN_MM = 3.0
PAGE_MAX_WIDTH_PX = 1240
PNG_FAST = [cv2.IMWRITE_PNG_COMPRESSION, 3]


@functools.lru_cache(maxsize=24)
def decode(data: bytes) -> np.ndarray:
    """Decode a stored image (PNG/JPEG/TIFF page) to BGR; cached, the same page is cropped many times."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("stored image cannot be decoded")
    image.setflags(write=False)
    return image


def mm_to_px(rect: Rect, dpi: float) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) pixel corners of a layout rectangle at ``dpi``."""
    k = dpi / 25.4
    return round(rect.x * k), round(rect.y * k), round((rect.x + rect.w) * k), round((rect.y + rect.h) * k)


def draw_boxes(image: np.ndarray, boxes: Iterable[tuple[AnswerBox, str]], *, dpi: float) -> np.ndarray:
    """A copy of the BGR ``image`` with each box framed in the colour of its state (thicker when not empty)."""
    out = image.copy()
    for box, state in boxes:
        x0, y0, x1, y1 = mm_to_px(box, dpi)
        width = 1 if state == "empty" else 3
        pad = 2 + width
        cv2.rectangle(out, (x0 - pad, y0 - pad), (x1 + pad, y1 + pad), STATE_COLOURS_BGR.get(state, (0, 0, 0)), width)
    return out


def crop(image: np.ndarray, rect: Rect, *, dpi: float, margin_mm: float = CROP_MARGIN_MM) -> np.ndarray:
    """The part of ``image`` under ``rect`` plus a margin, clipped to the image."""
    grown = Rect(x=rect.x - margin_mm, y=rect.y - margin_mm, w=rect.w + 2 * margin_mm, h=rect.h + 2 * margin_mm)
    x0, y0, x1, y1 = mm_to_px(grown, dpi)
    rows, cols = image.shape[:2]
    return image[max(y0, 0) : min(y1, rows), max(x0, 0) : min(x1, cols)]


def highlight_rows(image: np.ndarray, rects: Iterable[Rect], *, dpi: float) -> np.ndarray:
    """Tint the rows under review (grid row sets) so the eye finds them in the crop."""
    out = image.copy()
    overlay = image.copy()
    for rect in rects:
        x0, y0, x1, y1 = mm_to_px(rect, dpi)
        cv2.rectangle(overlay, (x0, y0), (x1, y1), (120, 255, 255), -1)
    cv2.addWeighted(overlay, 0.35, out, 0.65, 0, dst=out)
    return out


def union(rects: list[Rect]) -> Rect:
    x0 = min(r.x for r in rects)
    y0 = min(r.y for r in rects)
    x1 = max(r.x + r.w for r in rects)
    y1 = max(r.y + r.h for r in rects)
    return Rect(x=x0, y=y0, w=x1 - x0, h=y1 - y0)


def fit_width(image: np.ndarray, max_width: int = PAGE_MAX_WIDTH_PX) -> np.ndarray:
    cols = image.shape[1]
    if cols <= max_width:
        return image
    scale = max_width / cols
    return cv2.resize(image, (max_width, round(image.shape[0] * scale)), interpolation=cv2.INTER_AREA)


def rotate(image: np.ndarray, degrees: int) -> np.ndarray:
    """Rotate clockwise by a multiple of 90 degrees."""
    turns = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}
    return cv2.rotate(image, turns[degrees % 360]) if degrees % 360 else image


def png(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", image, PNG_FAST)
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def jpeg(image: np.ndarray, quality: int = 85) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()
