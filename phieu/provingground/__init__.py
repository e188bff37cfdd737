"""The proving ground: fill stamped sheets like people do, degrade them like scanners and phones do.

Used by the tests, the benchmarks and ``phieu demo``. Pure numpy/cv2/PDFium; no storage imports.
See docs/proving-ground.md: the coder's rules (``truth``), mark styles (``filler``, ``strokes``, real
marks cut from real scans in ``realmarks``), degradations (``degrade``, ``feeds``, ``damage``,
``photo``) and the benchmark's kinds (``kinds``).

    truths = make_bundle(built, built.layout, serials, profile="office", rng=rng, out_dir=d, secret=s)

or piece by piece: ``render_pdf_page`` → ``random_truth`` → ``fill_page`` → ``degrade`` → ``write_pdf``.
"""

from scanner.render import iter_render_pdf, page_count, render_pdf_page

from .bundle import fill_sheet_page, make_bundle, make_photocopy, stamp, stamp_forged
from .degrade import ALL_PROFILES, NEW_PROFILES, PROFILES, Degraded, degrade
from .filler import fill_page
from .realmarks import MarkBank
from .truth import MIX_PRESETS, MarkMix, MarkSpec, SheetTruth, TruthAnswer, chosen_boxes, random_truth
from .writers import PdfScanWriter, TiffG4Writer, write_jpeg, write_pdf, write_png, write_tiff_g4

__all__ = [
    "ALL_PROFILES",
    "MIX_PRESETS",
    "NEW_PROFILES",
    "PROFILES",
    "Degraded",
    "MarkBank",
    "MarkMix",
    "MarkSpec",
    "PdfScanWriter",
    "SheetTruth",
    "TiffG4Writer",
    "TruthAnswer",
    "chosen_boxes",
    "degrade",
    "fill_page",
    "fill_sheet_page",
    "iter_render_pdf",
    "make_bundle",
    "make_photocopy",
    "page_count",
    "random_truth",
    "render_pdf_page",
    "stamp",
    "stamp_forged",
    "write_jpeg",
    "write_pdf",
    "write_png",
    "write_tiff_g4",
]
