"""Counter surveys: visitors per counter and day, the provincial plan's quota rule, per-field quotas.

The rule (PKS05 plan, seed 000): a counter's responses in a day may not differ from its visitors by
more than 50 %; a very busy counter needs at least 20. With ``FieldworkSettings`` (overridable per
survey): responses must lie in [low, high] where high = ⌊visitors × (1 + tolerance)⌋ and
low = ⌈visitors × (1 − tolerance)⌉, or low = busy_min_responses once visitors ≥ busy_visitors.

Responses of a counter and day are the sheets of that counter first collected (checked in) or scanned
that day, or the number the counter wrote down when the visitor file gives one. Counts per field of
procedure (Hộ tịch, Chứng thực …) are checked the same way when visitors are given per field.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.errors import ConflictError, InputFileError, NotFoundError
from core.settings import FieldworkSettings
from fieldwork.frame import get_survey
from fieldwork.tables import parse_date, parse_int, read_table
from storage import audit
from storage.fieldwork_models import SheetEvent, VisitorCount
from storage.models import Sheet, Survey, Unit

log = logging.getLogger(__name__)

VISITOR_COLUMNS: dict[str, tuple[str, ...]] = {
    "unit": ("mã", "mã điểm", "điểm", "quầy", "counter", "code"),
    "day": ("ngày", "date"),
    "field": ("lĩnh vực",),
    "visitors": ("lượt đến", "số lượt đến", "lượt người đến", "khách"),
    "responses": ("số phiếu", "phiếu thu", "lượt tham gia"),
}


@dataclass(frozen=True)
class QuotaRule:
    tolerance: float
    busy_visitors: int
    busy_min: int

    @classmethod
    def of(cls, settings: FieldworkSettings) -> QuotaRule:
        return cls(settings.quota_tolerance, settings.busy_visitors, settings.busy_min_responses)

    def bounds(self, visitors: int) -> tuple[int, int]:
        high = math.floor(visitors * (1 + self.tolerance) + 1e-9)
        low = self.busy_min if visitors >= self.busy_visitors else math.ceil(visitors * (1 - self.tolerance) - 1e-9)
        return low, high

    def verdict(self, visitors: int, responses: int) -> str:
        """"" when the day keeps the rule, else the reason in words (vi / en)."""
        low, high = self.bounds(visitors)
        if responses < low:
            return f"thiếu: {responses} phiếu < {low} (lượt đến {visitors}) / too few"
        if responses > high:
            return f"thừa: {responses} phiếu > {high} (lượt đến {visitors}) / more than visitors allow"
        return ""


@dataclass(frozen=True)
class CounterDay:
    unit_id: int
    unit: str
    name: str
    day: date
    field: str
    visitors: int
    responses: int  # what the rule is checked on: entered if given, else counted
    counted: int  # sheets checked in or scanned that day
    entered: int | None
    low: int
    high: int
    problem: str  # "" = keeps the rule

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "day": self.day.isoformat(), "ok": not self.problem}


def arrival_days(session: Session, survey_id: int) -> dict[int, date]:
    """The day each sheet came back: its first collected or scanned event."""
    rows = session.execute(
        select(SheetEvent.sheet_id, func.min(SheetEvent.day)).join(Sheet, Sheet.id == SheetEvent.sheet_id)
        .where(Sheet.survey_id == survey_id, SheetEvent.to_status.in_(("collected", "scanned")),
               SheetEvent.day.is_not(None)).group_by(SheetEvent.sheet_id))
    return {sheet_id: day for sheet_id, day in rows if day is not None}


def responses_by_day(session: Session, survey_id: int) -> dict[tuple[int | None, str, date], int]:
    """(unit id, field, day) → sheets back that day; field "" counts every sheet of the counter."""
    days = arrival_days(session, survey_id)
    out: dict[tuple[int | None, str, date], int] = {}
    for sheet_id, unit_id, field_name in session.execute(
            select(Sheet.id, Sheet.unit_id, Sheet.field).where(Sheet.survey_id == survey_id, Sheet.unit_id.is_not(None))):
        if sheet_id in days:
            for key in {(unit_id, "", days[sheet_id]), (unit_id, field_name or "", days[sheet_id])}:
                out[key] = out.get(key, 0) + 1
    return out


def counter_days(session: Session, survey: Survey, settings: FieldworkSettings) -> list[CounterDay]:
    """Every counter and day with a visitor count, checked against the rule; by counter, day, field."""
    rule = QuotaRule.of(settings)
    counted = responses_by_day(session, survey.id)
    rows = session.execute(
        select(VisitorCount, Unit.code, Unit.name).join(Unit, Unit.id == VisitorCount.unit_id)
        .where(VisitorCount.survey_id == survey.id).order_by(Unit.rank, Unit.code, VisitorCount.day, VisitorCount.field))
    out = []
    for count, code, name in rows:
        n = counted.get((count.unit_id, count.field, count.day), 0)
        responses = count.responses if count.responses is not None else n
        low, high = rule.bounds(count.visitors)
        out.append(CounterDay(count.unit_id, code, name, count.day, count.field, count.visitors, responses, n,
                              count.responses, low, high, rule.verdict(count.visitors, responses)))
    return out


def record_visitors(session: Session, survey: Survey, unit_code: str, day: date, visitors: int, *, actor: str,
                    field: str = "", responses: int | None = None) -> tuple[VisitorCount, str]:
    """Store (or correct) one counter-day's visitors; returns the row and "new", "changed" or "same".

    A correction keeps the old figures in the audit log."""
    if visitors < 0 or (responses is not None and responses < 0):
        raise ConflictError("Số lượt và số phiếu phải ≥ 0 / counts must be ≥ 0")
    unit = session.scalar(select(Unit).where(Unit.survey_id == survey.id, Unit.code == unit_code))
    if unit is None:
        raise NotFoundError(f"Không có điểm {unit_code} trong khung mẫu {survey.code} / no counter {unit_code}")
    row = session.scalar(select(VisitorCount).where(VisitorCount.survey_id == survey.id, VisitorCount.unit_id == unit.id,
                                                    VisitorCount.day == day, VisitorCount.field == field))
    before = None if row is None else {"visitors": row.visitors, "responses": row.responses}
    if row is None:
        row = VisitorCount(survey_id=survey.id, unit_id=unit.id, day=day, field=field, visitors=visitors,
                           responses=responses, entered_by=actor)
        session.add(row)
    elif (row.visitors, row.responses) == (visitors, responses):
        return row, "same"
    else:
        row.visitors, row.responses, row.entered_by = visitors, responses, actor
    session.flush()
    audit.record(session, actor=actor, action="fieldwork.visitors", entity="unit", entity_id=unit.id,
                 detail={"day": day.isoformat(), "field": field, "visitors": visitors, "responses": responses,
                         "before": before})
    return row, "new" if before is None else "changed"


def import_visitors(session: Session, survey_code: str, path: Path, *, actor: str, name: str | None = None) -> tuple[int, int]:
    """A visitor file (counter code, day, [field], visitors, [responses]): every row checked first, then all
    stored; returns (new, corrected) row counts (rows already stored as given change nothing)."""
    shown = name or path.name
    survey = get_survey(session, survey_code)
    rows = read_table(path, VISITOR_COLUMNS, required=("unit", "day", "visitors"), name=shown)
    codes = set(session.scalars(select(Unit.code).where(Unit.survey_id == survey.id)))
    parsed: list[tuple[str, date, str, int, int | None]] = []
    errors: list[str] = []
    seen: dict[tuple[str, date | None, str], int] = {}
    for row in rows:
        day, visitors = parse_date(row.get("day")), parse_int(row.get("visitors"))
        responses = parse_int(row.get("responses")) if row.get("responses") else None
        key = (row.get("unit"), day, row.get("field"))
        if row.get("unit") not in codes:
            errors.append(f"dòng {row.line}: không có điểm {row.get('unit')!r} trong khung mẫu / unknown counter")
        elif day is None:
            errors.append(f"dòng {row.line}: ngày {row.get('day')!r} không đọc được (21/11/2024) / bad date")
        elif visitors is None or visitors < 0 or (row.get("responses") and (responses is None or responses < 0)):
            errors.append(f"dòng {row.line}: số lượt/số phiếu phải là số nguyên ≥ 0 / counts must be whole numbers")
        elif key in seen:
            errors.append(f"dòng {row.line}: trùng với dòng {seen[key]} / same counter, day and field as line {seen[key]}")
        else:
            seen[key] = row.line
            parsed.append((row.get("unit"), day, row.get("field"), visitors, responses))
    if errors:
        raise InputFileError(f"{shown}: {len(errors)} dòng lỗi, chưa nhập gì / bad rows, nothing imported:\n"
                             + "\n".join(errors[:30]))
    outcomes = [record_visitors(session, survey, code, day, visitors, actor=actor, field=field_name,
                                responses=responses)[1] for code, day, field_name, visitors, responses in parsed]
    new, corrected = outcomes.count("new"), outcomes.count("changed")
    log.info("%s: visitor counts from %s: %d new, %d corrected", survey_code, shown, new, corrected)
    return new, corrected


def field_progress(session: Session, survey: Survey) -> list[dict[str, Any]]:
    """Per counter with per-field quotas: each field's quota and the sheets of that field back so far."""
    days = arrival_days(session, survey.id)
    back: dict[tuple[int | None, str | None], int] = {}
    for sheet_id, unit_id, field_name in session.execute(
            select(Sheet.id, Sheet.unit_id, Sheet.field).where(Sheet.survey_id == survey.id, Sheet.field.is_not(None))):
        if sheet_id in days:
            back[(unit_id, field_name)] = back.get((unit_id, field_name), 0) + 1
    out = []
    for unit in session.scalars(select(Unit).where(Unit.survey_id == survey.id).order_by(Unit.rank)):
        for field_name, quota in (unit.field_quotas or {}).items():
            got = back.get((unit.id, field_name), 0)
            out.append({"unit": unit.code, "name": unit.name, "field": field_name, "quota": quota, "collected": got,
                        "reached": got >= quota})
    return out
