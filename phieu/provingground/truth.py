"""Ground truth for a filled sheet: what the respondent meant and what an honest reader must do.

``random_truth`` picks realistic answers for every question (and every grid row) of a layout and the
marks a person would draw to give them. Keys of ``SheetTruth.answers`` follow the recogniser's
``AnswerReading``: ``(question, item)`` with ``item`` = grid row id, ``""`` for a plain question
(single, multiple, number, free text), and the region id for an "other, please specify" write-in.

Values: the option code; multiple choice joins codes with ``;`` in printed order; numbers are the
decimal number without leading zeros; write-ins and free text hold the text the person meant to
write (drawn as handwriting-like strokes, so a reader can only send it to review).

``expect`` says what an honest reader must do: ``"answer"`` (the value, auto-accepted or reviewed),
``"review"`` (the marks are ambiguous or it is handwriting: a person must decide), ``"blank"``.

The rules, as a careful human coder applies them to one answer (a single-choice question, a grid
row, one digit column of a number; a multiple-choice question takes every chosen box):

1. A **clear mark** chooses its option. Clear marks: a tick, a cross, a lone solid fill (the OMR
   habit; the sheet says a fill cancels, so the reader rightly asks a person to confirm it, and the
   mixes draw it rarely: half a percent of marks), a loop round the box and its printed code or round the code alone (khoanh tròn, as the
   ministry's paper forms teach), however lopsided, tilted, spiral-overdrawn or open (by up to 30 %)
   it is; a tick or cross that overshoots into the next box; a heavy felt-marker stroke; a skipping
   ballpoint's broken strokes; light pencil; a tick drawn over the printed code beside the box; a
   real pen mark cut from a real filled scan. A clear mark belongs to the box (or code) it encloses
   or is centred on, **never to a neighbour its stroke crosses**: a loop round option 3 that cuts
   through option 2's frame, or a tick whose tail runs into the row above, leaves that neighbour as
   it was (blank, or whatever its own marks say).
2. **Two clear marks** on one single-choice answer: ``review`` (the person must decide). The same box
   ticked and circled is one choice.
3. **Corrections** do not count: a box filled solid beside another mark (the printed convention,
   "tô kín ô để hủy"), a box scribbled out beside another mark, a pencil mark rubbed out (a grey
   ghost) beside the real answer. The other mark is the answer (two other marks: ``review``).
4. **Stray ink** does not count: a pen dot or pen rest inside or beside a box, a short dash where
   the pen landed. A row with only stray ink is ``blank``.
5. Nothing, or only corrections and stray ink: ``blank`` (a number missing a digit: ``blank``).
6. Handwriting is always ``review``: only a person can read it.

Never drawn, because a careful coder could not say either: a lone scribble-out, a loop round two
options at once, a ghost on an otherwise blank row.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from formgen.layout import AnswerBox, HandwritingRegion, Layout, PageLayout, QuestionLayout

MarkStyle = Literal[
    "tick", "cross", "fill", "circle", "pencil", "overflow", "cancel", "dot", "erased", "write",
    # respondents as they are (issue 8): drawn whatever the neighbours
    "loop", "loop_code", "tick_over", "cross_over", "marker", "skip", "light", "check_out",
    "real", "real_solid", "scribble", "ghost", "stray",
]
Expect = Literal["answer", "review", "blank"]
OTHER_OPTION_WEIGHT = 0.15  # "Khác (ghi rõ)" is chosen far less often than a named option
MAIN_STYLES: tuple[MarkStyle, ...] = (
    "tick", "cross", "fill", "circle", "pencil", "overflow",
    "loop", "loop_code", "tick_over", "cross_over", "marker", "skip", "light", "check_out", "real", "real_solid",
)
SOLID_STYLES = frozenset({"fill", "real_solid"})  # a lone solid box is the answer; beside a mark, a cancellation
# what a careful coder ignores: corrections, stray ink, handwriting (which has its own answer)
NOT_A_CHOICE: frozenset[str] = frozenset({"cancel", "scribble", "dot", "stray", "erased", "ghost", "write"})
FAINT_STYLES = frozenset({"pencil", "light"})  # a ghost beside these could be as dark: never drawn
# circles reach ~1.5 mm beyond the frame and take in the code to its right; overflowing marks reach
# ~2 mm: drawn only where the neighbouring frames (and the band a reader searches round them) are clear
CODE_LABEL_MM = 3.5
NEEDS_FREE_MM: dict[str, tuple[float, float]] = {"circle": (CODE_LABEL_MM + 4.0, 0.0), "overflow": (4.0, 3.5)}
ROOMY_MM = 3.0  # with this much free paper above and below, a circle takes in the whole box

_PHRASES = (
    "Cần rút ngắn thời gian giải quyết hồ sơ",
    "Cán bộ hướng dẫn nhiệt tình, chu đáo",
    "Nên niêm yết công khai phí và lệ phí",
    "Thủ tục còn rườm rà, phải đi lại nhiều lần",
    "Mong có thêm dịch vụ công trực tuyến",
    "Báo chí địa phương",
    "Loa phát thanh xã",
    "Làm nông",
    "Buôn bán nhỏ",
    "Người Mường",
    "Không có ý kiến gì thêm",
)


@dataclass(frozen=True)
class MarkSpec:
    """One stroke group drawn by the filler: ``box_id`` is an AnswerBox id or a HandwritingRegion id."""

    box_id: str
    style: MarkStyle


@dataclass
class TruthAnswer:
    value: str | None
    expect: Expect
    marks: list[MarkSpec] = field(default_factory=list)
    kind: str = "choice"  # single|multiple|grid|number|text|writein (the question's kind, or writein)


@dataclass
class SheetTruth:
    serial: int
    answers: dict[tuple[str, str], TruthAnswer]
    fill_seed: int = 0  # seed of the filler's hand: the same seed draws the very same marks (photocopies)

    def marks_on_page(self, box_ids: set[str]) -> list[MarkSpec]:
        """Every mark whose box or region is in ``box_ids`` (the ids printed on one page)."""
        return [m for a in self.answers.values() for m in a.marks if m.box_id in box_ids]


@dataclass(frozen=True)
class MarkMix:
    """How a population of respondents marks: style weights and the share of special cases."""

    styles: dict[str, float]
    blank_share: float = 0.03  # questions/rows left empty
    ambiguous_share: float = 0.0  # two marks on a single-choice question or grid row: must go to review
    cancel_share: float = 0.0  # a box filled solid to cancel it, then the right one marked
    stray_share: float = 0.0  # a pen dot near (but not meaning) a box
    erase_share: float = 0.0  # a pencil mark rubbed out (a grey smudge stays), then the right box marked
    multi_extra_share: float = 0.35  # multiple choice: chance of each further answer
    writein_share: float = 0.7  # "other" chosen: chance the person writes what it is
    text_share: float = 0.3  # free-text questions written in
    number_write_share: float = 0.0  # a number also written by hand in its "Viết số" frame (readers
    # must not send every such number to review: raise this once they read the digit boxes first)
    # issue 8 (all 0 in the older presets, which then draw exactly as before):
    scribble_share: float = 0.0  # a first choice scribbled out (maybe over its tick), then the right box marked
    ghost_share: float = 0.0  # a pencil mark partly rubbed out beside the real (pen) answer
    blank_stray_share: float = 0.0  # a blank row with pen rests or dots beside its boxes
    double_share: float = 0.0  # the chosen box both ticked and circled


MIX_PRESETS: dict[str, MarkMix] = {
    "clean": MarkMix(styles={"tick": 0.5, "cross": 0.495, "fill": 0.005}),
    "mixed": MarkMix(
        styles={"tick": 0.34, "cross": 0.305, "fill": 0.005, "circle": 0.1, "pencil": 0.12, "overflow": 0.13},
        ambiguous_share=0.01,
        cancel_share=0.02,
        stray_share=0.03,
    ),
    "pencil": MarkMix(
        styles={"pencil": 0.8, "tick": 0.1, "cross": 0.1}, ambiguous_share=0.005, cancel_share=0.01
    ),
    # stress test beyond everyday sheets: more of every awkward case, and rubbed-out pencil
    "hard": MarkMix(
        styles={"tick": 0.25, "cross": 0.245, "fill": 0.005, "circle": 0.15, "pencil": 0.2, "overflow": 0.15},
        blank_share=0.05,
        ambiguous_share=0.03,
        cancel_share=0.05,
        stray_share=0.1,
        erase_share=0.05,
    ),
    # --- issue 8: respondents as they are, drawn whatever the neighbours (see the rules above) ---
    # people taught to circle (khoanh tròn): loops round box and code or the code alone, big ticks
    "loops": MarkMix(
        styles={"loop": 0.4, "loop_code": 0.2, "tick_over": 0.1, "cross_over": 0.1, "tick": 0.1, "cross": 0.095,
                "fill": 0.005},
        ambiguous_share=0.01,
        scribble_share=0.01,
        stray_share=0.01,
        double_share=0.03,
    ),
    # many blank rows with pen rests beside their boxes; light pencil next to firm marks
    "strays": MarkMix(
        styles={"tick": 0.32, "cross": 0.325, "fill": 0.005, "loop": 0.1, "light": 0.15, "pencil": 0.1},
        blank_share=0.2,
        stray_share=0.1,
        blank_stray_share=0.8,
        ghost_share=0.02,
    ),
    # an everyday population of returns, every habit at a realistic rate (most people do as the sheet
    # says and cross the box; one mark in nine is a loop or a tick beside the code)
    "returns": MarkMix(
        styles={"tick": 0.28, "cross": 0.295, "fill": 0.005, "loop": 0.06, "loop_code": 0.03, "circle": 0.02,
                "pencil": 0.06, "marker": 0.05, "skip": 0.05, "tick_over": 0.05, "cross_over": 0.04,
                "check_out": 0.02, "overflow": 0.04},
        ambiguous_share=0.01,
        cancel_share=0.01,
        scribble_share=0.01,
        ghost_share=0.01,
        stray_share=0.02,
        blank_stray_share=0.2,
        double_share=0.01,
    ),
    # the same without pencil: what a 1-bit scanner's threshold keeps of every mark
    "returns-pen": MarkMix(
        styles={"tick": 0.31, "cross": 0.325, "fill": 0.005, "loop": 0.06, "loop_code": 0.03, "circle": 0.02,
                "marker": 0.05, "skip": 0.05, "tick_over": 0.05, "cross_over": 0.04, "check_out": 0.02,
                "overflow": 0.04},
        ambiguous_share=0.01,
        cancel_share=0.01,
        scribble_share=0.01,
        stray_share=0.02,
        blank_stray_share=0.2,
        double_share=0.01,
    ),
    # real pen marks cut from real filled scans (needs a MarkBank when filling), and some of ours
    "real": MarkMix(
        styles={"real": 0.73, "real_solid": 0.02, "tick": 0.08, "cross": 0.07, "loop": 0.1},
        ambiguous_share=0.01,
        cancel_share=0.01,
        stray_share=0.02,
        blank_stray_share=0.1,
    ),
}


def chosen_boxes(answer: TruthAnswer) -> set[str]:
    """The boxes a careful coder takes as chosen: a clear mark and no correction on them (rules 1-4).
    A solid box beside another mark of its group (the answer; one digit column of a number) cancels."""
    corrected = {m.box_id for m in answer.marks if m.style in ("cancel", "scribble")}
    marked = {m.box_id for m in answer.marks if m.style not in NOT_A_CHOICE}
    for group in {b.rsplit(":", 1)[0] for b in marked}:  # box ids end in ":CODE"; digits: "Q:cN:DIGIT"
        members = {b for b in marked if b.rsplit(":", 1)[0] == group}
        solid = {m.box_id for m in answer.marks if m.style in SOLID_STYLES} & members
        if solid and len(members) > 1:
            corrected |= solid
    return marked - corrected


def truths_to_json(truths: list[SheetTruth]) -> str:
    """The ground truth of a bundle as JSON (one object per sheet), to keep beside its scan files."""
    sheets = [
        {
            "serial": t.serial,
            "fill_seed": t.fill_seed,
            "answers": [
                {
                    "question": q,
                    "item": item,
                    "value": a.value,
                    "expect": a.expect,
                    "kind": a.kind,
                    "marks": [[m.box_id, m.style] for m in a.marks],
                }
                for (q, item), a in t.answers.items()
            ],
        }
        for t in truths
    ]
    return json.dumps(sheets, ensure_ascii=False, indent=1)


def truths_from_json(text: str | bytes) -> list[SheetTruth]:
    sheets = json.loads(text)
    return [
        SheetTruth(
            serial=s["serial"],
            fill_seed=s["fill_seed"],
            answers={
                (a["question"], a["item"]): TruthAnswer(
                    a["value"], a["expect"], [MarkSpec(b, style) for b, style in a["marks"]], kind=a["kind"]
                )
                for a in s["answers"]
            },
        )
        for s in sheets
    ]


def mark_mix(mix: MarkMix | str) -> MarkMix:
    if isinstance(mix, MarkMix):
        return mix
    try:
        return MIX_PRESETS[mix]
    except KeyError:
        raise ValueError(f"unknown mark mix {mix!r}; choose one of {sorted(MIX_PRESETS)}") from None


def random_truth(
    layout: Layout, rng: np.random.Generator, *, serial: int, mix: MarkMix | str = "mixed"
) -> SheetTruth:
    """Realistic answers and marks for every question and grid row of ``layout``."""
    chooser = _Chooser(rng, mark_mix(mix), _free_space_mm(layout))
    boxes = _boxes_by_answer(layout)
    regions: dict[str, list[HandwritingRegion]] = defaultdict(list)
    for region in layout.all_regions():
        regions[region.question].append(region)
    answers: dict[tuple[str, str], TruthAnswer] = {}
    for q in layout.questions:
        if q.kind == "number":
            answers[(q.id, "")] = chooser.number(q, boxes.get((q.id, ""), []))
        elif q.kind == "text":
            for region in regions[q.id]:
                answers[(q.id, "")] = chooser.handwriting(region, q.kind, write=chooser.chance("text"))
            continue
        else:
            for (qid, item), group in boxes.items():
                if qid == q.id:
                    answers[(qid, item)] = chooser.choice(q, group)
        for region in regions[q.id]:  # write-ins: written when their option was chosen
            chosen = answers.get((q.id, ""), TruthAnswer(None, "blank")).value
            if region.option_value is None and q.kind == "number":  # the number's own frame
                text = chosen if chosen and chooser.chance("number_write") else None
                answers[(q.id, region.id)] = chooser.handwriting(
                    region, "writein", write=bool(text), text=text
                )
                continue
            write = region.option_value in (chosen or "").split(";") and chooser.chance("writein")
            answers[(q.id, region.id)] = chooser.handwriting(region, "writein", write=write)
    return SheetTruth(serial, answers, fill_seed=int(rng.integers(2**31)))


def answer_key(box: AnswerBox, question: QuestionLayout) -> tuple[str, str]:
    """The truth/reading key of the answer a box belongs to."""
    return (box.question, (box.item or "") if question.kind == "grid" else "")


def _boxes_by_answer(layout: Layout) -> dict[tuple[str, str], list[AnswerBox]]:
    kinds = {q.id: q for q in layout.questions}
    groups: dict[tuple[str, str], list[AnswerBox]] = defaultdict(list)
    for box in layout.all_boxes():
        groups[answer_key(box, kinds[box.question])].append(box)
    return groups


class _Chooser:
    def __init__(
        self, rng: np.random.Generator, mix: MarkMix, free_mm: dict[str, tuple[float, float]]
    ) -> None:
        self.rng = rng
        self.free_mm = free_mm
        self.mood = float(rng.beta(7, 2))  # 0 = displeased with everything, 1 = delighted
        self.mix = mix
        names = [s for s in MAIN_STYLES if mix.styles.get(s, 0.0) > 0]
        weights = np.array([mix.styles[s] for s in names], dtype=float)
        self.styles: list[MarkStyle] = names
        self.weights = weights / weights.sum()

    def chance(self, what: str) -> bool:
        share = {
            "blank": self.mix.blank_share,
            "ambiguous": self.mix.ambiguous_share,
            "cancel": self.mix.cancel_share,
            "stray": self.mix.stray_share,
            "erase": self.mix.erase_share,
            "multi": self.mix.multi_extra_share,
            "writein": self.mix.writein_share,
            "text": self.mix.text_share,
            "number_write": self.mix.number_write_share,
            "scribble": self.mix.scribble_share,
            "ghost": self.mix.ghost_share,
            "blank_stray": self.mix.blank_stray_share,
            "double": self.mix.double_share,
        }[what]
        return bool(self.rng.random() < share)

    def style(self, box: AnswerBox, group: list[AnswerBox], *, solid_ok: bool = True) -> MarkStyle:
        for _ in range(20):
            style = self.styles[int(self.rng.choice(len(self.styles), p=self.weights))]
            if style in SOLID_STYLES and not solid_ok:
                continue
            need = NEEDS_FREE_MM.get(style)
            if need and not (self.free_mm[box.id][0] >= need[0] and self.free_mm[box.id][1] >= need[1]):
                continue
            return style
        return "cross"

    def choice(self, q: QuestionLayout, group: list[AnswerBox]) -> TruthAnswer:
        kind = "multiple" if q.kind == "multiple" else q.kind
        if not group or self.chance("blank"):
            return TruthAnswer(None, "blank", self._strays(group) + self._blank_strays(group), kind=kind)
        order = self._preference(q, group)
        chosen = [group[order[0]]]
        if q.kind == "multiple":
            while len(chosen) < len(group) and self.chance("multi"):
                chosen.append(group[order[len(chosen)]])
        return self._mark(chosen, group, kind, ambiguous_ok=q.kind != "multiple")

    def _preference(self, q: QuestionLayout, group: list[AnswerBox]) -> list[int]:
        """This respondent's order of preference over ``group`` (indexes), most wanted first.

        Grid scales follow the person's mood (drawn once per sheet, leaning satisfied, as SIPAS
        results do); "other, please specify" options are picked less often than named ones.
        """
        n = len(group)
        if q.kind == "grid" and n > 1:
            levels = {o.value: i for i, o in enumerate(q.options)}
            target = self.mood * (n - 1) + float(self.rng.normal(0, 0.7))
            rank = [abs(levels.get(b.value, 0) - target) + float(self.rng.random()) * 0.01 for b in group]
            first = int(np.argmin(rank))
            return [first, *[int(i) for i in self.rng.permutation(n) if i != first]]
        other = {o.value for o in q.options if o.writein}
        weights = np.array([OTHER_OPTION_WEIGHT if b.value in other else 1.0 for b in group])
        return [int(i) for i in self.rng.choice(n, size=n, replace=False, p=weights / weights.sum())]

    def number(self, q: QuestionLayout, group: list[AnswerBox]) -> TruthAnswer:
        if not group or self.chance("blank"):
            return TruthAnswer(None, "blank", kind="number")
        low = q.min_value if q.min_value is not None else 0
        digits = q.digits or max((b.column or 0) for b in group) + 1
        high = q.max_value if q.max_value is not None else 10**digits - 1
        number = int(self.rng.integers(low, high + 1))
        text = str(number).zfill(digits)
        answer = TruthAnswer(str(number), "answer", kind="number")
        for column, digit in enumerate(text):
            col_boxes = [b for b in group if b.column == column]
            target = [b for b in col_boxes if b.value == digit]
            if not target:
                return TruthAnswer(None, "blank", kind="number")
            part = self._mark(target, col_boxes, "number", ambiguous_ok=True)
            answer.marks += part.marks
            if part.expect == "review":
                answer = TruthAnswer(None, "review", answer.marks, kind="number")
        return answer

    def _mark(
        self, chosen: list[AnswerBox], group: list[AnswerBox], kind: str, *, ambiguous_ok: bool
    ) -> TruthAnswer:
        """Marks for ``chosen``, maybe after correcting a wrong box, maybe with a second (ambiguous) mark.

        A solid fill is only drawn as the group's one and only mark: beside any other mark it would
        read, rightly, as the printed correction convention (a cancelled box). Shares that are 0
        draw nothing from ``rng``, so older presets give the very same sheets as before.
        """
        others = [b for b in group if b not in chosen]
        cancel = bool(others) and self.chance("cancel")
        scribble = self.mix.scribble_share > 0 and len(others) > int(cancel) and self.chance("scribble")
        corrections = int(cancel) + int(scribble)
        ambiguous = ambiguous_ok and len(others) > corrections and self.chance("ambiguous")
        solid_ok = len(chosen) == 1 and not corrections and not ambiguous
        marks: list[MarkSpec] = []
        if cancel:
            marks.append(MarkSpec(others.pop(int(self.rng.integers(len(others)))).id, "cancel"))
        if scribble:  # the first choice scribbled out, often over the tick or cross it had
            first = others.pop(int(self.rng.integers(len(others))))
            if self.rng.random() < 0.5:
                marks.append(MarkSpec(first.id, "tick" if self.rng.random() < 0.5 else "cross"))
            marks.append(MarkSpec(first.id, "scribble"))
        if ambiguous:
            chosen = [*chosen, others.pop(int(self.rng.integers(len(others))))]
        styles = [self.style(b, group, solid_ok=solid_ok) for b in chosen]
        marks += [MarkSpec(b.id, style) for b, style in zip(chosen, styles, strict=True)]
        if self.mix.double_share > 0 and styles[0] not in SOLID_STYLES and self.chance("double"):
            looped = styles[0] in ("loop", "loop_code", "circle")
            marks.append(MarkSpec(chosen[0].id, "tick" if looped else "loop"))  # ticked and circled: one choice
        if self.mix.erase_share > 0 and others and self.chance("erase"):  # no draw: presets stay reproducible
            marks.append(MarkSpec(others.pop(int(self.rng.integers(len(others)))).id, "erased"))
        faint = any(style in FAINT_STYLES for style in styles)
        if self.mix.ghost_share > 0 and others and not faint and self.chance("ghost"):
            marks.append(MarkSpec(others.pop(int(self.rng.integers(len(others)))).id, "ghost"))
        marks += self._strays(others)
        if ambiguous:
            return TruthAnswer(None, "review", marks, kind=kind)
        return TruthAnswer(";".join(b.value for b in group if b in chosen), "answer", marks, kind=kind)

    def _strays(self, candidates: list[AnswerBox]) -> list[MarkSpec]:
        """Now and then a pen rest near a box the person did not choose."""
        if candidates and self.chance("stray"):
            return [MarkSpec(candidates[int(self.rng.integers(len(candidates)))].id, "dot")]
        return []

    def _blank_strays(self, group: list[AnswerBox]) -> list[MarkSpec]:
        """A row left blank, with one or two pen rests or dots beside its boxes (never inside)."""
        if not group or self.mix.blank_stray_share <= 0 or not self.chance("blank_stray"):
            return []
        count = 1 + int(self.rng.random() < 0.3)
        return [MarkSpec(group[int(self.rng.integers(len(group)))].id, "stray") for _ in range(count)]

    def handwriting(
        self, region: HandwritingRegion, kind: str, *, write: bool, text: str | None = None
    ) -> TruthAnswer:
        if not write:
            return TruthAnswer(None, "blank", kind=kind)
        text = text or _PHRASES[int(self.rng.integers(len(_PHRASES)))]
        return TruthAnswer(text, "review", [MarkSpec(region.id, "write")], kind=kind)


def _free_space_mm(layout: Layout) -> dict[str, tuple[float, float]]:
    free: dict[str, tuple[float, float]] = {}
    for page in layout.pages:
        free.update(free_space_mm(page))
    return free


def free_space_mm(page: PageLayout) -> dict[str, tuple[float, float]]:
    """For every box, the free paper (mm) to the nearest other frame beside it (x) and above/below (y).

    Only frames in the same row band count for x, and only frames in the same column band
    (the box plus its printed code) count for y.
    """
    if not page.boxes:
        return {}
    r = np.array([(b.x, b.y, b.x + b.w, b.y + b.h) for b in page.boxes])
    gap_x = np.maximum(r[None, :, 0] - r[:, None, 2], r[:, None, 0] - r[None, :, 2])
    gap_y = np.maximum(r[None, :, 1] - r[:, None, 3], r[:, None, 1] - r[None, :, 3])
    same_row = gap_y < -1.0
    same_column = gap_x < CODE_LABEL_MM + 2.0
    np.fill_diagonal(same_row, False)
    np.fill_diagonal(same_column, False)
    fx = np.where(same_row, gap_x, np.inf).min(axis=1)
    fy = np.where(same_column & ~same_row, gap_y, np.inf).min(axis=1)
    return {b.id: (float(x), float(y)) for b, x, y in zip(page.boxes, fx, fy, strict=True)}
