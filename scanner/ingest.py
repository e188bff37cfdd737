"""Read scan files page by page: PDF, TIFF (multi-page, 1-bit CCITT G4 included), PNG, JPEG.

Every page becomes an 8-bit greyscale PageImage (0 = black) with the resolution it claims. Files are
streamed: only the current page's image is in memory, so a 1,000-page PDF costs one page.

- PDF: when a page is one image covering the whole page (what a scanner writes), that image is
  taken losslessly (JPEG bytes decoded as they are, CCITT G4 and Flate via pikepdf); otherwise the
  page is rendered with pdfium at ``ScanSettings.render_dpi``.
- TIFF through Pillow (its libtiff decodes CCITT G4; tifffile would need imagecodecs for that).
- PNG/JPEG through OpenCV, honouring the EXIF orientation of phone photos.

Failures: a file that cannot be opened at all raises InputFileError naming it. A page that cannot
be decoded is yielded as a PageError (file, page, what to do) and the next pages still come.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import cast

import cv2
import numpy as np
import pikepdf
import pypdfium2 as pdfium
from PIL import Image

from core.errors import InputFileError
from core.settings import ScanSettings
from scanner.render import render_page
from scanner.types import PageError, PageImage

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = {".pdf": "pdf", ".tif": "tiff", ".tiff": "tiff", ".png": "png", ".jpg": "jpeg",
                      ".jpeg": "jpeg"}
A4_MM = (210.0, 297.0)
MM_PER_INCH = 25.4
# Metadata below this is a placeholder (72 dpi from cameras and screenshots), not a scan resolution.
_PLAUSIBLE_DPI = 100.0
# A page image must cover this share of the page (each side) to count as "the scan of the page".
_FULL_PAGE_SHARE = 0.9
# Image encodings pikepdf cannot hand over by itself (they need an extra program); such pages are
# rendered instead. Decoding errors of a supported encoding still make the page a PageError.
_NOT_EXTRACTABLE = (pikepdf.UnsupportedImageTypeError, pikepdf.DependencyError, pikepdf.NotExtractableError,
                    pikepdf.HifiPrintImageNotTranscodableError)


def discover(paths: Sequence[Path]) -> list[Path]:
    """Scan files under ``paths`` (files, and folders recursively), sorted; others are logged and skipped.

    Hidden files inside folders are ignored.

    Raises InputFileError when a given path does not exist.
    """
    found: set[Path] = set()
    for path in paths:
        if not path.exists():
            raise InputFileError(f"Không tìm thấy {path} (no such file or folder); kiểm tra lại đường dẫn.")
        if path.is_dir():  # hidden files (.DS_Store, ._photo.jpg from macOS) are never scans
            candidates = [p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")]
        else:
            candidates = [path]
        for candidate in candidates:
            if candidate.suffix.lower() in SUPPORTED_SUFFIXES:
                found.add(candidate)
            else:
                log.warning("Bỏ qua %s: không phải tệp ảnh quét (PDF, TIFF, PNG, JPEG)", candidate)
    return sorted(found)


def _kind(path: Path) -> str:
    kind = SUPPORTED_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise InputFileError(f"Tệp {path}: định dạng không hỗ trợ; hãy dùng PDF, TIFF, PNG hoặc JPEG.")
    return kind


def _unreadable(path: Path, exc: BaseException) -> InputFileError:
    return InputFileError(
        f"Tệp {path} không mở được ({type(exc).__name__}: {exc}); "
        "kiểm tra tệp có bị hỏng không, hoặc quét lại (file cannot be opened)."
    )


def page_count(path: Path) -> int:
    """Number of pages in a scan file; raises InputFileError when the file cannot be opened."""
    kind = _kind(path)
    try:
        if kind == "pdf":
            with pikepdf.open(path) as pdf:
                return len(pdf.pages)
        if kind == "tiff":
            with Image.open(path) as im:
                return int(getattr(im, "n_frames", 1))
    except (pikepdf.PdfError, OSError, ValueError) as exc:
        raise _unreadable(path, exc) from exc
    return 1


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


def iter_pages(path: Path, *, settings: ScanSettings) -> Iterator[PageImage | PageError]:
    """Yield each page of ``path`` in order, as a PageImage or, for a page that fails, a PageError.

    Pages below ``settings.min_dpi`` come as PageError too (too coarse to read marks reliably).
    Raises InputFileError when the file itself cannot be opened.
    """
    kind = _kind(path)
    if kind == "pdf":
        pages = _pdf_pages(path, settings)
    elif kind == "tiff":
        pages = _tiff_pages(path)
    else:
        pages = _single_image(path, kind, settings)
    for page in pages:
        yield _checked_dpi(page, settings)


def read_page(path: Path, index: int, *, settings: ScanSettings) -> PageImage | PageError:
    """Page ``index`` (0-based) of ``path`` alone, as :func:`iter_pages` would yield it.

    For workers that each decode their own pages: the file stays open between calls for the same
    path (one file per process), so reading page after page of a 1,000-page PDF opens it once.
    Raises InputFileError when the file cannot be opened or has no page ``index``.
    """
    kind = _kind(path)
    if kind not in ("pdf", "tiff"):
        if index != 0:
            raise InputFileError(f"Tệp {path}: không có trang {index + 1} / the file has no page {index + 1}")
        return next(iter_pages(path, settings=settings))
    opened = _open_document(path, kind)
    if not 0 <= index < opened.pages:
        raise InputFileError(f"Tệp {path}: không có trang {index + 1} / the file has no page {index + 1}")
    try:
        page = _pdf_page(opened, index, settings) if kind == "pdf" else _tiff_page(opened, index)
    except Exception as exc:  # any decoder failure on one page must not stop the others
        return _page_error(path, index, exc)
    return _checked_dpi(page, settings)


def _checked_dpi(page: PageImage | PageError, settings: ScanSettings) -> PageImage | PageError:
    if isinstance(page, PageImage) and page.dpi < settings.min_dpi:
        return PageError(page.source, page.index, (
            f"Tệp {page.source} trang {page.index + 1}: độ phân giải {page.dpi:.0f} dpi quá thấp "
            f"(cần ít nhất {settings.min_dpi} dpi); quét lại trang này (resolution too low)."))
    return page


class _OpenDocument:
    """A PDF (pikepdf, pdfium opened when a page must be rendered) or TIFF (Pillow) kept open."""

    def __init__(self, path: Path, kind: str) -> None:
        self.path, self.kind = path, kind
        self.pdf: pikepdf.Pdf | None = None
        self.tiff: Image.Image | None = None
        self.rendered: pdfium.PdfDocument | None = None
        try:
            if kind == "pdf":
                self.pdf = pikepdf.open(path)
                self.pages = len(self.pdf.pages)
            else:
                self.tiff = Image.open(path)
                self.pages = int(getattr(self.tiff, "n_frames", 1))
        except (pikepdf.PdfError, OSError, ValueError) as exc:
            self.close()
            raise _unreadable(path, exc) from exc
        self.stamp = _stamp(path)

    def close(self) -> None:
        for handle in (self.pdf, self.tiff, self.rendered):
            if handle is not None:
                handle.close()


_OPEN: list[_OpenDocument] = []  # at most one: the file this process is reading


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


def close_documents() -> None:
    """Close the file :func:`read_page` keeps open (end of a run, or before the file is removed)."""
    while _OPEN:
        _OPEN.pop().close()


def _open_document(path: Path, kind: str) -> _OpenDocument:
    if _OPEN and _OPEN[0].path == path and _OPEN[0].stamp == _stamp(path):
        return _OPEN[0]
    close_documents()
    _OPEN.append(_OpenDocument(path, kind))
    return _OPEN[0]


def _pdf_page(opened: _OpenDocument, index: int, settings: ScanSettings) -> PageImage:
    assert opened.pdf is not None
    embedded = _embedded_page_image(opened.pdf.pages[index], settings)
    if embedded is not None:
        return PageImage(opened.path, index, *embedded[:2], "pdf-embedded", embedded[2])
    if opened.rendered is None:
        opened.rendered = pdfium.PdfDocument(opened.path)
    image = _render(opened.rendered, index, settings.render_dpi)
    return PageImage(opened.path, index, image, float(settings.render_dpi), "pdf-rendered")


def _tiff_page(opened: _OpenDocument, index: int) -> PageImage:
    assert opened.tiff is not None
    opened.tiff.seek(index)
    image = _pil_to_grey(opened.tiff)
    return PageImage(opened.path, index, image, _pil_dpi(opened.tiff) or estimate_dpi(image.shape), "tiff")


def _page_error(path: Path, index: int, exc: BaseException) -> PageError:
    log.warning("%s page %d unreadable: %s", path, index + 1, exc)
    return PageError(path, index, (
        f"Tệp {path} trang {index + 1} không đọc được ({type(exc).__name__}: {exc}); "
        "quét lại trang này (page unreadable, rescan it)."))


def _pdf_pages(path: Path, settings: ScanSettings) -> Iterator[PageImage | PageError]:
    try:
        pdf = pikepdf.open(path)
    except (pikepdf.PdfError, OSError, ValueError) as exc:
        raise _unreadable(path, exc) from exc
    rendered: pdfium.PdfDocument | None = None
    try:
        for index, page in enumerate(pdf.pages):
            try:
                embedded = _embedded_page_image(page, settings)
                if embedded is not None:
                    yield PageImage(path, index, *embedded[:2], "pdf-embedded", embedded[2])
                    continue
                if rendered is None:
                    rendered = pdfium.PdfDocument(path)
                image = _render(rendered, index, settings.render_dpi)
                yield PageImage(path, index, image, float(settings.render_dpi), "pdf-rendered")
            except Exception as exc:  # any decoder failure on one page must not stop the others
                yield _page_error(path, index, exc)
    finally:
        pdf.close()
        if rendered is not None:
            rendered.close()


def _render(doc: pdfium.PdfDocument, index: int, dpi: float) -> np.ndarray:
    page = doc[index]
    try:
        return render_page(page, dpi)
    finally:
        page.close()


def _placed_images(page: pikepdf.Page) -> list[tuple[str, float, float]]:
    """(name, width pt, height pt) of each image XObject drawn by the page's content stream."""
    placed, ctm_stack, ctm = [], [], (1.0, 0.0, 0.0, 1.0)
    for instruction in pikepdf.parse_content_stream(page, "q Q cm Do"):
        operands, op = instruction.operands, str(instruction.operator)
        if op == "q":
            ctm_stack.append(ctm)
        elif op == "Q" and ctm_stack:
            ctm = ctm_stack.pop()
        elif op == "cm":
            a, b, c, d = (float(v) for v in operands[:4])
            ctm = (a * ctm[0] + b * ctm[2], a * ctm[1] + b * ctm[3], c * ctm[0] + d * ctm[2], c * ctm[1] + d * ctm[3])
        elif op == "Do":
            width = float(np.hypot(ctm[0], ctm[1]))
            height = float(np.hypot(ctm[2], ctm[3]))
            placed.append((str(operands[0]), width, height))
    return placed


