"""One block per printed piece of a question: headings, choice lists, digit columns, text boxes, grid rows.

Every builder returns a :class:`Block` built at y = 0 (mm, x from the page's left edge), holding
the drawing ops and the answer boxes / handwriting regions in their final x positions.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.settings import FormSettings
from formgen.blocks import PT_MM, Block, FillOp, FrameOp, Op, RuleOp, TextOp, line_height, paragraph, wrap
from formgen.definition import Option, Question, Row
from formgen.fonts import BOLD, REGULAR, text_width_mm
from formgen.layout import AnswerBox, HandwritingRegion

A4_MM = (210.0, 297.0)
BOX_LINE_MM = 0.3  # answer box frame: dark and thick enough to find at 200 dpi
REGION_LINE_MM = 0.25
PLACE_NAMES = ("Đơn vị", "Chục", "Trăm", "Nghìn", "Chục nghìn", "Trăm nghìn")
MARKING_HELP = (
    "Cách trả lời: đánh dấu X vào ô vuông bên cạnh câu trả lời (mã số in cạnh ô). "
    "Muốn sửa: tô kín ô đã đánh dấu nhầm để hủy, rồi đánh dấu X vào ô đúng."
)


@dataclass(frozen=True)
class Geometry:
    """Sizes and the printable frame of one sheet design (mm, points for fonts)."""

    settings: FormSettings
    size: float  # body font (pt)
    box: float
    left: float
    right: float
    top: float
    bottom: float
    width: float = A4_MM[0]
    height: float = A4_MM[1]

    @property
    def small(self) -> float:
        return max(10.0, self.size - 2.0)

    @property
    def lh(self) -> float:
        return line_height(self.size)

    @property
    def inner(self) -> float:
        return self.right - self.left

    @property
    def gap(self) -> float:
        return self.box * 0.3


def geometry(settings: FormSettings, *, large_print: bool = False) -> Geometry:
    corner = settings.mark_inset_mm + settings.mark_mm / 2 + settings.clear_mm
    qr_bottom = settings.mark_inset_mm - settings.mark_mm / 2 + settings.qr_mm
    return Geometry(
        settings=settings,
        size=settings.large_print_font_pt if large_print else settings.body_font_pt,
        box=settings.large_print_box_mm if large_print else settings.box_mm,
        left=settings.margin_mm,
        right=A4_MM[0] - settings.margin_mm,
        top=qr_bottom + settings.clear_mm / 2,  # the QR's quiet zone is already inside qr_mm
        bottom=A4_MM[1] - corner,
    )


def heading(g: Geometry, q: Question, *, continued: bool = False) -> Block:
    text = f"{q.id} (tiếp theo)" if continued else f"{q.id}. {q.text}"
    ops, h = paragraph(text, x=g.left, width=g.inner, font=BOLD, size=g.size)
    if q.note and not continued:
        more, extra = paragraph(q.note, x=g.left, width=g.inner, font=REGULAR, size=g.size, top=h)
        ops, h = ops + more, h + extra
    return Block(height=h + g.gap, ops=ops)


def _digit_height(g: Geometry) -> float:
    """Height (mm) of a printed code's digits: DejaVu Sans Bold's cap height, 0.73 em."""
    return 0.73 * g.size * PT_MM


def _box(g: Geometry, x: float, y: float, **fields: object) -> tuple[AnswerBox, FrameOp]:
    box = AnswerBox(x=x, y=y, w=g.box, h=g.box, page=0, **fields)  # type: ignore[arg-type]
    return box, FrameOp(x, y, g.box, g.box, BOX_LINE_MM)


def _labelled_box(g: Geometry, x: float, label_width: float, opt: Option, qid: str) -> Block:
    """Box, code beside it, then the label wrapped in ``label_width``; code and label share a baseline
    that is centred on the box."""
    code_w = text_width_mm(opt.code, BOLD, g.size)
    text_x = x + g.box + g.gap + code_w + g.gap * 1.5
    text_top = max(0.0, (g.box - g.lh) / 2)
    ops, text_h = paragraph(opt.label, x=text_x, width=label_width, font=REGULAR, size=g.size, top=text_top)
    box_y = max(0.0, (g.lh - g.box) / 2)
    box, frame = _box(g, x, box_y, id=f"{qid}:{opt.code}", question=qid, value=opt.code, label=opt.label,
                      code_dx=g.box + g.gap, code_w=code_w, code_h=_digit_height(g))
    code = TextOp(x + g.box + g.gap, text_top + g.size * 0.95 * PT_MM, opt.code, BOLD, g.size)
    return Block(height=max(text_top + text_h, box_y + g.box), ops=[*ops, frame, code], boxes=[box])


def option_width(g: Geometry, opt: Option) -> float:
    return (
        g.box
        + g.gap * 2.5
        + text_width_mm(opt.code, BOLD, g.size)
        + text_width_mm(opt.label, REGULAR, g.size)
    )


def choices(g: Geometry, q: Question) -> Block:
    """Options in columns, row by row; an "other" option takes a full row with its write-in frame."""
    plain = [o for o in q.options if not o.other]
    widest = max((option_width(g, o) for o in plain), default=0.0)
    columns = q.columns or next((n for n in (4, 3, 2) if widest <= g.inner / n - 4), 1)
    cell = g.inner / columns
    block, y, row = Block(height=0.0), 0.0, []
    for opt in [*q.options, None]:
        if opt is not None and not opt.other:
            row.append(opt)
            if len(row) < columns:
                continue
        if row:
            cells = [
                _labelled_box(g, g.left + i * cell, cell - 4 - _label_offset(g, o), o, q.id)
                for i, o in enumerate(row)
            ]
            for c in cells:
                block.extend(c, y)
            y += max(c.height for c in cells) + g.gap * 1.5
            row = []
        if opt is not None and opt.other:
            other = _other_option(g, q, opt)
            block.extend(other, y)
            y += other.height + g.gap * 1.5
    block.height = y
    return block


def _other_option(g: Geometry, q: Question, opt: Option) -> Block:
    """The option's box and label, then a write-in frame to the right (or below when space is short)."""
    label_w = min(text_width_mm(opt.label, REGULAR, g.size) + 1, g.inner * 0.45)
    labelled = _labelled_box(g, g.left, label_w, opt, q.id)
    start = g.left + _label_offset(g, opt) + label_w + 3
    h, ident = g.settings.writein_height_mm, f"{q.id}:w{opt.code}"
    block = Block(height=0.0)
    if g.right - start >= 60:  # room for a useful line beside the label
        block.extend(labelled, max(0.0, (h - labelled.height) / 2))
        top = 0.0
    else:
        block.extend(labelled, 0)
        start, top = g.left + g.box + g.gap, labelled.height + g.gap
    block.extend(_region(q.id, ident, start, top, g.right - start, h, kind="writein", value=opt.code), 0)
    return block


