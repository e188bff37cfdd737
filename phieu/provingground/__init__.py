"""The proving ground: fill stamped sheets like people do, degrade them like scanners and phones do.

Used by the tests, the benchmarks and ``phieu demo``. Pure numpy/cv2/PDFium; no storage imports.

    truths = make_bundle(built, built.layout, serials, profile="office", rng=rng, out_dir=d, secret=s)

or piece by piece: ``render_pdf_page`` → ``random_truth`` → ``fill_page`` → ``degrade`` → ``write_pdf``.
"""

from scanner.render import iter_render_pdf, page_count, render_pdf_page

from .bundle import fill_sheet_page, make_bundle, make_photocopy, stamp, stamp_forged
from .degrade import PROFILES, Degraded, degrade
from .filler import fill_page
from .truth import MIX_PRESETS, MarkMix, MarkSpec, SheetTruth, TruthAnswer, random_truth
from .writers import PdfScanWriter, TiffG4Writer, write_jpeg, write_pdf, write_png, write_tiff_g4

__all__ = [
    "MIX_PRESETS",
    "PROFILES",
    "Degraded",
    "MarkMix",
    "MarkSpec",
    "PdfScanWriter",
    "SheetTruth",
    "TiffG4Writer",
    "TruthAnswer",
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
