"""Fieldwork pages: the operations page of a survey (by unit and by enumerator, chart, XLSX), the
sheets behind a figure, a sheet's log, counters (visitors and the quota rule), transmittal batches
and phúc tra. The check-in desk and frame editing are in ``fieldwork_desk``."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from core.errors import ConflictError
from fieldwork import counters, lifecycle, transmittal, verification
from fieldwork.chart import chart_png, pick_rows
from fieldwork.frame import frame_units, get_survey
from fieldwork.operations import OpsRow, operations
from fieldwork.plan import rules
from fieldwork.tables import parse_date
from fieldwork.workbook import operations_xlsx
from review_ui.views.fieldwork_desk import DESK, saved_upload
from review_ui.web import EVERYONE, MANAGERS, form_or_json, me, respond, roles, route, state, wants_json
from review_ui.web import session as db_session
from storage.fieldwork_models import Household
from storage.models import Sheet, Survey, Unit, User

bp = Blueprint("fieldwork", __name__)


def _settings() -> Any:
    return state().settings.fieldwork


def _row(row: OpsRow) -> dict[str, Any]:
    data = row.as_dict()
    progress = row.quota_progress
    started = row.counts.issued > 0
    data["tone"] = ("overdue" if row.counts.overdue or row.counts.rule_breaks else "reached" if row.quota_reached
                    else "behind" if started and progress is not None and progress < 0.5 else "")
    return data


@route(bp, "/fieldwork", allowed=EVERYONE)
def index() -> Any:
    with db_session() as s:
        surveys = [{"code": sv.code, "title": sv.title,
                    "units": len(frame_units(s, sv.id))} for sv in s.scalars(select(Survey).order_by(Survey.code))]
    return respond("fieldwork_index.html", {"surveys": surveys})


@route(bp, "/fieldwork/<code>", allowed=EVERYONE)
def operations_page(code: str) -> Any:
    with db_session() as s:
        ops = operations(s, code, _settings())
        survey = get_survey(s, code)
        breaking = sum(bool(d.problem) for d in counters.counter_days(s, survey, ops.rules.settings))
    data = {"survey": ops.survey, "title": ops.title, "today": ops.today.isoformat(), "rules": ops.rules.as_dict(),
            "total": _row(ops.total), "units": [_row(r) for r in ops.units],
            "enumerators": [_row(r) for r in ops.enumerators], "counter_days_breaking": breaking,
            "show_counters": bool(ops.total.counts.visitors or breaking),
            "chart": url_for("fieldwork.chart", code=code), "xlsx": url_for("fieldwork.export", code=code),
            "can_manage": me().role in MANAGERS, "can_check_in": me().role in DESK}
    return respond("fieldwork_operations.html", data)


@roles(*EVERYONE)
def chart(code: str) -> Any:
    with db_session() as s:
        ops = operations(s, code, _settings())
    return Response(chart_png(pick_rows(ops.units), f"{ops.survey}: {ops.title}"), mimetype="image/png",
                    headers={"Cache-Control": "no-store"})


@roles(*EVERYONE)
def export(code: str) -> Any:
    with db_session() as s:
        ops = operations(s, code, _settings())
    body = operations_xlsx(ops, chart_png(pick_rows(ops.units), f"{ops.survey}: {ops.title}"))
    return Response(body, mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{code}-fieldwork-{date.today()}.xlsx"'})


bp.add_url_rule("/fieldwork/<code>/chart.png", view_func=chart)
bp.add_url_rule("/fieldwork/<code>/export.xlsx", view_func=export)


@route(bp, "/fieldwork/<code>/sheets", allowed=EVERYONE)
def sheets(code: str) -> Any:
    """The sheets behind a figure: ``?unit=CODE`` (and every unit below it), ``?enumerator=USER``, ``?stage=``."""
    unit_code, username, wanted = request.args.get("unit", ""), request.args.get("enumerator"), request.args.get("stage", "")
    with db_session() as s:
        survey = get_survey(s, code)
        units = frame_units(s, survey.id)
        by_id = {u.id: u for u in units}
        chosen = _below(units, unit_code) if unit_code else None
        query = select(Sheet).where(Sheet.survey_id == survey.id).order_by(Sheet.serial)
        if username is not None:
            user_id = s.scalar(select(User.id).where(User.username == username)) if username else None
            query = query.where(Sheet.enumerator_id == user_id if user_id else Sheet.enumerator_id.is_(None))
        households = dict(s.execute(select(Household.id, Household.code).join(Unit, Unit.id == Household.unit_id)
                                    .where(Unit.survey_id == survey.id)).all())
        users = dict(s.execute(select(User.id, User.username)).all())
        rows = []
        for sheet in s.scalars(query):
            stage = lifecycle.stage(sheet.field_status, sheet.status)
            if (chosen is not None and sheet.unit_id not in chosen) or (wanted and stage != wanted):
                continue
            unit = by_id.get(sheet.unit_id) if sheet.unit_id else None
            rows.append({"serial": sheet.serial, "unit": unit.code if unit else "", "unit_name": unit.name if unit else "",
                         "field": sheet.field or "", "household": households.get(sheet.household_id, "") if sheet.household_id else "",
                         "enumerator": users.get(sheet.enumerator_id, "") if sheet.enumerator_id else "",
                         "stage": stage, "stage_label": lifecycle.LABELS.get(stage, stage),
                         "updated": sheet.updated_at.isoformat(timespec="minutes")})
    data = {"survey": code, "unit": unit_code, "enumerator": username, "stage": wanted, "sheets": rows,
            "stages": {k: lifecycle.LABELS[k] for k in lifecycle.STAGES}}
    return respond("fieldwork_sheets.html", data)


def _below(units: list[Unit], code: str) -> set[int]:
    chosen = {u.id for u in units if u.code == code}
    if not chosen:
        raise ConflictError(f"Không có đơn vị {code} / no unit {code}")
    for unit in units:  # depth first: parents come before their children
        if unit.parent_id in chosen:
            chosen.add(unit.id)
    return chosen


@route(bp, "/fieldwork/<code>/sheets/<int:serial>", allowed=EVERYONE)
def sheet_log(code: str, serial: int) -> Any:
    with db_session() as s:
        survey = get_survey(s, code)
        sheet = lifecycle.sheets_by_serial(s, survey, [serial])[serial]
        households = {h.id: h.code for h in s.scalars(select(Household).where(Household.unit_id == sheet.unit_id))} \
            if sheet.unit_id else {}
        users = dict(s.execute(select(User.id, User.username)).all())
        unit = s.get(Unit, sheet.unit_id) if sheet.unit_id else None
        events = [{"at": e.at.isoformat(timespec="seconds"), "day": e.day.isoformat() if e.day else None,
                   "actor": e.actor, "source": e.source, "from": e.from_status, "to": e.to_status,
                   "to_label": lifecycle.LABELS.get(e.to_status, e.to_status),
                   "household": households.get(e.household_id, "") if e.household_id else "",
                   "enumerator": users.get(e.enumerator_id, "") if e.enumerator_id else "", "note": e.note}
                  for e in lifecycle.history(s, sheet.id)]
        stage = lifecycle.stage(sheet.field_status, sheet.status)
        data = {"survey": code, "serial": serial, "unit": unit.code if unit else "", "unit_name": unit.name if unit else "",
                "field": sheet.field or "", "stage": stage, "stage_label": lifecycle.LABELS.get(stage, stage),
                "status": sheet.status, "events": events, "can_review": me().role in ("admin", "supervisor", "reviewer")}
    return respond("fieldwork_sheet.html", data)


@route(bp, "/fieldwork/<code>/counters", allowed=EVERYONE)
def counters_page(code: str) -> Any:
    with db_session() as s:
        survey = get_survey(s, code)
        settings = rules(s, survey, _settings()).settings
        days = [d.as_dict() for d in counters.counter_days(s, survey, settings)]
        fields = counters.field_progress(s, survey)
        points = [{"code": u.code, "name": u.name} for u in frame_units(s, survey.id) if u.kind == "counter"]
    data = {"survey": code, "days": days, "fields": fields, "counters": points, "today": date.today().isoformat(),
            "rule": {"tolerance": settings.quota_tolerance, "busy_visitors": settings.busy_visitors,
                     "busy_min_responses": settings.busy_min_responses},
            "breaking": sum(not d["ok"] for d in days), "can_enter": me().role in DESK}
    return respond("fieldwork_counters.html", data)


@route(bp, "/fieldwork/<code>/counters/visitors", allowed=DESK, methods=("POST",))
def visitors(code: str) -> Any:
    upload = request.files.get("file")
    with db_session(write=True) as s:
        if upload is not None and upload.filename:
            with saved_upload(upload) as path:
                new, corrected = counters.import_visitors(s, code, path, actor=me().username, name=upload.filename)
            message = _("Đã nhập lượt người đến.") + f" {new} / {corrected}"
        else:
            fields = form_or_json()
            day = parse_date(str(fields.get("day", "")))
            try:
                count = int(str(fields.get("visitors", "")))
                responses = int(str(fields["responses"])) if str(fields.get("responses", "")).strip() else None
            except ValueError as exc:
                raise ConflictError("Số lượt phải là số nguyên / visitors must be a whole number") from exc
            if day is None:
                raise ConflictError("Ngày không hợp lệ / bad date")
            counters.record_visitors(s, get_survey(s, code), str(fields.get("unit", "")), day, count, actor=me().username,
                                     field=str(fields.get("field", "")).strip(), responses=responses)
            message = _("Đã ghi lượt người đến.") + f" {fields.get('unit')} {day.isoformat()}: {count}"
    if wants_json():
        return {"message": message}
    flash(message, "info")
    return redirect(url_for("fieldwork.counters_page", code=code))


@route(bp, "/fieldwork/<code>/batches", allowed=EVERYONE)
def batches(code: str) -> Any:
    with db_session() as s:
        results = [r.as_dict() for r in transmittal.list_batches(s, code)]
    return respond("fieldwork_batches.html", {"survey": code, "batches": results})


@route(bp, "/fieldwork/<code>/verification", allowed=MANAGERS)
def verification_page(code: str) -> Any:
    with db_session() as s:
        survey = get_survey(s, code)
        data = {"survey": code, "drawn": [d.as_dict() for d in verification.listing(s, code)],
                "enumerators": [c.as_dict() for c in verification.discrepancies(s, code)],
                "outcomes": verification.OUTCOMES,
                "per_village": rules(s, survey, _settings()).settings.verification_per_village}
    return respond("fieldwork_verification.html", data)


@route(bp, "/fieldwork/<code>/verification/draw", allowed=MANAGERS, methods=("POST",))
def verification_draw(code: str) -> Any:
    fields = form_or_json()
    seed = str(fields.get("seed", "")).strip()
    if not seed:
        raise ConflictError("Cần một hạt giống (seed) để lần chọn lặp lại được / a seed is needed")
    try:
        per_village = int(str(fields.get("per_village", "")) or _settings().verification_per_village)
    except ValueError as exc:
        raise ConflictError("Số hộ mỗi thôn phải là số nguyên / per village must be a whole number") from exc
    with db_session(write=True) as s:
        drawn = verification.draw(s, code, per_village=per_village, seed=seed, actor=me().username)
    if wants_json():
        return {"drawn": [d.as_dict() for d in drawn]}
    flash(_("Đã chọn hộ phúc tra.") + f" {len(drawn)}", "info")
    return redirect(url_for("fieldwork.verification_page", code=code))


@route(bp, "/fieldwork/<code>/verification/record", allowed=MANAGERS, methods=("POST",))
def verification_record(code: str) -> Any:
    fields = form_or_json()
    try:
        serial = int(str(fields.get("serial", "")))
    except ValueError as exc:
        raise ConflictError("Số phiếu không hợp lệ / bad serial") from exc
    with db_session(write=True) as s:
        drawn = verification.record(s, code, serial, str(fields.get("outcome", "")), actor=me().username,
                                    note=str(fields.get("note", "")))
    if wants_json():
        return {"verification": drawn.as_dict()}
    flash(_("Đã ghi kết quả phúc tra.") + f" {serial}", "info")
    return redirect(url_for("fieldwork.verification_page", code=code))


@route(bp, "/fieldwork/mine", allowed=("enumerator",))
def mine() -> Any:
    """An enumerator's own page: their sheets, village by village, and their manifests."""
    with db_session() as s:
        user_id = me().id
        rows = s.execute(select(Survey.code, Survey.title, Unit.code, Unit.name, Sheet.serial, Sheet.field_status,
                                Sheet.status, Household.code)
                         .join(Survey, Survey.id == Sheet.survey_id).outerjoin(Unit, Unit.id == Sheet.unit_id)
                         .outerjoin(Household, Household.id == Sheet.household_id)
                         .where(Sheet.enumerator_id == user_id).order_by(Survey.code, Sheet.serial)).all()
    surveys: dict[str, dict[str, Any]] = {}
    for code, title, unit, unit_name, serial, field_status, status, household in rows:
        survey = surveys.setdefault(code, {"code": code, "title": title, "villages": {}})
        stage = lifecycle.stage(field_status, status)
        survey["villages"].setdefault(unit or "", {"unit": unit or "", "name": unit_name or "", "sheets": []})["sheets"].append(
            {"serial": serial, "household": household or "", "stage": stage, "stage_label": lifecycle.LABELS.get(stage, stage)})
    data = {"surveys": [{**sv, "villages": list(sv["villages"].values())} for sv in surveys.values()],
            "username": me().username}
    return respond("fieldwork_mine.html", data)


@roles("enumerator", *MANAGERS)
def manifest(code: str, username: str) -> Any:
    """One enumerator's manifest and allowance list as PDF (an enumerator gets only their own)."""
    from fieldwork.manifest import EnumeratorPapers, manifest_pdf, papers

    if me().role == "enumerator" and username != me().username:
        abort(403)
    with db_session() as s:
        survey = get_survey(s, code)
        survey_rules = rules(s, survey, _settings())
        person = next((p for p in papers(s, survey) if p.username == username), EnumeratorPapers(username, "", []))
        out = io.BytesIO()
        manifest_pdf(person, survey, out, settings=survey_rules.settings, collect_by=survey_rules.collect_by)
    return Response(out.getvalue(), mimetype="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="manifest-{code}-{username}.pdf"'})


bp.add_url_rule("/fieldwork/<code>/manifests/<username>.pdf", view_func=manifest)
