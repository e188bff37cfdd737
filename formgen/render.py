"""Drawing with reportlab: the blank master and the stamped copies.

``build_form`` composes a definition once; ``stamp_sheets`` writes any number of numbered
copies into one PDF. Each page's static content is drawn once as a PDF form XObject and reused
by every copy, so a copy page costs only its QR code, its digits line and a reference.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import zxingcpp
from reportlab import rl_config
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

from core.settings import FormSettings
from formgen.blocks import FillOp, FrameOp, Op, RuleOp, TextOp
from formgen.compose import FormPlan, StampPlace, compose
from formgen.definition import Definition
from formgen.fonts import MONO, REGULAR, register_fonts
from formgen.identity import SheetIdentity, encode_payload, human_digits
from formgen.layout import Layout

log = logging.getLogger(__name__)
MM = 72.0 / 25.4  # points per millimetre
QUIET_MODULES = 4  # QR quiet zone, part of FormSettings.qr_mm
DEFAULT_FORM_SETTINGS = FormSettings()


@dataclass(frozen=True)
class BuiltForm:
    definition: Definition
    layout: Layout
    blank_pdf: bytes  # unstamped master: everything but the QR code and the digits line
    plan: FormPlan


def build_form(
    definition: Definition, *, settings: FormSettings = DEFAULT_FORM_SETTINGS, large_print: bool = False
) -> BuiltForm:
    """Compose the sheet and render its blank master. Raises DefinitionError if a question cannot fit."""
    register_fonts()
    plan = compose(definition, settings=settings, large_print=large_print)
    buffer = io.BytesIO()
    with _binary_streams():
        canvas = _canvas(buffer, definition)
        for ops in plan.pages:
            draw_ops(canvas, ops)
            canvas.showPage()
        canvas.save()
    return BuiltForm(definition=definition, layout=plan.layout, blank_pdf=buffer.getvalue(), plan=plan)


def pages_per_copy(built: BuiltForm, *, duplex: bool = False) -> int:
    """PDF pages one copy takes: its pages, plus a blank back when printing duplex an odd count."""
    count = built.layout.page_count
    return count + (count % 2 if duplex else 0)


def stamp_sheets(
    built: BuiltForm, serials: Sequence[int], secret: bytes, out: Path | BinaryIO, *, duplex: bool = False
) -> None:
    """One PDF holding every page of every serial, in order; each page carries its signed QR and digits.

    With ``duplex`` a copy with an odd page count is followed by an empty page, so every copy
    starts on a fresh sheet of paper when printed on both sides.
    """
    register_fonts()
    with _binary_streams():
        canvas = _canvas(str(out) if isinstance(out, Path) else out, built.definition)
        names = _static_forms(canvas, built)
        d = built.definition
        for serial in serials:
            for number, name in enumerate(names, start=1):
                canvas.doForm(name)
                identity = SheetIdentity(d.survey, d.edition, serial, number)
                draw_stamp(
                    canvas, built.plan.stamp, encode_payload(identity, secret), human_digits(identity, secret)
                )
                canvas.showPage()
            if pages_per_copy(built, duplex=duplex) > len(names):
                canvas.showPage()  # the blank back of the copy's last sheet
        canvas.save()
    log.info("stamped %d copies of %s-%s", len(serials), d.survey, d.edition)


def _static_forms(canvas: Canvas, built: BuiltForm) -> list[str]:
    """Draw each page's static content once, as a form XObject every copy refers to."""
    names = []
    for number, ops in enumerate(built.plan.pages, start=1):
        names.append(f"page{number}")
        canvas.beginForm(names[-1])
        draw_ops(canvas, ops)
        canvas.endForm()
    return names


@contextmanager
def _binary_streams() -> Iterator[None]:
    """Flate streams without ASCII85 armour: 20 % smaller and much faster to write (reportlab's
    global setting, restored afterwards)."""
    saved = rl_config.useA85
    rl_config.useA85 = 0
    try:
        yield
    finally:
        rl_config.useA85 = saved


