"""identify_page on real SIPAS sheets: identified, turned, degraded, forged, unknown, blank, unreadable."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from scanner_helpers import (
    SECRET,
    SERIAL,
    box_error_mm,
    clean_page,
    crop_left,
    editions,
    erase_rect_mm,
    layout,
    mm_to_clean_px,
    move,
)

from core.settings import ScanSettings
from formgen.identity import SheetIdentity
from phieu.provingground.degrade import degrade
from phieu.provingground.writers import write_jpeg, write_pdf, write_tiff_g4
from scanner.identify import identify_page
from scanner.ingest import iter_pages
from scanner.types import PageImage, ScannedPage

SETTINGS = ScanSettings()
CANONICAL_DPI = 150


def _identify(image: np.ndarray, dpi: float, *, known=None) -> ScannedPage:
    page = PageImage(Path("scan.pdf"), 0, image, dpi, "test")
    return identify_page(page, editions=known if known is not None else editions(), secret=SECRET,
                         settings=SETTINGS, canonical_dpi=CANONICAL_DPI)


def _identity(page: int) -> SheetIdentity:
    return SheetIdentity(layout().survey, layout().edition, SERIAL, page)


def _assert_read(result: ScannedPage, page: int, truth: np.ndarray, dpi: float) -> None:
    ident = result.identification
    assert ident.reason is None, ident.detail
    assert ident.identity == _identity(page)
    assert result.page_number == page
    assert result.alignment is not None
    assert box_error_mm(result.alignment, truth, layout(), page, dpi) < 1.0
    assert result.canonical is not None and result.canonical.shape == (1754, 1241)
    assert result.canonical_dpi == CANONICAL_DPI


@pytest.mark.parametrize("quarter, angle", [(0, 0.0), (1, 10.0), (2, -10.0), (3, 4.0)])
def test_turned_and_skewed_pages_are_identified(quarter, angle):
    moved = move(clean_page(2), dpi=300, angle=angle, quarter=quarter, shift_mm=(4, -3), scale=1.01)
    result = _identify(moved.image, 300)
    _assert_read(result, 2, moved.truth, 300)
    assert result.identification.decoder == "zxing"
    assert result.alignment is not None and result.alignment.rotation == quarter * 90


@pytest.mark.parametrize("profile", ["office", "phone"])
def test_degraded_pages_are_identified(profile):
    out = degrade(clean_page(1), profile, np.random.default_rng(11))
    result = _identify(out.image, out.dpi)
    _assert_read(result, 1, out.transform @ mm_to_clean_px(300), out.dpi)


def test_pdf_of_embedded_jpegs_pages_in_any_order(tmp_path):
    rng = np.random.default_rng(3)
    order = [3, 1, 2]
    scans = [degrade(clean_page(n), "office", rng) for n in order]
    path = tmp_path / "bundle.pdf"
    write_pdf([s.image for s in scans], path, dpi=[s.dpi for s in scans])
    pages = list(iter_pages(path, settings=SETTINGS))
    for page, number, scan in zip(pages, order, scans, strict=True):
        assert isinstance(page, PageImage)
        # 300 dpi JPEGs are decoded at half size (ScanSettings.decode_dpi); pixel x there is ~x/2 here
        assert page.scale == (2 if scan.dpi >= 297 else 1)
        assert page.dpi == pytest.approx(scan.dpi / page.scale, rel=0.01)
        result = identify_page(page, editions=editions(), secret=SECRET, settings=SETTINGS,
                               canonical_dpi=CANONICAL_DPI)
        to_decoded = np.diag([1 / page.scale, 1 / page.scale, 1.0])
        _assert_read(result, number, to_decoded @ scan.transform @ mm_to_clean_px(300), page.dpi)
    assert {page.scale for page in pages if isinstance(page, PageImage)} == {1, 2}  # both paths taken


def test_fax_g4_tiff_and_phone_jpeg_files(tmp_path):
    fax = degrade(clean_page(4), "fax", np.random.default_rng(5))
    tiff = tmp_path / "fax.tif"
    write_tiff_g4([fax.image], tiff, dpi=fax.dpi)
    photo = degrade(clean_page(5), "phone", np.random.default_rng(6), jpeg=False)
    jpeg = tmp_path / "photo.jpg"
    write_jpeg(photo.image, jpeg, dpi=72, quality=photo.jpeg_quality or 85)  # phones write 72 dpi
    for path, number, out in [(tiff, 4, fax), (jpeg, 5, photo)]:
        (page,) = iter_pages(path, settings=SETTINGS)
        assert isinstance(page, PageImage)
        result = identify_page(page, editions=editions(), secret=SECRET, settings=SETTINGS,
                               canonical_dpi=CANONICAL_DPI)
        # dpi of the photo is only estimated: measure the error at the page's true resolution
        _assert_read(result, number, out.transform @ mm_to_clean_px(300), out.dpi)


def test_forged_code_is_refused():
    forged = move(clean_page(1, secret=b"not the workspace secret" * 2), dpi=300, angle=2.0)
    result = _identify(forged.image, 300)
    ident = result.identification
    assert ident.identity is None and ident.reason == "forged"
    assert ident.qr_text is not None and ident.qr_text.startswith("PH1.")
    assert "chữ ký không khớp" in ident.detail
    assert result.canonical is None


def test_code_of_an_unregistered_survey():
    other = layout().model_copy(update={"survey": "KHAC-2025"})
    result = _identify(clean_page(1), 300, known={("KHAC-2025", other.edition): other})
    assert result.identification.reason == "unknown_survey"
    assert "chưa được đăng ký" in result.identification.detail


def test_blank_back_page_costs_almost_nothing():
    rng = np.random.default_rng(9)
    ghost = cv2.flip(clean_page(1), 1)  # show-through of the front, faint
    paper = np.clip(rng.normal(238, 6, ghost.shape), 0, 255).astype(np.uint8)
    paper = np.minimum(paper, (255 - (255 - ghost) * 0.15).astype(np.uint8))
    paper[rng.integers(0, ghost.shape[0], 800), rng.integers(0, ghost.shape[1], 800)] = 0  # dust
    result = _identify(paper, 300)
    assert result.identification.reason == "blank_page"
    assert set(result.identification.timings_ms) == {"blank"}
    # ... while a printed page is never taken for a blank one
    assert _identify(clean_page(layout().page_count), 300).identification.reason is None


def _qr_and_digits(page: int = 1):
    lay = layout().page(page)
    return lay.qr, lay.digits_text


def test_unreadable_code_is_read_from_the_printed_digits():
    moved = move(clean_page(1), dpi=300, angle=-3.0, quarter=2)
    qr_rect, _ = _qr_and_digits()
    erase_rect_mm(moved.image, moved.truth, (qr_rect.x, qr_rect.y, qr_rect.w, qr_rect.h))
    result = _identify(moved.image, 300)
    assert result.identification.decoder == "ocr"
    _assert_read(result, 1, moved.truth, 300)


def test_no_code_and_no_digits_is_unreadable():
    moved = move(clean_page(1), dpi=300, angle=1.0)
    qr_rect, digits = _qr_and_digits()
    for rect in (qr_rect, digits):
        erase_rect_mm(moved.image, moved.truth, (rect.x - 1, rect.y - 1, rect.w + 2, rect.h + 2))
    result = _identify(moved.image, 300)
    assert result.identification.reason == "unreadable"
    assert result.identification.identity is None
    assert result.alignment is not None


def test_marks_lost_but_code_read():
    moved = move(clean_page(1), dpi=300)
    for mark in layout().page(1).marks:
        erase_rect_mm(moved.image, moved.truth, (mark.cx - 5, mark.cy - 5, 10, 10))
    result = _identify(moved.image, 300)
    assert result.identification.reason == "no_marks"
    assert result.identification.identity == _identity(1)  # known, but nothing can be read
    assert result.alignment is None and result.canonical is None


def test_not_a_form_at_all():
    page = np.full((3508, 2480), 255, np.uint8)
    for row in range(300, 3300, 120):
        cv2.putText(page, "Cong van so 123/UBND ve viec khao sat", (150, row), cv2.FONT_HERSHEY_SIMPLEX, 2.4, 0, 5)
    result = _identify(page, 300)
    assert result.identification.reason == "no_marks" and result.identification.identity is None


def test_qr_orientation_wins_over_ambiguous_marks():
    # The circle mark printed as a square (a photocopier filling it in): the marks alone cannot
    # tell 0° from 180°, the QR code can.
    image = clean_page(2)
    circle = next(m for m in layout().page(2).marks if m.shape == "circle")
    k = 300 / 25.4
    x0, y0 = int((circle.cx - circle.size / 2) * k), int((circle.cy - circle.size / 2) * k)
    side = int(circle.size * k)
    image[y0:y0 + side, x0:x0 + side] = 0
    moved = move(image, dpi=300, angle=3.0, quarter=2)
    result = _identify(moved.image, 300)
    _assert_read(result, 2, moved.truth, 300)
    assert result.alignment is not None and result.alignment.rotation == 180


@pytest.mark.parametrize("erase_top_right, marks_left", [(False, 2), (True, 1)])
def test_marks_cut_off_by_the_scanner_are_replaced_by_the_code(erase_top_right, marks_left):
    # The left marks are cut in half by the image edge (a shifted page cropped to A4): the QR code's
    # corners and the surviving marks align the page instead.
    moved = crop_left(move(clean_page(2), dpi=300), 10.0)
    if erase_top_right:
        erase_rect_mm(moved.image, moved.truth, (195.0, 5.0, 10.0, 10.0))
    result = _identify(moved.image, 300)
    _assert_read(result, 2, moved.truth, 300)
    assert result.alignment is not None and result.alignment.marks_found == marks_left


def test_a_phone_photos_perspective_is_not_a_misfit():
    # Four marks fix a homography exactly; its residual is measured on the QR code's corners, and the
    # tilt of the photo (far from an affine map) is reported apart, not as a misfit.
    moved = move(clean_page(1), dpi=300, angle=3.0, perspective=0.12)
    result = _identify(moved.image, 300)
    _assert_read(result, 1, moved.truth, 300)
    assert result.alignment is not None
    assert result.alignment.residual_mm < SETTINGS.fit_residual_max_mm
    assert result.alignment.perspective_mm > 1.0
    assert result.quality["residual_mm"] == round(result.alignment.residual_mm, 3)


def test_marks_that_misfit_the_code_are_not_trusted():
    # A mark moved 3 mm (a sticker, a redrawn corner) bends the fit near it; the code beside it
    # shows the misfit, and no alignment is better than a wrong one.
    moved = move(clean_page(1), dpi=300, angle=-2.0)
    mark = next(m for m in layout().page(1).marks if m.name == "top_right")
    half = mark.size / 2
    erase_rect_mm(moved.image, moved.truth, (mark.cx - 2 * half, mark.cy - 2 * half, 4 * half, 4 * half))
    square = np.array([[[mark.cx - half, mark.cy + 3 - half], [mark.cx + half, mark.cy + 3 - half],
                        [mark.cx + half, mark.cy + 3 + half], [mark.cx - half, mark.cy + 3 + half]]])
    cv2.fillPoly(moved.image, [np.round(cv2.perspectiveTransform(square, moved.truth)[0]).astype(np.int32)], 0)
    result = _identify(moved.image, 300)
    assert result.identification.identity == _identity(1)
    if result.alignment is not None:
        assert result.alignment.residual_mm <= SETTINGS.fit_residual_max_mm
        assert box_error_mm(result.alignment, moved.truth, layout(), 1, 300) < 1.0
