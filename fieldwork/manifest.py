"""Each enumerator's papers: the manifest (villages, serials, household codes, columns to tick) with the
signed allowance list, as PDF; the same manifest as CSV to fill in; and the import of a filled one.

A manifest row is one sheet: its serial, the planned household's code (never a name), and what
happened: delivered, collected, refused, absent, lost, or handed to a reserve household (its code).
Importing a filled manifest records each row's steps in order (refused/absent → replaced → delivered
→ collected, or lost) through the lifecycle rules; the whole file is applied or, if any row is wrong,
nothing, with every wrong row named by its line.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO

from reportlab.platypus import PageBreak, Paragraph, Spacer
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import InputFileError, PhieuError
from core.settings import FieldworkSettings
from fieldwork import lifecycle
from fieldwork.frame import frame_units, get_survey, households_of
from fieldwork.pdf import BOX, build, grid, header_cells, money, signatures, styles
from fieldwork.plan import rules
from fieldwork.tables import Row, parse_bool, parse_date, parse_int, read_table
from storage.fieldwork_models import Household
from storage.models import Sheet, Survey, Unit, User

MANIFEST_COLUMNS: dict[str, tuple[str, ...]] = {
    "serial": ("số phiếu", "phiếu"),
    "unit": ("thôn", "đơn vị", "mã thôn"),
    "household": ("mã hộ", "hộ"),
    "delivered": ("đã phát", "phát"),
    "collected": ("đã thu", "thu"),
    "refused": ("từ chối",),
    "absent": ("vắng nhà", "vắng"),
    "lost": ("mất phiếu", "mất"),
    "replaced_by": ("thay bằng hộ dự phòng", "hộ dự phòng", "thay bằng"),
    "delivered_on": ("ngày phát",),
    "collected_on": ("ngày thu",),
    "note": ("ghi chú",),
}
TEMPLATE_HEADER = ["số phiếu", "thôn", "mã hộ", "đã phát", "đã thu", "từ chối", "vắng nhà", "mất phiếu",
                   "thay bằng hộ dự phòng", "ngày phát", "ngày thu", "ghi chú"]
TICKS = ("delivered", "collected", "refused", "absent", "lost")


@dataclass(frozen=True)
class VillageBundle:
    unit: Unit
    place: str  # "Khu phố 1, Phường 2, Thành phố Đông Hà"
    sheets: list[tuple[int, str]]  # (serial, household code or "")
    reserves: list[Household]


@dataclass(frozen=True)
class EnumeratorPapers:
    username: str
    full_name: str
    villages: list[VillageBundle]

    @property
    def sheet_count(self) -> int:
        return sum(len(v.sheets) for v in self.villages)


def papers(session: Session, survey: Survey) -> list[EnumeratorPapers]:
    """Per enumerator (in frame order), the villages and sheets issued or to be issued to them."""
    units = frame_units(session, survey.id)
    by_id = {u.id: u for u in units}
    codes = dict(session.execute(select(Household.id, Household.code).join(Unit, Unit.id == Household.unit_id)
                                 .where(Unit.survey_id == survey.id)).all())
    reserves = {uid: [h for h in hs if h.reserve] for uid, hs in households_of(session, list(by_id)).items()}
    people: dict[int, dict[int, list[tuple[int, str]]]] = {}
    for serial, unit_id, enumerator_id, household_id in session.execute(
            select(Sheet.serial, Sheet.unit_id, Sheet.enumerator_id, Sheet.household_id)
            .where(Sheet.survey_id == survey.id, Sheet.enumerator_id.is_not(None)).order_by(Sheet.serial)):
        people.setdefault(int(enumerator_id or 0), {}).setdefault(unit_id or 0, []).append(
            (serial, codes.get(household_id, "") if household_id else ""))
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_(list(people))))}
    rank = {u.id: i for i, u in enumerate(units)}
    out = []
    for user_id, villages in sorted(people.items(), key=lambda p: min(rank.get(u, 10**6) for u in p[1])):
        bundles = [VillageBundle(by_id[uid], _place(by_id[uid], by_id), sheets, reserves.get(uid, []))
                   for uid, sheets in sorted(villages.items(), key=lambda v: rank.get(v[0], 10**6)) if uid in by_id]
        out.append(EnumeratorPapers(users[user_id].username, users[user_id].full_name, bundles))
    return out


def manifest_pdf(papers_of: EnumeratorPapers, survey: Survey, out: Path | BinaryIO, *,
                 settings: FieldworkSettings, collect_by: date | None = None) -> None:
    """The manifest (one table per village) and, on a new page, the allowance list to be signed."""
    st = styles()
    who = f"{papers_of.full_name} ({papers_of.username})" if papers_of.full_name else papers_of.username
    story: list[Any] = [Paragraph("DANH SÁCH PHÁT VÀ THU PHIẾU KHẢO SÁT", st["title"]),
                        Paragraph(survey.title, st["subtitle"]),
                        Paragraph(f"Điều tra viên: <b>{who}</b> · {papers_of.sheet_count} phiếu"
                                  + (f" · thu phiếu trước ngày {collect_by:%d/%m/%Y}" if collect_by else ""), st["body"]),
                        Paragraph("Đánh dấu ✓ vào cột tương ứng. Chỉ ghi mã hộ, không ghi tên người trả lời. "
                                  "Hộ từ chối hoặc vắng nhà: ghi mã hộ dự phòng nhận phiếu thay.", st["small"])]
    header = header_cells(["STT", "Số phiếu", "Mã hộ", "Đã phát", "Đã thu", "Từ chối", "Vắng nhà", "Mất phiếu",
                           "Thay bằng hộ dự phòng (mã)", "Ngày phát", "Ngày thu", "Ghi chú"])
    widths = [12, 20, 38, 15, 15, 15, 15, 15, 36, 22, 22, 48]
    for village in papers_of.villages:
        serials = [s for s, _ in village.sheets]
        story.append(Paragraph(f"{village.place} ({village.unit.code}) · chỉ tiêu {village.unit.quota or '-'} phiếu · "
                               f"số phiếu {lifecycle.format_serials(serials)}", st["heading"]))
        rows = [header] + [[str(i), f"{serial:07d}", code or "", BOX, BOX, BOX, BOX, BOX, "", "", "", ""]
                           for i, (serial, code) in enumerate(village.sheets, start=1)]
        story.append(grid(rows, widths, centred_from=3, row_height_mm=7))
        if village.reserves:
            story.append(Paragraph("Hộ dự phòng: " + ", ".join(
                f"{h.code}" + (f" ({h.note})" if h.note else "") for h in village.reserves), st["small"]))
    story += signatures(["Điều tra viên", "Người nhận bàn giao phiếu"], 250)
    story += [PageBreak(), *_allowance(papers_of, survey, who, settings)]
    build(out, f"Danh sách phát và thu phiếu - {who}", story, wide=True)


def _allowance(papers_of: EnumeratorPapers, survey: Survey, who: str, settings: FieldworkSettings) -> list[Any]:
    st = styles()
    amount = money(settings.allowance_vnd) if settings.allowance_vnd else ""
    header = header_cells(["STT", "Thôn / khu phố", "Mã hộ", "Số phiếu", "Số tiền (đồng)",
                           "Họ tên người nhận (người nhận tự ghi)", "Ngày nhận", "Chữ ký"])
    rows: list[list[Any]] = [header]
    for village in papers_of.villages:
        for serial, code in village.sheets:
            rows.append([str(len(rows)), village.unit.name, code, f"{serial:07d}", amount, "", "", ""])
    return [Paragraph("DANH SÁCH NGƯỜI TRẢ LỜI NHẬN TIỀN HỖ TRỢ", st["title"]),
            Paragraph(survey.title, st["subtitle"]), Paragraph(f"Điều tra viên: <b>{who}</b>", st["body"]),
            Spacer(1, 3), grid(rows, [12, 45, 38, 22, 25, 68, 25, 38], centred_from=3, row_height_mm=9),
            *signatures(["Người lập danh sách", "Điều tra viên"], 250)]


def manifest_csv(papers_of: EnumeratorPapers) -> str:
    """The manifest as a CSV to fill in (UTF-8 with BOM, so spreadsheet programs show the diacritics)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(TEMPLATE_HEADER)
    for village in papers_of.villages:
        for serial, code in village.sheets:
            writer.writerow([serial, village.unit.code, code] + [""] * (len(TEMPLATE_HEADER) - 3))
    return "\ufeff" + out.getvalue()


