"""The sample frame: units of any depth (province → district → commune → village, or office → counter)
with codes, Vietnamese names and quotas, the enumerator of each unit, and optional household lists
with reserves.

A frame file (CSV or XLSX, one row per unit or household) is read whole and checked whole: every bad
row gets a message with its line number, and nothing is stored unless every row is good. Importing
again updates the units and households it names and leaves the others as they are.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import ConflictError, InputFileError, NotFoundError
from fieldwork.tables import Row, normalise, parse_bool, parse_int, read_table
from storage import audit
from storage.fieldwork_models import Household
from storage.models import Survey, Unit, User

log = logging.getLogger(__name__)

HOUSEHOLD = "household"
KIND_WORDS: dict[str, tuple[str, ...]] = {
    "province": ("tỉnh", "thành phố trực thuộc trung ương"),
    "district": ("huyện", "quận", "thị xã", "thành phố"),
    "commune": ("xã", "phường", "thị trấn"),
    "village": ("thôn", "khu phố", "khóm", "bản", "ấp", "làng", "tổ dân phố"),
    "office": ("cơ quan", "văn phòng", "trung tâm"),
    "counter": ("quầy", "điểm", "bộ phận một cửa", "điểm tiếp nhận"),
    "unit": ("đơn vị",),
    HOUSEHOLD: ("hộ", "hộ gia đình"),
    "reserve": ("hộ dự phòng", "dự phòng"),  # a household kept in reserve
}
COLUMNS: dict[str, tuple[str, ...]] = {
    "code": ("mã", "mã đơn vị", "mã hộ"),
    "name": ("tên", "tên đơn vị"),
    "kind": ("cấp", "loại"),
    "parent": ("mã cấp trên", "cấp trên", "thuộc"),
    "quota": ("chỉ tiêu", "số phiếu"),
    "field_quotas": ("chỉ tiêu theo lĩnh vực", "lĩnh vực"),
    "enumerator": ("điều tra viên", "người phụ trách"),
    "enumerator_name": ("tên điều tra viên", "họ tên điều tra viên"),
    "reserve": ("dự phòng",),
    "note": ("ghi chú", "địa chỉ"),
}
CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
USERNAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,80}$")
MAX_ERRORS_SHOWN = 30
_KIND_OF = {normalise(w): kind for kind, words in KIND_WORDS.items() for w in (kind, *words)}


@dataclass
class FrameRow:
    line: int
    code: str
    kind: str  # a KIND_WORDS key; "reserve" is stored as a household with reserve=True
    name: str = ""
    parent: str = ""
    quota: int | None = None
    field_quotas: dict[str, int] = field(default_factory=dict)
    enumerator: str = ""
    enumerator_name: str = ""
    reserve: bool = False
    note: str = ""

    @property
    def is_household(self) -> bool:
        return self.kind in (HOUSEHOLD, "reserve")


@dataclass(frozen=True)
class ImportSummary:
    units_created: int
    units_updated: int
    households_created: int
    households_updated: int
    enumerators_created: list[str]

    def line(self) -> str:
        text = (f"đơn vị / units: {self.units_created} mới / new, {self.units_updated} cập nhật / updated; "
                f"hộ / households: {self.households_created} mới / new, {self.households_updated} cập nhật / updated")
        if self.enumerators_created:
            text += f"; điều tra viên mới / new enumerators: {', '.join(self.enumerators_created)}"
        return text


def get_survey(session: Session, code: str) -> Survey:
    survey = session.scalar(select(Survey).where(Survey.code == code))
    if survey is None:
        raise NotFoundError(f"Chưa đăng ký khảo sát {code} / survey {code} is not registered: phieu survey add FILE.yaml")
    return survey


def parse_field_quotas(text: str) -> dict[str, int] | str:
    """``"Hộ tịch=50; Chứng thực=100"`` (``:`` works too) → {name: quota}; a message when malformed."""
    quotas: dict[str, int] = {}
    for part in (p.strip() for p in re.split(r"[;|]", text) if p.strip()):
        name, sep, number = part.replace(":", "=").rpartition("=")
        value = parse_int(number)
        if not sep or not name.strip() or value is None or value < 0:
            return f"chỉ tiêu lĩnh vực {part!r} phải có dạng 'Hộ tịch=50' / field quota must read 'Field=50'"
        quotas[name.strip()] = value
    return quotas


def read_frame(path: Path, *, name: str | None = None) -> list[FrameRow]:
    """The rows of a frame file, each checked on its own; raises InputFileError listing every bad row."""
    parsed, errors = _read(path, name or path.name)
    _raise_if(errors, name or path.name)
    return parsed


def _read(path: Path, shown: str) -> tuple[list[FrameRow], list[str]]:
    parsed, errors = [], []
    for row in read_table(path, COLUMNS, required=("code", "kind"), name=shown):
        result = _parse_row(row)
        if isinstance(result, str):
            errors.append(f"dòng {row.line}: {result}")
        else:
            parsed.append(result)
    return parsed, errors


def import_frame(session: Session, survey_code: str, path: Path, *, actor: str, add_enumerators: bool = False,
                 name: str | None = None) -> ImportSummary:
    """Check the whole file against itself and the stored frame, then store it in the caller's transaction."""
    shown = name or path.name
    survey = get_survey(session, survey_code)
    rows, errors = _read(path, shown)
    existing = {u.code: u for u in session.scalars(select(Unit).where(Unit.survey_id == survey.id))}
    users = {u.username: u for u in session.scalars(select(User))}
    errors += _check_structure(rows, existing) + _check_enumerators(rows, users, add_enumerators)
    _raise_if(errors, shown)
    created_users = _create_enumerators(session, rows, users, actor)
    summary = _store(session, survey, rows, existing, users, created_users)
    audit.record(session, actor=actor, action="frame.import", entity="survey", entity_id=survey.id,
                 detail={"file": shown, "units_created": summary.units_created, "units_updated": summary.units_updated,
                         "households_created": summary.households_created,
                         "households_updated": summary.households_updated, "enumerators": created_users})
    log.info("%s: frame %s imported (%s)", survey_code, shown, summary.line())
    return summary


