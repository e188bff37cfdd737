"""Values produced by recognition. Picklable, no I/O, no storage imports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

BoxState = Literal["empty", "marked", "cancelled", "uncertain"]
# answered: one value (or several for multiple choice) | blank | multiple: two+ marks on single/grid |
# uncertain: a box in the grey band | unreadable: e.g. a digit column with no/two marks |
# ink / no_ink: handwriting region with / without writing
AnswerState = Literal["answered", "blank", "multiple", "uncertain", "unreadable", "ink", "no_ink"]


@dataclass(frozen=True)
class BoxMeasure:
    box_id: str
    inner_ink: float  # share of new (non-printed) ink pixels inside the frame
    ring_ink: float  # share of new ink in the band just outside the frame
    darkness: float  # mean darkness (0..1) of the new ink pixels
    state: BoxState


@dataclass
class AnswerReading:
    question: str
    item: str  # grid row id, "" for a plain question
    kind: str  # single|multiple|grid|number|text|writein
    value: str | None  # stored code; ";"-joined for multiple choice; None when blank/undecided
    state: AnswerState
    needs_review: bool
    reason: str | None = None  # machine reason code: multiple_marks|uncertain_box|unreadable_digit|writein
    confidence: float = 1.0
    ocr_draft: str | None = None
    crop_png: bytes | None = None  # handwriting crop (PNG) for the reviewer


@dataclass
class PageReading:
    boxes: list[BoxMeasure] = field(default_factory=list)
    answers: list[AnswerReading] = field(default_factory=list)
    thresholds: dict[str, float] = field(default_factory=dict)  # the adapted per-sheet thresholds used