def _label_offset(g: Geometry, opt: Option) -> float:
    """Distance from an option's box to where its label starts (box, code, gaps)."""
    return option_width(g, opt) - text_width_mm(opt.label, REGULAR, g.size)


def _region(
    qid: str, ident: str, x: float, y: float, w: float, h: float, *, kind: str, value: str | None = None
) -> Block:
    region = HandwritingRegion(
        id=ident, page=0, question=qid, option_value=value, kind=kind, x=x, y=y, w=w, h=h
    )  # type: ignore[arg-type]
    return Block(height=y + h, ops=[FrameOp(x, y, w, h, REGION_LINE_MM, grey=0.25)], regions=[region])


def digit_columns(g: Geometry, q: Question) -> Block:
    """A frame to write the number in, then one row of boxes 0-9 per digit position (column 0 = leftmost)."""
    digits = q.digits or 1
    label, h = "Viết số:", g.settings.writein_height_mm
    label_w = text_width_mm(label, REGULAR, g.size) + 3
    block = Block(height=0.0, ops=[TextOp(g.left, h / 2 + g.size * 0.36 * PT_MM, label, REGULAR, g.size)])
    block.extend(_region(q.id, f"{q.id}:write", g.left + label_w, 0.0, h * digits, h, kind="writein"), 0)
    y = block.height + g.gap * 2
    names = [PLACE_NAMES[digits - 1 - c] for c in range(digits)]
    name_w = max(text_width_mm(n, REGULAR, g.size) for n in names) + 4
    cell = min(g.box * 2.4, (g.inner - name_w) / 10)
    for column, name in enumerate(names):
        ops: list[Op] = [TextOp(g.left, g.box / 2 + g.size * 0.36 * PT_MM, name, REGULAR, g.size)]
        row = Block(height=max(g.box, g.lh), ops=ops)
        for d in range(10):
            x = g.left + name_w + d * cell
            box, frame = _box(
                g,
                x,
                0.0,
                id=f"{q.id}:c{column}:{d}",
                question=q.id,
                column=column,
                value=str(d),
                kind="digit",
                label=str(d),
                code_dx=g.box + g.gap,
                code_w=text_width_mm(str(d), BOLD, g.size),
                code_h=_digit_height(g),
            )
            row.boxes.append(box)
            row.ops += [
                frame,
                TextOp(x + g.box + g.gap, g.box / 2 + g.size * 0.36 * PT_MM, str(d), BOLD, g.size),
            ]
        block.extend(row, y)
        y += row.height + g.gap * 1.5
    block.height = y
    return block


def text_box(g: Geometry, q: Question) -> Block:
    lines, step = q.lines or 1, g.settings.text_line_mm
    block = _region(q.id, f"{q.id}:text", g.left, 0.0, g.inner, lines * step, kind="text")
    for i in range(1, lines):
        block.ops.append(RuleOp(g.left + 2, i * step, g.right - 2, i * step, 0.15, grey=0.7))
    block.height += g.gap
    return block