def frame_units(session: Session, survey_id: int) -> list[Unit]:
    """Every unit of the survey, depth first in frame order (a parent before its children)."""
    units = list(session.scalars(select(Unit).where(Unit.survey_id == survey_id)))
    return tree_order(units)


def tree_order(units: Iterable[Unit]) -> list[Unit]:
    units = list(units)
    ids = {u.id for u in units}
    children: dict[int | None, list[Unit]] = {}
    for unit in units:
        children.setdefault(unit.parent_id if unit.parent_id in ids else None, []).append(unit)
    out: list[Unit] = []

    def walk(parent: int | None) -> None:
        for unit in sorted(children.get(parent, []), key=lambda u: (u.rank, u.code)):
            out.append(unit)
            walk(unit.id)

    walk(None)
    return out


def households_of(session: Session, unit_ids: Iterable[int]) -> dict[int, list[Household]]:
    """Households per unit: main households first, then reserves, each in list order."""
    out: dict[int, list[Household]] = {}
    query = select(Household).where(Household.unit_id.in_(list(unit_ids))).order_by(
        Household.unit_id, Household.reserve, Household.rank, Household.code)
    for household in session.scalars(query):
        out.setdefault(household.unit_id, []).append(household)
    return out


def update_unit(session: Session, survey_id: int, code: str, *, actor: str, name: str | None = None,
                quota: int | None | str = "", field_quotas: str | None = None, enumerator: str | None = None) -> Unit:
    """Edit one unit from the web page; ``quota=""`` leaves the quota alone, None clears it."""
    unit = session.scalar(select(Unit).where(Unit.survey_id == survey_id, Unit.code == code))
    if unit is None:
        raise NotFoundError(f"Không có đơn vị {code} / no unit {code}")
    before = {"name": unit.name, "quota": unit.quota, "field_quotas": dict(unit.field_quotas or {}),
              "enumerator_id": unit.enumerator_id}
    if name is not None and name.strip():
        unit.name = name.strip()
    if field_quotas is not None:
        parsed = parse_field_quotas(field_quotas)
        if isinstance(parsed, str):
            raise ConflictError(f"{code}: {parsed}")
        unit.field_quotas = parsed
        if parsed:
            unit.quota = sum(parsed.values())
    if quota != "" and not unit.field_quotas:
        if quota is not None and (not isinstance(quota, int) or quota < 0):
            raise ConflictError(f"{code}: chỉ tiêu phải là số nguyên ≥ 0 / quota must be a whole number ≥ 0")
        unit.quota = quota  # type: ignore[assignment]
    if enumerator is not None:
        unit.enumerator_id = _enumerator_id(session, enumerator)
    after = {"name": unit.name, "quota": unit.quota, "field_quotas": dict(unit.field_quotas or {}),
             "enumerator_id": unit.enumerator_id}
    if after != before:
        audit.record(session, actor=actor, action="frame.unit_update", entity="unit", entity_id=unit.id,
                     detail={"code": code, "before": before, "after": after})
    return unit


