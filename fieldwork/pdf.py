"""Printed fieldwork documents with reportlab's platypus: A4, DejaVu Sans embedded (every Vietnamese
letter), tables whose header repeats on each page, signature lines."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from formgen.fonts import BOLD, REGULAR, register_fonts

BOX = "☐"  # a box to tick by hand


def build(out: Path | BinaryIO, title: str, story: list[Any], *, wide: bool = False) -> None:
    """Write ``story`` as an A4 PDF (landscape when ``wide``) whose only fonts are the embedded DejaVu."""
    register_fonts()
    size = landscape(A4) if wide else A4
    doc = SimpleDocTemplate(str(out) if isinstance(out, Path) else out, pagesize=size, title=title, author="phieu",
                            leftMargin=12 * mm, rightMargin=12 * mm, topMargin=12 * mm, bottomMargin=12 * mm,
                            initialFontName=REGULAR, invariant=1)
    doc.build(story)


def styles() -> dict[str, ParagraphStyle]:
    register_fonts()
    return {
        "title": ParagraphStyle("title", fontName=BOLD, fontSize=14, leading=18, alignment=TA_CENTER, spaceAfter=4),
        "subtitle": ParagraphStyle("subtitle", fontName=REGULAR, fontSize=10.5, leading=14, alignment=TA_CENTER),
        "heading": ParagraphStyle("heading", fontName=BOLD, fontSize=11.5, leading=15, spaceBefore=8, spaceAfter=3),
        "body": ParagraphStyle("body", fontName=REGULAR, fontSize=10.5, leading=14),
        "small": ParagraphStyle("small", fontName=REGULAR, fontSize=9, leading=11.5),
        "cell": ParagraphStyle("cell", fontName=REGULAR, fontSize=9, leading=11),
    }


def grid(rows: Sequence[Sequence[Any]], widths_mm: Sequence[float], *, header_rows: int = 1,
         centred_from: int | None = None, font_size: float = 9.5, row_height_mm: float | None = None) -> Table:
    """A ruled table; the header rows repeat on every page. ``centred_from``: columns from this one on
    are centred (the tick boxes)."""
    table = Table([list(r) for r in rows], colWidths=[w * mm for w in widths_mm], repeatRows=header_rows,
                  rowHeights=None if row_height_mm is None else [None] * header_rows
                  + [row_height_mm * mm] * (len(rows) - header_rows))
    style = [
        ("FONT", (0, 0), (-1, -1), REGULAR, font_size),
        ("FONT", (0, 0), (-1, header_rows - 1), BOLD, font_size),
        ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
        ("BACKGROUND", (0, 0), (-1, header_rows - 1), colors.Color(0.9, 0.9, 0.9)),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("ALIGN", (0, 0), (-1, header_rows - 1), "CENTER"),
    ]
    if centred_from is not None:
        style.append(("ALIGN", (centred_from, header_rows), (-1, -1), "CENTER"))
    table.setStyle(TableStyle(style))
    return table


def header_cells(labels: Sequence[str]) -> list[Paragraph]:
    """Header labels that wrap inside narrow columns."""
    style = ParagraphStyle("header", fontName=BOLD, fontSize=8.5, leading=10, alignment=TA_CENTER)
    return [Paragraph(label, style) for label in labels]


def signatures(labels: Sequence[str], width_mm: float, *, date_line: bool = True) -> list[Any]:
    """Signature spaces side by side: the role, "(ký, ghi rõ họ tên)", room to sign."""
    register_fonts()
    centred = ParagraphStyle("sign", fontName=REGULAR, fontSize=10, leading=13, alignment=TA_CENTER)
    bold = ParagraphStyle("signb", fontName=BOLD, fontSize=10, leading=13, alignment=TA_CENTER)
    cells = [[Paragraph(label, bold) for label in labels],
             [Paragraph("(ký, ghi rõ họ tên)", centred) for _ in labels]]
    table = Table(cells + [["" for _ in labels]], colWidths=[width_mm / len(labels) * mm] * len(labels),
                  rowHeights=[None, None, 22 * mm])
    table.setStyle(TableStyle([("FONT", (0, 0), (-1, -1), REGULAR, 10)]))
    flow: list[Any] = [Spacer(1, 6 * mm)]
    if date_line:
        flow.append(Paragraph("Ngày ...... tháng ...... năm ..........", ParagraphStyle(
            "date", fontName=REGULAR, fontSize=10, leading=13, alignment=2)))
    return [KeepTogether([*flow, table])]


def money(amount: int) -> str:
    """50000 → "50.000" (Vietnamese thousands separator)."""
    return f"{amount:,}".replace(",", ".")
