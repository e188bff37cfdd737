"""scanner/tesseract.py against the real tesseract program."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from core.errors import MissingToolError
from scanner import tesseract

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def _text_image(text: str, size: int = 32) -> np.ndarray:
    font = ImageFont.truetype(FONT, size)
    img = Image.new("L", (40 + int(font.getlength(text)), size * 2), 255)
    ImageDraw.Draw(img).text((20, size // 3), text, fill=0, font=font)
    return np.asarray(img)


def test_reads_printed_vietnamese() -> None:
    text = tesseract.ocr_text(_text_image("Thủ tục hành chính"), lang="vie", psm=7)
    assert text == "Thủ tục hành chính"


def test_whitelist_limits_characters() -> None:
    text = tesseract.ocr_text(_text_image("0123-4567"), lang="eng", psm=7, whitelist="0123456789-")
    assert text == "0123-4567"


def test_a_whitelist_holds_for_its_call_only() -> None:
    # engines are kept per language and mode: the digits-only list must not stick to the next crop
    assert tesseract.ocr_text(_text_image("Hello 42"), lang="eng", psm=7, whitelist="0123456789") == "42"
    assert tesseract.ocr_text(_text_image("Hello World"), lang="eng", psm=7) == "Hello World"


def test_a_crop_that_takes_too_long_gives_no_draft(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(tesseract, "TIMEOUT_S", 0.001)  # a stuck crop must not hold a worker for long
    page_of_text = np.tile(_text_image("Thủ tục hành chính công"), (30, 4))
    assert tesseract.ocr_text(page_of_text, lang="vie", psm=6) == ""
    assert "timed out" in caplog.text


def test_threads_each_read_their_own_crop() -> None:
    # the review UI re-reads pages in waitress threads: engines are per thread, never shared
    words = ["Hà Nội", "Đà Nẵng", "Huế", "Cần Thơ"]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda w: tesseract.ocr_text(_text_image(w), lang="vie", psm=7), words * 3))
    assert got == words * 3


def test_the_program_reads_the_same_where_tesserocr_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    # the fallback engine: pytesseract starting the tesseract program for each crop
    monkeypatch.setattr(tesseract, "tesserocr", None)
    assert tesseract.ocr_text(_text_image("Thủ tục hành chính"), lang="vie", psm=7) == "Thủ tục hành chính"
    assert tesseract.ocr_text(_text_image("0123-4567"), lang="eng", psm=7, whitelist="0123456789-") == "0123-4567"
    sure = tesseract.ocr_reading(_text_image("Thủ tục hành chính"), lang="vie", psm=7)
    assert sure.text == "Thủ tục hành chính" and sure.confidence is not None and sure.confidence > 80


def test_the_reading_carries_tesseracts_own_confidence() -> None:
    """Clean print reads with high confidence; a scribble that reads as something reads with low confidence."""
    clean = tesseract.ocr_reading(_text_image("Dân tộc Mường"), lang="vie", psm=7)
    assert clean.text == "Dân tộc Mường" and clean.confidence is not None and clean.confidence > 80
    rng = np.random.default_rng(3)
    scribble = np.full((60, 400), 255, np.uint8)
    points = np.cumsum(rng.integers(-6, 7, size=(120, 2)), axis=0) + [30, 20]
    for (y0, x0), (y1, x1) in zip(points[:-1], points[1:], strict=True):
        cv2.line(scribble, (int(x0 * 3) % 400, int(y0) % 60), (int(x1 * 3) % 400, int(y1) % 60), 0, 2)
    messy = tesseract.ocr_reading(scribble, lang="vie", psm=7)
    assert messy.confidence is None or messy.confidence < clean.confidence - 20, messy
    assert tesseract.ocr_reading(np.full((40, 200), 255, np.uint8)) == tesseract.NOTHING


def test_blank_and_degenerate_images_give_empty_text() -> None:
    assert tesseract.ocr_text(np.full((40, 200), 255, np.uint8)) == ""
    assert tesseract.ocr_text(np.zeros((0, 0), np.uint8)) == ""


def test_missing_language_says_what_to_install() -> None:
    with pytest.raises(MissingToolError, match="tesseract-ocr-vie"):
        tesseract.require_tesseract("xyz")


def test_tesseract_failure_maps_to_empty_text(caplog: pytest.LogCaptureFixture) -> None:
    # psm 99 does not exist: refused with a log line, never an exception.
    assert tesseract.ocr_text(_text_image("abc"), lang="eng", psm=99) == ""
    assert "OCR failed" in caplog.text
