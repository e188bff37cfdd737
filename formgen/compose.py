"""The placement engine: a definition becomes a Layout plus a drawing plan, page by page.

Questions flow down A4 pages inside the printable frame (clear of the registration marks and
the QR code). A question is kept on one page; a grid may continue on the next page, its scale
header repeated, but never leaves its header alone at a page foot. Nothing is placed below the
frame: a question too tall for an empty page is a DefinitionError naming its line.
Coordinates: mm from the page's top-left corner, x right, y down.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from core.errors import DefinitionError
from core.settings import FormSettings
from formgen import questions as qb
from formgen.blocks import PT_MM, Block, FillOp, Op, TextOp
from formgen.definition import Definition, Question, Section, question_tags
from formgen.fonts import BOLD, MONO, REGULAR, text_width_mm
from formgen.layout import (
    ItemLayout,
    Layout,
    OptionLayout,
    PageLayout,
    QuestionLayout,
    Rect,
    standard_marks,
)
from formgen.questions import Geometry, geometry

log = logging.getLogger(__name__)
DIGITS_SAMPLE = "0000000-00-000000000000"  # widest SERIAL-PAGE-MAC line


@dataclass(frozen=True)
class StampPlace:
    """Where each copy's own marks go: the QR square and the digits line (centred at ``x``)."""

    qr: Rect
    digits_x: float
    digits_baseline: float
    digits_pt: float


@dataclass
class FormPlan:
    layout: Layout
    pages: list[list[Op]]  # static content of each page (everything but the stamp)
    stamp: StampPlace


@dataclass
class _Placed:
    page: int
    block: Block
    top: float


@dataclass
class _Flow:
    g: Geometry
    pages: list[list[_Placed]] = field(default_factory=lambda: [[]])
    y: float = 0.0

    def fits(self, height: float) -> bool:
        return self.y + height <= self.g.bottom + 1e-6

    def new_page(self) -> None:
        self.pages.append([])
        self.y = self.g.top

    def put(self, block: Block) -> _Placed:
        placed = _Placed(len(self.pages), block.placed(len(self.pages), self.y), self.y)
        self.pages[-1].append(placed)
        self.y += block.height
        return placed


def compose(definition: Definition, *, settings: FormSettings, large_print: bool = False) -> FormPlan:
    g = geometry(settings, large_print=large_print)
    flow = _Flow(g, y=g.top)
    opening = qb.opening(g, definition.title, definition.introduction, definition.instructions)
    if opening.height > g.bottom - g.top - g.lh * 4:
        raise DefinitionError(
            f"{definition.source_name}:1: the title, introduction and instructions fill page 1 "
            f"({opening.height:.0f} mm): shorten them"
        )
    flow.put(opening)
    placed: dict[str, list[_Placed]] = {}
    for section in definition.sections:
        title = _section_title(g, section)
        first = _question_blocks(g, definition, section.questions[0])
        if not flow.fits(title.height + first[0].height):
            flow.new_page()
        flow.put(title)
        for q in section.questions:
            placed[q.id] = _place_question(flow, g, q, _question_blocks(g, definition, q))
    return _assemble(definition, g, flow, placed)


def _section_title(g: Geometry, section: Section) -> Block:
    ops, h = qb.paragraph(section.title, x=g.left, width=g.inner, font=BOLD, size=g.size + 1, top=g.gap * 2)
    return Block(height=h + g.gap * 2.5, ops=ops)


def _question_blocks(g: Geometry, d: Definition, q: Question) -> list[Block]:
    """[whole question] for plain kinds; [heading + header + first row, row, row...] for grids."""
    head = qb.heading(g, q)
    if q.type == "grid":
        header = qb.grid_header(g, q)
        rows = [qb.grid_row(g, q, row) for row in q.rows]
        first = Block(height=0.0, item=rows[0].item, item_top=head.height + header.height)
        first.extend(head, 0)
        first.extend(header, head.height)
        first.extend(rows[0], head.height + header.height)
        blocks = [first, *rows[1:]]
    else:
        body = {
            "single": qb.choices,
            "multiple": qb.choices,
            "number": qb.digit_columns,
            "text": qb.text_box,
        }[q.type](g, q)
        whole = Block(height=0.0)
        whole.extend(head, 0)
        whole.extend(body, head.height)
        blocks = [whole]
    room = g.bottom - g.top
    for block in blocks:
        if block.height > room:
            raise DefinitionError(
                f"{d.source_name}:{q.line}: question {q.id} cannot fit on one page "
                f"({block.height:.0f} mm needed, {room:.0f} mm available): shorten it or split it"
            )
    return blocks


def _place_question(flow: _Flow, g: Geometry, q: Question, blocks: list[Block]) -> list[_Placed]:
    gap = g.lh * 0.5
    if not flow.fits(gap + blocks[0].height):
        flow.new_page()
    elif flow.y > g.top:
        flow.y += gap
    out = [flow.put(blocks[0])]
    for block in blocks[1:]:
        if not flow.fits(block.height):
            flow.new_page()
            out.append(flow.put(_continued_header(g, q)))
        out.append(flow.put(block))
    return out


def _continued_header(g: Geometry, q: Question) -> Block:
    head, header = qb.heading(g, q, continued=True), qb.grid_header(g, q)
    block = Block(height=0.0)
    block.extend(head, 0)
    block.extend(header, head.height)
    return block