def add_unit(session: Session, survey_id: int, *, code: str, name: str, kind: str, parent: str, quota: int | None,
             actor: str) -> Unit:
    """Add one unit from the web page (checked as a frame row would be)."""
    row = _parse_row(Row(0, {"code": code, "name": name, "kind": kind, "parent": parent,
                             "quota": "" if quota is None else str(quota)}))
    if isinstance(row, str):
        raise ConflictError(row)
    if row.is_household:
        raise ConflictError("Thêm hộ bằng tệp khung mẫu / add households with a frame file")
    existing = {u.code: u for u in session.scalars(select(Unit).where(Unit.survey_id == survey_id))}
    if code in existing:
        raise ConflictError(f"Đơn vị {code} đã có / unit {code} already exists")
    parent_unit = existing.get(parent) if parent else None
    if parent and parent_unit is None:
        raise ConflictError(f"Không có đơn vị cấp trên {parent} / no parent unit {parent}")
    rank = max((u.rank for u in existing.values()), default=0) + 1
    unit = Unit(survey_id=survey_id, code=code, name=row.name, kind=row.kind, quota=row.quota,
                parent_id=parent_unit.id if parent_unit else None, level=parent_unit.level + 1 if parent_unit else 0,
                rank=rank, field_quotas={})
    session.add(unit)
    session.flush()
    audit.record(session, actor=actor, action="frame.unit_add", entity="unit", entity_id=unit.id,
                 detail={"code": code, "parent": parent, "quota": quota})
    return unit


# --- checking -------------------------------------------------------------------------------------


def _parse_row(row: Row) -> FrameRow | str:
    code = row.get("code")
    if not CODE_RE.match(code):
        return (f"mã {code!r} không hợp lệ (chữ không dấu, số, . - _; tối đa 40) "
                f"/ invalid code (ASCII letters, digits, . - _; at most 40)")
    kind = _KIND_OF.get(normalise(row.get("kind")))
    if kind is None:
        return (f"{code}: cấp {row.get('kind')!r} không rõ; dùng một trong {', '.join(KIND_WORDS)} "
                f"/ unknown kind")
    out = FrameRow(line=row.line, code=code, kind=kind, name=row.get("name"), parent=row.get("parent"),
                   enumerator=row.get("enumerator"), enumerator_name=row.get("enumerator_name"), note=row.get("note"))
    reserve = parse_bool(row.get("reserve"))
    if reserve is None:
        return f"{code}: cột dự phòng {row.get('reserve')!r} phải là x/có/1 hoặc trống / reserve must be x, 1 or empty"
    out.reserve = reserve or kind == "reserve"
    if out.is_household:
        return _household_row(out, row)
    if not out.name:
        return f"{code}: thiếu tên / name missing"
    return _quota_row(out, row)


def _household_row(out: FrameRow, row: Row) -> FrameRow | str:
    if not out.parent:
        return f"{out.code}: hộ phải thuộc một thôn (cột cấp trên) / a household needs its village in 'parent'"
    if row.get("quota") or row.get("field_quotas") or out.enumerator:
        return f"{out.code}: hộ không có chỉ tiêu hay điều tra viên / a household takes no quota or enumerator"
    if len(out.note) > 200:
        return f"{out.code}: ghi chú dài quá 200 ký tự / note longer than 200 characters"
    return out


