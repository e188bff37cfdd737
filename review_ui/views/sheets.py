"""The sheet view (every page with its marks, every answer; corrections) and an answer's audit history."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from core.errors import ConflictError, NotFoundError
from review_ui.data import answer_row, history_data, page_summary
from review_ui.web import MANAGERS, STAFF, form_or_json, me, respond, route, wants_json
from review_ui.web import session as db_session
from storage import review_queue as rq
from storage.models import Answer, Page, Sheet, SheetPage, Survey

bp = Blueprint("sheets", __name__)


def _sheet(s: Any, code: str, serial: int) -> Sheet:
    sheet = s.scalar(select(Sheet).join(Survey, Survey.id == Sheet.survey_id).where(Survey.code == code, Sheet.serial == serial))
    if sheet is None:
        raise NotFoundError(f"Không có phiếu {serial} trong khảo sát {code} / no sheet {serial} in survey {code}")
    return sheet  # type: ignore[no-any-return]


@route(bp, "/sheets/<code>/<int:serial>", allowed=STAFF)
def show(code: str, serial: int) -> Any:
    with db_session() as s:
        sheet = _sheet(s, code, serial)
        pages = s.scalars(select(Page).join(SheetPage, SheetPage.page_id == Page.id)
                          .where(SheetPage.sheet_id == sheet.id).order_by(SheetPage.page_number)).all()
        answers = s.scalars(select(Answer).where(Answer.sheet_id == sheet.id).order_by(Answer.id)).all()
        duplicates = s.scalars(select(Page).where(Page.sheet_id == sheet.id, Page.status == "duplicate")).all()
        data = {
            "survey": code,
            "serial": sheet.serial,
            "status": sheet.status,
            "unit": sheet.unit.code if sheet.unit else None,
            "pages": [{**page_summary(p), "image": url_for("images.page", page_id=p.id)} for p in pages],
            "duplicates": [page_summary(p) for p in duplicates],
            "answers": [answer_row(s, a) for a in answers],
            "can_correct": me().role in MANAGERS,
        }
    return respond("sheet.html", data)


def _value(fields: dict[str, Any]) -> str | None:
    raw = fields.get("value")
    return None if raw is None or str(raw).strip() == "" else str(raw).strip()


@route(bp, "/answers/<int:answer_id>/correct", allowed=MANAGERS, methods=("POST",))
def correct(answer_id: int) -> Any:
    fields = form_or_json()
    with db_session(write=True) as s:
        try:
            version = int(fields.get("version", 0))
        except ValueError as exc:
            raise ConflictError("version?") from exc
        rq.correct(s, answer_id, me().row(s), _value(fields), version)
        answer = s.get(Answer, answer_id)
        assert answer is not None
        sheet = s.get(Sheet, answer.sheet_id)
        survey = s.get(Survey, sheet.survey_id) if sheet else None
        target = url_for("sheets.show", code=survey.code if survey else "", serial=sheet.serial if sheet else 0)
        row = answer_row(s, answer)
    if wants_json():
        return {"answer": row}
    flash(_("Đã sửa câu trả lời.") + f" (#{answer_id})", "info")
    return redirect(target)


@route(bp, "/answers/<int:answer_id>/reopen", allowed=MANAGERS, methods=("POST",))
def reopen(answer_id: int) -> Any:
    with db_session(write=True) as s:
        item = rq.reopen(s, answer_id, me().row(s))
        item_id = item.id
    if wants_json():
        return {"answer_id": answer_id, "item_id": item_id}
    flash(_("Đã mở lại để duyệt.") + f" (#{answer_id})", "info")
    return redirect(url_for("sheets.history", answer_id=answer_id))


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
    data["can_reopen"] = me().role in MANAGERS and data["answer"]["status"] in ("reviewed", "final")
    return respond("history.html", data)
