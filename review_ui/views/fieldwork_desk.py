"""The desk side of fieldwork: the check-in screen (a typed serial, or a sheet's QR payload typed by a
handheld scanner ending with Enter, marks the sheet collected and answers at once) and editing the
sample frame (import a frame file, change a unit's name, quota or enumerator, add a unit)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from flask import Blueprint, flash, redirect, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.datastructures import FileStorage
from werkzeug.utils import secure_filename

from core.errors import ConflictError
from fieldwork import checkin, frame
from fieldwork.frame import frame_units, get_survey, households_of
from fieldwork.tables import parse_date, parse_int
from review_ui.web import MANAGERS, form_or_json, me, respond, route, state, wants_json
from review_ui.web import session as db_session
from storage.fieldwork_models import TransmittalBatch
from storage.models import User

bp = Blueprint("fieldwork_desk", __name__)
DESK = ("admin", "supervisor", "clerk")  # who checks sheets in and enters visitor counts


@contextmanager
def saved_upload(upload: FileStorage) -> Iterator[Path]:
    """The uploaded file in a temporary folder, under its own (made safe) name; removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="phieu-upload-") as folder:
        path = Path(folder) / (secure_filename(upload.filename or "") or "upload.csv")
        upload.save(path)
        yield path


@route(bp, "/fieldwork/<code>/checkin", allowed=DESK, methods=("GET", "POST"))
def check_in(code: str) -> Any:
    """GET: the screen. POST ``code`` (what was typed), optional ``day`` and ``batch``: the answer."""
    result = None
    if request.method == "POST":
        fields = form_or_json()
        day = parse_date(str(fields.get("day", ""))) if fields.get("day") else None
        with db_session(write=True) as s:
            result = checkin.check_in(s, code, str(fields.get("code", "")), secret=state().qr_secret,
                                      actor=me().username, day=day, batch=str(fields.get("batch", "")) or None,
                                      settings=state().settings.fieldwork)
        if wants_json():
            return {"result": result.as_dict()}
    with db_session() as s:
        survey = get_survey(s, code)
        batches = list(s.scalars(select(TransmittalBatch.code).where(TransmittalBatch.survey_id == survey.id)
                                 .order_by(TransmittalBatch.id.desc())))
    data = {"survey": code, "title": survey.title, "today": date.today().isoformat(), "batches": batches,
            "result": result.as_dict() if result else None}
    return respond("fieldwork_checkin.html", data)


@route(bp, "/fieldwork/<code>/frame", allowed=MANAGERS)
def frame_page(code: str) -> Any:
    with db_session() as s:
        survey = get_survey(s, code)
        units = frame_units(s, survey.id)
        households = households_of(s, [u.id for u in units])
        people = list(s.scalars(select(User).where(User.active.is_(True)).order_by(User.username)))
        names = {u.id: u.username for u in people}
        by_id = {u.id: u for u in units}
        rows = [{"code": u.code, "name": u.name, "kind": u.kind, "level": u.level, "quota": u.quota,
                 "field_quotas": "; ".join(f"{k}={v}" for k, v in (u.field_quotas or {}).items()),
                 "parent": by_id[u.parent_id].code if u.parent_id in by_id else "",
                 "enumerator": names.get(u.enumerator_id, "") if u.enumerator_id else "",
                 "households": sum(not h.reserve for h in households.get(u.id, [])),
                 "reserves": sum(h.reserve for h in households.get(u.id, []))} for u in units]
        enumerators = [{"username": u.username, "full_name": u.full_name} for u in people if u.role == "enumerator"]
    return respond("fieldwork_frame.html", {"survey": code, "title": survey.title, "units": rows,
                                            "enumerators": enumerators, "kinds": list(frame.KIND_WORDS)})


@route(bp, "/fieldwork/<code>/frame/import", allowed=MANAGERS, methods=("POST",))
def frame_import(code: str) -> Any:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ConflictError(_("Hãy chọn tệp khung mẫu (.csv hoặc .xlsx).") + " / Choose a frame file.")
    add = str(request.form.get("add_enumerators", "")).lower() in ("1", "on", "true", "yes")
    with saved_upload(upload) as path, db_session(write=True) as s:
        summary = frame.import_frame(s, code, path, actor=me().username, add_enumerators=add, name=upload.filename)
    return _done(code, _("Đã nhập khung mẫu.") + f" {summary.line()}", {"summary": summary.__dict__})


@route(bp, "/fieldwork/<code>/frame/unit", allowed=MANAGERS, methods=("POST",))
def frame_unit(code: str) -> Any:
    """Change one unit: ``unit`` (its code) and any of ``name``, ``quota``, ``field_quotas``, ``enumerator``."""
    fields = form_or_json()
    quota: int | None | str = ""
    if "quota" in fields:
        text = str(fields["quota"]).strip()
        quota = None if text == "" else parse_int(text)
        if text and (quota is None or quota < 0):
            raise ConflictError("Chỉ tiêu phải là số nguyên ≥ 0 / quota must be a whole number ≥ 0")
    with db_session(write=True) as s:
        survey = get_survey(s, code)
        unit = frame.update_unit(s, survey.id, str(fields.get("unit", "")), actor=me().username,
                                 name=fields.get("name"), quota=quota,
                                 field_quotas=fields.get("field_quotas") if "field_quotas" in fields else None,
                                 enumerator=fields.get("enumerator") if "enumerator" in fields else None)
        saved = {"code": unit.code, "name": unit.name, "quota": unit.quota, "field_quotas": unit.field_quotas}
    return _done(code, _("Đã lưu đơn vị.") + f" {saved['code']}", {"unit": saved})


@route(bp, "/fieldwork/<code>/frame/add", allowed=MANAGERS, methods=("POST",))
def frame_add(code: str) -> Any:
    fields = form_or_json()
    quota_text = str(fields.get("quota", "")).strip()
    quota = parse_int(quota_text) if quota_text else None
    if quota_text and quota is None:
        raise ConflictError("Chỉ tiêu phải là số nguyên / quota must be a whole number")
    with db_session(write=True) as s:
        survey = get_survey(s, code)
        unit = frame.add_unit(s, survey.id, code=str(fields.get("code", "")).strip(), name=str(fields.get("name", "")).strip(),
                              kind=str(fields.get("kind", "")), parent=str(fields.get("parent", "")).strip(), quota=quota,
                              actor=me().username)
        added = unit.code
    return _done(code, _("Đã thêm đơn vị.") + f" {added}", {"unit": added})


def _done(code: str, message: str, body: dict[str, Any]) -> Any:
    if wants_json():
        return {"message": message, **body}
    flash(message, "info")
    return redirect(url_for("fieldwork_desk.frame_page", code=code))
