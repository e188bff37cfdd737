"""Limits checked before decoding, with defaults real scanners fit: each refuses what is over it with its
reason code and a message naming the file (and page); the content decides the format, not the name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pikepdf
import pytest
from PIL import Image

from core.errors import InputFileError
from core.settings import ScanSettings
from phieu.provingground import hostile
from phieu.provingground.writers import write_jpeg, write_pdf, write_png
from scanner.ingest import ScanReader, iter_pages, page_count
from scanner.limits import check_pdf_page, check_pixels
from scanner.problems import ReadProblem
from scanner.types import PageError, PageImage

DEFAULTS = ScanSettings()
MM_PER_INCH = 25.4


def _px(mm: float, dpi: float) -> int:
    return round(mm / MM_PER_INCH * dpi)


def test_defaults_fit_real_scanners() -> None:
    check_pixels(_px(297, 600), _px(420, 600), DEFAULTS)  # A3 at 600 dpi: 70 million pixels
    check_pixels(8000, 6000, DEFAULTS)  # a 48-megapixel phone photo
    with pikepdf.new() as pdf:
        for size in ((842, 1191), (1684, 1191)):  # A3 upright, A2 across, in points
            pdf.add_blank_page(page_size=size)
        for page in pdf.pages:
            check_pdf_page(page, DEFAULTS)
    with pytest.raises(ReadProblem) as refused:
        check_pixels(30_000, 30_000, DEFAULTS)
    assert refused.value.reason == "pixel_limit" and "900" in refused.value.detail


def test_an_a3_page_at_600_dpi_header_is_not_refused(tmp_path: Path) -> None:
    path = hostile.pixel_bomb_jpeg(tmp_path / "a3-600dpi.jpg", side=_px(420, 600))  # 9921 square: 98 Mpx
    assert page_count(path) == 1  # the header passes; only the (fake) data could fail, page by page


def test_each_limit_refuses_with_its_reason(tmp_path: Path) -> None:
    page = np.full((1400, 1000), 255, np.uint8)
    pdf = tmp_path / "ba-trang.pdf"
    write_pdf([page, page, page], pdf, dpi=120.0)
    with pytest.raises(InputFileError) as many:
        page_count(pdf, ScanSettings(max_pages_per_file=2))
    assert many.value.reason == "too_many_pages" and "ba-trang.pdf" in str(many.value)
    big = tmp_path / "lon.png"
    write_png(np.full((3000, 3000), 255, np.uint8), big, dpi=300)
    with pytest.raises(InputFileError) as pixels:
        page_count(big, ScanSettings(max_page_pixels=1_000_000))
    assert pixels.value.reason == "pixel_limit" and "9 triệu" in str(pixels.value)


def test_file_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "to.png"
    write_png((np.random.default_rng(1).random((1500, 1500)) * 255).astype(np.uint8), path, dpi=300)
    assert path.stat().st_size > 2**20
    with pytest.raises(InputFileError) as refused:
        page_count(path, ScanSettings(max_file_mb=1))
    assert refused.value.reason == "file_too_large" and "to.png" in str(refused.value)


def test_one_oversized_frame_fails_alone(tmp_path: Path) -> None:
    path = tmp_path / "hai-trang.tif"
    small, large = Image.new("L", (1000, 1400), 255), Image.new("L", (2000, 2800), 255)
    small.save(path, save_all=True, append_images=[large], dpi=(120, 120))
    pages = list(iter_pages(path, settings=ScanSettings(max_page_pixels=2_000_000, min_dpi=100)))
    assert isinstance(pages[0], PageImage)
    assert isinstance(pages[1], PageError) and pages[1].reason == "pixel_limit"
    assert "hai-trang.tif, trang 2" in pages[1].message


def test_the_content_decides_the_format(tmp_path: Path) -> None:
    page = np.full((1754, 1240), 255, np.uint8)
    jpeg_as_pdf = tmp_path / "anh.pdf"
    write_jpeg(page, tmp_path / "anh.jpg", dpi=150)
    (tmp_path / "anh.jpg").rename(jpeg_as_pdf)
    png_as_tif = tmp_path / "anh.tif"
    write_png(page, png_as_tif, dpi=150)
    with ScanReader(DEFAULTS) as reader:
        for path, kind in ((jpeg_as_pdf, "jpeg"), (png_as_tif, "png")):
            got = reader.read_page(path, 0)
            assert isinstance(got, PageImage) and got.source_format == kind and got.image.shape == page.shape


OUT_OF_MEMORY = '''
import resource, sys
from pathlib import Path
from PIL import Image
from core.settings import ScanSettings
from scanner.ingest import iter_pages
path = Path(sys.argv[1])
Image.new("L", (13000, 13000), 255).save(path, save_all=True, compression="tiff_lzw",
                                         append_images=[Image.new("L", (1240, 1754), 255)], dpi=(150, 150))
size = int(Path("/proc/self/status").read_text().split("VmSize:")[1].split()[0]) * 1024
resource.setrlimit(resource.RLIMIT_AS, (size + 120 * 2**20, resource.RLIM_INFINITY))  # as a worker's cap does
pages = list(iter_pages(path, settings=ScanSettings(max_page_pixels=200_000_000)))
print([getattr(p, "reason", "read") for p in pages])
'''


def test_a_page_over_the_memory_cap_fails_alone(tmp_path: Path) -> None:
    """What ``scan.worker_memory_mb`` does in a worker: a page needing more fails as ``out_of_memory``
    (169 million pixels under a cap 120 MB above what the reader uses), the next page is read."""
    done = subprocess.run([sys.executable, "-c", OUT_OF_MEMORY, str(tmp_path / "lon.tif")], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "['out_of_memory', 'read']"
