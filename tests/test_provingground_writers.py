"""Scan files written by the proving ground read back as scanners' files do; bundles hold what they say."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import numpy as np
import pikepdf
import pytest
import zxingcpp
from PIL import Image, TiffImagePlugin

from formgen.definition import load_definition
from formgen.identity import parse_payload, verify
from formgen.render import BuiltForm, build_form
from phieu.provingground import iter_render_pdf, render_pdf_page
from phieu.provingground.bundle import fill_sheet_page, make_bundle, make_photocopy, stamp, stamp_forged
from phieu.provingground.sample import SAMPLE_YAML
from phieu.provingground.writers import write_jpeg, write_pdf, write_png, write_tiff_g4
from scanner.render import page_count

SECRET = bytes(range(32))


@pytest.fixture(scope="module")
def built() -> BuiltForm:
    return build_form(load_definition(SAMPLE_YAML, source_name="sample"))


def pages(n: int, shape: tuple[int, int] = (400, 300)) -> list[np.ndarray]:
    """Grey test pages, each with a different black bar so their order can be checked."""
    out = []
    for i in range(n):
        page = np.full(shape, 235, np.uint8)
        page[20 + 30 * i : 40 + 30 * i, 50:250] = 0
        out.append(page)
    return out


def test_pdf_has_one_jpeg_per_page_at_its_dpi(tmp_path: Path) -> None:
    images = pages(3)
    path = tmp_path / "scan.pdf"
    assert write_pdf(images, path, dpi=[300, 200, 150], jpeg_quality=80) == 3
    with pikepdf.open(path) as pdf:
        assert len(pdf.pages) == 3
        for page, dpi in zip(pdf.pages, (300, 200, 150), strict=True):
            (image,) = page.get_images().values()
            assert image.Filter == "/DCTDecode" and image.ColorSpace == "/DeviceGray"
            assert (int(image.Width), int(image.Height)) == (300, 400)
            assert float(page.mediabox[2]) == pytest.approx(300 * 72 / dpi)
    for i, (render, dpi) in enumerate(zip(iter_render_pdf(path, dpi=300), (300, 200, 150), strict=True)):
        if dpi == 300:
            assert render.shape == (400, 300)
            assert np.abs(render.astype(int) - images[i]).mean() < 4  # JPEG q80, same pixels
    assert page_count(path) == 3


def test_pdf_of_one_bit_pages_holds_ccitt_g4(tmp_path: Path) -> None:
    images = [np.where(p < 128, 0, 255).astype(np.uint8) for p in pages(2)]
    path = tmp_path / "bw.pdf"
    assert write_pdf(images, path, dpi=200, g4=True) == 2
    with pikepdf.open(path) as pdf:
        for page, original in zip(pdf.pages, images, strict=True):
            (stream,) = page.get_images().values()
            image = pikepdf.PdfImage(cast(pikepdf.Stream, stream))
            assert image.filters == ["/CCITTFaxDecode"] and image.bits_per_component == 1
            assert np.array_equal(np.array(image.as_pil_image()), original > 0)  # lossless, not inverted
    for render, original in zip(iter_render_pdf(path, dpi=200), images, strict=True):
        assert np.array_equal(render, original)


def test_tiff_g4_is_multipage_one_bit_with_resolution(tmp_path: Path) -> None:
    images = [np.where(p < 128, 0, 255).astype(np.uint8) for p in pages(4)]
    path = tmp_path / "fax.tif"
    assert write_tiff_g4(images, path, dpi=200) == 4
    with Image.open(path) as tif:
        assert isinstance(tif, TiffImagePlugin.TiffImageFile) and tif.n_frames == 4
        for i, image in enumerate(images):
            tif.seek(i)
            assert tif.mode == "1" and tif.info["compression"] == "group4"
            assert tif.info["dpi"] == pytest.approx((200, 200))
            assert np.array_equal(np.array(tif), image > 0)  # lossless


def test_png_and_jpeg_carry_dpi(tmp_path: Path) -> None:
    (image,) = pages(1)
    write_png(image, tmp_path / "p.png", dpi=200)
    write_jpeg(image, tmp_path / "p.jpg", dpi=300, quality=85)
    with Image.open(tmp_path / "p.png") as png, Image.open(tmp_path / "p.jpg") as jpg:
        assert png.info["dpi"] == pytest.approx((200, 200), abs=0.01)
        assert np.array_equal(np.array(png), image)
        assert jpg.info["dpi"] == (300, 300) and jpg.mode == "L"
    with pytest.raises(ValueError, match="2-D uint8"):
        write_png(np.zeros((4, 4, 3), np.uint8), tmp_path / "rgb.png")


def qr_texts(image: np.ndarray) -> list[str]:
    return [code.text for code in zxingcpp.read_barcodes(image)]


def test_bundle_photocopy_and_forgery(built: BuiltForm, tmp_path: Path) -> None:
    serials = [11, 12, 13]
    truths = make_bundle(
        built,
        built.layout,
        serials,
        profile="office",
        rng=np.random.default_rng(1),
        out_dir=tmp_path,
        secret=SECRET,
    )
    assert [t.serial for t in truths] == serials
    assert len({t.fill_seed for t in truths}) == 3
    scans = list(iter_render_pdf(tmp_path / "bundle.pdf", dpi=150))
    assert len(scans) == 3
    for serial, scan in zip(serials, scans, strict=True):
        parsed = parse_payload(qr_texts(scan)[0])
        assert parsed is not None and parsed.identity.serial == serial and verify(parsed, SECRET)

    stamped = stamp(built, serials, SECRET)
    copies = make_photocopy(
        stamped,
        built.layout,
        serials,
        truths[1],
        profile="phone",
        rng=np.random.default_rng(2),
        out_dir=tmp_path,
        fmt="jpeg",
    )
    assert [p.name for p in copies] == ["photocopy-0001.jpg"]
    with Image.open(copies[0]) as photo:
        assert photo.info["dpi"] == (72, 72)  # like a camera, not the page's resolution
        assert qr_texts(np.array(photo.convert("L")))[0].startswith("PH1.THU-NGHIEM.1.0000012.1.")

    forged = make_bundle(
        stamp_forged(built, [12]),
        built.layout,
        [12],
        profile="fax",
        rng=np.random.default_rng(3),
        out_dir=tmp_path,
        fmt="tiff",
        name="forged",
    )
    assert [t.serial for t in forged] == [12]
    with Image.open(tmp_path / "forged.tif") as tif:
        assert isinstance(tif, TiffImagePlugin.TiffImageFile) and tif.n_frames == 1 and tif.mode == "1"
        parsed = parse_payload(qr_texts(np.array(tif.convert("L")))[0])
    assert parsed is not None and parsed.identity.serial == 12 and not verify(parsed, SECRET)


def test_photocopy_draws_the_very_same_marks(built: BuiltForm, tmp_path: Path) -> None:
    """A sheet and its photocopy are filled by the same hand: identical marks before degradation."""
    stamped = stamp(built, [5], SECRET)
    truths = make_bundle(
        stamped, built.layout, [5], profile="office", rng=np.random.default_rng(4), out_dir=tmp_path
    )
    blank = render_pdf_page(stamped, 0, dpi=300)
    once = fill_sheet_page(blank, built.layout, truths[0], 1)
    twice = fill_sheet_page(blank, built.layout, truths[0], 1)
    assert np.array_equal(once, twice) and not np.array_equal(once, blank)


def test_bundle_refuses_a_short_pdf_and_stamping_without_secret(built: BuiltForm, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ends before sheet 2"):
        make_bundle(
            stamp(built, [1], SECRET),
            built.layout,
            [1, 2],
            profile="fax",
            rng=np.random.default_rng(0),
            out_dir=tmp_path,
        )
    with pytest.raises(ValueError, match="secret"):
        make_bundle(built, built.layout, [1], profile="fax", rng=np.random.default_rng(0), out_dir=tmp_path)