def write_all(session: Session, survey_code: str, out_dir: Path, settings: FieldworkSettings) -> list[Path]:
    """manifest-USER.pdf and manifest-USER.csv for every enumerator; returns the files written."""
    survey = get_survey(session, survey_code)
    survey_rules = rules(session, survey, settings)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for person in papers(session, survey):
        pdf = out_dir / f"manifest-{person.username}.pdf"
        manifest_pdf(person, survey, pdf, settings=survey_rules.settings, collect_by=survey_rules.collect_by)
        table = out_dir / f"manifest-{person.username}.csv"
        table.write_text(manifest_csv(person), encoding="utf-8")
        written += [pdf, table]
    return written


def import_manifest(session: Session, survey_code: str, path: Path, *, actor: str, name: str | None = None) -> dict[str, int]:
    """Record a filled manifest; returns how many steps of each kind were recorded."""
    shown = name or path.name
    survey = get_survey(session, survey_code)
    rows = read_table(path, MANIFEST_COLUMNS, required=("serial",), name=shown)
    errors: list[str] = []
    done: dict[str, int] = {}
    for row in rows:
        try:
            serial, steps = _steps(row)
            sheet = lifecycle.sheets_by_serial(session, survey, [serial])[serial]
            logged = {e.to_status for e in lifecycle.history(session, sheet.id)}
            for step, kwargs in steps:
                if step in logged:  # importing the same manifest again records nothing twice
                    continue
                result = lifecycle.mark(session, survey_code, [serial], step, actor=actor, source="manifest", **kwargs)
                done[step] = done.get(step, 0) + len(result.changed)
        except PhieuError as exc:
            errors.append(f"dòng {row.line}: {exc}".replace("\n", " "))
    if errors:
        raise InputFileError(f"{shown}: {len(errors)} dòng lỗi, chưa ghi gì / bad rows, nothing recorded:\n"
                             + "\n".join(errors[:30]))
    return done


