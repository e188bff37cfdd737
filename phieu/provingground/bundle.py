"""Whole bundles of returned sheets for the demo, the benchmarks and end-to-end tests.

``make_bundle`` renders each stamped page at 300 dpi, fills it from a random ground truth, degrades
it and writes the scan files, one sheet in memory at a time. ``stamp_forged`` prints sheets whose QR
is signed with a wrong secret; ``make_photocopy`` scans an already filled sheet again (the very same
marks, a new degradation), as when a bundle goes through the scanner twice.
"""

from __future__ import annotations

import io
import logging
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from formgen.layout import Layout
from scanner.render import iter_render_pdf, render_pdf_page

from .degrade import Degraded, degrade
from .filler import fill_page
from .realmarks import MarkBank
from .truth import MarkMix, SheetTruth, random_truth
from .writers import PdfScanWriter, TiffG4Writer, write_jpeg, write_png

if TYPE_CHECKING:
    from formgen.render import BuiltForm

log = logging.getLogger(__name__)

Format = Literal["pdf", "tiff", "jpeg", "png"]
FILL_DPI = 300.0
PHONE_METADATA_DPI = 72.0  # what camera JPEGs claim, whatever the distance to the paper
PHONE_PROFILES = ("phone", "phone-table")
_PHONES = ("samsung SM-A155F", "OPPO CPH2591", "Xiaomi 23129RAA4G", "Apple iPhone 11")


@dataclass(frozen=True)
class PageRecord:
    """Where one sheet page went: the scan file, its index there, and what was done to it."""

    path: str
    index: int  # 0-based page index in the file (always 0 for one-image-per-page files)
    serial: int
    page: int
    damage: tuple[str, ...] = ()
    lost_marks: tuple[str, ...] = ()


@dataclass
class _Sink:
    """Writes degraded pages as they come: one PDF or TIFF, or one image file per page."""

    out_dir: Path
    name: str
    fmt: Format
    paths: list[Path] = field(default_factory=list)
    _writer: PdfScanWriter | TiffG4Writer | None = None

    def __enter__(self) -> _Sink:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if self.fmt == "pdf":
            self._writer = PdfScanWriter(self.out_dir / f"{self.name}.pdf").__enter__()
        elif self.fmt == "tiff":
            self._writer = TiffG4Writer(self.out_dir / f"{self.name}.tif").__enter__()
        if self._writer is not None:
            self.paths.append(self._writer.path)
        return self

    def add(self, page: Degraded) -> tuple[Path, int]:
        """Write ``page``; returns the file and the page's index in it."""
        quality = page.jpeg_quality or 85
        if isinstance(self._writer, PdfScanWriter):
            self._writer.add(page.image, dpi=page.dpi, jpeg_quality=quality, g4=page.jpeg_quality is None)
            return self._writer.path, self._writer.count - 1
        if isinstance(self._writer, TiffG4Writer):
            self._writer.add(page.image, dpi=page.dpi)
            return self._writer.path, self._writer.count - 1
        path = self.out_dir / f"{self.name}-{len(self.paths) + 1:04d}.{'jpg' if self.fmt == 'jpeg' else 'png'}"
        if self.fmt == "jpeg":  # phones stamp a placeholder resolution, not the page's
            phone = page.profile in PHONE_PROFILES
            camera = _PHONES[len(self.paths) % len(_PHONES)] if page.profile == "phone-table" else None
            write_jpeg(page.image, path, dpi=PHONE_METADATA_DPI if phone else page.dpi, quality=quality,
                       orientation=page.exif_orientation, camera=camera)
        else:
            write_png(page.image, path, dpi=page.dpi)
        self.paths.append(path)
        return path, 0

    def __exit__(self, *exc: object) -> None:
        if self._writer is not None:
            self._writer.__exit__(*exc)


