"""Phúc tra (re-verification): a reproducible random sample of delivered households per village, a
printable list to visit them with, the outcomes found, and discrepancies per enumerator.

The draw is reproducible: each village's sample comes from a generator seeded with the seed given,
the survey and the village code, over the village's delivered sheets in serial order, so the same
seed on the same log draws the same households. A village's sample is topped up to the size asked
for; a household already drawn is not drawn again.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from reportlab.platypus import Paragraph
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import ConflictError, NotFoundError
from fieldwork.frame import frame_units, get_survey
from fieldwork.lifecycle import stage
from fieldwork.operations import DELIVERED
from fieldwork.pdf import BOX, build, grid, header_cells, signatures, styles
from storage import audit
from storage.fieldwork_models import Household, Verification
from storage.models import Sheet, Survey, User, utcnow

OUTCOMES = {"confirmed": "xác nhận đã phát, thu đúng", "not_visited": "điều tra viên không đến",
            "other_person": "người khác trả lời thay"}


@dataclass(frozen=True)
class Drawn:
    serial: int
    unit: str
    village: str
    household: str
    note: str
    enumerator: str
    outcome: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class EnumeratorCheck:
    enumerator: str
    drawn: int = 0
    checked: int = 0
    confirmed: int = 0
    not_visited: int = 0
    other_person: int = 0
    problems: list[int] = field(default_factory=list)  # serials found not as reported

    @property
    def discrepancy_rate(self) -> float | None:
        return (self.not_visited + self.other_person) / self.checked if self.checked else None

    def as_dict(self) -> dict[str, Any]:
        rate = self.discrepancy_rate
        return {**asdict(self), "discrepancy_rate": None if rate is None else round(rate, 4)}


def draw(session: Session, survey_code: str, *, per_village: int, seed: str, actor: str) -> list[Drawn]:
    """Bring every village's sample up to ``per_village`` delivered households; returns the newly drawn
    (drawing again with the same numbers draws nobody)."""
    if per_village < 1:
        raise ConflictError("Số hộ mỗi thôn phải ≥ 1 / per village must be at least 1")
    survey = get_survey(session, survey_code)
    taken = set(session.scalars(select(Verification.sheet_id).where(Verification.survey_id == survey.id)))
    already = Counter(session.scalars(select(Verification.unit_id).where(Verification.survey_id == survey.id)))
    eligible: dict[int, list[Sheet]] = {}
    for sheet in session.scalars(select(Sheet).where(Sheet.survey_id == survey.id, Sheet.unit_id.is_not(None),
                                                     Sheet.household_id.is_not(None)).order_by(Sheet.serial)):
        if stage(sheet.field_status, sheet.status) in DELIVERED and sheet.id not in taken:
            eligible.setdefault(sheet.unit_id or 0, []).append(sheet)
    new = []
    for unit in frame_units(session, survey.id):
        pool, wanted = eligible.get(unit.id, []), per_village - already[unit.id]
        if not pool or wanted <= 0:
            continue
        rng = random.Random(hashlib.sha256(f"{seed}|{survey.code}|{unit.code}".encode()).digest())
        for sheet in sorted(rng.sample(pool, min(wanted, len(pool))), key=lambda s: s.serial):
            row = Verification(survey_id=survey.id, sheet_id=sheet.id, unit_id=unit.id, household_id=sheet.household_id,
                               enumerator_id=sheet.enumerator_id, seed=seed)
            session.add(row)
            new.append(row)
    session.flush()
    audit.record(session, actor=actor, action="fieldwork.verification_draw", entity="survey", entity_id=survey.id,
                 detail={"seed": seed, "per_village": per_village, "drawn": len(new)})
    drawn_ids = {v.id for v in new}
    return [d for v, d in _listed(session, survey) if v.id in drawn_ids]


def record(session: Session, survey_code: str, serial: int, outcome: str, *, actor: str, note: str = "") -> Drawn:
    """What the verifier found for a drawn sheet's household (a correction keeps the old one in the audit log)."""
    if outcome not in OUTCOMES:
        raise ConflictError(f"Kết quả {outcome!r} không rõ; dùng {', '.join(OUTCOMES)} / unknown outcome")
    survey = get_survey(session, survey_code)
    row = session.scalar(select(Verification).join(Sheet, Sheet.id == Verification.sheet_id)
                         .where(Verification.survey_id == survey.id, Sheet.serial == serial))
    if row is None:
        raise NotFoundError(f"Phiếu {serial} không có trong mẫu phúc tra / sheet {serial} was not drawn")
    before = row.outcome
    row.outcome, row.recorded_by, row.recorded_at, row.note = outcome, actor, utcnow(), note
    session.flush()
    audit.record(session, actor=actor, action="fieldwork.verification", entity="verification", entity_id=row.id,
                 detail={"serial": serial, "outcome": outcome, "before": before, "note": note})
    return next(d for v, d in _listed(session, survey) if v.id == row.id)


