"""Values passed between scanner stages and to the pipeline. Picklable, no I/O.

Coordinates: images are numpy arrays indexed (row, col); geometry is expressed as (x, y)
with x = column. Layout coordinates are millimetres from the page's top-left corner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from formgen.identity import SheetIdentity


@dataclass
class PageImage:
    """One page as read from a scan file: 8-bit greyscale, with the resolution it claims."""

    source: Path
    index: int  # 0-based page index within the file
    image: np.ndarray  # (rows, cols) uint8, 0 = black
    dpi: float  # from the file's metadata, or estimated; 0 if unknown
    source_format: str = ""  # pdf-embedded|pdf-rendered|tiff|png|jpeg
    scale: int = 1  # the JPEG decoder shrank the stored image by this factor (ScanSettings.decode_dpi)


@dataclass
class Alignment:
    """Where the page lies in the image: homography from layout mm to image pixels, and how it was found."""

    mm_to_px: np.ndarray  # 3x3 float64: [x_px, y_px, 1] ~ H @ [x_mm, y_mm, 1]
    rotation: int  # 0/90/180/270: how far the scan was turned from upright
    # Mean misfit (mm) of points the fit was checked on but not made from: the QR code's corners
    # (scanner.identify), spare marks; 0.0 when nothing was left over (three or four marks alone).
    residual_mm: float
    marks_found: int
    perspective_mm: float = 0.0  # how far the four marks are from an affine map: a photo's tilt, ~0 scanned


@dataclass
class Identification:
    """Who the page is. ``identity`` is None when unidentified; ``reason`` then says why in words."""

    identity: SheetIdentity | None
    qr_text: str | None = None
    decoder: str | None = None  # zxing|wechat|zbar|ocr
    reason: str | None = None  # unreadable|forged|unknown_survey|blank_page|no_marks (code) ...
    detail: str = ""  # human message, Vietnamese first
    timings_ms: dict[str, float] = field(default_factory=dict)


@dataclass
class PageError:
    """A page of a scan file that could not be read; the other pages of the file still come through.

    ``message`` names the file and page and says what to do (Vietnamese first).
    """

    source: Path
    index: int  # 0-based page index within the file
    message: str


@dataclass
class ScannedPage:
    """The scanner's answer for one page: who it is, where it lies, and the upright page to read.

    ``canonical`` is the page warped to layout coordinates at ``canonical_dpi`` (None when the page
    could not be aligned or identified); ``page_number`` is the 1-based layout page (0 if unknown).
    """

    source: Path
    index: int
    identification: Identification
    alignment: Alignment | None = None
    page_number: int = 0
    canonical: np.ndarray | None = None
    canonical_dpi: float = 0.0
    quality: dict[str, float] = field(default_factory=dict)  # marks_found, residual_mm, affine (0/1)...
