"""Where things stand: the operations table of a survey, by unit (every level) and by enumerator.

Each sheet counts once at its unit and at every unit above it. Its stage (``lifecycle.stage``) puts
it in exactly one of: in stock (printed, not issued) · outstanding (issued, delivered, replaced, or
refused/absent and waiting for a reserve) · collected (collected, scanned, reviewed, final) · lost.
So for every row ``printed = in_stock + outstanding + collected + lost``, and a unit's figures are
the sums of its children's plus its own sheets. ``refused``, ``absent`` and ``replaced`` count
events (households that refused or were away, reserves used), so they stay visible after the sheet
went on to a reserve. Overdue: outstanding after the survey's collect-by date, or more than
``overdue_days`` after the sheet left.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.settings import FieldworkSettings
from fieldwork.counters import counter_days
from fieldwork.frame import frame_units, get_survey
from fieldwork.lifecycle import stage
from fieldwork.plan import Rules, rules
from storage.fieldwork_models import SheetEvent
from storage.models import Sheet, Survey, Unit, User

COLLECTED = ("collected", "scanned", "reviewed", "final")
DELIVERED = ("delivered", "replaced") + COLLECTED
OUTSTANDING = ("issued", "delivered", "replaced", "refused", "absent")
OUTSIDE = "-"  # the row of sheets printed for no unit of the frame
CSV_COLUMNS = ("unit", "name", "level", "kind", "parent", "enumerator", "quota", "printed", "in_stock", "issued",
               "delivered", "collected", "refused", "absent", "lost", "replaced", "scanned", "reviewed", "final",
               "outstanding", "overdue", "visitors", "rule_breaks", "response_rate", "quota_progress", "quota_reached")


@dataclass
class Counts:
    printed: int = 0
    in_stock: int = 0
    issued: int = 0
    delivered: int = 0
    collected: int = 0
    refused: int = 0
    absent: int = 0
    lost: int = 0
    replaced: int = 0
    scanned: int = 0
    reviewed: int = 0
    final: int = 0
    outstanding: int = 0
    overdue: int = 0
    visitors: int = 0
    rule_breaks: int = 0

    def add(self, other: Counts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def add_sheet(self, sheet_stage: str, overdue: bool) -> None:
        self.printed += 1
        self.in_stock += sheet_stage == "printed"
        self.issued += sheet_stage != "printed"
        self.delivered += sheet_stage in DELIVERED
        self.collected += sheet_stage in COLLECTED
        self.scanned += sheet_stage in ("scanned", "reviewed", "final")
        self.reviewed += sheet_stage in ("reviewed", "final")
        self.final += sheet_stage == "final"
        self.lost += sheet_stage == "lost"
        self.outstanding += sheet_stage in OUTSTANDING
        self.overdue += overdue


@dataclass
class OpsRow:
    key: str  # unit code, or enumerator username ("" = sheets not given to anyone)
    name: str
    level: int = 0
    kind: str = ""
    parent: str = ""
    enumerator: str = ""
    quota: int | None = None
    counts: Counts = field(default_factory=Counts)  # its own sheets and those of every unit below
    unit_id: int | None = None
    own: Counts = field(default_factory=Counts)  # sheets printed for this very unit

    @property
    def response_rate(self) -> float | None:
        """Sheets back over sheets that reached a household."""
        return self.counts.collected / self.counts.delivered if self.counts.delivered else None

    @property
    def quota_progress(self) -> float | None:
        return self.counts.collected / self.quota if self.quota else None

    @property
    def quota_reached(self) -> bool | None:
        return None if not self.quota else self.counts.collected >= self.quota

    def as_dict(self) -> dict[str, Any]:
        rate, progress = self.response_rate, self.quota_progress
        return {"unit": self.key, "name": self.name, "level": self.level, "kind": self.kind, "parent": self.parent,
                "enumerator": self.enumerator, "quota": self.quota, **{f.name: getattr(self.counts, f.name)
                                                                          for f in fields(self.counts)},
                "response_rate": None if rate is None else round(rate, 4),
                "quota_progress": None if progress is None else round(progress, 4), "quota_reached": self.quota_reached}


@dataclass
class Operations:
    survey: str
    title: str
    today: date
    units: list[OpsRow]
    enumerators: list[OpsRow]
    total: OpsRow
    rules: Rules


def operations(session: Session, survey_code: str, defaults: FieldworkSettings, *, today: date | None = None) -> Operations:
    """The whole table: every unit of the frame (depth first), every enumerator, the survey's total."""
    survey = get_survey(session, survey_code)
    today = today or date.today()
    survey_rules = rules(session, survey, defaults)
    units = frame_units(session, survey.id)
    by_id = {u.id: u for u in units}
    users = {i: (name, full) for i, name, full in session.execute(select(User.id, User.username, User.full_name))}
    rows = {u.id: OpsRow(u.code, u.name, u.level, u.kind, by_id[u.parent_id].code if u.parent_id in by_id else "",
                         users[u.enumerator_id][0] if u.enumerator_id in users else "", u.quota, unit_id=u.id)
            for u in units}
    outside = OpsRow(OUTSIDE, "(ngoài khung mẫu / outside the frame)")
    people: dict[int | None, OpsRow] = {}
    total = OpsRow("", f"{survey.code}: tổng / total")
    for unit_id, enumerator_id, counts in _sheet_counts(session, survey, survey_rules, today):
        rows.get(unit_id or 0, outside).own.add(counts)  # ids start at 1
        _person(people, users, enumerator_id).counts.add(counts)
    for unit_id, counts in _counter_counts(session, survey, survey_rules).items():
        rows.get(unit_id or 0, outside).own.add(counts)  # ids start at 1
    for unit in reversed(units):  # children before their parents
        row = rows[unit.id]
        row.counts.add(row.own)
        if unit.parent_id in rows:
            rows[unit.parent_id].counts.add(row.counts)
        else:
            total.counts.add(row.counts)
    outside.counts.add(outside.own)
    total.counts.add(outside.counts)
    _fill_quotas(units, rows)
    _person_quotas(units, rows, people, users)
    total.quota = sum(rows[u.id].quota or 0 for u in units if u.parent_id not in by_id) or None
    unit_rows = [rows[u.id] for u in units] + ([outside] if outside.counts.printed else [])
    people_rows = sorted(people.values(), key=lambda r: (r.key == "", r.key))
    return Operations(survey.code, survey.title, today, unit_rows, people_rows, total, survey_rules)