def listing(session: Session, survey_code: str) -> list[Drawn]:
    return [d for _, d in _listed(session, get_survey(session, survey_code))]


def discrepancies(session: Session, survey_code: str) -> list[EnumeratorCheck]:
    """Per enumerator: drawn, checked, each outcome, and the serials not found as reported."""
    out: dict[str, EnumeratorCheck] = {}
    for drawn in listing(session, survey_code):
        check = out.setdefault(drawn.enumerator, EnumeratorCheck(drawn.enumerator))
        check.drawn += 1
        if drawn.outcome:
            check.checked += 1
            setattr(check, drawn.outcome, getattr(check, drawn.outcome) + 1)
            if drawn.outcome != "confirmed":
                check.problems.append(drawn.serial)
    return sorted(out.values(), key=lambda c: c.enumerator)


def list_pdf(session: Session, survey_code: str, out: Path | BinaryIO) -> int:
    """The verifier's list: per village, the households to visit and boxes for what was found."""
    survey = get_survey(session, survey_code)
    drawn = [d for d in listing(session, survey_code) if d.outcome is None]
    st = styles()
    story: list[Any] = [Paragraph("DANH SÁCH HỘ PHÚC TRA", st["title"]), Paragraph(survey.title, st["subtitle"]),
                        Paragraph(f"{len(drawn)} hộ cần đến · hỏi hộ có nhận và tự trả lời phiếu không; "
                                  "không hỏi nội dung trả lời.", st["body"])]
    header = header_cells(["STT", "Thôn / khu phố", "Mã hộ", "Ghi chú (địa chỉ)", "Số phiếu", "Điều tra viên",
                           "Xác nhận đúng", "Không đến", "Người khác trả lời", "Ghi chú"])
    rows: list[list[Any]] = [header] + [[str(i), d.village, d.household, d.note, f"{d.serial:07d}", d.enumerator,
                                         BOX, BOX, BOX, ""] for i, d in enumerate(drawn, start=1)]
    story += [grid(rows, [12, 40, 36, 28, 20, 22, 18, 18, 20, 53], centred_from=6, row_height_mm=8),
              *signatures(["Người phúc tra"], 120)]
    build(out, "Danh sách hộ phúc tra", story, wide=True)
    return len(drawn)


def _listed(session: Session, survey: Survey) -> list[tuple[Verification, Drawn]]:
    rows = session.execute(
        select(Verification, Sheet.serial, Household.code, Household.note)
        .join(Sheet, Sheet.id == Verification.sheet_id).outerjoin(Household, Household.id == Verification.household_id)
        .where(Verification.survey_id == survey.id).order_by(Verification.unit_id, Sheet.serial))
    units = {u.id: u for u in frame_units(session, survey.id)}
    users = dict(session.execute(select(User.id, User.username)).all())
    out = []
    for verification, serial, code, note in rows:
        unit = units.get(verification.unit_id)
        out.append((verification, Drawn(serial, unit.code if unit else "", unit.name if unit else "", code or "",
                                        note or "", users.get(verification.enumerator_id, "")
                                        if verification.enumerator_id else "", verification.outcome)))
    order = {u: i for i, u in enumerate(units)}
    return sorted(out, key=lambda p: (order.get(p[0].unit_id, 0), p[1].serial))
