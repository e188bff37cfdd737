"""What a worker made of one page: the value the scan workers hand to ``storage.scans.record_page``.

Kept apart from :mod:`storage.scans` (which re-exports it) so the worker processes import neither
SQLAlchemy nor the models: they only compute.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from recognition.types import PageReading
from scanner.types import Alignment, Identification


@dataclass
class PageOutcome:
    """What the workers made of one page, handed to :func:`storage.scans.record_page` by the parent process."""

    index: int  # 0-based page index within the file
    identification: Identification
    alignment: Alignment | None = None
    reading: PageReading | None = None
    page_image_png: bytes | None = None  # the page as read, for the review UI (PNG or JPEG bytes)
    aligned_png: bytes | None = None  # upright canonical page (RecognitionSettings.canonical_dpi), PNG or JPEG
    quality: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # the page could not be processed at all (message names file and page)