def _item_area(g: Geometry, part: _Placed) -> Rect:
    """A grid row's own rectangle (its text and boxes), without the heading placed above the first row."""
    top = part.top + part.block.item_top
    return Rect(x=g.left - 1, y=top - 0.5, w=g.inner + 2, h=part.top + part.block.height - top + 1)


def _area(g: Geometry, parts: list[_Placed]) -> Rect:
    top = min(p.top for p in parts)
    bottom = max(p.top + p.block.height for p in parts)
    return Rect(x=g.left - 1, y=top - 0.5, w=g.inner + 2, h=bottom - top + 1)


def _question_layout(g: Geometry, section: Section, q: Question, parts: list[_Placed]) -> QuestionLayout:
    tags = question_tags(section, q)
    pages = sorted({p.page for p in parts})
    area = [(page, _area(g, [p for p in parts if p.page == page])) for page in pages]
    if q.type == "grid":
        rows = {r.id: r for r in q.rows}
        items = [
            ItemLayout(
                id=p.block.item,
                text=rows[p.block.item].text,
                page=p.page,
                area=_item_area(g, p),
                tags={**tags, **rows[p.block.item].tags},
            )
            for p in parts
            if p.block.item
        ]
        options = q.scale
    else:
        items = [ItemLayout(id=q.id, text=q.text, page=pages[0], area=area[0][1], tags=tags)]
        options = q.options
    return QuestionLayout(
        id=q.id,
        kind=q.type,
        text=q.text,
        options=[OptionLayout(value=o.code, label=o.label, writein=o.other) for o in options],
        items=items,
        digits=q.digits,
        min_value=q.min if q.min is not None else (0 if q.type == "number" else None),
        max_value=q.max if q.max is not None else (10**q.digits - 1 if q.digits else None),
        pages=pages,
        area=area,
        tags=tags,
    )


def stamp_place(g: Geometry) -> StampPlace:
    s = g.settings
    corner = s.mark_inset_mm + s.mark_mm / 2 + s.clear_mm  # clear of the top-right mark's zone
    qr = Rect(x=g.width - corner - s.qr_mm, y=s.mark_inset_mm - s.mark_mm / 2, w=s.qr_mm, h=s.qr_mm)
    baseline = g.height - s.mark_inset_mm + s.digits_font_pt * 0.36 * PT_MM
    return StampPlace(qr=qr, digits_x=g.width / 2, digits_baseline=baseline, digits_pt=s.digits_font_pt)


def _static_frame(d: Definition, g: Geometry, stamp: StampPlace, page: int, count: int) -> list[Op]:
    """Registration marks, running title and "Trang x/y" (identical on every copy)."""
    s = g.settings
    ops: list[Op] = []
    for m in standard_marks(g.width, g.height, inset=s.mark_inset_mm, size=s.mark_mm):
        ops.append(
            FillOp(m.cx - m.size / 2, m.cy - m.size / 2, m.size, m.size, m.shape.replace("square", "rect"))
        )
    corner = s.mark_inset_mm + s.mark_mm / 2 + s.clear_mm + 1.0  # 1 mm more: glyph edges and antialiasing
    ops.append(
        TextOp(corner, s.mark_inset_mm + 1.2, _shortened(d.title, stamp.qr.x - corner - 4), REGULAR, 10.0)
    )
    ops.append(TextOp(corner, stamp.digits_baseline, f"Trang {page}/{count}", REGULAR, g.size))
    return ops


def _shortened(text: str, width: float) -> str:
    """``text`` cut at a word with an ellipsis so it fits ``width`` mm at 10 pt (running title)."""
    words = text.split()
    while len(words) > 1 and text_width_mm(" ".join(words), REGULAR, 10.0) > width:
        words = words[:-1]
        if text_width_mm(" ".join(words) + " …", REGULAR, 10.0) <= width:
            return " ".join(words) + " …"
    return " ".join(words)


def _assemble(d: Definition, g: Geometry, flow: _Flow, placed: dict[str, list[_Placed]]) -> FormPlan:
    s, stamp = g.settings, stamp_place(g)
    count = len(flow.pages)
    half = text_width_mm(DIGITS_SAMPLE, MONO, stamp.digits_pt) / 2
    size_mm = stamp.digits_pt * PT_MM
    digits_rect = Rect(
        x=stamp.digits_x - half, y=stamp.digits_baseline - size_mm * 0.8, w=2 * half, h=size_mm * 1.05
    )
    pages, plans = [], []
    for number, parts in enumerate(flow.pages, start=1):
        blocks = [p.block for p in parts]
        pages.append(
            PageLayout(
                number=number,
                width=g.width,
                height=g.height,
                marks=standard_marks(g.width, g.height, inset=s.mark_inset_mm, size=s.mark_mm),
                qr=stamp.qr,
                digits_text=digits_rect,
                boxes=[b for blk in blocks for b in blk.boxes],
                regions=[r for blk in blocks for r in blk.regions],
            )
        )
        plans.append(_static_frame(d, g, stamp, number, count) + [op for blk in blocks for op in blk.ops])
    qlayouts = [_question_layout(g, sec, q, placed[q.id]) for sec, q in d.questions()]
    layout = Layout(
        survey=d.survey, edition=d.edition, title=d.title, page_count=count, pages=pages, questions=qlayouts
    )
    log.info(
        "composed %s-%s: %d pages, %d boxes", d.survey, d.edition, count, sum(len(p.boxes) for p in pages)
    )
    return FormPlan(layout=layout, pages=plans, stamp=stamp)
