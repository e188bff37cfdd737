"""Question rules: from box states to answers.

* Single choice and every grid row: exactly one mark is the answer; none is blank; two or more marks go
  to review (multiple_marks); any uncertain box goes to review (uncertain_box). A box filled solid is a
  cancellation when another box is marked: the sheet prints "tô kín ô đã đánh dấu nhầm để hủy" (fill
  a box to cancel it). A solid fill with no mark beside it is therefore doubtful, a cancellation with
  the new mark forgotten or the exam-sheet habit of filling the answer, and goes to review (lone_fill).
* Multiple choice: every mark, in printed order; solid fills beside marks are cancellations; solid
  fills with no mark go to review (lone_fill). Any uncertain box goes to review.
* Number: one digit column after another, each with exactly one mark (the same fill rule per column).
  A column with none or two is unreadable (review) unless every column is empty (blank); a number
  outside min/max goes to review.

:func:`lone_fills` names the boxes the fill rule made doubtful, so that pictures for people draw
what was decided (a doubtful fill, not a cancellation).

Confidence is the smallest margin of any box of the answer to the threshold it cleared, mapped to
0.5 (on the threshold) .. 1.0 (one threshold-width or more away).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from core.settings import RecognitionSettings
from core.types import AnswerReading, BoxMeasure
from formgen.layout import AnswerBox, Layout, PageLayout, QuestionLayout

# what made a box uncertain (BoxMeasure.why) -> the answer's reason code
UNCERTAIN_REASONS = {"loop": "loop_unclear", "beside": "mark_beside", "stray": "stray_ink"}


def default_thresholds(settings: RecognitionSettings) -> dict[str, float]:
    return {
        "empty_below": settings.empty_below,
        "marked_above": settings.marked_above,
        "cancelled_above": settings.cancelled_above,
        "ring_empty_below": settings.ring_empty_below,
        "ring_marked_above": settings.ring_marked_above,
    }


def box_confidence(m: BoxMeasure, t: Mapping[str, float]) -> float:
    """How far a box's ink lies from the threshold deciding its state, mapped to 0.5..1."""
    if m.state in ("uncertain", "unseen"):
        return 0.0
    if m.state == "empty":
        margin = min(
            (t["empty_below"] - m.inner_ink) / t["empty_below"],
            (t["ring_empty_below"] - m.ring_ink) / t["ring_empty_below"],
        )
    elif m.state == "cancelled":
        margin = (m.inner_ink - t["cancelled_above"]) / (1 - t["cancelled_above"])
    elif m.inner_ink >= t["marked_above"]:
        upper = t["cancelled_above"] - t["marked_above"]
        margin = min(
            (m.inner_ink - t["marked_above"]) / t["marked_above"],
            (t["cancelled_above"] - m.inner_ink) / upper,
        )
    else:  # marked by a ring: a circle around the code
        margin = (m.ring_ink - t["ring_marked_above"]) / t["ring_marked_above"]
    return 0.5 + 0.5 * min(1.0, max(0.0, margin))


def _choice(
    q: QuestionLayout, item: str, group: list[tuple[AnswerBox, BoxMeasure]], t: Mapping[str, float]
) -> AnswerReading:
    reading = AnswerReading(q.id, item, q.kind, None, "blank", False)
    reading.confidence = round(min(box_confidence(m, t) for _, m in group), 3)
    marked = [b.value for b, m in group if m.state == "marked"]
    if any(m.state == "unseen" for _, m in group):  # part of the row beyond the scanned image
        reading.state, reading.needs_review, reading.reason = "unreadable", True, "outside_scan"
    elif any(m.state == "uncertain" for _, m in group):
        why = next(m.why for _, m in group if m.state == "uncertain")
        reading.state, reading.needs_review, reading.reason = "uncertain", True, UNCERTAIN_REASONS.get(why, "uncertain_box")
    elif _lone_fill([m.state for _, m in group]):
        reading.state, reading.needs_review, reading.reason = "uncertain", True, "lone_fill"
    elif q.kind == "multiple":
        if marked:  # fills beside marks are cancellations
            reading.state, reading.value = "answered", ";".join(marked)
    elif len(marked) == 1:
        reading.state, reading.value = "answered", marked[0]
    elif marked:
        reading.state, reading.needs_review, reading.reason = "multiple", True, "multiple_marks"
    if reading.needs_review:
        reading.confidence = 0.0
    return reading