def csv_text(rows: Iterable[OpsRow]) -> str:
    """The unit table as CSV (``phieu fieldwork SURVEY --format csv``), one row per unit at every level."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        data = row.as_dict()
        writer.writerow(["" if data[c] is None else data[c] for c in CSV_COLUMNS])
    return out.getvalue()


def check_reconciles(ops: Operations) -> list[str]:
    """Every way the figures must add up, as problems found (empty = all reconcile)."""
    problems = []
    for row in [*ops.units, *ops.enumerators, ops.total]:
        c = row.counts
        if c.printed != c.in_stock + c.outstanding + c.collected + c.lost:
            problems.append(f"{row.key or 'total'}: printed {c.printed} ≠ in stock + outstanding + collected + lost")
        if not (c.final <= c.reviewed <= c.scanned <= c.collected <= c.delivered <= c.issued <= c.printed):
            problems.append(f"{row.key or 'total'}: stages out of order {c}")
    below: dict[str, Counts] = {}
    for row in ops.units:
        if row.parent:
            below.setdefault(row.parent, Counts()).add(row.counts)
    for row in ops.units:
        expected = Counts()
        expected.add(row.own)
        expected.add(below.get(row.key, Counts()))
        if expected != row.counts:
            problems.append(f"{row.key}: its figures are not its own sheets plus the units below")
    tops = Counts()
    for row in ops.units:
        if not row.parent:
            tops.add(row.counts)
    if tops != ops.total.counts:
        problems.append("the top-level units do not add up to the total")
    people = Counts(visitors=ops.total.counts.visitors, rule_breaks=ops.total.counts.rule_breaks)
    for row in ops.enumerators:
        people.add(row.counts)
    if people != ops.total.counts:
        problems.append("the enumerators do not add up to the total")
    return problems


# --- internals ------------------------------------------------------------------------------------


def _sheet_counts(session: Session, survey: Survey, survey_rules: Rules,
                  today: date) -> Iterable[tuple[int | None, int | None, Counts]]:
    """(unit, enumerator, counts) for each group of sheets, events and overdue included."""
    left = _left_on(session, survey.id)
    due_after = timedelta(days=survey_rules.settings.overdue_days)
    groups: dict[tuple[int | None, int | None], Counts] = {}
    query = select(Sheet.id, Sheet.unit_id, Sheet.enumerator_id, Sheet.field_status, Sheet.status).where(
        Sheet.survey_id == survey.id)
    for sheet_id, unit_id, enumerator_id, field_status, status in session.execute(query):
        sheet_stage = stage(field_status, status)
        due = survey_rules.collect_by or (left[sheet_id] + due_after if sheet_id in left else None)
        overdue = sheet_stage in OUTSTANDING and due is not None and today > due
        groups.setdefault((unit_id, enumerator_id), Counts()).add_sheet(sheet_stage, overdue)
    events = session.execute(
        select(Sheet.unit_id, Sheet.enumerator_id, SheetEvent.to_status, func.count()).join(Sheet, Sheet.id == SheetEvent.sheet_id)
        .where(Sheet.survey_id == survey.id, SheetEvent.to_status.in_(("refused", "absent", "replaced")))
        .group_by(Sheet.unit_id, Sheet.enumerator_id, SheetEvent.to_status))
    for unit_id, enumerator_id, to_status, count in events:
        counts = groups.setdefault((unit_id, enumerator_id), Counts())
        setattr(counts, to_status, getattr(counts, to_status) + count)
    for (unit_id, enumerator_id), counts in groups.items():
        yield unit_id, enumerator_id, counts


def _counter_counts(session: Session, survey: Survey, survey_rules: Rules) -> dict[int, Counts]:
    """Visitors and days breaking the quota rule, per counter. A day's visitors come from its all-fields
    row, or from its per-field rows when only those were given."""
    days = counter_days(session, survey, survey_rules.settings)
    whole = {(d.unit_id, d.day) for d in days if not d.field}
    out: dict[int, Counts] = {}
    for d in days:
        counts = out.setdefault(d.unit_id, Counts())
        counts.visitors += d.visitors if not d.field or (d.unit_id, d.day) not in whole else 0
        counts.rule_breaks += bool(d.problem)
    return out


def _left_on(session: Session, survey_id: int) -> dict[int, date]:
    """The day each sheet left the office (its first step past "printed")."""
    rows = session.execute(
        select(SheetEvent.sheet_id, func.min(SheetEvent.day)).join(Sheet, Sheet.id == SheetEvent.sheet_id)
        .where(Sheet.survey_id == survey_id, SheetEvent.day.is_not(None)).group_by(SheetEvent.sheet_id))
    return {sheet_id: day for sheet_id, day in rows if day is not None}


def _person(people: dict[int | None, OpsRow], users: dict[int, tuple[str, str]], enumerator_id: int | None) -> OpsRow:
    if enumerator_id not in people:
        name, full = users.get(enumerator_id or 0, ("", ""))
        people[enumerator_id] = OpsRow(name, full or name or "(chưa giao ai / not issued to anyone)", enumerator=name)
    return people[enumerator_id]


def _fill_quotas(units: list[Unit], rows: dict[int, OpsRow]) -> None:
    """A unit without a quota of its own shows the sum of the quotas below it."""
    below: dict[int, list[int | None]] = {}
    for unit in reversed(units):  # children first
        row = rows[unit.id]
        kids = below.get(unit.id, [])
        if row.quota is None and any(q is not None for q in kids):
            row.quota = sum(q for q in kids if q is not None)
        if unit.parent_id is not None:
            below.setdefault(unit.parent_id, []).append(row.quota)


def _person_quotas(units: list[Unit], rows: dict[int, OpsRow], people: dict[int | None, OpsRow],
                   users: dict[int, tuple[str, str]]) -> None:
    """An enumerator's quota: the quotas of the units given to them (not counting a unit twice)."""
    assigned = {u.id for u in units if u.enumerator_id is not None}
    by_id = {u.id: u for u in units}
    for unit in units:
        if unit.enumerator_id is None or _assigned_above(unit, by_id, assigned):
            continue
        person = _person(people, users, unit.enumerator_id)
        person.quota = (person.quota or 0) + (rows[unit.id].quota or 0)


def _assigned_above(unit: Unit, by_id: dict[int, Unit], assigned: set[int]) -> bool:
    parent = unit.parent_id
    while parent in by_id:
        if parent in assigned:
            return True
        parent = by_id[parent].parent_id  # type: ignore[index]
    return False
