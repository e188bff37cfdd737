"""Data functions behind the pages: plain dicts that the templates render and the JSON twin returns."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from formgen.layout import HandwritingRegion, Layout
from review_ui.words import in_language
from storage.answer_values import layout_of_edition
from storage.models import Answer, Decision, Page, Sheet, Survey, User

REASONS: dict[str, Any] = {
    "multiple_marks": _("Nhiều ô được đánh dấu"),
    "uncertain_box": _("Ô không rõ có đánh dấu hay không"),
    "uncertain": _("Ô không rõ"),
    "lone_fill": _("Một ô bị tô kín, không ô nào khác được đánh dấu"),
    "loop_unclear": _("Khoanh tròn chưa rõ (vòng hở, hoặc khoanh lệch sang ô khác)"),
    "mark_beside": _("Dấu đánh bên cạnh ô chứ không trong ô"),
    "stray_ink": _("Có nét mực gần các ô mà máy không biết của ô nào"),
    "outside_scan": _("Một phần câu hỏi nằm ngoài ảnh quét (góc phiếu bị cắt khi quét): xem bản giấy"),
    "unreadable_digit": _("Chữ số không đọc được"),
    "out_of_range": _("Số ngoài khoảng cho phép"),
    "writein_ink": _("Có chữ viết tay cần chép lại"),
    "writein": _("Có chữ viết tay cần chép lại"),
    "misaligned": _("Trang lệch, không đo được ô"),
    "not_aligned": _("Đọc được mã nhưng không căn chỉnh được trang"),
    "unreadable": _("Không đọc được trang (mã QR, số in)"),
    "forged": _("Mã QR sai chữ ký (có thể giả)"),
    "blank_page": _("Trang trắng"),
    "no_marks": _("Không tìm thấy dấu định vị ở các góc"),
    "duplicate_conflict": _("Trùng với một trang đã có nhưng khác nội dung"),
    "text_ink": _("Có ý kiến viết tay cần chép lại"),
    "second_review": _("Duyệt lần hai"),
    "second_review_disagrees": _("Hai người duyệt không thống nhất"),
    "reopened": _("Giám sát mở lại"),
    "qr_unreadable": _("Không đọc được mã QR"),
    "mac_invalid": _("Mã QR sai chữ ký (có thể giả)"),
    "unknown_survey": _("Phiếu của khảo sát chưa đăng ký"),
    "not_printed": _("Số phiếu chưa từng được in"),
    "edition_mismatch": _("Mẫu phiếu không khớp"),
    "bad_page_number": _("Số trang không có trong mẫu"),
    "error": _("Không đọc được trang"),
}
TEXT_KINDS = ("writein", "text")


def reason_text(code: str | None) -> str:
    """A stored reason ("code: detail") in words of the interface language."""
    if not code:
        return ""
    head, _sep, detail = code.partition(":")
    known = REASONS.get(head.strip())
    if known is None:
        return in_language(code)
    detail = in_language(detail.strip())
    return f"{known} — {detail}" if detail else str(known)


def layout_of(s: Session, edition_id: int) -> Layout:
    return layout_of_edition(s, edition_id)  # one parse per layout, shared with the value checks


def region_for(layout: Layout, answer: Answer) -> HandwritingRegion | None:
    regions = [r for r in layout.all_regions() if r.question == answer.question]
    for r in regions:
        if answer.item in (r.id, r.item, r.option_value, f"{r.question}:{answer.item}") or r.id == f"{answer.question}:{answer.item}":
            return r
    return regions[0] if regions else None


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