def _lone_fill(states: Sequence[str]) -> bool:
    """A group (a question, a grid row, a digit column) holding solid fills and no mark: doubtful."""
    return "cancelled" in states and "marked" not in states


def lone_fills(page: PageLayout, layout: Layout, states: Mapping[str, str]) -> set[str]:
    """Ids of the boxes of ``page`` that are solid fills with no mark in their group (``states``: box id → state)."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for box in page.boxes:
        kind = layout.question(box.question).kind
        key = str(box.column) if kind == "number" else (box.item or "") if kind == "grid" else ""
        groups[(box.question, key)].append(box.id)
    doubtful: set[str] = set()
    for ids in groups.values():
        if _lone_fill([states.get(i, "empty") for i in ids]):
            doubtful |= {i for i in ids if states.get(i) == "cancelled"}
    return doubtful


def _number(
    q: QuestionLayout, group: list[tuple[AnswerBox, BoxMeasure]], t: Mapping[str, float]
) -> AnswerReading:
    reading = AnswerReading(q.id, "", "number", None, "blank", False)
    columns: dict[int, list[tuple[AnswerBox, BoxMeasure]]] = defaultdict(list)
    for box, m in group:
        columns[box.column or 0].append((box, m))
    digits = [_choice(q.model_copy(update={"kind": "single"}), "", columns[c], t) for c in sorted(columns)]
    reading.confidence = round(min(d.confidence for d in digits), 3)
    if any(d.reason == "outside_scan" for d in digits):
        reading.state, reading.needs_review, reading.reason = "unreadable", True, "outside_scan"
    elif all(d.state == "blank" for d in digits):
        return reading
    elif any(d.state == "uncertain" for d in digits):
        reasons = [d.reason for d in digits if d.state == "uncertain"]
        reason = next((r for r in reasons if r != "lone_fill"), "lone_fill")
        reading.state, reading.needs_review, reading.reason = "uncertain", True, reason or "uncertain_box"
    elif any(d.state != "answered" for d in digits):
        reading.state, reading.needs_review, reading.reason = "unreadable", True, "unreadable_digit"
    else:
        number = int("".join(d.value or "" for d in digits))
        reading.state, reading.value = "answered", str(number)
        low, high = q.min_value, q.max_value
        if (low is not None and number < low) or (high is not None and number > high):
            reading.state, reading.needs_review, reading.reason = "unreadable", True, "out_of_range"
    if reading.needs_review:
        reading.confidence = 0.0
    return reading


def answers_for_page(
    measures: Sequence[BoxMeasure],
    page: PageLayout,
    layout: Layout,
    *,
    settings: RecognitionSettings,
    thresholds: Mapping[str, float] | None = None,
) -> list[AnswerReading]:
    """One AnswerReading per question (per grid row: item = row id) with boxes on ``page``.

    ``measures`` are the page's box measures (any order, matched by box id); ``thresholds`` the
    per-sheet thresholds they were judged with (default: the settings' values), used for confidence.
    Answers come in the page's printed order.
    """
    t = dict(thresholds) if thresholds is not None else default_thresholds(settings)
    by_id = {m.box_id: m for m in measures}
    groups: dict[tuple[str, str], list[tuple[AnswerBox, BoxMeasure]]] = defaultdict(list)
    for box in page.boxes:
        if box.id not in by_id:
            continue
        q = layout.question(box.question)
        item = (box.item or "") if q.kind == "grid" else ""
        groups[(box.question, item)].append((box, by_id[box.id]))
    answers = []
    for (qid, item), group in groups.items():
        q = layout.question(qid)
        answers.append(_number(q, group, t) if q.kind == "number" else _choice(q, item, group, t))
    return answers
