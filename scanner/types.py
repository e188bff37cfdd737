"""Values passed between scanner stages and to the pipeline. Picklable, no I/O.

Coordinates: images are numpy arrays indexed (row, col); geometry is expressed as (x, y)
with x = column. Layout coordinates are millimetres from the page's top-left corner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.types import Alignment, Identification


@dataclass
class PageImage:
    """One page as read from a scan file: 8-bit greyscale, with the resolution it claims."""

    source: Path
    index: int  # 0-based page index within the file
    image: np.ndarray  # (rows, cols) uint8, 0 = black
    dpi: float  # from the file's metadata, or estimated; 0 if unknown
    source_format: str = ""  # pdf-embedded|pdf-rendered|tiff|png|jpeg
    scale: int = 1  # the JPEG decoder shrank the stored image by this factor (ScanSettings.decode_dpi)
    dpi_stated: bool = True  # the file said its resolution (a scanner's); False: estimated (a photo)


@dataclass
class PageError:
    """A page of a scan file that could not be read; the other pages of the file still come through.

    ``message`` names the file and page and says what to do (Vietnamese first).
    """

    source: Path
    index: int  # 0-based page index within the file
    message: str
    reason: str = "corrupt_page"  # code of scanner.problems.REASONS, kept with the page's record


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
    quality: dict[str, float | str] = field(default_factory=dict)  # marks_found, residual_mm, aligned_by...
    # bool, like ``canonical``: where the scan shows the page (False: beyond the scanned image, a
    # corner fed out of the scan area); None when all of it is there
    visible: np.ndarray | None = None