def _canvas(target: str | BinaryIO, d: Definition) -> Canvas:
    canvas = Canvas(target, pagesize=A4, pageCompression=1, invariant=1, initialFontName=REGULAR)
    canvas.setTitle(d.title)
    canvas.setSubject(f"{d.survey} {d.edition}")
    canvas.setCreator("phieu")
    return canvas


def draw_ops(canvas: Canvas, ops: Sequence[Op]) -> None:
    """Draw a plan (mm from top-left) on a reportlab canvas (points from bottom-left)."""
    top = A4[1]
    for op in ops:
        if isinstance(op, TextOp):
            canvas.setFillGray(0)
            canvas.setFont(op.font, op.size)
            x, y = op.x * MM, top - op.y * MM
            if op.align == "centre":
                canvas.drawCentredString(x, y, op.text)
            elif op.align == "right":
                canvas.drawRightString(x, y, op.text)
            else:
                canvas.drawString(x, y, op.text)
        elif isinstance(op, FrameOp):
            half = op.line / 2  # stroke inside the outer edge, so (x, y, w, h) is the ink's outline
            canvas.setStrokeGray(op.grey)
            canvas.setLineWidth(op.line * MM)
            canvas.rect(
                (op.x + half) * MM,
                top - (op.y + op.h - half) * MM,
                (op.w - op.line) * MM,
                (op.h - op.line) * MM,
            )
        elif isinstance(op, FillOp):
            canvas.setFillGray(op.grey)
            if op.shape == "circle":
                canvas.circle(
                    (op.x + op.w / 2) * MM, top - (op.y + op.h / 2) * MM, op.w / 2 * MM, stroke=0, fill=1
                )
            else:
                canvas.rect(op.x * MM, top - (op.y + op.h) * MM, op.w * MM, op.h * MM, stroke=0, fill=1)
        elif isinstance(op, RuleOp):
            canvas.setStrokeGray(op.grey)
            canvas.setLineWidth(op.line * MM)
            canvas.line(op.x1 * MM, top - op.y1 * MM, op.x2 * MM, top - op.y2 * MM)


def qr_modules(payload: str) -> np.ndarray:
    """The QR symbol as a bool array (True = dark module), without quiet zone; error correction M."""
    code = zxingcpp.create_barcode(payload, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
    return np.asarray(code.to_image(scale=1, add_quiet_zones=False)) < 128


def qr_path(modules: np.ndarray) -> str:
    """PDF path operators filling the dark modules, one rectangle per horizontal run, in module units."""
    edges = np.diff(np.pad(modules.astype(np.int8), ((0, 0), (1, 1))), axis=1)
    rows, starts = np.nonzero(edges == 1)  # row-major order, so starts and ends pair up
    _, ends = np.nonzero(edges == -1)
    return " ".join(
        f"{c} {r} {e - c} 1 re" for r, c, e in zip(rows.tolist(), starts.tolist(), ends.tolist(), strict=True)
    )


def draw_stamp(canvas: Canvas, place: StampPlace, payload: str, digits: str) -> None:
    """The QR code (written as literal path operators: integers in module units, small and fast), then
    the digits line."""
    modules = qr_modules(payload)
    unit = place.qr.w / (modules.shape[0] + 2 * QUIET_MODULES) * MM
    x0 = place.qr.x * MM + QUIET_MODULES * unit
    y0 = A4[1] - place.qr.y * MM - QUIET_MODULES * unit  # module rows run downwards from here
    canvas.addLiteral(f"q 0 g {unit:.5f} 0 0 {-unit:.5f} {x0:.3f} {y0:.3f} cm {qr_path(modules)} f Q")
    canvas.setFillGray(0)
    canvas.setFont(MONO, place.digits_pt)
    canvas.drawCentredString(place.digits_x * MM, A4[1] - place.digits_baseline * MM, digits)