def _embedded_page_image(page: pikepdf.Page, settings: ScanSettings) -> tuple[np.ndarray, float, int] | None:
    """The page's single full-page image as uint8 grey with its dpi and the decoder's reduction
    (see ``jpeg_scale``), or None if the page is not a scan."""
    images = page.get_images(recursive=False)
    if len(images) != 1:
        return None
    placed = _placed_images(page)
    if len(placed) != 1 or placed[0][0] not in images:
        return None
    box = page.mediabox
    page_w, page_h = abs(float(box[2]) - float(box[0])), abs(float(box[3]) - float(box[1]))
    _, width_pt, height_pt = placed[0]
    covers = min(width_pt / page_w, height_pt / page_h) >= _FULL_PAGE_SHARE
    covers_turned = min(width_pt / page_h, height_pt / page_w) >= _FULL_PAGE_SHARE
    if not (covers or covers_turned):
        return None
    pdf_image = pikepdf.PdfImage(cast(pikepdf.Stream, images[placed[0][0]]))
    if pdf_image.width < pdf_image.height and width_pt > height_pt:  # drawn turned a quarter: keep pixels as stored
        width_pt, height_pt = height_pt, width_pt
    across_pt = width_pt if covers else height_pt  # the page length the stored rows span
    scale = 1
    if pdf_image.filters == ["/DCTDecode"]:
        scale = jpeg_scale(pdf_image.width / (across_pt / 72.0), settings)
        data = np.frombuffer(pdf_image.obj.read_raw_bytes(), np.uint8)
        image = cv2.imdecode(data, _DECODE_FLAGS[scale])
        if image is None:
            raise ValueError("ảnh JPEG nhúng trong trang bị hỏng (embedded JPEG is corrupt)")
    else:
        try:
            image = _pil_to_grey(pdf_image.as_pil_image())
        except _NOT_EXTRACTABLE as exc:  # JBIG2 without jbig2dec, JPEG 2000...: pdfium renders those
            log.debug("embedded image not extractable (%s); rendering the page", exc)
            return None
    dpi = image.shape[1] / (across_pt / 72.0)
    image = _apply_page_rotation(image, int(page.obj.get("/Rotate", 0)))
    return image, round(float(dpi), 2), scale


