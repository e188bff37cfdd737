"""Reading scan files page by page: PDF (embedded JPEG / rendered), G4 TIFF, PNG, JPEG, broken files."""

from __future__ import annotations

import logging
import shutil
import zlib
from pathlib import Path

import cv2
import numpy as np
import pikepdf
import pytest
from PIL import Image
from scanner_helpers import clean_page, stamped_pdf

from core.errors import InputFileError
from core.settings import ScanSettings
from phieu.provingground.writers import write_pdf, write_png, write_tiff_g4
from scanner.ingest import discover, iter_pages, page_count
from scanner.types import PageError, PageImage

SETTINGS = ScanSettings()


def _pages(path: Path) -> list[PageImage | PageError]:
    return list(iter_pages(path, settings=SETTINGS))


def _small_pages(count: int, dpi: float = 200.0) -> list[np.ndarray]:
    """Distinct A4 pages at ``dpi``: the real sheet, reduced, with the page number drawn large."""
    base = cv2.resize(clean_page(1), None, fx=dpi / 300, fy=dpi / 300, interpolation=cv2.INTER_AREA)
    pages = []
    for number in range(count):
        page = base.copy()
        cv2.putText(page, str(number + 1), (600, 1200), cv2.FONT_HERSHEY_SIMPLEX, 12, 0, 30)
        pages.append(page)
    return pages


def test_discover_walks_folders_sorted_and_reports_others(tmp_path, caplog):
    (tmp_path / "b").mkdir()
    for name in ["b/2.TIF", "a.pdf", "b/1.jpeg", "notes.txt", ".hidden.png"]:
        (tmp_path / name).write_bytes(b"x")
    with caplog.at_level(logging.WARNING):
        found = discover([tmp_path])
    assert found == [tmp_path / "a.pdf", tmp_path / "b/1.jpeg", tmp_path / "b/2.TIF"]
    assert "notes.txt" in caplog.text
    with pytest.raises(InputFileError, match="missing"):
        discover([tmp_path / "missing"])


def test_pdf_with_embedded_jpegs_is_read_losslessly_page_by_page(tmp_path):
    pages = _small_pages(3)
    path = tmp_path / "scan.pdf"
    write_pdf(pages, path, dpi=200.0, jpeg_quality=90)
    assert page_count(path) == 3
    got = _pages(path)
    assert [p.index for p in got] == [0, 1, 2]
    for page, original in zip(got, pages, strict=True):
        assert isinstance(page, PageImage)
        assert page.source_format == "pdf-embedded"
        assert page.dpi == pytest.approx(200.0, rel=0.01)
        assert page.image.shape == original.shape and page.image.dtype == np.uint8
        # The JPEG bytes are decoded as they are: identical to decoding them ourselves.
        with pikepdf.open(path) as pdf:
            raw = next(iter(pdf.pages[page.index].get_images(recursive=False).values())).read_raw_bytes()
        assert np.array_equal(page.image, cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_GRAYSCALE))
        assert np.abs(page.image.astype(int) - original).mean() < 3


def test_vector_pdf_is_rendered_at_the_render_dpi(tmp_path):
    path = tmp_path / "printed.pdf"
    path.write_bytes(stamped_pdf())
    first = next(iter(iter_pages(path, settings=ScanSettings(render_dpi=150))))
    assert isinstance(first, PageImage)
    assert first.source_format == "pdf-rendered" and first.dpi == 150
    assert first.image.shape == (1754, 1241)


def test_multipage_g4_tiff(tmp_path):
    pages = [np.where(p < 160, 0, 255).astype(np.uint8) for p in _small_pages(2)]
    path = tmp_path / "fax.tif"
    write_tiff_g4(pages, path, dpi=200.0)
    assert page_count(path) == 2
    got = _pages(path)
    for page, original in zip(got, pages, strict=True):
        assert isinstance(page, PageImage)
        assert page.dpi == 200.0
        assert np.array_equal(page.image, original)  # G4 is lossless


def test_pdf_with_g4_and_flate_pages(tmp_path):
    grey = _small_pages(2)
    bilevel = Image.fromarray(grey[0]).point(lambda v: 255 if v >= 128 else 0).convert("1")
    path = tmp_path / "bw.pdf"
    # Pillow writes a 1-bit page as CCITT G4 (BlackIs1), as B/W scanners do.
    bilevel.save(path, save_all=True, append_images=[Image.fromarray(grey[1])], resolution=200)
    with pikepdf.open(path, allow_overwriting_input=True) as pdf:  # second page: lossless Flate grey
        image = next(iter(pdf.pages[1].get_images(recursive=False).values()))
        image.write(zlib.compress(grey[1].tobytes()), filter=pikepdf.Name.FlateDecode)
        image.ColorSpace = pikepdf.Name.DeviceGray
        pdf.save(path)
    first, second = _pages(path)
    assert isinstance(first, PageImage) and isinstance(second, PageImage)
    assert first.source_format == "pdf-embedded" and first.dpi == 200.0
    assert np.array_equal(first.image, np.asarray(bilevel.convert("L")))  # lossless, not inverted
    assert second.dpi == 200.0 and np.array_equal(second.image, grey[1])


