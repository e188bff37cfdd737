"""Drawing primitives and movable blocks: what the composer places and the renderer draws.

All coordinates are millimetres from the page's top-left corner, x to the right, y downwards.
A :class:`Block` is built at y = 0 and moved to its place on a page by :meth:`Block.placed`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from formgen.fonts import text_width_mm
from formgen.layout import AnswerBox, HandwritingRegion, Rect

PT_MM = 25.4 / 72.0


@dataclass(frozen=True)
class TextOp:
    x: float
    y: float  # baseline
    text: str
    font: str
    size: float  # points
    align: str = "left"  # left | centre | right (x is the anchor)

    def moved(self, dy: float) -> TextOp:
        return replace(self, y=self.y + dy)


@dataclass(frozen=True)
class FrameOp:
    """A stroked rectangle whose OUTER edge is (x, y, w, h): the layout's box is exactly this."""

    x: float
    y: float
    w: float
    h: float
    line: float  # stroke width (mm), drawn inside the outer edge
    grey: float = 0.0

    def moved(self, dy: float) -> FrameOp:
        return replace(self, y=self.y + dy)


@dataclass(frozen=True)
class FillOp:
    x: float
    y: float
    w: float
    h: float
    shape: str = "rect"  # rect | circle (inscribed in the rectangle)
    grey: float = 0.0

    def moved(self, dy: float) -> FillOp:
        return replace(self, y=self.y + dy)


@dataclass(frozen=True)
class RuleOp:
    x1: float
    y1: float
    x2: float
    y2: float
    line: float
    grey: float = 0.0

    def moved(self, dy: float) -> RuleOp:
        return replace(self, y1=self.y1 + dy, y2=self.y2 + dy)


Op = TextOp | FrameOp | FillOp | RuleOp


@dataclass
class Block:
    """A piece of a page that stays together: built at y = 0, then placed."""

    height: float
    ops: list[Op] = field(default_factory=list)
    boxes: list[AnswerBox] = field(default_factory=list)  # page 0 and y relative until placed
    regions: list[HandwritingRegion] = field(default_factory=list)
    item: str | None = None  # grid row id, when the block holds one row
    item_top: float = 0.0  # where that row starts within the block (below a heading and scale header)

    def placed(self, page: int, dy: float) -> Block:
        return Block(
            height=self.height,
            ops=[op.moved(dy) for op in self.ops],
            boxes=[b.model_copy(update={"y": b.y + dy, "page": page}) for b in self.boxes],
            regions=[r.model_copy(update={"y": r.y + dy, "page": page}) for r in self.regions],
            item=self.item,
            item_top=self.item_top,
        )

    def extend(self, other: Block, dy: float) -> None:
        """Append ``other`` below offset ``dy`` of this (unplaced) block."""
        moved = other.placed(0, dy)
        self.ops += moved.ops
        self.boxes += moved.boxes
        self.regions += moved.regions
        self.height = max(self.height, dy + other.height)


def rect_of(box: AnswerBox | HandwritingRegion) -> Rect:
    return Rect(x=box.x, y=box.y, w=box.w, h=box.h)


def wrap(text: str, font: str, size: float, width: float) -> list[str]:
    """Greedy word wrap to ``width`` mm; a word longer than a line is broken between letters."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        current = ""
        for word in paragraph.split():
            trial = f"{current} {word}" if current else word
            if text_width_mm(trial, font, size) <= width:
                current = trial
                continue
            if current:
                lines.append(current)
            current = word
            while text_width_mm(current, font, size) > width and len(current) > 1:
                cut = len(current) - 1
                while cut > 1 and text_width_mm(current[:cut], font, size) > width:
                    cut -= 1
                lines.append(current[:cut])
                current = current[cut:]
        lines.append(current)
    return lines


def line_height(size: float) -> float:
    """Distance between baselines (mm) for text of ``size`` points."""
    return size * 1.3 * PT_MM


def paragraph(
    text: str, *, x: float, width: float, font: str, size: float, top: float = 0.0
) -> tuple[list[Op], float]:
    """Wrapped text starting at ``top``; returns the ops and the height used (mm)."""
    lh = line_height(size)
    lines = wrap(text, font, size, width)
    ops: list[Op] = [
        TextOp(x, top + lh * i + size * 0.95 * PT_MM, line, font, size)
        for i, line in enumerate(lines)
        if line
    ]
    return ops, lh * len(lines)
