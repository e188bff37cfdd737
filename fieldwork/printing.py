"""``phieu print SURVEY --by-frame``: each unit's quota, serials in consecutive blocks per enumerator
and unit (and field of procedure at a counter), each sheet given its village's next planned household.

The serials themselves come from ``storage.surveys.allocate_serials`` (locked, never repeated); this
module decides which unit, field, enumerator and household each new sheet is for. Printing again
prints only what is missing: a unit's quota (plus spares) less the sheets already printed for it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.errors import ConflictError, NotFoundError
from fieldwork.frame import frame_units, get_survey, households_of
from storage import audit
from storage.models import Sheet, Unit, User
from storage.surveys import PrintRun, allocate_serials

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Block:
    """Consecutive sheets of one unit (and field) for one enumerator."""

    unit_id: int
    unit_code: str
    count: int
    field: str | None
    enumerator_id: int | None
    enumerator: str  # username, "" when the unit has none


@dataclass(frozen=True)
class FramePrint:
    run: PrintRun
    blocks: list[tuple[Block, int, int]]  # block, first serial, last serial
    units: list[str | None]  # unit code of each serial, in order (for the print manifest)


def plan(session: Session, survey_id: int, *, spares: int = 0, only: Sequence[str] = ()) -> list[Block]:
    """What is still to print, enumerator by enumerator (in frame order), unit by unit, field by field.

    Units printed for are those with a quota and no unit below them with one. ``only`` limits the
    plan to these units and everything below them.
    """
    units = frame_units(session, survey_id)
    if not units:
        raise NotFoundError("Khảo sát chưa có khung mẫu: phieu frame import SURVEY FILE / no sample frame yet")
    chosen = _subtrees(units, only)
    below = _quota_below(units)
    printed = _printed(session, survey_id)
    users = dict(session.execute(select(User.id, User.username)).all())
    blocks = []
    for unit in units:
        if unit.id not in chosen or unit.quota is None or unit.id in below:
            continue
        fields: list[tuple[str | None, int]] = list((unit.field_quotas or {}).items()) or [(None, unit.quota)]
        for field_name, quota in fields:
            missing = quota + spares - printed.get((unit.id, field_name), 0)
            if missing > 0:
                blocks.append(Block(unit.id, unit.code, missing, field_name, unit.enumerator_id,
                                    users.get(unit.enumerator_id, "") if unit.enumerator_id else ""))
    order = {e: i for i, e in enumerate(dict.fromkeys(b.enumerator_id for b in blocks))}
    return sorted(blocks, key=lambda b: order[b.enumerator_id])  # stable: frame order within an enumerator


def print_by_frame(session: Session, survey_code: str, edition: str, *, spares: int = 0, only: Sequence[str] = (),
                   output_name: str = "", actor: str = "cli") -> FramePrint:
    """Allocate serials for everything still to print and give each sheet its unit, field, enumerator
    and planned household; raises ConflictError when every quota is already printed."""
    survey = get_survey(session, survey_code)
    blocks = plan(session, survey.id, spares=spares, only=only)
    total = sum(b.count for b in blocks)
    if total == 0:
        raise ConflictError(f"{survey_code}: mọi chỉ tiêu đã in đủ / every quota is already printed")
    run = allocate_serials(session, survey_code, edition, total, output_name=output_name, actor=actor)
    ids = dict(session.execute(select(Sheet.serial, Sheet.id).where(Sheet.print_batch_id == run.batch_id)).all())
    free = _free_households(session, [b.unit_id for b in blocks])
    placed, units, rows, serial = [], [], [], run.serials[0]
    for block in blocks:
        queue = free.get(block.unit_id, [])
        for offset in range(block.count):
            rows.append({"id": ids[serial + offset], "unit_id": block.unit_id, "field": block.field,
                         "enumerator_id": block.enumerator_id, "household_id": queue.pop(0) if queue else None})
            units.append(block.unit_code)
        placed.append((block, serial, serial + block.count - 1))
        serial += block.count
    session.execute(update(Sheet), rows)  # one executemany by primary key
    session.expire_all()  # the new sheets in the session learn their unit on next access
    audit.record(session, actor=actor, action="fieldwork.print_by_frame", entity="print_batch", entity_id=run.batch_id,
                 detail={"survey": survey_code, "blocks": [[b.unit_code, b.field, b.enumerator, first, last]
                                                           for b, first, last in placed]})
    log.info("%s: %d sheets printed by frame in %d blocks", survey_code, total, len(placed))
    return FramePrint(run, placed, list(units))


def _subtrees(units: list[Unit], only: Sequence[str]) -> set[int]:
    if not only:
        return {u.id for u in units}
    codes = {u.code for u in units}
    unknown = [c for c in only if c not in codes]
    if unknown:
        raise NotFoundError(f"Không có đơn vị {', '.join(unknown)} trong khung mẫu / not in the sample frame")
    chosen = {u.id for u in units if u.code in only}
    for unit in units:  # depth first: a parent comes before its children
        if unit.parent_id in chosen:
            chosen.add(unit.id)
    return chosen


def _quota_below(units: list[Unit]) -> set[int]:
    """Units with a quota somewhere below them (their sheets are printed for the units below)."""
    below: set[int] = set()
    for unit in reversed(units):  # depth-first order reversed: children before their parents
        if unit.parent_id is not None and (unit.quota is not None or unit.id in below):
            below.add(unit.parent_id)
    return below


def _printed(session: Session, survey_id: int) -> dict[tuple[int | None, str | None], int]:
    rows = session.execute(select(Sheet.unit_id, Sheet.field, func.count()).where(
        Sheet.survey_id == survey_id, Sheet.unit_id.is_not(None)).group_by(Sheet.unit_id, Sheet.field))
    return {(unit_id, field_name): count for unit_id, field_name, count in rows}


def _free_households(session: Session, unit_ids: list[int]) -> dict[int, list[int]]:
    """Main households of each unit that no sheet has yet, in list order."""
    taken = set(session.scalars(select(Sheet.household_id).where(Sheet.unit_id.in_(unit_ids),
                                                                  Sheet.household_id.is_not(None))))
    return {unit_id: [h.id for h in households if not h.reserve and h.id not in taken]
            for unit_id, households in households_of(session, unit_ids).items()}