def grid_columns(g: Geometry, q: Question) -> tuple[float, float]:
    """(x where the scale starts, width of one scale column)."""
    col = min(20.0, g.settings.grid_scale_mm / len(q.scale))
    return g.right - col * len(q.scale), col


def grid_header(g: Geometry, q: Question) -> Block:
    """The scale labels above the box columns, bottom-aligned; repeated on every page the grid reaches."""
    start, col = grid_columns(g, q)
    lh = line_height(g.small)
    wrapped = [wrap(level.label, REGULAR, g.small, col - 1.5) for level in q.scale]
    height = max(len(w) for w in wrapped) * lh
    ops: list[Op] = []
    for i, lines in enumerate(wrapped):
        top = height - len(lines) * lh
        for j, text in enumerate(lines):
            ops.append(
                TextOp(
                    start + col * (i + 0.5),
                    top + j * lh + g.small * 0.95 * PT_MM,
                    text,
                    REGULAR,
                    g.small,
                    "centre",
                )
            )
    ops.append(RuleOp(g.left, height + 0.8, g.right, height + 0.8, 0.25, grey=0.4))
    return Block(height=height + 1.2, ops=ops)


def grid_row(g: Geometry, q: Question, row: Row) -> Block:
    """Row text on the left (drawn first, so extracted text stays whole), then a box per level."""
    start, col = grid_columns(g, q)
    pad = g.gap * 0.6
    block = Block(height=0.0, item=row.id)
    y = pad
    if row.heading:
        ops, h = paragraph(row.heading, x=g.left, width=g.inner, font=BOLD, size=g.size, top=y)
        block.ops += ops
        y += h + pad * 0.5
    ops, text_h = paragraph(row.text, x=g.left, width=start - g.left - 2, font=REGULAR, size=g.size, top=y)
    block.ops += ops
    code_w = max(text_width_mm(level.code, BOLD, g.size) for level in q.scale)
    for i, level in enumerate(q.scale):
        x = start + col * i + (col - g.box - g.gap - code_w) / 2
        box_y = y + max(0.0, (g.lh - g.box) / 2)
        box, frame = _box(
            g,
            x,
            box_y,
            id=f"{q.id}:{row.id}:{level.code}",
            question=q.id,
            item=row.id,
            value=level.code,
            label=level.label,
            code_dx=g.box + g.gap * 0.7,
            code_w=text_width_mm(level.code, BOLD, g.size),
            code_h=_digit_height(g),
        )
        block.boxes.append(box)
        baseline = box_y + g.box / 2 + g.size * 0.36 * PT_MM
        block.ops += [frame, TextOp(x + g.box + g.gap * 0.7, baseline, level.code, BOLD, g.size)]
    bottom = y + max(text_h, g.box + max(0.0, (g.lh - g.box) / 2)) + pad
    block.ops.append(RuleOp(g.left, bottom, g.right, bottom, 0.15, grey=0.75))
    block.height = bottom
    return block


def opening(g: Geometry, title: str, introduction: str, instructions: str) -> Block:
    """Page 1: title, introduction, the survey's instructions and the marking/correcting help."""
    ops, y = paragraph(title, x=g.left, width=g.inner, font=BOLD, size=g.size + 3)
    ops = [
        TextOp(105.0, op.y, op.text, op.font, op.size, "centre") if isinstance(op, TextOp) else op
        for op in ops
    ]
    block = Block(height=y, ops=ops)
    for text in (introduction, instructions):
        if text:
            more, h = paragraph(
                text, x=g.left, width=g.inner, font=REGULAR, size=g.size, top=block.height + g.gap
            )
            block.ops += more
            block.height += h + g.gap
    examples, width = _marking_examples(g, block.height + g.gap)
    help_ops, h = paragraph(
        MARKING_HELP, x=g.left, width=g.inner - width - 5, font=REGULAR, size=g.size, top=block.height + g.gap
    )
    block.ops += help_ops + examples
    block.height += max(h, g.box + 2) + 2 * g.gap
    return block


def _marking_examples(g: Geometry, y: float) -> tuple[list[Op], float]:
    """A box with an X ("chọn") and a filled box ("hủy"), drawn as they should look, right-aligned.

    Returns the ops and the width they take (mm).
    """
    b, base = g.box, y + g.box / 2 + g.size * 0.36 * PT_MM
    chosen, cancelled = "= chọn", "= hủy"
    second = b + 1.5 + text_width_mm(chosen, REGULAR, g.size) + 5
    width = second + b + 1.5 + text_width_mm(cancelled, REGULAR, g.size)
    x = g.right - width
    ops: list[Op] = [
        FrameOp(x, y, b, b, BOX_LINE_MM),
        RuleOp(x + 1, y + 1, x + b - 1, y + b - 1, 0.5),
        RuleOp(x + 1, y + b - 1, x + b - 1, y + 1, 0.5),
        TextOp(x + b + 1.5, base, chosen, REGULAR, g.size),
        FillOp(x + second, y, b, b),
        TextOp(x + second + b + 1.5, base, cancelled, REGULAR, g.size),
    ]
    return ops, width
