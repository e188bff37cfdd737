"""The decision screen's data: every row being decided with its own picture, the boxes in doubt singled
out, what the machine saw in words, its confident marks pre-selected, and the OCR draft only when
the OCR itself was sure enough.

Rows of one grid come together only from the same sheet and page (storage.review_queue.item_group),
so the whole page is one picture and every row decided is in view.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import url_for
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from formgen.layout import AnswerBox, Layout, QuestionLayout, Rect
from recognition.rules import lone_fills
from review_ui.data import TEXT_KINDS, layout_of, reason_text, region_for
from review_ui.words import word
from storage import review_queue as rq
from storage.models import Answer, BoxReading, ReviewItem, Sheet, Survey, User

ROW_MARGIN_MM = 1.5  # a grid row's picture: the row and a sliver of its neighbours, never their boxes


@dataclass(frozen=True)
class BoxView:
    box: AnswerBox
    state: str  # marked | uncertain | cancelled | empty | lone_fill (a fill the rule made doubtful)
    doubtful: bool  # singled out for the person: the reason this row is in the queue


def answer_rect(layout: Layout, answer: Answer) -> tuple[int, Rect] | None:
    """(page, mm rectangle) of one answer: a grid row, a question, a write-in line with its option's box and label."""
    if answer.kind in TEXT_KINDS:
        region = region_for(layout, answer)
        if region is None:
            return None
        option = next((b for b in layout.page(region.page).boxes
                       if b.question == answer.question and region.option_value and b.value == region.option_value), None)
        return region.page, _union([region, option] if option is not None else [region])
    try:
        question = layout.question(answer.question)
    except KeyError:
        return None
    if question.kind == "grid":
        row = next((it for it in question.items if it.id == answer.item), None)
        return (row.page, row.area) if row is not None else None
    return question.area[0] if question.area else None


def _union(rects: list[Any]) -> Rect:
    x0, y0 = min(r.x for r in rects), min(r.y for r in rects)
    x1, y1 = max(r.x + r.w for r in rects), max(r.y + r.h for r in rects)
    return Rect(x=x0, y=y0, w=x1 - x0, h=y1 - y0)


def answer_boxes(layout: Layout, answer: Answer) -> list[AnswerBox]:
    return [b for b in layout.all_boxes() if b.question == answer.question
            and (answer.kind != "grid" or (b.item or "") == (answer.item or ""))]


def box_views(s: Session, layout: Layout, answer: Answer) -> list[BoxView]:
    """The answer's boxes, each with the state the rules decided and whether it is why the row is doubtful."""
    boxes = answer_boxes(layout, answer)
    if not boxes or answer.page_id is None:
        return []
    states: dict[str, str] = dict(s.execute(select(BoxReading.box_id, BoxReading.state).where(  # type: ignore[arg-type]
        BoxReading.page_id == answer.page_id, BoxReading.box_id.in_([b.id for b in boxes]))).all())
    page = layout.page(boxes[0].page)
    lone = lone_fills(page.model_copy(update={"boxes": boxes}), layout, states)
    reason = (answer.machine_reason or "").partition(":")[0]
    shown = {b.id: ("lone_fill" if b.id in lone else states.get(b.id, "empty")) for b in boxes}
    singled = {"uncertain_box": {"uncertain"}, "multiple_marks": {"marked"}, "lone_fill": {"lone_fill"},
               "out_of_range": {"marked"}}.get(reason, set())
    if reason == "unreadable_digit":
        singled = {"marked"}  # the columns with two marks show both; an empty column is said in words
    return [BoxView(b, shown[b.id], shown[b.id] in singled) for b in boxes]


def _codes(views: list[BoxView], *states: str) -> str:
    """The codes of the boxes in ``states``: "2 và 3", "1, 4 và 5" (digits name their column)."""
    codes = [v.box.value if v.box.kind != "digit" else f"{v.box.value} ({_('cột')} {(v.box.column or 0) + 1})"
             for v in views if v.state in states]
    if len(codes) < 2:
        return "".join(codes)
    return ", ".join(codes[:-1]) + f" {_('và')} " + codes[-1]


def doubts(answer: Answer, views: list[BoxView], question: QuestionLayout | None) -> list[str]:
    """What the machine saw and why a person must decide, in the interface language."""
    reason = (answer.machine_reason or "").partition(":")[0]
    if reason == "multiple_marks":
        return [_("Ô %(codes)s đều được đánh dấu: chọn một, hoặc * nếu không hợp lệ.") % {"codes": _codes(views, "marked")}]
    if reason == "uncertain_box":
        said = [_("Ô %(codes)s có nét mờ hoặc nhỏ: không rõ có được đánh dấu không.") % {"codes": _codes(views, "uncertain")}]
        if any(v.state == "marked" for v in views):
            said.append(_("Ô %(codes)s được đánh dấu rõ (đã chọn sẵn).") % {"codes": _codes(views, "marked")})
        return said
    if reason == "lone_fill":
        lone = _("Ô %(codes)s bị tô kín mà không có ô nào khác được đánh dấu. Phiếu hướng dẫn tô kín là để huỷ: có thể người trả lời huỷ rồi quên đánh dấu ô mới, hoặc tô kín để chọn.")
        return [lone % {"codes": _codes(views, "lone_fill")}]
    if reason == "unreadable_digit":
        return [_("Có cột chữ số không có đúng một ô được đánh dấu.")]
    if reason == "out_of_range" and question is not None:
        return [_("Máy đọc được %(value)s, ngoài khoảng %(low)s–%(high)s in trên phiếu.")
                % {"value": answer.machine_value, "low": question.min_value, "high": question.max_value}]
    if reason in ("writein", "writein_ink", "text_ink") or answer.kind in TEXT_KINDS:
        return [_("Có chữ viết tay: hãy chép lại đúng như người trả lời viết.")]
    return [reason_text(answer.machine_reason)] if reason else []


