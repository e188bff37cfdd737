"""Write page images as the files scanners and phones produce.

- ``write_pdf``: one embedded greyscale JPEG per page (DCTDecode), page size from the image and its
  dpi, like office scanners. Written object by object straight to disk, so a 1,000-page file never
  sits in memory.
- ``write_tiff_g4``: multi-page CCITT Group 4 TIFF of 1-bit pages, with resolution tags (fax, B/W scans).
- ``write_png`` / ``write_jpeg``: single pages with dpi metadata; a JPEG may be colour and carry a
  phone's EXIF (72 dpi, make and model, an orientation tag with the pixels stored turned to match).

Images are uint8 greyscale arrays indexed (row, col), 0 = black (a JPEG may also be RGB). ``dpi`` is
one value for every page or one per page.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from itertools import repeat
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
from PIL import Image, TiffImagePlugin

POINTS_PER_INCH = 72.0
_STRIP_OFFSETS, _ROWS_PER_STRIP, _STRIP_BYTE_COUNTS = 273, 278, 279  # TIFF tags
Dpi = float | Sequence[float]


def _dpis(dpi: Dpi) -> Iterable[float]:
    return repeat(float(dpi)) if isinstance(dpi, int | float) else (float(d) for d in dpi)


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", _grey(image), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoder failed")
    return buf.tobytes()


def write_pdf(
    images: Iterable[np.ndarray], path: Path, *, dpi: Dpi = 300.0, jpeg_quality: int = 85, g4: bool = False
) -> int:
    """Write ``images`` as a PDF with one JPEG per page (``g4``: one 1-bit CCITT G4 image per page,
    as office scanners do in black-and-white mode); returns the page count."""
    with PdfScanWriter(path) as pdf:
        for image, page_dpi in zip(images, _dpis(dpi), strict=False):
            pdf.add(image, dpi=page_dpi, jpeg_quality=jpeg_quality, g4=g4)
        return pdf.count


def encode_g4(image: np.ndarray) -> bytes:
    """Raw CCITT Group 4 data of a page (pixels below 128 black), as one strip of a TIFF."""
    buffer = io.BytesIO()
    height = image.shape[0]
    Image.fromarray(_grey(image) >= 128).save(
        buffer, "TIFF", compression="group4", tiffinfo={_ROWS_PER_STRIP: height}
    )
    with Image.open(buffer) as tiff:
        assert isinstance(tiff, TiffImagePlugin.TiffImageFile)
        (offset,), (length,) = tiff.tag_v2[_STRIP_OFFSETS], tiff.tag_v2[_STRIP_BYTE_COUNTS]
    return buffer.getvalue()[offset : offset + length]


class PdfScanWriter:
    """Append pages one at a time: ``with PdfScanWriter(path) as pdf: pdf.add(image, dpi=200)``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.kids: list[int] = []
        self._fp: BinaryIO | None = None
        self._pdf: _PdfStream | None = None

    def __enter__(self) -> PdfScanWriter:
        self._fp = open(self.path, "wb")  # noqa: SIM115 (closed in __exit__)
        self._pdf = _PdfStream(self._fp)
        return self

    def add(self, image: np.ndarray, *, dpi: float, jpeg_quality: int = 85, g4: bool = False) -> None:
        assert self._pdf is not None, "use PdfScanWriter as a context manager"
        h, w = image.shape[:2]
        if g4:  # Pillow's G4 strips decode with black as 1 (checked with PDFium and pikepdf)
            params = b"/BitsPerComponent 1 /Filter /CCITTFaxDecode /DecodeParms << /K -1 /Columns %d /Rows %d /BlackIs1 true >>"
            self.kids.append(self._pdf.add_image_page(encode_g4(image), w, h, dpi, params % (w, h)))
        else:
            params = b"/BitsPerComponent 8 /Filter /DCTDecode"
            self.kids.append(self._pdf.add_image_page(encode_jpeg(image, jpeg_quality), w, h, dpi, params))

    @property
    def count(self) -> int:
        return len(self.kids)

    def __exit__(self, *exc: object) -> None:
        assert self._pdf is not None and self._fp is not None
        try:
            self._pdf.finish(self.kids)
        finally:
            self._fp.close()


