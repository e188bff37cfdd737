"""Pages as respondents and scanners leave them, drawn here (not by the proving ground), and read
through the real scanner and recognition.

A stamped SIPAS page is rendered at 300 dpi; marks are drawn in layout millimetres with OpenCV
(anti-aliased strokes, pen-dark); ``scan`` turns, shifts and crops it like a sheet feeder, or lays
it on a table and photographs it. ``read`` identifies and aligns it (with blank masters for
registration on print) and reads it. Images are uint8 grey (row, col), 0 = black; points (x, y).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np
from scanner_helpers import SECRET, built, clean_page, editions, layout, mm_to_clean_px

from core.settings import RecognitionSettings, ScanSettings
from core.types import AnswerReading, PageReading
from formgen.layout import AnswerBox
from recognition.marks import BlankMaster, prepare_blank
from recognition.page import read_page
from scanner.identify import identify_page
from scanner.register import Master
from scanner.render import render_pdf_page
from scanner.types import PageImage, ScannedPage

DPI = 300.0
MM = 25.4
CANONICAL = RecognitionSettings().canonical_dpi


def box(box_id: str) -> AnswerBox:
    return next(b for b in layout().all_boxes() if b.id == box_id)


def _px(points_mm: np.ndarray) -> np.ndarray:
    """Layout mm -> 300 dpi pixels (x, y) of the clean page, with cv2's 4 fractional bits."""
    pts = cv2.perspectiveTransform(np.asarray(points_mm, np.float64).reshape(1, -1, 2), mm_to_clean_px(DPI))[0]
    return np.round(pts * 16).astype(np.int32)


def stroke(image: np.ndarray, points_mm: list[tuple[float, float]], *, width_mm: float = 0.45,
           ink: int = 40) -> None:
    """A pen line through ``points_mm``, darkening the page multiplicatively (print stays under it)."""
    alpha = np.zeros(image.shape, np.uint8)
    cv2.polylines(alpha, [_px(np.array(points_mm))], False, 255, max(1, round(width_mm * DPI / MM)),
                  cv2.LINE_AA, 4)
    a = alpha.astype(np.float32) / 255.0
    image[:] = np.clip(image * (1.0 - a * (1.0 - ink / 255.0)), 0, 255).astype(np.uint8)


def loop(image: np.ndarray, centre: tuple[float, float], axes: tuple[float, float], *, tilt: float = 0.0,
         sweep: float = 2.05, start: float = 0.3) -> None:
    """An ellipse drawn in one go round ``centre`` (mm), ``sweep`` turns of 2 pi (under 1: left open)."""
    t = np.linspace(start, start + sweep * 2 * np.pi, 90)
    c, s = np.cos(np.radians(tilt)), np.sin(np.radians(tilt))
    x, y = axes[0] * np.cos(t), axes[1] * np.sin(t)
    stroke(image, [(centre[0] + c * a - s * b, centre[1] + s * a + c * b) for a, b in zip(x, y, strict=True)])


def circle_option(image: np.ndarray, box_id: str, *, grow: float = 2.2, sweep: float = 2.05, dy: float = 0.0) -> None:
    """Circle an option's box and code together (khoanh tròn), ``grow`` mm beyond them."""
    b = box(box_id)
    right = b.x + b.code_dx + b.code_w
    loop(image, ((b.x + right) / 2, b.y + b.h / 2 + dy), ((right - b.x) / 2 + grow, b.h / 2 + grow), sweep=sweep)


def circle_code(image: np.ndarray, box_id: str) -> None:
    """Circle only the printed code beside the box (as the ministry's forms teach)."""
    b = box(box_id)
    loop(image, (b.x + b.code_dx + b.code_w / 2, b.y + b.h / 2), (b.code_w / 2 + 1.2, b.code_h / 2 + 1.0))


def tick(image: np.ndarray, box_id: str, *, overshoot_mm: float = 0.0) -> None:
    """A tick in the box; its long stroke runs ``overshoot_mm`` up beyond the frame (into the box above)."""
    b = box(box_id)
    stroke(image, [(b.x + 0.2 * b.w, b.y + 0.5 * b.h), (b.x + 0.42 * b.w, b.y + 0.85 * b.h),
                   (b.x + 0.85 * b.w + overshoot_mm * 0.3, b.y + 0.12 * b.h - overshoot_mm)])


