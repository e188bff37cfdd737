"""The proving ground: fill stamped sheets like people do, degrade them like scanners and phones do.

Used by the tests, the benchmarks and ``phieu demo``. Pure numpy/cv2/PDFium; no storage imports.
"""

from .degrade import PROFILES, Degraded, degrade
from .filler import fill_page
from .render import iter_render_pdf, render_pdf_page
from .truth import MIX_PRESETS, MarkMix, MarkSpec, SheetTruth, TruthAnswer, random_truth

__all__ = [
    "MIX_PRESETS",
    "PROFILES",
    "Degraded",
    "MarkMix",
    "MarkSpec",
    "SheetTruth",
    "TruthAnswer",
    "degrade",
    "fill_page",
    "iter_render_pdf",
    "random_truth",
    "render_pdf_page",
]