def make_bundle(
    built_or_stamped_pdf: BuiltForm | bytes | Path,
    layout: Layout,
    serials: Sequence[int],
    *,
    profile: str,
    rng: np.random.Generator,
    out_dir: Path,
    fmt: Format = "pdf",
    mix: MarkMix | str = "mixed",
    secret: bytes | None = None,
    name: str = "bundle",
    turns: bool = False,
    bank: MarkBank | None = None,
    manifest: list[PageRecord] | None = None,
) -> list[SheetTruth]:
    """Fill and degrade every sheet of ``serials``; write ``out_dir/name.pdf`` (or ``.tif``, or one
    ``name-NNNN.jpg``/``.png`` per page). Returns each sheet's ground truth, in order.

    A ``BuiltForm`` is stamped first with ``secret``; a stamped PDF must hold exactly the pages of
    ``serials`` in order (what ``formgen.render.stamp_sheets`` writes). ``fmt="tiff"`` needs 1-bit
    pages: use it with the "fax" or "bw-scanner" profile; their PDFs hold CCITT G4 pages (black-and-white
    scans). ``bank``: real marks for the "real" mix; ``manifest`` gets a ``PageRecord`` per page written.
    """
    pdf = _stamped(built_or_stamped_pdf, serials, secret)
    truths: list[SheetTruth] = []
    with _Sink(out_dir, name, fmt) as sink:
        for serial, pages in _sheets(pdf, layout, serials):
            truth = random_truth(layout, rng, serial=serial, mix=mix)
            truths.append(truth)
            for number, image in pages:
                filled = fill_sheet_page(image, layout, truth, number, bank=bank)
                page = degrade(filled, profile, rng, dpi=FILL_DPI, turns=turns, jpeg=fmt == "png",
                               page=layout.page(number))
                path, index = sink.add(page)
                if manifest is not None:
                    manifest.append(PageRecord(str(path), index, serial, number, page.damage, page.lost_marks))
    log.info("bundle %s: %d sheets, profile %s, %s", out_dir / name, len(truths), profile, fmt)
    return truths


def make_photocopy(
    stamped_pdf: bytes | Path,
    layout: Layout,
    serials: Sequence[int],
    truth: SheetTruth,
    *,
    profile: str,
    rng: np.random.Generator,
    out_dir: Path,
    fmt: Format = "pdf",
    name: str = "photocopy",
) -> list[Path]:
    """Scan sheet ``truth.serial`` of ``stamped_pdf`` (printed for ``serials``) again: the same marks
    as ``make_bundle`` drew, a fresh degradation. Returns the files written."""
    first = list(serials).index(truth.serial) * layout.page_count
    with _Sink(out_dir, name, fmt) as sink:
        for number in range(1, layout.page_count + 1):
            image = render_pdf_page(stamped_pdf, first + number - 1, dpi=FILL_DPI)
            filled = fill_sheet_page(image, layout, truth, number)
            sink.add(degrade(filled, profile, rng, dpi=FILL_DPI, jpeg=fmt == "png", page=layout.page(number)))
    return sink.paths


def stamp_forged(built: BuiltForm, serials: Sequence[int]) -> bytes:
    """Sheets that look genuine but whose QR and digits are signed with a secret nobody holds."""
    return stamp(built, serials, secrets.token_bytes(32))


def stamp(built: BuiltForm, serials: Sequence[int], secret: bytes) -> bytes:
    """The stamped PDF of ``serials`` (all pages of each, in order) as bytes."""
    from formgen.render import stamp_sheets  # reportlab only when stamping is asked for

    buffer = io.BytesIO()
    stamp_sheets(built, list(serials), secret, buffer)
    return buffer.getvalue()


def _stamped(source: BuiltForm | bytes | Path, serials: Sequence[int], secret: bytes | None) -> bytes | Path:
    if isinstance(source, bytes | Path):
        return source
    if secret is None:
        raise ValueError("stamping a BuiltForm needs the workspace secret")
    return stamp(source, serials, secret)


def _sheets(
    pdf: bytes | Path, layout: Layout, serials: Sequence[int]
) -> Iterator[tuple[int, list[tuple[int, np.ndarray]]]]:
    """(serial, [(page number, 300 dpi image), ...]) per sheet, rendered lazily."""
    pages = iter_render_pdf(pdf, dpi=FILL_DPI)
    for serial in serials:
        sheet = []
        for number in range(1, layout.page_count + 1):
            image = next(pages, None)
            if image is None:
                raise ValueError(f"the stamped PDF ends before sheet {serial} page {number}")
            sheet.append((number, image))
        yield serial, sheet


def fill_sheet_page(
    image: np.ndarray, layout: Layout, truth: SheetTruth, number: int, *, bank: MarkBank | None = None
) -> np.ndarray:
    """Page ``number`` (1-based, rendered at 300 dpi) filled by the respondent of ``truth``: the hand
    is seeded from ``truth.fill_seed``, so a sheet and its photocopy carry the very same marks."""
    hand = np.random.default_rng([truth.fill_seed, number])
    return fill_page(image, layout.page(number), truth, dpi=FILL_DPI, rng=hand, bank=bank)
