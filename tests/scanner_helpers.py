"""Real sheets for the scanner tests: the SIPAS example built by formgen, stamped, rasterised, then moved.

Everything is made inside the tests (nothing read from ../shared). Images are uint8 greyscale numpy
(row, col) arrays; geometry (x, y) with x = column; ``Moved.truth`` maps layout mm to pixels of the
moved image, so a test can check where every box really is.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from core.types import Alignment
from formgen.definition import load_definition
from formgen.layout import Layout
from formgen.render import BuiltForm, build_form, stamp_sheets
from scanner.render import render_pdf_page

REPO = Path(__file__).resolve().parent.parent
SECRET = bytes(range(32))
SERIAL = 42
MM_PER_INCH = 25.4


@cache
def built() -> BuiltForm:
    return build_form(load_definition(REPO / "examples" / "sipas-2024.yaml"))


def layout() -> Layout:
    return built().layout


def editions() -> dict[tuple[str, str], Layout]:
    return {(layout().survey, layout().edition): layout()}


@cache
def stamped_pdf(serial: int = SERIAL, secret: bytes = SECRET) -> bytes:
    buffer = io.BytesIO()
    stamp_sheets(built(), [serial], secret, buffer)
    return buffer.getvalue()


@cache
def _clean(page: int, dpi: float, serial: int, secret: bytes) -> np.ndarray:
    image = render_pdf_page(stamped_pdf(serial, secret), page - 1, dpi=dpi)
    image.setflags(write=False)
    return image


def clean_page(page: int = 1, *, dpi: float = 300.0, serial: int = SERIAL, secret: bytes = SECRET) -> np.ndarray:
    """Stamped page ``page`` (1-based) rendered at ``dpi``; a fresh writable copy each call."""
    return _clean(page, dpi, serial, secret).copy()


def mm_to_clean_px(dpi: float) -> np.ndarray:
    """Layout mm -> pixel (OpenCV convention, centres at integers) of a page rendered at ``dpi``."""
    k = dpi / MM_PER_INCH
    return np.array([[k, 0, -0.5], [0, k, -0.5], [0, 0, 1.0]])


@dataclass
class Moved:
    image: np.ndarray
    truth: np.ndarray  # 3x3: layout mm -> pixels of ``image``
    dpi: float


def move(
    image: np.ndarray,
    *,
    dpi: float,
    angle: float = 0.0,
    scale: float = 1.0,
    shift_mm: tuple[float, float] = (0.0, 0.0),
    quarter: int = 0,
    perspective: float = 0.0,
) -> Moved:
    """Place the page on a larger scanner bed, turned by ``angle`` degrees (counter-clockwise as seen)
    plus ``quarter`` quarter turns (clockwise as seen), scaled, shifted, with optional keystone."""
    h, w = image.shape
    pad = int(0.12 * max(h, w))
    bed_w, bed_h = w + 2 * pad, h + 2 * pad
    k = dpi / MM_PER_INCH
    centre = np.array([[1, 0, -w / 2], [0, 1, -h / 2], [0, 0, 1.0]])
    rot = cv2.getRotationMatrix2D((0, 0), angle, scale)
    rot = np.vstack([rot, [0, 0, 1.0]])
    keystone = np.eye(3)
    keystone[2, 1] = perspective / h
    place = np.array([[1, 0, bed_w / 2 + shift_mm[0] * k], [0, 1, bed_h / 2 + shift_mm[1] * k], [0, 0, 1.0]])
    forward = place @ keystone @ rot @ centre
    out = cv2.warpPerspective(image, forward, (bed_w, bed_h), flags=cv2.INTER_AREA, borderValue=255)
    for _ in range(quarter % 4):  # clockwise as seen: (x, y) -> (H - 1 - y, x)
        turn = np.array([[0, -1, out.shape[0] - 1], [1, 0, 0], [0, 0, 1.0]])
        forward = turn @ forward
        out = np.ascontiguousarray(np.rot90(out, -1))
    return Moved(out, forward @ mm_to_clean_px(dpi), dpi)


def box_error_mm(alignment: Alignment, truth: np.ndarray, lay: Layout, page: int, dpi: float) -> float:
    """Largest distance (mm) between where the alignment and the truth put each box centre of a page."""
    centres = np.array([b.centre for b in lay.page(page).boxes] + [r.centre for r in lay.page(page).regions])
    pts = centres.reshape(1, -1, 2)
    found = cv2.perspectiveTransform(pts, alignment.mm_to_px)[0]
    real = cv2.perspectiveTransform(pts, truth)[0]
    return float(np.max(np.hypot(*(found - real).T)) / (dpi / MM_PER_INCH))


def erase_rect_mm(image: np.ndarray, truth: np.ndarray, rect: tuple[float, float, float, float]) -> None:
    """Paint white over a layout rectangle (x, y, w, h mm) of a moved page, in place."""
    x, y, w, h = rect
    corners = np.array([[[x, y], [x + w, y], [x + w, y + h], [x, y + h]]], dtype=np.float64)
    poly = cv2.perspectiveTransform(corners, truth)[0]
    cv2.fillPoly(image, [np.round(poly).astype(np.int32)], 255)


def crop_left(moved: Moved, x_mm: float) -> Moved:
    """Cut the image at layout x = ``x_mm`` (for an unturned page), as a scanner crops a shifted page."""
    cut_px = int(round(cv2.perspectiveTransform(np.array([[[x_mm, 0.0]]]), moved.truth)[0, 0, 0]))
    shift = np.array([[1, 0, -cut_px], [0, 1, 0], [0, 0, 1.0]])
    return Moved(np.ascontiguousarray(moved.image[:, cut_px:]), shift @ moved.truth, moved.dpi)
