"""Data functions behind the pages: plain dicts that the templates render and the JSON twin returns."""

from __future__ import annotations

import functools
from typing import Any

from flask import url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from formgen.layout import HandwritingRegion, Layout, QuestionLayout, Rect
from storage import review_queue as rq
from storage.models import Answer, BoxReading, Decision, Edition, Page, ReviewItem, Sheet, Survey, User

REASONS: dict[str, str] = {
    "multiple_marks": "Nhiều ô được đánh dấu / several boxes marked",
    "uncertain_box": "Ô không rõ có đánh dấu hay không / a box is neither clearly marked nor empty",
    "uncertain": "Ô không rõ / uncertain box",
    "loop_unclear": "Khoanh tròn chưa rõ (vòng hở, hoặc khoanh lệch sang ô khác) / a circle left open, or round the wrong place",
    "mark_beside": "Dấu đánh bên cạnh ô chứ không trong ô / a mark beside the box, not in it",
    "stray_ink": "Có nét mực gần các ô mà máy không biết của ô nào / ink near the boxes that belongs to no box",
    "outside_scan": "Một phần câu hỏi nằm ngoài ảnh quét (góc phiếu bị cắt khi quét); xem bản giấy hoặc quét lại / part of the question lies beyond the scanned image",
    "unreadable_digit": "Chữ số không đọc được / unreadable digit",
    "out_of_range": "Số ngoài khoảng cho phép / number out of range",
    "writein_ink": "Có chữ viết tay cần chép lại / handwriting to transcribe",
    "writein": "Có chữ viết tay cần chép lại / handwriting to transcribe",
    "misaligned": "Trang lệch, không đo được ô / page misaligned, boxes not measurable",
    "unreadable": "Không đọc được trang (mã QR, số in) / page unreadable (QR code and printed digits)",
    "forged": "Mã QR sai chữ ký (có thể giả) / QR signature invalid (possibly forged)",
    "blank_page": "Trang trắng / blank page",
    "no_marks": "Không tìm thấy dấu định vị ở các góc / registration marks not found",
    "duplicate_conflict": "Trùng với một trang đã có nhưng khác nội dung / duplicates a stored page but differs",
    "text_ink": "Có ý kiến viết tay cần chép lại / free text to transcribe",
    "second_review": "Duyệt lần hai / second review",
    "second_review_disagrees": "Hai người duyệt không thống nhất / the two reviewers disagree",
    "reopened": "Giám sát mở lại / reopened by a supervisor",
    "qr_unreadable": "Không đọc được mã QR / QR code unreadable",
    "mac_invalid": "Mã QR sai chữ ký (có thể giả) / QR signature invalid (possibly forged)",
    "unknown_survey": "Phiếu của khảo sát không rõ / unknown survey",
}
TEXT_KINDS = ("writein", "text")


def reason_text(code: str | None) -> str:
    if not code:
        return ""
    head, _sep, detail = code.partition(":")
    known = REASONS.get(head.strip())
    if known is None:
        return code
    return f"{known} — {detail.strip()}" if detail.strip() else known


@functools.lru_cache(maxsize=32)
def _parse_layout(edition_id: int, text: str) -> Layout:
    return Layout.from_json(text)


def layout_of(s: Session, edition_id: int) -> Layout:
    edition = s.get(Edition, edition_id)
    assert edition is not None
    return _parse_layout(edition_id, edition.layout_json)


def region_for(layout: Layout, answer: Answer) -> HandwritingRegion | None:
    regions = [r for r in layout.all_regions() if r.question == answer.question]
    for r in regions:
        if answer.item in (r.id, r.item, r.option_value, f"{r.question}:{answer.item}") or r.id == f"{answer.question}:{answer.item}":
            return r
    return regions[0] if regions else None


def crop_rect(layout: Layout, answers: list[Answer]) -> tuple[int, Rect] | None:
    """(page number, mm rectangle) worth showing for these answers of one question of one sheet."""
    first = answers[0]
    if first.kind in TEXT_KINDS:
        region = region_for(layout, first)
        if region is not None:
            return region.page, region
    try:
        question = layout.question(first.question)
    except KeyError:
        return None
    items = {a.item for a in answers}
    rows = [it for it in question.items if it.id in items and question.kind == "grid"]
    if rows:
        page = rows[0].page
        union = _union([r.area for r in rows if r.page == page])
        # show the neighbouring rows whole: a cut-off line of text above and below confuses readers
        row_h = rows[0].area.h
        return page, Rect(x=union.x, y=union.y - row_h, w=union.w, h=union.h + 2 * row_h)
    if question.area:
        page, rect = question.area[0]
        return page, rect
    return None


def _union(rects: list[Rect]) -> Rect:
    x0, y0 = min(r.x for r in rects), min(r.y for r in rects)
    x1, y1 = max(r.x + r.w for r in rects), max(r.y + r.h for r in rects)
    return Rect(x=x0, y=y0, w=x1 - x0, h=y1 - y0)


