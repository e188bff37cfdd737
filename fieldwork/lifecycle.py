"""A sheet's life in the field, and the rules of which step may follow which.

    printed → issued → delivered → collected → scanned → reviewed → final
    or refused / absent (the household), lost (the paper), replaced (handed to a reserve household)

``Sheet.field_status`` holds where the paper is (printed … scanned, or refused, absent, lost,
replaced); ``reviewed`` and ``final`` come from the reading side (``Sheet.status`` complete / final).
A refused or absent sheet's blank paper is still with the enumerator: it may be replaced (given to a
reserve household of the same village), after which it goes on like a delivered one. Marking a sheet
with a step it has already passed changes nothing; going back is refused. Every change is a
``SheetEvent`` (who, when, from, to, household, enumerator), written by ``storage.sheet_events``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import ConflictError, NotFoundError
from fieldwork.frame import get_survey
from storage import audit, sheet_events
from storage.fieldwork_models import Household, SheetEvent
from storage.models import Sheet, Survey, Unit, User

log = logging.getLogger(__name__)

MAIN_LINE = ("printed", "issued", "delivered", "collected", "scanned")
OUTCOMES = ("refused", "absent", "lost", "replaced")
FIELD_STATUSES = MAIN_LINE + OUTCOMES
STAGES = MAIN_LINE + ("reviewed", "final") + OUTCOMES
MANUAL = ("issued", "delivered", "collected", "refused", "absent", "lost", "replaced")  # a person may record these
_RANK = {"printed": 0, "issued": 1, "delivered": 2, "replaced": 2, "collected": 3, "scanned": 4}
LABELS = {  # Vietnamese first, for messages, manifests and pages
    "printed": "đã in", "issued": "đã giao điều tra viên", "delivered": "đã phát", "collected": "đã thu",
    "scanned": "đã quét", "reviewed": "đã duyệt", "final": "hoàn tất", "refused": "từ chối", "absent": "vắng nhà",
    "lost": "mất phiếu", "replaced": "thay bằng hộ dự phòng",
}


def stage(field_status: str, status: str) -> str:
    """The one word for where a sheet stands, from its fieldwork and its reading status."""
    if status == "final":
        return "final"
    if status == "complete":
        return "reviewed"
    if status in ("scanned", "review"):
        return "scanned"
    return field_status


def transition(current: str, to: str) -> str:
    """"ok", "same" (already there or past it: nothing to do), or why the step is refused (vi / en)."""
    if to not in MANUAL:
        return f"trạng thái {to!r} không ghi tay được / {to!r} cannot be recorded by hand"
    if current == to:
        return "same"
    if current == "scanned":
        return "same" if to in _RANK else f"phiếu đã quét, không thể ghi '{LABELS[to]}' / already scanned"
    if to in ("issued", "delivered", "collected"):
        return _forward(current, to)
    if to in ("refused", "absent"):
        ok = current in ("printed", "issued", "delivered", "replaced", "refused", "absent")
        return "ok" if ok else f"phiếu đang '{LABELS[current]}' / the sheet is {current}"
    if to == "lost":
        return "ok"
    # replaced
    if current in ("refused", "absent"):
        return "ok"
    return f"chỉ thay phiếu bị từ chối hoặc vắng nhà (đang '{LABELS[current]}') / only a refused or absent sheet is replaced"


def _forward(current: str, to: str) -> str:
    if current in _RANK:
        return "ok" if _RANK[to] > _RANK[current] else "same"
    if current in ("refused", "absent"):  # the household changed its mind, or was home the next time
        return "ok" if to in ("delivered", "collected") else f"phiếu đang '{LABELS[current]}' / the sheet is {current}"
    if current == "lost":  # found again
        return "ok" if to == "collected" else "phiếu đang 'mất phiếu' / the sheet is lost"
    return f"không rõ trạng thái {current!r} / unknown status"


@dataclass
class MarkResult:
    changed: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)

    def line(self, to: str) -> str:
        text = f"{len(self.changed)} phiếu → '{LABELS[to]}' / {len(self.changed)} sheets → {to}"
        if self.unchanged:
            text += f"; {len(self.unchanged)} đã ở đó hoặc xa hơn / already there or further: {format_serials(self.unchanged)}"
        return text


def sheets_by_serial(session: Session, survey: Survey, serials: Iterable[int]) -> dict[int, Sheet]:
    """The survey's sheets with these serials; raises NotFoundError naming the serials never printed."""
    wanted = sorted(set(serials))
    found: dict[int, Sheet] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        found.update((s.serial, s) for s in session.scalars(
            select(Sheet).where(Sheet.survey_id == survey.id, Sheet.serial.in_(chunk))))
    missing = [s for s in wanted if s not in found]
    if missing:
        raise NotFoundError(f"{survey.code}: chưa in phiếu số {format_serials(missing)} / serials never printed")
    return found


