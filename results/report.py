"""The Vietnamese PDF report: ``phieu report SURVEY --out report.pdf [--unit CODE]``.

reportlab lays out the pages in DejaVu Sans (embedded, every Vietnamese letter); the charts are
matplotlib pictures (``results.charts``). Sections, in order (headings are stable, tests read them
back with ``pdftotext``): the headline index; the index per level; per unit with ranks and the
highest and lowest units; sheets returned; every question's distribution; the expectations
ranking; the comments as people transcribed them, per unit; the methods. A result with answers
still open is marked KẾT QUẢ TẠM TÍNH on every page. Totals that do not reconcile never get here:
``results.service.survey_results`` refuses them first.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab import rl_config
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import (
    Image,
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from core.settings import ResultsSettings
from formgen.fonts import BOLD, REGULAR, register_fonts
from results import charts
from results.engine import Results, Row, Scope, kind_name
from results.exports import save_atomic
from results.report_sections import comments, distributions_section, expectations, methods, responses
from results.service import Computed

TITLE = "BÁO CÁO KẾT QUẢ KHẢO SÁT"
HEADINGS = {
    "headline": "1. CHỈ SỐ HÀI LÒNG CHUNG",
    "levels": "2. CHỈ SỐ THEO KHÍA CẠNH",
    "units": "3. CHỈ SỐ THEO ĐƠN VỊ VÀ XẾP HẠNG",
    "responses": "4. SỐ PHIẾU THU VỀ",
    "questions": "5. PHÂN BỐ CÂU TRẢ LỜI TỪNG CÂU HỎI",
    "expectations": "6. XẾP HẠNG MONG ĐỢI CỦA NGƯỜI DÂN",
    "comments": "7. Ý KIẾN CỦA NGƯỜI DÂN",
    "methods": "8. PHƯƠNG PHÁP TÍNH",
}
PROVISIONAL = "KẾT QUẢ TẠM TÍNH"
WIDTH = A4[0] - 36 * mm


class Styles:
    def __init__(self) -> None:
        register_fonts()
        self.title = ParagraphStyle("title", fontName=BOLD, fontSize=17, leading=22, spaceAfter=4 * mm)
        self.heading = ParagraphStyle("heading", fontName=BOLD, fontSize=13, leading=17, spaceBefore=5 * mm,
                                      spaceAfter=3 * mm, keepWithNext=1)
        self.sub = ParagraphStyle("sub", fontName=BOLD, fontSize=10.5, leading=14, spaceBefore=3 * mm,
                                  spaceAfter=1.5 * mm, keepWithNext=1)
        self.body = ParagraphStyle("body", fontName=REGULAR, fontSize=10, leading=14, spaceAfter=1.5 * mm)
        self.small = ParagraphStyle("small", fontName=REGULAR, fontSize=8.5, leading=11, spaceAfter=1 * mm)
        self.cell = ParagraphStyle("cell", fontName=REGULAR, fontSize=8.5, leading=10.5)
        self.cell_bold = ParagraphStyle("cellb", fontName=BOLD, fontSize=8.5, leading=10.5)
        self.big = ParagraphStyle("big", fontName=BOLD, fontSize=30, leading=36, textColor=colors.HexColor("#2166ac"))
        self.warn = ParagraphStyle("warn", fontName=BOLD, fontSize=11, leading=15, textColor=colors.HexColor("#b2182b"),
                                   spaceAfter=2 * mm)


class Context:
    """What every section needs: the figures, the styles and how to print a number."""

    def __init__(self, computed: Computed, settings: ResultsSettings) -> None:
        self.computed = computed
        self.results: Results = computed.results
        self.data = computed.data
        self.settings = settings
        self.s = Styles()

    def pct(self, value: float | None) -> str:
        return "—" if value is None else f"{value:.{self.settings.display_decimals}f}".replace(".", ",")

    def change(self, value: float | None) -> str:
        return "" if value is None else f"{value:+.{self.settings.display_decimals}f}".replace(".", ",")

    def p(self, text: str, style: str = "body") -> Paragraph:
        return Paragraph(escape(text), getattr(self.s, style))

    def picture(self, png: bytes, width: float = WIDTH) -> Image:
        image = Image(io.BytesIO(png))
        scale = min(1.0, width / image.imageWidth)
        image.drawWidth, image.drawHeight = image.imageWidth * scale, image.imageHeight * scale
        return image

    def table(self, rows: list[list[Any]], widths: list[float], *, header: bool = True) -> Table:
        cells = [[c if not isinstance(c, str) else Paragraph(escape(c), self.s.cell_bold if header and i == 0
                                                            else self.s.cell) for c in row]
                 for i, row in enumerate(rows)]
        table = Table(cells, colWidths=widths, repeatRows=1 if header else 0)
        style = [("FONTNAME", (0, 0), (-1, -1), REGULAR),  # the default (Helvetica) would be referenced, not embedded
                 ("GRID", (0, 0), (-1, -1), 0.3, colors.HexColor("#999999")),
                 ("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("TOPPADDING", (0, 0), (-1, -1), 2),
                 ("BOTTOMPADDING", (0, 0), (-1, -1), 2)]
        if header:
            style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef6")))
        table.setStyle(TableStyle(style))
        return table


def write_report(computed: Computed, path: Path, *, settings: ResultsSettings | None = None) -> int:
    """Write the report PDF; returns its number of pages."""
    ctx = Context(computed, settings or ResultsSettings())
    story = [*_cover(ctx), *_levels(ctx), *_units(ctx), *responses(ctx, HEADINGS["responses"]),
             *distributions_section(ctx, HEADINGS["questions"]), *expectations(ctx, HEADINGS["expectations"]),
             *comments(ctx, HEADINGS["comments"]), *methods(ctx, HEADINGS["methods"])]
    pages: list[int] = []

    def build(target: str) -> None:
        doc = SimpleDocTemplate(target, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=18 * mm,
                                bottomMargin=16 * mm, title=f"{TITLE} {ctx.results.survey}", author="phieu",
                                initialFontName=REGULAR, invariant=1)
        footer = partial(_footer, ctx)
        ascii85 = rl_config.useA85
        rl_config.useA85 = 0  # the charts as binary streams: ASCII85 in pure Python took ~0.5 s a report
        try:
            doc.build(story, onFirstPage=footer, onLaterPages=footer)
        finally:
            rl_config.useA85 = ascii85
        pages.append(doc.page)

    save_atomic(path, build)
    return pages[-1]


def _footer(ctx: Context, canvas: Any, doc: Any) -> None:
    canvas.saveState()
    canvas.setFont(REGULAR, 8)
    canvas.drawString(18 * mm, 9 * mm, f"{ctx.results.survey} · {_scope_name(ctx)} · tính lúc "
                                       f"{ctx.results.computed_at:%d/%m/%Y %H:%M} UTC")
    canvas.drawRightString(A4[0] - 18 * mm, 9 * mm, f"Trang {doc.page}")
    if ctx.results.provisional:
        canvas.setFont(BOLD, 9)
        canvas.setFillColor(colors.HexColor("#b2182b"))
        canvas.drawRightString(A4[0] - 18 * mm, A4[1] - 10 * mm, PROVISIONAL)
    canvas.restoreState()


def _scope_name(ctx: Context) -> str:
    unit = ctx.data.scope_unit
    return f"{unit.name} ({unit.code})" if unit else "toàn bộ khảo sát"


def _cover(ctx: Context) -> list[Any]:
    r = ctx.results
    overall = r.whole.overall
    out: list[Any] = [ctx.p(TITLE, "title"), ctx.p(r.title, "sub"), ctx.p(f"Phạm vi: {_scope_name(ctx)}")]
    out.append(ctx.p(HEADINGS["headline"], "heading"))
    if r.provisional:
        out.append(ctx.p(f"{PROVISIONAL}: còn {overall.tally.n_open} câu trả lời chưa xong (chờ duyệt "
                         f"{overall.tally.n_review}, trên trang chưa nhận dạng {overall.tally.n_unidentified}, "
                         f"trang chưa quét {overall.tally.n_missing}); {r.unknown_pages} trang chưa rõ thuộc phiếu nào.",
                         "warn"))
    out.append(ctx.p(f"{r.index.title}"))
    out.append(ctx.p(f"{ctx.pct(overall.rate)} %", "big"))
    if overall.change is not None:
        out.append(ctx.p(f"So với {r.previous_survey}: {ctx.pct(overall.previous)} % → thay đổi "
                         f"{ctx.change(overall.change)} điểm phần trăm."))
    out.append(ctx.p(f"Tính trên {r.returned} phiếu thu về / {r.printed} phiếu đã in; "
                     f"{overall.tally.n_valid} câu trả lời hợp lệ cho các nội dung của chỉ số."))
    return out


def _level_rows(scope: Scope) -> list[Row]:
    return [row for row in scope.rows if row.level not in ("overall", "item")]


def _levels(ctx: Context) -> list[Any]:
    r = ctx.results
    rows = _level_rows(r.whole)
    out: list[Any] = [ctx.p(HEADINGS["levels"], "heading")]
    table = [["Cấp", "Nội dung", "Chỉ số (%)", "Kỳ trước", "Thay đổi", "Hợp lệ", "Chưa xong"]]
    for row in [r.whole.overall, *rows]:
        table.append([r.level_title(row.level), row.label, ctx.pct(row.rate), ctx.pct(row.previous) if
                      row.previous is not None else "", ctx.change(row.change), str(row.tally.n_valid),
                      str(row.tally.n_open)])
    out.append(ctx.table(table, [22 * mm, 62 * mm, 20 * mm, 18 * mm, 18 * mm, 17 * mm, 17 * mm]))
    bottom = [row for row in rows if row.level == (r.index.levels[0].id if r.index.levels else "")]
    if bottom:
        png = charts.index_bars([b.label for b in bottom], [b.rate for b in bottom],
                                previous=[b.previous for b in bottom] if r.previous_survey else None,
                                title=f"{r.level_title(bottom[0].level)}: chỉ số (%)", dpi=ctx.settings.chart_dpi,
                                decimals=ctx.settings.display_decimals)
        out += [Spacer(1, 3 * mm), ctx.picture(png)]
    return out


def _units(ctx: Context) -> list[Any]:
    r = ctx.results
    out: list[Any] = [PageBreak(), ctx.p(HEADINGS["units"], "heading")]
    if not r.by:
        return [*out, ctx.p("Phiếu chưa gắn với đơn vị nào, hoặc không có cấp đơn vị bên dưới phạm vi báo cáo.")]
    tops = [row for row in _level_rows(r.whole) if row.parent == "overall"]
    for kind in r.by:
        scopes = sorted((s for s in r.scopes if s.unit is not None and s.unit.kind == kind),
                        key=lambda s: (s.overall.rank or 10**9, s.code))
        out.append(ctx.p(f"Cấp {kind_name(kind)} ({len(scopes)} đơn vị)", "sub"))
        header = ["Hạng", "Đơn vị", "Số phiếu", "Chỉ số", *[t.label for t in tops], "Thay đổi", "Tạm tính"]
        rows: list[list[Any]] = [header]
        for s in scopes:
            by_node = {(x.level, x.node): x for x in s.rows}
            rows.append([str(s.overall.rank or ""), f"{s.unit.name} ({s.code})" if s.unit else s.code,
                         str(s.n_sheets), ctx.pct(s.overall.rate),
                         *[ctx.pct(by_node[(t.level, t.node)].rate) for t in tops],
                         ctx.change(s.overall.change), "có" if s.overall.provisional else ""])
        rest = WIDTH - 12 * mm - 48 * mm - 14 * mm - 16 * mm - 16 * mm - 14 * mm
        widths = [12 * mm, 48 * mm, 14 * mm, 16 * mm, *[rest / max(len(tops), 1)] * len(tops), 16 * mm, 14 * mm]
        out.append(ctx.table(rows, widths))
        if 2 <= len(scopes) <= ctx.settings.chart_units_max:
            png = charts.index_bars([s.unit.name if s.unit else s.code for s in scopes],
                                    [s.overall.rate for s in scopes], title=f"Xếp hạng cấp {kind_name(kind)}",
                                    dpi=ctx.settings.chart_dpi, decimals=ctx.settings.display_decimals)
            out += [Spacer(1, 2 * mm), ctx.picture(png, WIDTH * 0.9)]
    out += _top_bottom(ctx, r.by[-1])
    return out


def _top_bottom(ctx: Context, kind: str) -> list[Any]:
    ranked = sorted((s for s in ctx.results.scopes if s.unit is not None and s.unit.kind == kind
                     and s.overall.rate is not None), key=lambda s: s.overall.rank or 0)
    n = min(ctx.settings.top_units, len(ranked) // 2)
    if n < 1:
        return []
    out: list[Any] = [ctx.p(f"{n} đơn vị cao nhất và {n} đơn vị thấp nhất (cấp {kind_name(kind)})", "sub")]
    line: Callable[[Scope], str] = lambda s: f"{s.overall.rank}. {s.unit.name if s.unit else ''} ({s.code}): {ctx.pct(s.overall.rate)} %"  # noqa: E731
    out.append(ctx.p("Cao nhất: " + "; ".join(line(s) for s in ranked[:n])))
    out.append(ctx.p("Thấp nhất: " + "; ".join(line(s) for s in ranked[-n:][::-1])))
    return [KeepTogether(out)]
