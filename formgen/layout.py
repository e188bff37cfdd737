"""The layout: the contract between the printed sheet and the scanner/recognizer.

Leaf module (pydantic only). All coordinates are millimetres from the page's top-left corner,
x to the right, y downwards; rectangles are (x, y, w, h) of the printed frame's outer edge.
The layout is identical for every stamped copy of an edition (only the QR and digits differ).
See docs/layout-format.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

LAYOUT_FORMAT_VERSION = 1

MarkName = Literal["top_left", "top_right", "bottom_left", "bottom_right"]
QuestionKind = Literal["single", "multiple", "grid", "number", "text"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Rect(_Model):
    x: float
    y: float
    w: float
    h: float

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x + self.w / 2, self.y + self.h / 2)


class RegistrationMark(_Model):
    """A solid mark near a corner. Three are squares, bottom-right is a circle: that tells orientation."""

    name: MarkName
    shape: Literal["square", "circle"]
    cx: float
    cy: float
    size: float  # side of the square / diameter of the circle


class AnswerBox(Rect):
    """One printed box. ``value`` is the code stored when the box is the answer."""

    id: str  # unique within the layout, e.g. "B10:3:4" (question:item:value) or "A2:c1:7" (digit column)
    page: int
    question: str
    item: str | None = None  # grid row id
    column: int | None = None  # digit column index (0 = leftmost) for number questions
    value: str
    kind: Literal["choice", "digit"] = "choice"
    label: str = ""  # short printed label (the option text), for reviewers
    # where the option's code is printed beside the box (a respondent may circle it): its left edge
    # this far right of the box's left edge, this wide and high, centred on the box's height;
    # 0 = not recorded
    code_dx: float = 0.0
    code_w: float = 0.0
    code_h: float = 0.0

    def code_rect(self, *, default_w: float) -> Rect:
        """The printed code's rectangle (mm); layouts written before it was recorded get ``default_w``
        right of the box, as high as the box."""
        if self.code_w > 0:
            h = self.code_h or self.h
            return Rect(x=self.x + self.code_dx, y=self.y + (self.h - h) / 2, w=self.code_w, h=h)
        return Rect(x=self.x + self.w, y=self.y, w=default_w, h=self.h)


class HandwritingRegion(Rect):
    """Where a respondent writes: an "other, please specify" line or a free-text box."""

    id: str
    page: int
    question: str
    item: str | None = None
    option_value: str | None = None  # the option this write-in belongs to
    kind: Literal["writein", "text"]


class ItemLayout(_Model):
    """A grid row (or the single item of a plain question) and where it is printed."""

    id: str
    text: str
    page: int
    area: Rect
    tags: dict[str, str] = Field(default_factory=dict)  # e.g. {"part": "B", "group": "access"}


class OptionLayout(_Model):
    value: str
    label: str
    writein: bool = False


class QuestionLayout(_Model):
    id: str
    kind: QuestionKind
    text: str
    options: list[OptionLayout] = Field(default_factory=list)  # grid: the shared scale
    items: list[ItemLayout] = Field(default_factory=list)  # grid rows; plain questions: one item, id == question id
    digits: int | None = None  # number questions: how many digit columns
    min_value: int | None = None
    max_value: int | None = None
    pages: list[int] = Field(default_factory=list)
    area: list[tuple[int, Rect]] = Field(default_factory=list)  # (page, rect) of the whole question per page
    tags: dict[str, str] = Field(default_factory=dict)


class PageLayout(_Model):
    number: int  # 1-based
    width: float = 210.0
    height: float = 297.0
    marks: list[RegistrationMark]
    qr: Rect
    digits_text: Rect  # the printed "SERIAL-PAGE-MAC" line
    boxes: list[AnswerBox] = Field(default_factory=list)
    regions: list[HandwritingRegion] = Field(default_factory=list)


class Layout(_Model):
    format_version: int = LAYOUT_FORMAT_VERSION
    survey: str
    edition: str
    title: str
    page_count: int
    pages: list[PageLayout]
    questions: list[QuestionLayout]

    def to_json(self) -> str:
        return self.model_dump_json(indent=1)

    @classmethod
    def from_json(cls, text: str | bytes) -> Layout:
        return cls.model_validate_json(text)

    def page(self, number: int) -> PageLayout:
        return self.pages[number - 1]

    def question(self, qid: str) -> QuestionLayout:
        for q in self.questions:
            if q.id == qid:
                return q
        raise KeyError(qid)

    def all_boxes(self) -> Iterator[AnswerBox]:
        for p in self.pages:
            yield from p.boxes

    def all_regions(self) -> Iterator[HandwritingRegion]:
        for p in self.pages:
            yield from p.regions


def standard_marks(width: float, height: float, *, inset: float, size: float) -> list[RegistrationMark]:
    """The four registration marks of a page, centres ``inset`` mm from the paper edges.

    Coordinates are mm from the page's top-left corner (x right, y down). Three marks are solid
    squares; the bottom-right one is a solid circle, so a scanner can tell the page's orientation.
    """
    far_x, far_y = width - inset, height - inset
    return [
        RegistrationMark(name="top_left", shape="square", cx=inset, cy=inset, size=size),
        RegistrationMark(name="top_right", shape="square", cx=far_x, cy=inset, size=size),
        RegistrationMark(name="bottom_left", shape="square", cx=inset, cy=far_y, size=size),
        RegistrationMark(name="bottom_right", shape="circle", cx=far_x, cy=far_y, size=size),
    ]