def _apply_page_rotation(image: np.ndarray, rotate: int) -> np.ndarray:
    # /Rotate turns the page clockwise when shown; np.rot90 turns counter-clockwise.
    quarter_turns = (rotate // 90) % 4
    return np.ascontiguousarray(np.rot90(image, -quarter_turns)) if quarter_turns else image


def _pil_to_grey(im: Image.Image) -> np.ndarray:
    if im.mode != "L":
        im = im.convert("L")
    return np.asarray(im, dtype=np.uint8).copy()


def _pil_dpi(im: Image.Image) -> float:
    dpi = im.info.get("dpi")
    if dpi:
        value = round(float(dpi[0]), 1)  # PNG stores pixels per metre: 200 dpi comes back as 199.9996
        if value >= _PLAUSIBLE_DPI:
            return value
    return 0.0


def _tiff_pages(path: Path) -> Iterator[PageImage | PageError]:
    try:
        im = Image.open(path)
        frames = int(getattr(im, "n_frames", 1))
    except (OSError, ValueError) as exc:
        raise _unreadable(path, exc) from exc
    with im:
        for index in range(frames):
            try:
                im.seek(index)
                image = _pil_to_grey(im)
                dpi = _pil_dpi(im) or estimate_dpi(image.shape)
                yield PageImage(path, index, image, dpi, "tiff")
            except Exception as exc:  # one broken frame must not stop the others
                yield _page_error(path, index, exc)


def _single_image(path: Path, kind: str, settings: ScanSettings) -> Iterator[PageImage | PageError]:
    try:
        with Image.open(path) as header:  # reads the header only: resolution, EXIF orientation
            dpi = _pil_dpi(header)
            orientation = header.getexif().get(0x0112, 1)
            is_jpeg = header.format == "JPEG"
    except (OSError, ValueError) as exc:
        raise _unreadable(path, exc) from exc
    data = np.fromfile(path, np.uint8)
    # only a resolution the file states (a scanner's): a phone photo's page may fill a part of the
    # picture, and reducing it on a guess could leave the page coarser than recognition needs
    scale = jpeg_scale(dpi, settings) if is_jpeg and dpi else 1
    image = cv2.imdecode(data, _DECODE_FLAGS[scale] | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None:
        yield _page_error(path, 0, ValueError("dữ liệu ảnh hỏng (corrupt image data)"))
        return
    if orientation != 1:
        image = _exif_transpose(image, orientation)
    yield PageImage(path, 0, image, dpi / scale if dpi else estimate_dpi(image.shape), kind, scale)


# JPEG decoding straight to a reduced size: libjpeg-turbo's scaled inverse DCT averages each block
# (like area reduction) and skips most of the work of a full decode followed by a reduction.
_DECODE_FLAGS = {
    1: cv2.IMREAD_GRAYSCALE,
    2: cv2.IMREAD_REDUCED_GRAYSCALE_2,
    4: cv2.IMREAD_REDUCED_GRAYSCALE_4,
    8: cv2.IMREAD_REDUCED_GRAYSCALE_8,
}


def jpeg_scale(dpi: float, settings: ScanSettings) -> int:
    """The largest of 8, 4, 2 (else 1) that keeps a ``dpi`` JPEG page at ``settings.decode_dpi`` or finer."""
    if settings.decode_dpi <= 0 or dpi <= 0:
        return 1
    return next((f for f in (8, 4, 2) if dpi / f >= 0.99 * settings.decode_dpi), 1)


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