def box_states(s: Session, page_id: int | None, box_ids: list[str]) -> dict[str, str]:
    if page_id is None or not box_ids:
        return {}
    rows = s.execute(select(BoxReading.box_id, BoxReading.state).where(BoxReading.page_id == page_id, BoxReading.box_id.in_(box_ids)))
    return dict(rows.all())  # type: ignore[arg-type]


def _choices(question: QuestionLayout | None, answer: Answer) -> list[dict[str, str]]:
    if question is None or answer.kind in (*TEXT_KINDS, "number"):
        return []
    return [{"value": o.value, "label": o.label} for o in question.options]


def item_data(s: Session, item: ReviewItem, user: User) -> dict[str, Any]:
    """Everything the item screen shows: the crop, the rows under review, the machine's reading, the choices."""
    group = rq.item_group(s, item, user)
    answers = [s.get(Answer, i.answer_id) for i in group]
    assert all(a is not None for a in answers)
    first: Answer = answers[0]  # type: ignore[assignment]
    sheet = s.get(Sheet, first.sheet_id)
    assert sheet is not None
    layout = layout_of(s, sheet.edition_id)
    try:
        question: QuestionLayout | None = layout.question(first.question)
    except KeyError:
        question = None
    rows = []
    for it, a in zip(group, answers, strict=True):
        assert a is not None
        row_layout = next((r for r in question.items if r.id == a.item), None) if question else None
        boxes = [b for b in layout.all_boxes() if b.question == a.question and (b.item or "") == (a.item or "")]
        states = box_states(s, a.page_id, [b.id for b in boxes])
        rows.append(
            {
                "item_id": it.id,
                "version": it.version,
                "answer_id": a.id,
                "row": a.item,
                "row_text": row_layout.text if row_layout and question and question.kind == "grid" else "",
                "kind": a.kind,
                "machine_value": a.machine_value,
                "machine_state": a.machine_state,
                "reason": reason_text(it.reason if it.reason != "review" else a.machine_reason),
                "ocr_draft": a.ocr_draft or "",
                "previous": a.final_value if it.kind == "second" else None,
                "boxes": [{"id": b.id, "value": b.value, "state": states.get(b.id, "empty")} for b in boxes],
            }
        )
    survey = s.get(Survey, sheet.survey_id)
    ids = ",".join(str(a.id) for a in answers if a is not None)
    return {
        "item": {
            "id": item.id,
            "kind": item.kind,
            "reason": reason_text(item.reason if item.reason != "review" else first.machine_reason),
            "survey": survey.code if survey else "",
            "serial": sheet.serial,
            "sheet_id": sheet.id,
            "page_id": first.page_id,
        },
        "question": {
            "id": first.question,
            "text": question.text if question else first.question,
            "kind": first.kind,
            "multiple": first.kind == "multiple",
            "digits": question.digits if question else None,
            "choices": _choices(question, first),
        },
        "rows": rows,
        "image": url_for("images.answers", ids=ids),
        "page_image": url_for("images.page", page_id=first.page_id) if first.page_id else None,
    }


def answer_row(s: Session, a: Answer) -> dict[str, Any]:
    return {
        "id": a.id,
        "question": a.question,
        "item": a.item,
        "kind": a.kind,
        "machine_value": a.machine_value,
        "machine_state": a.machine_state,
        "reason": reason_text(a.machine_reason),
        "ocr_draft": a.ocr_draft,
        "final_value": a.final_value,
        "status": a.status,
        "version": a.version,
    }


def history_data(s: Session, answer: Answer) -> dict[str, Any]:
    decisions = s.execute(
        select(Decision, User.username).join(User, User.id == Decision.user_id).where(Decision.answer_id == answer.id).order_by(Decision.id)
    ).all()
    from storage.audit import history

    sheet = s.get(Sheet, answer.sheet_id)
    return {
        "answer": answer_row(s, answer),
        "serial": sheet.serial if sheet else None,
        "survey": sheet and s.get(Survey, sheet.survey_id).code,  # type: ignore[union-attr]
        "decisions": [
            {"id": d.id, "user": name, "value": d.value, "kind": d.kind, "at": d.decided_at.isoformat(timespec="seconds")}
            for d, name in decisions
        ],
        "events": [
            {"at": e.at.isoformat(timespec="seconds"), "actor": e.actor, "action": e.action, "detail": e.detail}
            for e in history(s, "answer", answer.id)
        ],
    }


def page_summary(p: Page) -> dict[str, Any]:
    return {
        "id": p.id,
        "status": p.status,
        "reason": reason_text(p.reason),
        "file": p.scan_file.original_name if p.scan_file else "",
        "index_in_file": p.index_in_file,
        "page_number": p.page_number,
        "rotation": p.rotation,
    }