def _quota_row(out: FrameRow, row: Row) -> FrameRow | str:
    if row.get("quota"):
        out.quota = parse_int(row.get("quota"))
        if out.quota is None or out.quota < 0:
            return f"{out.code}: chỉ tiêu {row.get('quota')!r} phải là số nguyên ≥ 0 / quota must be a whole number ≥ 0"
    if row.get("field_quotas"):
        quotas = parse_field_quotas(row.get("field_quotas"))
        if isinstance(quotas, str):
            return f"{out.code}: {quotas}"
        total = sum(quotas.values())
        if out.quota is not None and out.quota != total:
            return (f"{out.code}: chỉ tiêu {out.quota} khác tổng chỉ tiêu các lĩnh vực {total} "
                    f"/ quota differs from the sum of its field quotas")
        out.field_quotas, out.quota = quotas, total
    if out.enumerator and not USERNAME_RE.match(out.enumerator):
        return f"{out.code}: tên đăng nhập điều tra viên {out.enumerator!r} không hợp lệ / invalid enumerator username"
    return out


def _check_structure(rows: list[FrameRow], existing: dict[str, Unit]) -> list[str]:
    errors: list[str] = []
    seen: dict[str, FrameRow] = {}
    for row in rows:
        if row.code in seen:
            errors.append(f"dòng {row.line}: mã {row.code} trùng với dòng {seen[row.code].line} / duplicate code")
        seen[row.code] = row
    units = {r.code: r for r in rows if not r.is_household}
    for row in rows:
        if not row.parent:
            continue
        if row.parent in seen and seen[row.parent].is_household:
            errors.append(f"dòng {row.line}: {row.code} không thể thuộc hộ {row.parent} / cannot belong to a household")
        elif row.parent not in units and row.parent not in existing:
            errors.append(f"dòng {row.line}: {row.code}: không có đơn vị cấp trên {row.parent} / no parent unit {row.parent}")
        elif row.code == row.parent or (not row.is_household and _cycles(row, units, existing)):
            errors.append(f"dòng {row.line}: {row.code}: cấp trên tạo vòng lặp / the parents form a loop")
    return errors + _check_quotas(rows, units)


def _cycles(row: FrameRow, units: dict[str, FrameRow], existing: dict[str, Unit]) -> bool:
    by_id = {u.id: u for u in existing.values()}
    seen, code = {row.code}, row.parent
    while code:
        if code in seen:
            return True
        seen.add(code)
        if code in units:
            code = units[code].parent
        else:
            parent_id = existing[code].parent_id if code in existing else None
            code = by_id[parent_id].code if parent_id in by_id else ""
    return False


def _check_quotas(rows: list[FrameRow], units: dict[str, FrameRow]) -> list[str]:
    errors = []
    children: dict[str, list[FrameRow]] = {}
    main_households: dict[str, int] = {}
    for row in rows:
        if row.is_household:
            main_households[row.parent] = main_households.get(row.parent, 0) + (not row.reserve)
        elif row.parent:
            children.setdefault(row.parent, []).append(row)
    for code, unit in units.items():
        kids = children.get(code, [])
        if unit.quota is not None and kids and all(k.quota is not None for k in kids):
            total = sum(k.quota or 0 for k in kids)
            if total != unit.quota:
                errors.append(f"dòng {unit.line}: {code}: chỉ tiêu {unit.quota} khác tổng của cấp dưới {total} "
                              f"/ quota differs from the sum of the units below")
        main = main_households.get(code, 0)
        if unit.quota is not None and 0 < main < unit.quota:
            errors.append(f"dòng {unit.line}: {code}: chỉ tiêu {unit.quota} mà chỉ có {main} hộ chính "
                          f"/ quota above the number of main households")
    return errors


def _check_enumerators(rows: list[FrameRow], users: dict[str, User], add: bool) -> list[str]:
    errors = []
    for row in rows:
        if row.enumerator and row.enumerator not in users and not add:
            errors.append(f"dòng {row.line}: không có người dùng {row.enumerator!r}: thêm bằng `phieu user add "
                          f"{row.enumerator} --role enumerator` hoặc nhập với --add-enumerators / no such user")
    return errors


