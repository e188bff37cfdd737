"""Pictures for people: crops of questions with the machine's reading drawn over them, whole pages.

Pure functions over arrays (numpy (row, col) images; rectangles in layout mm as (x, y, w, h) with
x = column) plus one small decode cache. Colours by the state the rules decided: marked blue,
uncertain orange, a fill that cancels red, a lone fill (doubtful by rule) orange-brown, empty light grey;
the boxes a person must look at get a second, magenta frame.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable

import cv2
import numpy as np

from formgen.layout import AnswerBox, Rect

STATE_COLOURS_BGR = {
    "marked": (230, 90, 20),
    "uncertain": (0, 140, 255),
    "cancelled": (40, 40, 220),
    "lone_fill": (0, 90, 190),
    "empty": (200, 200, 200),
}
SINGLED_OUT_BGR = (200, 0, 200)  # magenta: the boxes the row is in the queue for
FOCUS_BGR = (200, 0, 200)
CROP_MARGIN_MM = 3.0
PAGE_MAX_WIDTH_PX = 1240
PNG_FAST = [cv2.IMWRITE_PNG_COMPRESSION, 3]


def decode(data: bytes) -> np.ndarray:
    """Decode a stored image (PNG/JPEG/TIFF page) to BGR."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("stored image cannot be decoded")
    image.setflags(write=False)
    return image


@functools.lru_cache(maxsize=24)
def decode_file(path: str) -> np.ndarray:
    """Decode a file of the write-once store; cached by path (its name is its hash, so it never changes)."""
    with open(path, "rb") as fh:
        return decode(fh.read())


def mm_to_px(rect: Rect, dpi: float) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) pixel corners of a layout rectangle at ``dpi``."""
    k = dpi / 25.4
    return round(rect.x * k), round(rect.y * k), round((rect.x + rect.w) * k), round((rect.y + rect.h) * k)


def draw_boxes(
    image: np.ndarray,
    boxes: Iterable[tuple[AnswerBox, str]],
    *,
    dpi: float,
    origin: tuple[int, int] = (0, 0),
    singled: Collection[str] = (),
) -> np.ndarray:
    """A copy of the BGR ``image`` with each box framed in the colour of its state (thicker when not empty);
    boxes whose id is in ``singled`` get a second, wider magenta frame.

    ``origin`` (x, y) is the page pixel at the image's top-left corner, for crops.
    """
    out = image.copy()
    ox, oy = origin
    for box, state in boxes:
        x0, y0, x1, y1 = mm_to_px(box, dpi)
        width = 1 if state == "empty" else 3
        pad = 2 + width
        corner0, corner1 = (x0 - pad - ox, y0 - pad - oy), (x1 + pad - ox, y1 + pad - oy)
        cv2.rectangle(out, corner0, corner1, STATE_COLOURS_BGR.get(state, (0, 0, 0)), width)
        if box.id in singled:
            grow = pad + 5
            cv2.rectangle(out, (x0 - grow - ox, y0 - grow - oy), (x1 + grow - ox, y1 + grow - oy), SINGLED_OUT_BGR, 3)
    return out


def frame(image: np.ndarray, rect: Rect, *, dpi: float, colour: tuple[int, int, int] = FOCUS_BGR, width: int = 5) -> np.ndarray:
    """A copy of ``image`` with ``rect`` (mm) framed: where the question is on a whole page."""
    out = image.copy()
    x0, y0, x1, y1 = mm_to_px(rect, dpi)
    cv2.rectangle(out, (x0 - 6, y0 - 6), (x1 + 6, y1 + 6), colour, width)
    return out


def crop(image: np.ndarray, rect: Rect, *, dpi: float, margin_mm: float = CROP_MARGIN_MM) -> tuple[np.ndarray, tuple[int, int]]:
    """The part of ``image`` under ``rect`` plus a margin, clipped to the image, and its (x, y) origin in px."""
    grown = Rect(x=rect.x - margin_mm, y=rect.y - margin_mm, w=rect.w + 2 * margin_mm, h=rect.h + 2 * margin_mm)
    x0, y0, x1, y1 = mm_to_px(grown, dpi)
    rows, cols = image.shape[:2]
    x0, y0 = max(x0, 0), max(y0, 0)
    return image[y0 : min(y1, rows), x0 : min(x1, cols)], (x0, y0)


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