class _PdfStream:
    """A minimal PDF 1.4 writer: catalog (1), page tree (2, written last), then 3 objects per page."""

    def __init__(self, fp: BinaryIO) -> None:
        self.fp = fp
        self.offsets: dict[int, int] = {}
        self.next_id = 3
        fp.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        self._object(1, b"<< /Type /Catalog /Pages 2 0 R >>")

    def _object(self, number: int, body: bytes, stream: bytes | None = None) -> None:
        self.offsets[number] = self.fp.tell()
        self.fp.write(b"%d 0 obj\n" % number + body)
        if stream is not None:
            self.fp.write(b"\nstream\n" + stream + b"\nendstream")
        self.fp.write(b"\nendobj\n")

    def add_image_page(self, data: bytes, width: int, height: int, dpi: float, params: bytes) -> int:
        """A page showing one greyscale image; ``params`` holds its bit depth, filter and decode parameters."""
        page, content, img = self.next_id, self.next_id + 1, self.next_id + 2
        self.next_id += 3
        w_pt, h_pt = width * POINTS_PER_INCH / dpi, height * POINTS_PER_INCH / dpi
        draw = b"q %.4f 0 0 %.4f 0 0 cm /Im0 Do Q" % (w_pt, h_pt)
        self._object(
            page,
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.4f %.4f] "
            b"/Resources << /XObject << /Im0 %d 0 R >> >> /Contents %d 0 R >>" % (w_pt, h_pt, img, content),
        )
        self._object(content, b"<< /Length %d >>" % len(draw), draw)
        self._object(
            img,
            b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray %s /Length %d >>"
            % (width, height, params, len(data)),
            data,
        )
        return page

    def finish(self, kids: list[int]) -> None:
        refs = b" ".join(b"%d 0 R" % k for k in kids)
        self._object(2, b"<< /Type /Pages /Kids [%s] /Count %d >>" % (refs, len(kids)))
        xref = self.fp.tell()
        count = self.next_id
        self.fp.write(b"xref\n0 %d\n0000000000 65535 f \n" % count)
        for number in range(1, count):
            self.fp.write(b"%010d 00000 n \n" % self.offsets[number])
        self.fp.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (count, xref))


def write_tiff_g4(images_1bit: Iterable[np.ndarray], path: Path, *, dpi: Dpi = 200.0) -> int:
    """Multi-page CCITT G4 TIFF. Pixels below 128 are black. Streams page by page; returns the count."""
    with TiffG4Writer(path) as tiff:
        for image, page_dpi in zip(images_1bit, _dpis(dpi), strict=False):
            tiff.add(image, dpi=page_dpi)
        return tiff.count


class TiffG4Writer:
    """Append 1-bit pages one at a time to a multi-page Group 4 TIFF (Pillow's appending writer)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._fp: BinaryIO | None = None
        self._tiff: TiffImagePlugin.AppendingTiffWriter | None = None

    def __enter__(self) -> TiffG4Writer:
        self._fp = open(self.path, "w+b")  # noqa: SIM115 (closed in __exit__)
        self._tiff = TiffImagePlugin.AppendingTiffWriter(self._fp)
        return self

    def add(self, image: np.ndarray, *, dpi: float) -> None:
        assert self._tiff is not None, "use TiffG4Writer as a context manager"
        Image.fromarray(_grey(image) >= 128).save(
            self._tiff, format="TIFF", compression="group4", dpi=(dpi, dpi)
        )
        self._tiff.newFrame()
        self.count += 1

    def __exit__(self, *exc: object) -> None:
        assert self._tiff is not None and self._fp is not None
        try:
            self._tiff.close()
        finally:
            self._fp.close()


def write_png(image: np.ndarray, path: Path, *, dpi: float = 300.0) -> None:
    Image.fromarray(_grey(image)).save(path, format="PNG", dpi=(dpi, dpi))


_EXIF_TURNS = {1: 0, 3: 2, 6: 1, 8: -1}  # EXIF orientation -> np.rot90 turns from shown to stored pixels


def write_jpeg(
    image: np.ndarray, path: Path, *, dpi: float = 300.0, quality: int = 85, orientation: int = 1,
    camera: str | None = None,
) -> None:
    """``image`` as it is to be seen; ``orientation`` (EXIF 1, 3, 6 or 8): store the pixels turned
    and tag them so a viewer turns them back, as phones do; ``camera``: "Make Model" for the EXIF."""
    if orientation not in _EXIF_TURNS:
        raise ValueError(f"EXIF orientation {orientation} is not a turn (use 1, 3, 6 or 8)")
    stored = np.rot90(_pixels(image), _EXIF_TURNS[orientation])
    exif = Image.Exif()
    if orientation != 1 or camera:
        exif[0x0112] = orientation
        exif[0x011A] = exif[0x011B] = round(dpi)  # XResolution, YResolution
        exif[0x0128] = 2  # inches
    if camera:
        exif[0x010F], exif[0x0110] = camera.split(" ", 1) if " " in camera else (camera, camera)
    Image.fromarray(np.ascontiguousarray(stored)).save(
        path, format="JPEG", dpi=(round(dpi), round(dpi)), quality=quality, exif=exif.tobytes()
    )


def _pixels(image: np.ndarray) -> np.ndarray:
    if image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8:
        return image
    return _grey(image)


def _grey(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.bool_:
        return np.where(image, 255, 0).astype(np.uint8)
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError(f"expected a 2-D uint8 grey image, got {image.dtype} of shape {image.shape}")
    return image
