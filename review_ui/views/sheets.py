"""Sheets: the list (search by serial, unit, status), the sheet view (every page with its marks, every answer;
corrections and reopening with a reason, from the answer's row), and an answer's history."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from core.errors import NotFoundError
from review_ui.data import answer_row, history_data, layout_of, page_summary
from review_ui.item import value_words
from review_ui.web import MANAGERS, STAFF, BadInput, form_or_json, int_field, me, respond, route, wants_json
from review_ui.web import session as db_session
from storage import review_queue as rq
from storage.models import Answer, Page, Sheet, SheetPage, Survey
from storage.sheet_list import STATUS_GROUPS, STATUSES, list_sheets

bp = Blueprint("sheets", __name__)


def _sheet(s: Any, code: str, serial: int) -> Sheet:
    sheet = s.scalar(select(Sheet).join(Survey, Survey.id == Sheet.survey_id).where(Survey.code == code, Sheet.serial == serial))
    if sheet is None:
        raise NotFoundError(f"Không có phiếu {serial} trong khảo sát {code} / no sheet {serial} in survey {code}")
    return sheet  # type: ignore[no-any-return]


@route(bp, "/sheets", allowed=STAFF)
def index() -> Any:
    """Sheets of a survey, in serial order, ``?q=`` a serial (the list starts there), ``?unit=``, ``?status=``,
    ``?after=`` the last serial of the page before (keyset pages)."""
    args = request.args
    with db_session() as s:
        surveys = list(s.scalars(select(Survey.code).order_by(Survey.code)))
        code = args.get("survey", "")[:24] or (surveys[0] if surveys else "")
        survey_id = s.scalar(select(Survey.id).where(Survey.code == code))
        q = args.get("q", "").strip()
        if q and not (q.isdigit() and len(q) < 10):
            raise BadInput(_("Số phiếu là một số.") + f" / a serial is a number (got {q[:20]!r})")
        status = args.get("status", "") if args.get("status", "") in (*STATUSES, *STATUS_GROUPS) else ""
        unit = args.get("unit", "").strip()[:40]
        found = list_sheets(s, survey_id, status=status, unit=unit, serial_from=int(q) if q else None,
                            after=int_field(args, "after", default=0)) if survey_id is not None else None
    return respond("sheets.html", {
        "surveys": surveys, "survey": code, "q": q, "unit": unit, "status": status,
        "statuses": [*STATUSES, *STATUS_GROUPS], "rows": found.rows if found else [],
        "next_after": found.next_after if found else None, "exact": int(q) if q else None,
    })


@route(bp, "/sheets/<code>/<int:serial>", allowed=STAFF)
def show(code: str, serial: int) -> Any:
    with db_session() as s:
        sheet = _sheet(s, code, serial)
        pages = s.scalars(select(Page).join(SheetPage, SheetPage.page_id == Page.id)
                          .where(SheetPage.sheet_id == sheet.id).order_by(SheetPage.page_number)).all()
        answers = s.scalars(select(Answer).where(Answer.sheet_id == sheet.id).order_by(Answer.id)).all()
        duplicates = s.scalars(select(Page).where(Page.sheet_id == sheet.id, Page.status == "duplicate")).all()
        layout = layout_of(s, sheet.edition_id)
        questions = {q.id: q for q in layout.questions}
        rows = []
        for a in answers:
            q = questions.get(a.question)
            row = answer_row(s, a)
            row["label"] = _answer_label(q, a)
            row["machine_words"] = value_words(q, a.machine_value) if a.machine_value is not None else "—"
            row["final_words"] = value_words(q, a.final_value) if a.status != "review" else ""
            rows.append(row)
        data = {
            "survey": code,
            "serial": sheet.serial,
            "status": sheet.status,
            "unit": sheet.unit.code if sheet.unit else None,
            "pages": [{**page_summary(p), "image": url_for("images.page", page_id=p.id)} for p in pages],
            "duplicates": [page_summary(p) for p in duplicates],
            "answers": rows,
            "can_correct": me().role in MANAGERS,
        }
    return respond("sheet.html", data)


def _answer_label(question: Any, answer: Answer) -> str:
    """What a person calls the answer: the grid row's text, "chữ viết tay" for a write-in, else the question."""
    if question is None:
        return answer.item or ""
    if answer.kind in ("writein", "text"):
        return f"{question.text}: {_('chữ viết tay')}"
    row = next((it for it in question.items if it.id == answer.item), None) if question.kind == "grid" else None
    return row.text if row is not None else question.text


def _value(fields: dict[str, Any]) -> str | None:
    raw = fields.get("value")
    return None if raw is None or str(raw).strip() == "" else str(raw).strip()


def _back_to_sheet(s: Any, answer_id: int) -> str:
    answer = s.get_one(Answer, answer_id)
    sheet = s.get_one(Sheet, answer.sheet_id)
    survey = s.get_one(Survey, sheet.survey_id)
    return url_for("sheets.show", code=survey.code, serial=sheet.serial) + f"#a{answer_id}"


@route(bp, "/answers/<int:answer_id>/correct", allowed=MANAGERS, methods=("POST",))
def correct(answer_id: int) -> Any:
    fields = form_or_json()
    version = int_field(fields, "version", label=_("phiên bản"))
    with db_session(write=True) as s:
        rq.correct(s, answer_id, me().row(s), _value(fields), version)
        target = _back_to_sheet(s, answer_id)
        row = answer_row(s, s.get_one(Answer, answer_id))
    if wants_json():
        return {"answer": row}
    flash(_("Đã sửa câu trả lời.") + f" (#{answer_id})", "info")
    return redirect(target)


@route(bp, "/answers/<int:answer_id>/reopen", allowed=MANAGERS, methods=("POST",))
def reopen(answer_id: int) -> Any:
    """Back to the queue with the supervisor's reason (required); from the sheet's row or the history."""
    fields = form_or_json()
    with db_session(write=True) as s:
        item = rq.reopen(s, answer_id, me().row(s), str(fields.get("reason") or ""))
        item_id = item.id
        target = _back_to_sheet(s, answer_id)
    if wants_json():
        return {"answer_id": answer_id, "item_id": item_id}
    flash(_("Đã mở lại để duyệt.") + f" (#{answer_id})", "info")
    return redirect(target)


@route(bp, "/sheets/<code>/<int:serial>/sign-off", allowed=MANAGERS, methods=("POST",))
def sign_off(code: str, serial: int) -> Any:
    with db_session(write=True) as s:
        sheet = rq.sign_off(s, _sheet(s, code, serial).id, me().row(s))
        status = sheet.status
    if wants_json():
        return {"survey": code, "serial": serial, "status": status}
    flash(_("Đã ký duyệt phiếu.") + f" {serial}", "info")
    return redirect(url_for("sheets.show", code=code, serial=serial))


@route(bp, "/answers/<int:answer_id>/history", allowed=STAFF)
def history(answer_id: int) -> Any:
    with db_session() as s:
        answer = s.get(Answer, answer_id)
        if answer is None:
            raise NotFoundError(f"Không có câu trả lời #{answer_id} / no answer #{answer_id}")
        data = history_data(s, answer)
    data["can_reopen"] = me().role in MANAGERS and data["answer"]["status"] != "review"
    return respond("history.html", data)