def test_png_and_jpeg_with_exif_orientation(tmp_path):
    page = _small_pages(1)[0]
    png = tmp_path / "page.png"
    write_png(page, png, dpi=200.0)
    (got,) = _pages(png)
    assert isinstance(got, PageImage) and got.dpi == 200.0 and np.array_equal(got.image, page)

    # A phone stores the pixels sideways and says "rotate 90° clockwise to view" (orientation 6).
    sideways = np.ascontiguousarray(np.rot90(page, 1))
    photo = tmp_path / "photo.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(sideways).save(photo, quality=95, exif=exif.tobytes())
    (got,) = _pages(photo)
    assert isinstance(got, PageImage)
    assert got.image.shape == page.shape
    assert np.abs(got.image.astype(int) - page).mean() < 4
    assert got.dpi == pytest.approx(200.0, rel=0.02)  # no dpi in the file: estimated from A4


def test_scanner_jpeg_is_decoded_at_the_resolution_recognition_needs(tmp_path):
    page = clean_page(1)  # A4 at 300 dpi
    scanned, photo = tmp_path / "scan.jpg", tmp_path / "photo.jpg"
    Image.fromarray(page).save(scanned, quality=90, dpi=(300, 300))
    Image.fromarray(page).save(photo, quality=90)  # a phone states no resolution: the page's is a guess
    (half,) = _pages(scanned)
    assert isinstance(half, PageImage) and half.scale == 2 and half.dpi == 150.0
    assert half.image.shape == ((page.shape[0] + 1) // 2, (page.shape[1] + 1) // 2)
    reduced = cv2.resize(page, (half.image.shape[1], half.image.shape[0]), interpolation=cv2.INTER_AREA)
    assert np.abs(half.image.astype(int) - reduced).mean() < 6  # the same page, averaged by the decoder
    (full,) = list(iter_pages(scanned, settings=ScanSettings(decode_dpi=0)))
    assert isinstance(full, PageImage) and full.scale == 1 and full.image.shape == page.shape
    (guess,) = _pages(photo)
    assert isinstance(guess, PageImage) and guess.scale == 1 and guess.image.shape == page.shape


def test_corrupt_pdf_names_the_file(tmp_path):
    path = tmp_path / "hong.pdf"
    path.write_bytes(b"%PDF-1.4\nthis is not a pdf at all")
    with pytest.raises(InputFileError, match="hong.pdf"):
        list(iter_pages(path, settings=SETTINGS))
    with pytest.raises(InputFileError, match="hong.pdf"):
        page_count(path)


def test_one_bad_page_does_not_stop_the_others(tmp_path):
    path = tmp_path / "scan.pdf"
    write_pdf(_small_pages(3), path, dpi=200.0)
    with pikepdf.open(path, allow_overwriting_input=True) as pdf:
        image = next(iter(pdf.pages[1].get_images(recursive=False).values()))
        image.write(b"\xff\xd8 broken jpeg", filter=pikepdf.Name.DCTDecode)
        pdf.save(path)
    got = _pages(path)
    assert [type(p).__name__ for p in got] == ["PageImage", "PageError", "PageImage"]
    error = got[1]
    assert isinstance(error, PageError)
    assert "scan.pdf" in error.message and "trang 2" in error.message


def test_too_coarse_page_is_refused(tmp_path):
    path = tmp_path / "coarse.png"
    write_png(_small_pages(1, dpi=100.0)[0], path, dpi=100.0)
    (got,) = _pages(path)
    assert isinstance(got, PageError) and "100 dpi" in got.message


@pytest.mark.skipif(shutil.which("jbig2dec") is not None, reason="jbig2dec present: pikepdf would extract")
def test_page_image_pikepdf_cannot_extract_is_rendered_instead(tmp_path):
    # JBIG2 (common from B/W scanners) needs jbig2dec to extract; pdfium renders it itself.
    path = tmp_path / "jbig2.pdf"
    write_pdf(_small_pages(1), path, dpi=200.0)
    with pikepdf.open(path, allow_overwriting_input=True) as pdf:
        image = next(iter(pdf.pages[0].get_images(recursive=False).values()))
        image.write(b"\x00" * 100, filter=pikepdf.Name.JBIG2Decode)
        image.ColorSpace = pikepdf.Name.DeviceGray
        image.BitsPerComponent = 1
        pdf.save(path)
    (page,) = _pages(path)
    assert isinstance(page, PageImage) and page.source_format == "pdf-rendered"
    assert page.dpi == SETTINGS.render_dpi
