"""Values that pass between stages: who a page is, where it lies, what was read, what came of it.

Picklable dataclasses, no I/O. Worker processes build them and hand them to the parent, which
stores them (``storage.scans``) without the workers ever importing SQLAlchemy.

Coordinates: images are numpy arrays indexed (row, col); geometry is (x, y) with x = column.
Layout coordinates are millimetres from the page's top-left corner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:  # formgen's leaf contract module; imported for annotations only
    from formgen.identity import SheetIdentity


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
    # what the page was aligned on: "marks" (four), "marks-3" (three, the fourth cut off),
    # "code+marks" (the QR code and the marks it predicts), "code+print" (the QR code, then the
    # print matched against the blank master), "print" (the print alone), "person"
    method: str = "marks"


@dataclass
class Identification:
    """Who the page is. ``identity`` is None when unidentified; ``reason`` then says why in words."""

    identity: SheetIdentity | None
    qr_text: str | None = None
    decoder: str | None = None  # zxing|wechat|zbar|ocr
    reason: str | None = None  # unreadable|forged|unknown_survey|blank_page|no_marks (code) ...
    detail: str = ""  # human message, Vietnamese first
    timings_ms: dict[str, float] = field(default_factory=dict)


BoxState = Literal["empty", "marked", "cancelled", "uncertain", "unseen"]  # unseen: beyond the scanned image
# answered: one value (or several for multiple choice) | blank | multiple: two+ marks on single/grid |
# uncertain: a box in the grey band | unreadable: e.g. a digit column with no/two marks |
# ink / no_ink: handwriting region with / without writing
AnswerState = Literal["answered", "blank", "multiple", "uncertain", "unreadable", "ink", "no_ink"]


@dataclass(frozen=True)
class BoxMeasure:
    box_id: str
    inner_ink: float  # share of new (non-printed) ink pixels inside the frame
    ring_ink: float  # share of new ink in the band just outside the frame
    darkness: float  # mean darkness (0..1) of the new ink pixels
    state: BoxState
    # for an uncertain box, what made it so: "loop" (a circle left open, or round two options),
    # "beside" (a mark beside the box), "stray" (ink no option explains), "" (ink in the grey band)
    why: str = ""


@dataclass
class AnswerReading:
    question: str
    item: str  # grid row id, "" for a plain question
    kind: str  # single|multiple|grid|number|text|writein
    value: str | None  # stored code; ";"-joined for multiple choice; None when blank/undecided
    state: AnswerState
    needs_review: bool
    reason: str | None = None  # machine reason code: multiple_marks|uncertain_box|unreadable_digit|writein
    confidence: float = 1.0
    ocr_draft: str | None = None
    ocr_confidence: float | None = None  # tesseract's mean word confidence of the draft (0-100)
    crop_png: bytes | None = None  # handwriting crop (PNG) for the reviewer


@dataclass
class PageReading:
    boxes: list[BoxMeasure] = field(default_factory=list)
    answers: list[AnswerReading] = field(default_factory=list)
    thresholds: dict[str, float] = field(default_factory=dict)  # the adapted per-sheet thresholds used


@dataclass
class PageOutcome:
    """What the workers made of one page, handed to :func:`storage.scans.record_page` by the parent process.

    Assembled once, in the worker (``pipeline.outcome``); storage keeps it as it is.
    """

    index: int  # 0-based page index within the file
    identification: Identification
    alignment: Alignment | None = None
    reading: PageReading | None = None
    page_image: bytes | None = None  # PNG: the page as read, reduced, for a person (pages not read)
    aligned_image: bytes | None = None  # JPEG: the upright page at ``aligned_dpi``, what reviewers' crops cut
    aligned_dpi: float = 0.0  # resolution of ``aligned_image``, stored with it (settings may change later)
    quality: dict[str, Any] = field(default_factory=dict)  # every fact of how the page was read, complete
    error: str | None = None  # the page could not be processed at all (message names file and page)