def _steps(row: Row) -> tuple[int, list[tuple[str, dict[str, Any]]]]:
    """The row's serial and its steps in order, each with its keyword arguments for ``lifecycle.mark``."""
    serial = parse_int(row.get("serial"))
    if serial is None or serial < 1:
        raise InputFileError(f"số phiếu {row.get('serial')!r} không hợp lệ / bad serial")
    ticks = {}
    for column in TICKS:
        value = parse_bool(row.get(column))
        if value is None:
            raise InputFileError(f"cột {column}: {row.get(column)!r} không phải dấu tích (x, 1, có) / not a tick")
        ticks[column] = value
    days = {}
    for column in ("delivered_on", "collected_on"):
        days[column] = parse_date(row.get(column)) if row.get(column) else None
        if row.get(column) and days[column] is None:
            raise InputFileError(f"ngày {row.get(column)!r} không đọc được (21/11/2024) / bad date")
    reserve = row.get("replaced_by") or None
    names = [outcome for outcome in ("refused", "absent") if ticks[outcome]]
    names += ["replaced"] if reserve else ["delivered"] if ticks["delivered"] else []
    names += [step for step in ("collected", "lost") if ticks[step]]
    back = days["collected_on"] or days["delivered_on"]
    steps: list[tuple[str, dict[str, Any]]] = []
    household, note = row.get("household") or None, row.get("note")
    for step in names:
        kwargs: dict[str, Any] = {"day": back if step in ("collected", "lost") else days["delivered_on"]}
        if step == "replaced":
            kwargs["household"] = reserve
        elif household:  # the household written on the row goes with its first step
            kwargs["household"], household = household, None
        if note:
            kwargs["note"], note = note, ""
        steps.append((step, {k: v for k, v in kwargs.items() if v is not None}))
    return serial, steps


def _place(unit: Unit, by_id: dict[int, Unit]) -> str:
    names, current = [], unit
    while current is not None and current.level >= max(0, unit.level - 2):
        names.append(current.name)
        current = by_id.get(current.parent_id) if current.parent_id else None  # type: ignore[assignment]
    return ", ".join(names)