def dot(image: np.ndarray, x_mm: float, y_mm: float, *, diameter_mm: float = 0.7) -> None:
    stroke(image, [(x_mm, y_mm), (x_mm + 0.02, y_mm + 0.02)], width_mm=diameter_mm)


@dataclass
class Scan:
    image: np.ndarray
    dpi: float


def feeder(image: np.ndarray, *, angle: float, shift_mm: tuple[float, float], turn: int = 0) -> Scan:
    """A sheet fed ``angle`` degrees askew and shifted, onto a scan area of exactly A4: whatever
    leaves the area is lost (corners, marks, a code's quiet zone). ``turn`` 180: fed upside down."""
    h, w = image.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle + turn, 1.0)
    m[:, 2] += np.array(shift_mm) * DPI / MM
    out = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_AREA, borderValue=255)
    noisy = cv2.GaussianBlur(out, (0, 0), 0.7)
    return Scan(_jpeg(noisy, 85), DPI)


def on_table(image: np.ndarray, rng: np.random.Generator, *, turn: int = 0, long_side: int = 4000) -> Scan:
    """A phone photo (``long_side`` x 3/4 of it; a messenger sends ~1600) of the whole sheet lying on a
    dark wooden table: perspective, light falling off across the picture, a soft shadow; the file
    says nothing of its resolution."""
    h, w = image.shape
    short_side = long_side * 3 // 4
    height, width = (short_side, long_side) if turn in (90, 270) else (long_side, short_side)
    fill = 0.48 if long_side >= 4000 else 0.8  # half a phone's picture; most of a messenger's crop
    s = fill * min(height, width * h / w) / h
    a = np.radians(turn + rng.uniform(-5, 5))
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64)
    rot = np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])
    dst = (corners - (w / 2, h / 2)) * s @ rot.T + (width / 2, height / 2)
    dst += rng.uniform(-0.025, 0.025, (4, 2)) * w * s
    t = cv2.getPerspectiveTransform(corners.astype(np.float32), dst.astype(np.float32))
    grain = cv2.resize(rng.normal(0, 12, (height // 40, width // 8)), (width, height))
    table = np.clip(70 + grain + 25 * np.sin(np.arange(width) / 37.0)[None, :], 0, 255).astype(np.uint8)
    photo = cv2.warpPerspective(image, t, (width, height), dst=table, flags=cv2.INTER_AREA,
                                borderMode=cv2.BORDER_TRANSPARENT)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    light = 1.0 - 0.25 * xx / width - 0.2 / (1 + np.exp((yy - 0.3 * height) / 40.0))
    photo = cv2.GaussianBlur((photo * light).astype(np.uint8), (0, 0), 0.9)
    return Scan(_jpeg(photo, 88), 0.0)


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return np.asarray(cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE))


@cache
def _blank(number: int) -> BlankMaster:
    return prepare_blank(render_pdf_page(built().blank_pdf, number - 1, dpi=CANONICAL), dpi=CANONICAL,
                         settings=RecognitionSettings())


@cache
def _master(survey: str, edition: str, number: int) -> Master:
    page = layout().page(number)
    return Master.from_darkness(_blank(number).darkness, dpi=CANONICAL, width_mm=page.width, height_mm=page.height)


def masters(survey: str, edition: str, number: int) -> Master:
    return _master(survey, edition, number)


def identify(scan: Scan) -> ScannedPage:
    """The real scanner on ``scan``: identity, alignment (on print where marks are missing)."""
    dpi = scan.dpi or max(scan.image.shape) / (297 / MM)  # as ingest estimates a photo's
    page = PageImage(Path("scan.jpg"), 0, scan.image, dpi, "jpeg")
    return identify_page(page, editions=editions(), secret=SECRET, settings=ScanSettings(),
                         canonical_dpi=CANONICAL, masters=masters)


def read(scan: Scan) -> tuple[ScannedPage, PageReading]:
    scanned = identify(scan)
    assert scanned.identification.identity is not None, scanned.identification.detail
    assert scanned.canonical is not None, scanned.identification.detail
    number = scanned.page_number
    reading = read_page(scanned.canonical, _blank(number), layout().page(number), layout(), dpi=CANONICAL,
                        settings=RecognitionSettings(), ocr=False, visible=scanned.visible)
    return scanned, reading


def answers(reading: PageReading) -> dict[tuple[str, str], AnswerReading]:
    return {(a.question, a.item): a for a in reading.answers}


def page(number: int) -> np.ndarray:
    return clean_page(number, dpi=DPI)