def preselected(answer: Answer, views: list[BoxView]) -> list[str]:
    """Codes ticked when the screen opens: the boxes the machine was sure of, where they make an answer."""
    marked = [v.box.value for v in views if v.state == "marked"]
    if answer.kind == "multiple":
        return marked
    if answer.kind in ("single", "grid") and len(marked) == 1 and (answer.machine_reason or "") != "multiple_marks":
        return marked
    return []


def value_words(question: QuestionLayout | None, value: str | None) -> str:
    """A stored value as people say it: "4 (Hài lòng)", "để trống", "không hợp lệ"."""
    if value is None:
        return _("để trống")
    if value == rq.INVALID:
        return _("không hợp lệ")
    labels = {o.value: o.label for o in question.options} if question is not None else {}
    return "; ".join(f"{v} ({labels[v]})" if v in labels else v for v in value.split(";")) if labels else value


def _item_reason(s: Session, item: ReviewItem, answer: Answer, question: QuestionLayout | None) -> str:
    code, _sep, detail = (item.reason or "").partition(":")
    if item.kind == "second":
        return _("Duyệt lần hai: hãy quyết định độc lập.")
    if item.kind == "third":
        earlier = rq.earlier_decisions(s, answer.id)
        values = " · ".join(f"{name}: {value_words(question, value)}" for _kind, value, name in earlier[-2:])
        return _("Hai người duyệt không thống nhất (%(values)s). Bạn là người thứ ba quyết định.") % {"values": values}
    if code == "reopened":
        return _("Giám sát mở lại: %(why)s") % {"why": detail.strip()}
    return reason_text(answer.machine_reason or item.reason)


def item_data(s: Session, item: ReviewItem, user: User, *, draft_bar: float) -> dict[str, Any]:
    """Everything the item screen shows; ``draft_bar``: the OCR confidence a draft needs to be offered."""
    group = rq.item_group(s, item, user)
    answers = [s.get_one(Answer, i.answer_id) for i in group]
    first = answers[0]
    sheet = s.get_one(Sheet, first.sheet_id)
    layout = layout_of(s, sheet.edition_id)
    try:
        question: QuestionLayout | None = layout.question(first.question)
    except KeyError:
        question = None
    rows = [_row(s, layout, question, it, a, draft_bar) for it, a in zip(group, answers, strict=True)]
    places = [r for r in (answer_rect(layout, a) for a in answers) if r is not None]
    page_no = places[0][0] if places else 1
    focus = _union([rect for page, rect in places if page == page_no] or [Rect(x=0, y=0, w=1, h=1)])
    height = layout.page(page_no).height
    survey = s.get(Survey, sheet.survey_id)
    return {
        "item": {"id": item.id, "kind": item.kind, "kind_word": word("item_kind", item.kind),
                 "reason": _item_reason(s, item, first, question), "survey": survey.code if survey else "",
                 "serial": sheet.serial, "sheet_id": sheet.id, "page_id": first.page_id, "page_number": page_no},
        "question": {"id": first.question, "text": question.text if question else first.question, "kind": first.kind,
                     "multiple": first.kind == "multiple", "digits": question.digits if question else None,
                     "min": question.min_value if question else None, "max": question.max_value if question else None,
                     "choices": [] if question is None or first.kind in (*TEXT_KINDS, "number")
                     else [{"value": o.value, "label": o.label} for o in question.options]},
        "rows": rows,
        "page_image": url_for("images.page", page_id=first.page_id, focus=",".join(str(a.id) for a in answers))
        if first.page_id else None,
        "focus": {"top": round(focus.y / height, 4), "height": round(focus.h / height, 4)},
    }


def _row(s: Session, layout: Layout, question: QuestionLayout | None, it: ReviewItem, a: Answer,
         draft_bar: float) -> dict[str, Any]:
    views = box_views(s, layout, a)
    grid_row = next((r for r in question.items if r.id == a.item), None) if question and question.kind == "grid" else None
    draft_ok = bool(a.ocr_draft) and a.ocr_confidence is not None and a.ocr_confidence >= draft_bar
    return {
        "item_id": it.id,
        "version": it.version,
        "answer_id": a.id,
        "row": a.item,
        "row_text": grid_row.text if grid_row else "",
        "kind": a.kind,
        "machine_value": a.machine_value,
        "machine_words": value_words(question, a.machine_value) if a.machine_value is not None else "",
        "machine_state": a.machine_state,
        "state_words": word("machine_state", a.machine_state),
        "doubts": doubts(a, views, question),
        "preselect": preselected(a, views) if it.kind != "third" else [],
        "number": a.machine_value if a.kind == "number" and a.machine_value is not None else "",
        "draft": a.ocr_draft if draft_ok else "",
        "draft_hidden": bool(a.ocr_draft) and not draft_ok,
        "crop": url_for("images.answers", ids=str(a.id)),
        "boxes": [{"id": v.box.id, "value": v.box.value, "state": v.state, "doubtful": v.doubtful} for v in views],
    }
