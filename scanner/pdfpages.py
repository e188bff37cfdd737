"""PDF pages as images: the scanner's own page image taken out losslessly, else the page rendered.

A page that is one image covering the whole page (what a scanner writes) gives that image as it is
(JPEG bytes decoded as they are, CCITT G4 and Flate via pikepdf); any other page is rendered with
pdfium at ``ScanSettings.render_dpi``. Sizes are checked before decoding or rendering
(:mod:`scanner.limits`), so a page that would take gigabytes is refused from its header.
"""

from __future__ import annotations

import logging
from typing import cast

import cv2
import numpy as np
import pikepdf
import pypdfium2 as pdfium
from PIL import Image

from core.settings import ScanSettings
from scanner.limits import check_pdf_page, check_pixels, check_render, image_header_size
from scanner.render import render_page

log = logging.getLogger(__name__)

# A page image must cover this share of the page (each side) to count as "the scan of the page".
_FULL_PAGE_SHARE = 0.9
# Image encodings pikepdf cannot hand over by itself (they need an extra program); such pages are
# rendered instead. Decoding errors of a supported encoding still make the page a PageError.
_NOT_EXTRACTABLE = (pikepdf.UnsupportedImageTypeError, pikepdf.DependencyError, pikepdf.NotExtractableError,
                    pikepdf.HifiPrintImageNotTranscodableError)
# JPEG decoding straight to a reduced size: libjpeg-turbo's scaled inverse DCT averages each block
# (like area reduction) and skips most of the work of a full decode followed by a reduction.
DECODE_FLAGS = {
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


def embedded_page_image(page: pikepdf.Page, settings: ScanSettings) -> tuple[np.ndarray, float, int] | None:
    """The page's single full-page image as uint8 grey with its dpi and the decoder's reduction
    (see :func:`jpeg_scale`), or None if the page is not a scan."""
    check_pdf_page(page, settings)
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
    check_pixels(int(pdf_image.width), int(pdf_image.height), settings)
    if pdf_image.width < pdf_image.height and width_pt > height_pt:  # drawn turned a quarter: keep pixels as stored
        width_pt, height_pt = height_pt, width_pt
    across_pt = width_pt if covers else height_pt  # the page length the stored rows span
    scale = 1
    if pdf_image.filters == ["/DCTDecode"]:
        raw = pdf_image.obj.read_raw_bytes()
        check_pixels(*image_header_size(raw), settings)  # the JPEG's own header may claim more than the PDF says
        scale = jpeg_scale(pdf_image.width / (across_pt / 72.0), settings)
        image = cv2.imdecode(np.frombuffer(raw, np.uint8), DECODE_FLAGS[scale])
        if image is None:
            raise ValueError("ảnh JPEG nhúng trong trang bị hỏng (embedded JPEG is corrupt)")
    else:
        try:
            image = to_grey_pil(pdf_image.as_pil_image())
        except _NOT_EXTRACTABLE as exc:  # JBIG2 without jbig2dec, JPEG 2000...: pdfium renders those
            log.debug("embedded image not extractable (%s); rendering the page", exc)
            return None
    dpi = image.shape[1] / (across_pt / 72.0)
    image = _apply_page_rotation(image, int(page.obj.get("/Rotate", 0)))
    return image, round(float(dpi), 2), scale


def render(doc: pdfium.PdfDocument, index: int, dpi: float, settings: ScanSettings) -> np.ndarray:
    """Page ``index`` rendered at ``dpi``, once the bitmap pdfium would allocate is known to fit the limits."""
    page = doc[index]
    try:
        width_pt, height_pt = page.get_size()
        check_render(width_pt, height_pt, dpi, settings)
        return render_page(page, dpi)
    finally:
        page.close()


def to_grey_pil(im: Image.Image) -> np.ndarray:
    if im.mode != "L":
        im = im.convert("L")
    return np.asarray(im, dtype=np.uint8).copy()


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


def _apply_page_rotation(image: np.ndarray, rotate: int) -> np.ndarray:
    # /Rotate turns the page clockwise when shown; np.rot90 turns counter-clockwise.
    quarter_turns = (rotate // 90) % 4
    return np.ascontiguousarray(np.rot90(image, -quarter_turns)) if quarter_turns else image