def _raise_if(errors: list[str], shown: str) -> None:
    if not errors:
        return
    errors = sorted(errors, key=lambda e: int(e.split(":")[0].split()[-1]))  # by line
    more = f"\n… và {len(errors) - MAX_ERRORS_SHOWN} lỗi khác / more" if len(errors) > MAX_ERRORS_SHOWN else ""
    raise InputFileError(f"{shown}: {len(errors)} dòng lỗi, chưa nhập gì / {len(errors)} bad rows, nothing imported:\n"
                         + "\n".join(errors[:MAX_ERRORS_SHOWN]) + more)


# --- storing --------------------------------------------------------------------------------------


def _create_enumerators(session: Session, rows: list[FrameRow], users: dict[str, User], actor: str) -> list[str]:
    """Accounts for enumerators named in the frame; they cannot log in until given a password."""
    created = []
    for row in rows:
        if row.enumerator and row.enumerator not in users:
            user = User(username=row.enumerator, full_name=row.enumerator_name, password_hash="", role="enumerator")
            session.add(user)
            session.flush()
            users[row.enumerator] = user
            created.append(row.enumerator)
            audit.record(session, actor=actor, action="user_add", entity="user", entity_id=user.id,
                         detail={"role": "enumerator", "from": "frame"})
    return created


def _store(session: Session, survey: Survey, rows: list[FrameRow], existing: dict[str, Unit], users: dict[str, User],
           created_users: list[str]) -> ImportSummary:
    units = dict(existing)
    made = changed = 0
    unit_rows = [r for r in rows if not r.is_household]
    for row in _parents_first(unit_rows, existing):
        parent = units[row.parent] if row.parent else None
        values = {"name": row.name, "kind": row.kind, "parent_id": parent.id if parent else None,
                  "level": parent.level + 1 if parent else 0, "rank": row.line, "quota": row.quota,
                  "field_quotas": row.field_quotas,
                  "enumerator_id": users[row.enumerator].id if row.enumerator else None}
        unit = units.get(row.code)
        if unit is None:
            unit = Unit(survey_id=survey.id, code=row.code, **values)
            session.add(unit)
            session.flush()
            units[row.code] = unit
            made += 1
        elif any(getattr(unit, k) != v for k, v in values.items()):
            for key, value in values.items():
                setattr(unit, key, value)
            changed += 1
    h_made, h_changed = _store_households(session, [r for r in rows if r.is_household], units)
    return ImportSummary(made, changed, h_made, h_changed, created_users)


def _parents_first(rows: list[FrameRow], existing: dict[str, Unit]) -> list[FrameRow]:
    by_code = {r.code: r for r in rows}

    def depth(row: FrameRow) -> int:
        d, code = 0, row.parent
        while code in by_code:
            d, code = d + 1, by_code[code].parent
        return d

    return sorted(rows, key=lambda r: (depth(r), r.line))


def _store_households(session: Session, rows: list[FrameRow], units: dict[str, Unit]) -> tuple[int, int]:
    made = changed = 0
    stored = {(h.unit_id, h.code): h for h in session.scalars(
        select(Household).where(Household.unit_id.in_([u.id for u in units.values()])))}
    for rank, row in enumerate(rows, start=1):
        unit = units[row.parent]
        household = stored.get((unit.id, row.code))
        if household is None:
            session.add(Household(unit_id=unit.id, code=row.code, reserve=row.reserve, rank=rank, note=row.note))
            made += 1
        elif (household.reserve, household.rank, household.note) != (row.reserve, rank, row.note):
            household.reserve, household.rank, household.note = row.reserve, rank, row.note
            changed += 1
    session.flush()
    return made, changed


def _enumerator_id(session: Session, username: str) -> int | None:
    if not username.strip():
        return None
    user = session.scalar(select(User).where(User.username == username.strip()))
    if user is None:
        raise NotFoundError(f"Không có người dùng {username!r} / no user {username!r}")
    return user.id
