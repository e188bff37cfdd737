"""Read scan files page by page: PDF, TIFF (multi-page, 1-bit CCITT G4 included), PNG, JPEG.

Every page becomes an 8-bit greyscale PageImage (0 = black) with the resolution it claims. Files are
streamed: only the current page's image is in memory, so a 1,000-page PDF costs one page.

- PDF: the scanner's own page image taken losslessly, else the page rendered (``scanner.pdfpages``).
- TIFF through Pillow (its libtiff decodes CCITT G4; tifffile would need imagecodecs for that).
- PNG/JPEG through OpenCV, honouring the EXIF orientation of phone photos.

One guard for every file and page (:class:`ScanReader`): the content decides the format, not the
name; limits are checked from headers before anything is decoded (``scanner.limits``); and any
failure of a decoder (password, damaged data, a limit, memory) becomes the file's or the page's error
with a reason code and a message naming file and page (``scanner.problems``):

- a file that cannot be opened at all raises InputFileError (``.reason`` holds the code);
- a page that cannot be decoded is a PageError, and the next pages still come.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np
import pikepdf
import pypdfium2 as pdfium
from PIL import Image

from core.errors import InputFileError
from core.settings import ScanSettings
from scanner.limits import check_file, check_pages, check_pixels, sniff
from scanner.pdfpages import DECODE_FLAGS, embedded_page_image, jpeg_scale, render, to_grey_pil
from scanner.problems import ReadProblem, classify, explain
from scanner.types import PageError, PageImage

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = {".pdf": "pdf", ".tif": "tiff", ".tiff": "tiff", ".png": "png", ".jpg": "jpeg",
                      ".jpeg": "jpeg"}
A4_MM = (210.0, 297.0)
MM_PER_INCH = 25.4
# Metadata below this is a placeholder (72 dpi from cameras and screenshots), not a scan resolution.
_PLAUSIBLE_DPI = 100.0
__all__ = ["ScanReader", "discover", "estimate_dpi", "iter_pages", "jpeg_scale", "page_count", "to_grey"]


def discover(paths: Sequence[Path], *, exclude: Sequence[Path] = ()) -> list[Path]:
    """Scan files under ``paths`` (files, and folders recursively), sorted; others are logged and skipped.

    Hidden files inside folders are ignored, and so is everything under ``exclude`` (a quarantine).

    Raises InputFileError when a given path does not exist.
    """
    found: set[Path] = set()
    skipped = [p.resolve() for p in exclude]
    for path in paths:
        if not path.exists():
            raise InputFileError(f"Không tìm thấy {path} (no such file or folder); kiểm tra lại đường dẫn.",
                                 reason="missing_file")
        if path.is_dir():  # hidden files (.DS_Store, ._photo.jpg from macOS) are never scans
            candidates = [p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")]
        else:
            candidates = [path]
        for candidate in candidates:
            if skipped and any(candidate.resolve().is_relative_to(s) for s in skipped):
                continue
            if candidate.suffix.lower() in SUPPORTED_SUFFIXES:
                found.add(candidate)
            else:
                log.warning("Bỏ qua %s: không phải tệp ảnh quét (PDF, TIFF, PNG, JPEG)", candidate)
    return sorted(found)


def estimate_dpi(shape: tuple[int, ...], page_mm: tuple[float, float] = A4_MM) -> float:
    """Resolution of an image assumed to show the whole page (A4 by default), from its long side."""
    return max(shape[:2]) / (max(page_mm) / MM_PER_INCH)


def to_grey(image: np.ndarray) -> np.ndarray:
    """uint8 greyscale from grey, BGR, BGRA, bool or 16-bit input."""
    if image.dtype == bool:
        return np.where(image, 255, 0).astype(np.uint8)
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    if image.ndim == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return np.ascontiguousarray(image, dtype=np.uint8)


class ScanReader:
    """Reads scan files behind one guard, keeping the file it is reading open between pages.

    Owned by whoever reads (a worker, the pipeline's parent counting pages, a test): reading page
    after page of a 1,000-page PDF opens it once. ``full=True`` decodes JPEG pages in full
    (``decode_dpi`` 0) for a second look. Close it (or use it as a context manager) when done.
    """

    def __init__(self, settings: ScanSettings) -> None:
        self.settings = settings
        self._full = settings.model_copy(update={"decode_dpi": 0})
        self._open: _Document | None = None

    def __enter__(self) -> ScanReader:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self._open is not None:
            self._open.close()
            self._open = None

    def page_count(self, path: Path, *, name: str | None = None) -> int:
        """Number of pages; raises InputFileError (with its reason) when the file cannot be opened.

        ``name``: what messages call the file (its original name, when ``path`` is a stored copy).
        """
        return self._document(path, name or str(path)).pages

    def read_page(self, path: Path, index: int, *, full: bool = False, name: str | None = None) -> PageImage | PageError:
        """Page ``index`` (0-based) of ``path``; a page that cannot be decoded comes back as a PageError.

        Raises InputFileError when the file cannot be opened or has no page ``index``.
        """
        shown = name or str(path)
        document = self._document(path, shown)
        if not 0 <= index < document.pages:
            raise InputFileError(f"Tệp {shown}: không có trang {index + 1} / the file has no page {index + 1}",
                                 reason="missing_file")
        settings = self._full if full else self.settings
        try:
            page = document.page(index, settings)
        except Exception as exc:  # noqa: BLE001 - the guard: any decoder failure is this page's error alone
            return _page_error(shown, index, exc)
        return _checked_dpi(page, shown, settings)

    def pages(self, path: Path) -> Iterator[PageImage | PageError]:
        """Every page of ``path`` in order (see :meth:`read_page`)."""
        for index in range(self.page_count(path)):
            yield self.read_page(path, index)

    def _document(self, path: Path, shown: str) -> _Document:
        path = Path(path)
        if self._open is not None and self._open.path == path and self._open.stamp == _stamp(path):
            return self._open
        self.close()
        try:
            self._open = _Document(path, self.settings)
        except InputFileError:
            raise
        except Exception as exc:  # noqa: BLE001 - the guard: whatever stops a file from opening is its error
            reason, detail = classify(exc, page_level=False)
            log.warning("%s: %s (%s)", shown, reason, detail)
            raise InputFileError(explain(shown, None, reason, detail), reason=reason) from exc
        return self._open


def iter_pages(path: Path, *, settings: ScanSettings) -> Iterator[PageImage | PageError]:
    """Yield each page of ``path`` in order, as a PageImage or, for a page that fails, a PageError.

    Pages below ``settings.min_dpi`` come as PageError too (too coarse to read marks reliably).
    Raises InputFileError when the file itself cannot be opened.
    """
    with ScanReader(settings) as reader:
        yield from reader.pages(path)


def page_count(path: Path, settings: ScanSettings | None = None) -> int:
    """Number of pages in a scan file; raises InputFileError when the file cannot be opened."""
    with ScanReader(settings or ScanSettings()) as reader:
        return reader.page_count(path)


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


class _Document:
    """One open scan file: PDF (pikepdf; pdfium opened when a page must be rendered), TIFF (Pillow), or
    a single PNG/JPEG (its header read, its pixels decoded when the page is asked for)."""

    def __init__(self, path: Path, settings: ScanSettings) -> None:
        self.path = path
        self.stamp = _stamp(path)
        self.pdf: pikepdf.Pdf | None = None
        self.tiff: Image.Image | None = None
        self.rendered: pdfium.PdfDocument | None = None
        check_file(path, settings)
        kind = sniff(path)
        if kind is None:
            raise ReadProblem("not_a_scan")
        named = SUPPORTED_SUFFIXES.get(path.suffix.lower())
        if named is not None and named != kind:
            log.warning("%s: tên tệp ghi %s nhưng nội dung là %s; đọc theo nội dung / named %s, holds %s",
                        path, named, kind, named, kind)
        self.kind = kind
        try:
            self.pages = self._open(settings)
        except BaseException:
            self.close()
            raise

    def _open(self, settings: ScanSettings) -> int:
        if self.kind == "pdf":
            self.pdf = pikepdf.open(self.path)
            if not self.pdf.pages:
                raise ReadProblem("no_pages")
            return check_pages(len(self.pdf.pages), settings)
        with warnings.catch_warnings():  # Pillow's bomb warning: our own limit judges (below, per page)
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(self.path)
        if self.kind == "tiff":
            self.tiff = image
            return check_pages(int(getattr(image, "n_frames", 1)), settings)
        with image:  # PNG/JPEG: the header only (size, resolution, EXIF orientation); decoded by OpenCV
            check_pixels(image.size[0], image.size[1], settings)
            self.dpi = _pil_dpi(image)
            self.orientation = int(image.getexif().get(0x0112, 1))
        return 1

    def close(self) -> None:
        for handle in (self.pdf, self.tiff, self.rendered):
            if handle is not None:
                handle.close()
        self.pdf = self.tiff = self.rendered = None

    def page(self, index: int, settings: ScanSettings) -> PageImage:
        if self.kind == "pdf":
            return self._pdf_page(index, settings)
        if self.kind == "tiff":
            return self._tiff_page(index, settings)
        return self._single_image(settings)

    def _pdf_page(self, index: int, settings: ScanSettings) -> PageImage:
        assert self.pdf is not None
        embedded = embedded_page_image(self.pdf.pages[index], settings)
        if embedded is not None:
            return PageImage(self.path, index, *embedded[:2], "pdf-embedded", embedded[2])
        if self.rendered is None:
            self.rendered = pdfium.PdfDocument(self.path)
        image = render(self.rendered, index, settings.render_dpi, settings)
        return PageImage(self.path, index, image, float(settings.render_dpi), "pdf-rendered")

    def _tiff_page(self, index: int, settings: ScanSettings) -> PageImage:
        assert self.tiff is not None
        self.tiff.seek(index)  # reads the frame's tags only: its size is checked before any pixel
        check_pixels(self.tiff.size[0], self.tiff.size[1], settings)
        image = to_grey_pil(self.tiff)
        return PageImage(self.path, index, image, _pil_dpi(self.tiff) or estimate_dpi(image.shape), "tiff")

    def _single_image(self, settings: ScanSettings) -> PageImage:
        data = np.fromfile(self.path, np.uint8)
        # only a resolution the file states (a scanner's): a phone photo's page may fill a part of the
        # picture, and reducing it on a guess could leave the page coarser than recognition needs
        scale = jpeg_scale(self.dpi, settings) if self.kind == "jpeg" and self.dpi else 1
        image = cv2.imdecode(data, DECODE_FLAGS[scale] | cv2.IMREAD_IGNORE_ORIENTATION)
        if image is None:
            raise ReadProblem("corrupt_page", "dữ liệu ảnh hỏng / corrupt image data")
        if self.orientation != 1:
            image = _exif_transpose(image, self.orientation)
        dpi = self.dpi / scale if self.dpi else estimate_dpi(image.shape)
        return PageImage(self.path, 0, image, dpi, self.kind, scale, dpi_stated=bool(self.dpi))


def _checked_dpi(page: PageImage, shown: str, settings: ScanSettings) -> PageImage | PageError:
    """A scan coarser than ``min_dpi`` is refused; a photo (no resolution stated) down to ``min_photo_dpi``
    is read: a messenger's photo of a sheet is all some respondents send, and it is straightened and
    measured at the canonical resolution."""
    least = settings.min_dpi if page.dpi_stated else settings.min_photo_dpi
    if page.dpi < least:
        detail = f"{page.dpi:.0f} dpi < {least} dpi"
        return PageError(page.source, page.index, explain(shown, page.index, "low_resolution", detail),
                         "low_resolution")
    return page


def _page_error(shown: str, index: int, exc: BaseException) -> PageError:
    reason, detail = classify(exc, page_level=True)
    log.warning("%s page %d unreadable: %s (%s)", shown, index + 1, reason, detail)
    return PageError(Path(shown), index, explain(shown, index, reason, detail), reason)


def _pil_dpi(im: Image.Image) -> float:
    dpi = im.info.get("dpi")
    if dpi:
        value = round(float(dpi[0]), 1)  # PNG stores pixels per metre: 200 dpi comes back as 199.9996
        if value >= _PLAUSIBLE_DPI:
            return value
    return 0.0


def _exif_transpose(image: np.ndarray, orientation: int) -> np.ndarray:
    """Turn the stored pixels upright per EXIF orientation 1-8 (as Pillow's exif_transpose does)."""
    turned = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1, :],
        5: lambda a: a.T,
        6: lambda a: np.rot90(a, -1),
        7: lambda a: np.rot90(a, 2).T,
        8: lambda a: np.rot90(a, 1),
    }.get(orientation, lambda a: a)(image)
    return np.ascontiguousarray(turned)