def mark(session: Session, survey_code: str, serials: Sequence[int], to: str, *, actor: str, source: str,
         day: date | None = None, enumerator: str | None = None, household: str | None = None,
         note: str = "") -> MarkResult:
    """Record one step for many sheets; all or nothing (a refused step stops the whole call).

    ``enumerator`` (username) goes with "issued" (default: the unit's enumerator); ``household`` (a
    code of the sheet's village) with "delivered", "refused", "absent" or "replaced" for one sheet;
    "replaced" without a household takes the village's next unused reserve.
    """
    survey = get_survey(session, survey_code)
    sheets = sheets_by_serial(session, survey, serials)
    if household and len(sheets) > 1:
        raise ConflictError("Mỗi hộ chỉ nhận một phiếu: ghi mã hộ cho từng phiếu / one household per sheet")
    problems = [f"{serial}: {verdict}" for serial, sheet in sorted(sheets.items())
                if (verdict := transition(sheet.field_status, to)) not in ("ok", "same")]
    if problems:
        raise ConflictError(f"{survey_code}: không ghi được '{LABELS.get(to, to)}', chưa ghi gì / nothing recorded:\n"
                            + "\n".join(problems[:30]))
    enumerator_id = _user_id(session, enumerator) if enumerator else None
    unit_holders = dict(session.execute(select(Unit.id, Unit.enumerator_id).where(Unit.survey_id == survey.id)).all())
    result = MarkResult()
    for serial, sheet in sorted(sheets.items()):
        if transition(sheet.field_status, to) == "same":
            result.unchanged.append(serial)
            continue
        household_id = _household_for(session, sheet, to, household)
        holder = enumerator_id if to == "issued" else None
        if to == "issued" and holder is None and sheet.unit_id is not None:
            holder = unit_holders.get(sheet.unit_id)  # the unit's enumerator
        sheet_events.record(session, sheet, to, actor=actor, source=source, day=day or date.today(),
                            household_id=household_id, enumerator_id=holder, note=note)
        result.changed.append(serial)
    if result.changed:
        audit.record(session, actor=actor, action=f"fieldwork.{to}", entity="survey", entity_id=survey.id,
                     detail={"serials": format_serials(result.changed), "count": len(result.changed), "source": source})
    return result


def history(session: Session, sheet_id: int) -> list[SheetEvent]:
    return list(session.scalars(select(SheetEvent).where(SheetEvent.sheet_id == sheet_id).order_by(SheetEvent.id)))


def format_serials(serials: Iterable[int]) -> str:
    """1, 2, 3, 5, 7, 8 → "1-3, 5, 7-8"."""
    ordered = sorted(set(serials))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ", ".join(parts)


def parse_serials(items: Iterable[str]) -> list[int]:
    """"12", "1-27", "3,5" → serials; raises ConflictError on anything else."""
    out: list[int] = []
    for item in items:
        for part in (p.strip() for p in str(item).replace(";", ",").split(",") if p.strip()):
            low, sep, high = part.partition("-")
            if not low.isdigit() or (sep and not high.isdigit()):
                raise ConflictError(f"số phiếu {part!r} không hợp lệ (ví dụ 12 hoặc 1-27) / bad serial")
            first, last = int(low), int(high) if sep else int(low)
            if last < first or last - first > 100_000:
                raise ConflictError(f"khoảng số phiếu {part!r} không hợp lệ / bad serial range")
            out.extend(range(first, last + 1))
    return out


# --- households --------------------------------------------------------------------------------


def _household_for(session: Session, sheet: Sheet, to: str, code: str | None) -> int | None:
    """The household the step concerns: the one named, the next free reserve for "replaced", else None
    (the sheet keeps its own)."""
    if to == "replaced":
        return _reserve(session, sheet, code).id
    if not code:
        return None
    if sheet.unit_id is None:
        raise ConflictError(f"Phiếu {sheet.serial} không thuộc thôn nào; không ghi được hộ / the sheet has no village")
    household = session.scalar(select(Household).where(Household.unit_id == sheet.unit_id, Household.code == code))
    if household is None:
        if session.scalar(select(Household.id).where(Household.unit_id == sheet.unit_id).limit(1)) is not None:
            raise ConflictError(f"Hộ {code} không có trong danh sách của thôn / household {code} is not on the village's list")
        household = Household(unit_id=sheet.unit_id, code=code, rank=sheet.serial)  # a village without a list
        session.add(household)
        session.flush()
    _free(session, sheet, household)
    return household.id


def _reserve(session: Session, sheet: Sheet, code: str | None) -> Household:
    if sheet.unit_id is None:
        raise ConflictError(f"Phiếu {sheet.serial} không thuộc thôn nào / the sheet has no village")
    query = select(Household).where(Household.unit_id == sheet.unit_id, Household.reserve.is_(True))
    if code:
        household = session.scalar(query.where(Household.code == code))
        if household is None:
            raise ConflictError(f"{code} không phải hộ dự phòng của thôn / not a reserve household of the village")
        _free(session, sheet, household)
        return household
    used = set(session.scalars(select(Sheet.household_id).where(Sheet.unit_id == sheet.unit_id,
                                                                 Sheet.household_id.is_not(None))))
    household = next((h for h in session.scalars(query.order_by(Household.rank)) if h.id not in used), None)
    if household is None:
        unit = session.get_one(Unit, sheet.unit_id)
        raise ConflictError(f"{unit.name} ({unit.code}) đã hết hộ dự phòng / no reserve household left")
    return household


def _free(session: Session, sheet: Sheet, household: Household) -> None:
    holder = session.scalar(select(Sheet.serial).where(Sheet.household_id == household.id, Sheet.id != sheet.id))
    if holder is not None:
        raise ConflictError(f"Hộ {household.code} đã nhận phiếu {holder} / household already has sheet {holder}")


def _user_id(session: Session, username: str) -> int:
    user_id = session.scalar(select(User.id).where(User.username == username))
    if user_id is None:
        raise NotFoundError(f"Không có người dùng {username!r} / no user {username!r}")
    return user_id
