"""The fonts printed on every sheet: DejaVu (covers every Vietnamese letter), embedded as TrueType.

Registered once per process with reportlab; the composer measures text with the same metrics the
renderer draws with, so wrapped lines never overflow their column.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

from core.errors import MissingToolError

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))
REGULAR = "DejaVuSans"
BOLD = "DejaVuSans-Bold"
MONO = "DejaVuSansMono"


@cache
def register_fonts() -> None:
    """Register DejaVu Sans, Sans Bold and Sans Mono with reportlab (idempotent)."""
    for name in (REGULAR, BOLD, MONO):
        path = next((d / f"{name}.ttf" for d in FONT_DIRS if (d / f"{name}.ttf").exists()), None)
        if path is None:
            raise MissingToolError(
                f"Font {name}.ttf not found in {', '.join(map(str, FONT_DIRS))}. "
                "Cài gói fonts-dejavu-core / install the Debian package fonts-dejavu-core."
            )
        pdfmetrics.registerFont(TTFont(name, str(path)))


def text_width_mm(text: str, font: str, size_pt: float) -> float:
    """Printed width of ``text`` in millimetres."""
    register_fonts()
    return pdfmetrics.stringWidth(text, font, size_pt) * 25.4 / 72.0
