"""Fieldwork commands: ``phieu frame``, ``phieu sheets``, ``phieu manifest``, ``phieu transmittal``,
``phieu verify``, ``phieu counters`` and ``phieu fieldwork`` (the operations table). A thin shell over
the fieldwork package; printing by frame is ``phieu print SURVEY --by-frame`` (commands/forms.py).
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

import click

from core.errors import ConflictError, NotFoundError
from phieu.cli import AppContext

WHO = click.option("--as", "actor", envvar="PHIEU_USER", default="cli", show_default=True,
                   help="Who is recording (kept in the log with the time); env PHIEU_USER.")


def _db(app: AppContext) -> Any:
    from storage.db import Database

    return Database.for_workspace(app.workspace())


def _day(text: str | None) -> date | None:
    from fieldwork.tables import parse_date

    if text is None:
        return None
    day = parse_date(text)
    if day is None:
        raise click.BadParameter(f"{text!r}: ngày dạng 21/11/2024 hoặc 2024-11-21 / a date like 2024-11-21")
    return day


# --- frame -----------------------------------------------------------------------------------


@click.group("frame")
def frame_group() -> None:
    """Khung mẫu / the sample frame: units, quotas, households, enumerators."""


@frame_group.command("import")
@click.argument("survey")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--add-enumerators", is_flag=True, help="Create accounts (role enumerator, no password yet) for enumerators not yet users.")
@WHO
@click.pass_obj
def frame_import(app: AppContext, survey: str, file: Path, add_enumerators: bool, actor: str) -> None:
    """Nhập khung mẫu / import FILE (.csv or .xlsx) into SURVEY's frame; every row is checked first."""
    from fieldwork.frame import import_frame

    db = _db(app)
    with db.session(immediate=True) as s:
        summary = import_frame(s, survey, file, actor=actor, add_enumerators=add_enumerators)
    click.echo(f"{survey}: {file.name}: {summary.line()}")


@frame_group.command("show")
@click.argument("survey")
@click.pass_obj
def frame_show(app: AppContext, survey: str) -> None:
    """Xem khung mẫu / the frame as a tree: code, name, quota, enumerator, households."""
    from sqlalchemy import select

    from fieldwork.frame import frame_units, get_survey, households_of
    from storage.models import User

    with _db(app).session() as s:
        found = get_survey(s, survey)
        units = frame_units(s, found.id)
        households = households_of(s, [u.id for u in units])
        users = dict(s.execute(select(User.id, User.username)).all())
        for u in units:
            listed = households.get(u.id, [])
            extra = f"  hộ/households {sum(not h.reserve for h in listed)}+{sum(h.reserve for h in listed)}" if listed else ""
            quotas = "; ".join(f"{k}={v}" for k, v in (u.field_quotas or {}).items())
            click.echo(f"{'  ' * u.level}{u.code}\t{u.name}\t{u.kind}\tchỉ tiêu/quota {u.quota if u.quota is not None else '-'}"
                       f"{' (' + quotas + ')' if quotas else ''}\t{users.get(u.enumerator_id, '') if u.enumerator_id else ''}{extra}")
    if not units:
        click.echo(f"{survey}: chưa có khung mẫu / no frame yet: phieu frame import {survey} FILE.csv")


@frame_group.command("assign")
@click.argument("survey")
@click.argument("username")
@click.argument("units", nargs=-1, required=True)
@WHO
@click.pass_obj
def frame_assign(app: AppContext, survey: str, username: str, units: tuple[str, ...], actor: str) -> None:
    """Giao đơn vị cho điều tra viên / assign UNITS to the enumerator USERNAME ("" to clear)."""
    from fieldwork.frame import get_survey, update_unit

    with _db(app).session(immediate=True) as s:
        found = get_survey(s, survey)
        for code in units:
            update_unit(s, found.id, code, actor=actor, enumerator=username)
    click.echo(f"{survey}: {', '.join(units)} → {username or '(không ai / nobody)'}")


@frame_group.command("rules")
@click.argument("survey")
@click.option("--tolerance", type=float, help="Counters: responses may differ from visitors by this share (0.5).")
@click.option("--busy-visitors", type=int, help="Visitors a day from which a counter is very busy (40).")
@click.option("--busy-min", type=int, help="Responses a very busy counter needs a day (20).")
@click.option("--per-village", type=int, help="Households drawn per village for phúc tra (3).")
@click.option("--overdue-days", type=int, help="Days after issue when an uncollected sheet is overdue (3).")
@click.option("--allowance", type=int, help="Allowance per respondent on the signed list, VND (0 = blank).")
@click.option("--collect-by", help="Date by which sheets must be collected (overdue afterwards).")
@click.option("--deliver-by", help="Date by which the post office hands the bundles over.")
@click.option("--poster-url", help="URL for the counter posters' QR code, with {survey} and {unit}.")
@WHO
@click.pass_obj
def frame_rules(app: AppContext, survey: str, actor: str, **given: Any) -> None:
    """Quy tắc thực địa / the survey's fieldwork rules (shown; the options given are stored)."""
    from fieldwork.frame import get_survey
    from fieldwork.plan import rules, set_rules

    names = {"tolerance": "quota_tolerance", "busy_visitors": "busy_visitors", "busy_min": "busy_min_responses",
             "per_village": "verification_per_village", "overdue_days": "overdue_days", "allowance": "allowance_vnd"}
    overrides = {names[k]: v for k, v in given.items() if k in names and v is not None}
    defaults = app.workspace().settings.fieldwork
    with _db(app).session(immediate=True) as s:
        found = get_survey(s, survey)
        if overrides or any(given.get(k) is not None for k in ("collect_by", "deliver_by", "poster_url")):
            result = set_rules(s, found, defaults, actor=actor, overrides=overrides, collect_by=_day(given["collect_by"]),
                               deliver_by=_day(given["deliver_by"]), poster_url=given["poster_url"])
        else:
            result = rules(s, found, defaults)
    click.echo(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))


# --- sheets ----------------------------------------------------------------------------------


@click.group("sheets")
def sheets_group() -> None:
    """Phiếu ngoài thực địa / a sheet's life: issued, delivered, collected, refused, absent, lost, replaced."""


@sheets_group.command("mark")
@click.argument("survey")
@click.argument("status", type=click.Choice(["issued", "delivered", "collected", "refused", "absent", "lost", "replaced"]))
@click.argument("serials", nargs=-1, required=True)
@click.option("--to", "enumerator", help="issued: the enumerator receiving them (default: the unit's).")
@click.option("--household", help="The household code (one sheet): delivered to, refused by, or the reserve replacing.")
@click.option("--date", "day", help="When it happened in the field (default today).")
@click.option("--note", default="", help="A note kept with the change.")
@WHO
@click.pass_obj
def sheets_mark(app: AppContext, survey: str, status: str, serials: tuple[str, ...], enumerator: str | None,
                household: str | None, day: str | None, note: str, actor: str) -> None:
    """Ghi trạng thái phiếu / record STATUS for SERIALS (12, 1-27, 3,5): all or nothing."""
    from fieldwork.lifecycle import mark, parse_serials

    with _db(app).session(immediate=True) as s:
        result = mark(s, survey, parse_serials(serials), status, actor=actor, source="cli", day=_day(day),
                      enumerator=enumerator, household=household, note=note)
    click.echo(f"{survey}: {result.line(status)}")


@sheets_group.command("import")
@click.argument("survey")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@WHO
@click.pass_obj
def sheets_import(app: AppContext, survey: str, file: Path, actor: str) -> None:
    """Nhập danh sách phát/thu đã điền / import a filled manifest (CSV or XLSX); all rows or none."""
    from fieldwork.manifest import import_manifest

    with _db(app).session(immediate=True) as s:
        done = import_manifest(s, survey, file, actor=actor)
    steps = ", ".join(f"{k} {v}" for k, v in done.items()) or "không có gì mới / nothing new"
    click.echo(f"{survey}: {file.name}: {steps}")


@sheets_group.command("history")
@click.argument("survey")
@click.argument("serial", type=int)
@click.pass_obj
def sheets_history(app: AppContext, survey: str, serial: int) -> None:
    """Nhật ký một phiếu / one sheet's log: every change with who and when."""
    from sqlalchemy import select

    from fieldwork.frame import get_survey
    from fieldwork.lifecycle import history, sheets_by_serial
    from storage.fieldwork_models import Household

    with _db(app).session() as s:
        sheet = sheets_by_serial(s, get_survey(s, survey), [serial])[serial]
        for e in history(s, sheet.id):
            code = s.scalar(select(Household.code).where(Household.id == e.household_id)) if e.household_id else ""
            click.echo(f"{e.at:%Y-%m-%d %H:%M}\t{e.day or ''}\t{e.actor}\t{e.source}\t{e.from_status} → {e.to_status}"
                       f"\t{code or ''}\t{e.note}")


@click.command("manifest")
@click.argument("survey")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for manifest-USER.pdf (with the allowance list) and manifest-USER.csv.")
@click.pass_obj
def manifest_command(app: AppContext, survey: str, out_dir: Path) -> None:
    """Danh sách phát/thu phiếu của từng điều tra viên / each enumerator's manifest, PDF and CSV."""
    from fieldwork.manifest import write_all

    with _db(app).session() as s:
        written = write_all(s, survey, out_dir, app.workspace().settings.fieldwork)
    for path in written:
        click.echo(str(path))
    if not written:
        click.echo("Chưa có phiếu nào giao cho điều tra viên / no sheets are assigned to an enumerator")


# --- transmittal batches -------------------------------------------------------------------


@click.group("transmittal")
def transmittal_group() -> None:
    """Bàn giao phiếu / bundles handed over, and what they lack."""


@transmittal_group.command("add")
@click.argument("survey")
@click.argument("code")
@click.argument("serials", nargs=-1)
@click.option("--date", "day", help="Day received (default today); a new batch only.")
@click.option("--from", "handed_by", default="", help="Who handed it over (post office, enumerator).")
@click.option("--enumerator", help="The enumerator whose sheets these are.")
@click.option("--count", "declared", type=int, help="The count written on the transmittal slip.")
@WHO
@click.pass_obj
def transmittal_add(app: AppContext, survey: str, code: str, serials: tuple[str, ...], day: str | None, handed_by: str,
                    enumerator: str | None, declared: int | None, actor: str) -> None:
    """Ghi một bàn giao / record batch CODE (created if new) and the SERIALS found in it."""
    from fieldwork import transmittal
    from fieldwork.frame import get_survey
    from fieldwork.lifecycle import format_serials, parse_serials

    with _db(app).session(immediate=True) as s:
        try:
            transmittal.get_batch(s, get_survey(s, survey), code)
        except NotFoundError:  # a new batch
            transmittal.create_batch(s, survey, code, received_on=_day(day) or date.today(), actor=actor,
                                     handed_by=handed_by, enumerator=enumerator, declared=declared)
        out = transmittal.add_sheets(s, survey, code, parse_serials(serials), actor=actor) if serials else {}
        result = transmittal.reconcile(s, survey, code)
    for key, values in out.items():
        if values:
            click.echo(f"{key}: {format_serials(values)}")
    _print_reconciliation(result)


@transmittal_group.command("check")
@click.argument("survey")
@click.argument("code", required=False)
@click.pass_obj
def transmittal_check(app: AppContext, survey: str, code: str | None) -> None:
    """Đối chiếu bàn giao / reconcile batch CODE, or every batch."""
    from fieldwork import transmittal

    with _db(app).session() as s:
        results = [transmittal.reconcile(s, survey, code)] if code else transmittal.list_batches(s, survey)
    for result in results:
        _print_reconciliation(result)


def _print_reconciliation(result: Any) -> None:
    from fieldwork.lifecycle import format_serials

    slip = "" if result.declared is None else f", phiếu bàn giao ghi / slip says {result.declared}"
    click.echo(f"{result.code} ({result.received_on}): {result.found} phiếu / sheets{slip}")
    if result.count_matches is False:
        click.echo("  số lượng không khớp / the count does not match")
    for extra in result.extra:
        click.echo(f"  thừa / extra {extra['serial']}: {extra['reason']}")
    if result.missing:
        click.echo(f"  thiếu / missing: {format_serials(result.missing)}")
    if result.not_scanned:
        click.echo(f"  chưa quét / not scanned: {format_serials(result.not_scanned)}")


# --- verification (phúc tra) ---------------------------------------------------------------


@click.group("verify")
def verify_group() -> None:
    """Phúc tra / re-verification of delivered households."""


@verify_group.command("draw")
@click.argument("survey")
@click.option("--seed", required=True, help="Any text; the same seed on the same log draws the same households.")
@click.option("--per-village", type=int, help="Households per village (default: the survey's rule).")
@click.option("--out", "out_pdf", type=click.Path(dir_okay=False, path_type=Path), help="Write the list to visit (PDF).")
@WHO
@click.pass_obj
def verify_draw(app: AppContext, survey: str, seed: str, per_village: int | None, out_pdf: Path | None, actor: str) -> None:
    """Chọn mẫu phúc tra / draw the households to re-verify, village by village."""
    from fieldwork import verification
    from fieldwork.frame import get_survey
    from fieldwork.plan import rules

    with _db(app).session(immediate=True) as s:
        n = per_village or rules(s, get_survey(s, survey), app.workspace().settings.fieldwork).settings.verification_per_village
        drawn = verification.draw(s, survey, per_village=n, seed=seed, actor=actor)
        for d in drawn:
            click.echo(f"{d.unit}\t{d.household}\t{d.serial}\t{d.enumerator}")
        if out_pdf:
            count = verification.list_pdf(s, survey, out_pdf)
            click.echo(f"{out_pdf}: {count} hộ / households")
    click.echo(f"{len(drawn)} hộ mới được chọn / newly drawn")


@verify_group.command("record")
@click.argument("survey")
@click.argument("serial", type=int)
@click.argument("outcome", type=click.Choice(["confirmed", "not_visited", "other_person"]))
@click.option("--note", default="")
@WHO
@click.pass_obj
def verify_record(app: AppContext, survey: str, serial: int, outcome: str, note: str, actor: str) -> None:
    """Ghi kết quả phúc tra / record what the visit found for sheet SERIAL's household."""
    from fieldwork import verification

    with _db(app).session(immediate=True) as s:
        verification.record(s, survey, serial, outcome, actor=actor, note=note)
    click.echo(f"{survey} {serial}: {outcome}")


@verify_group.command("report")
@click.argument("survey")
@click.pass_obj
def verify_report(app: AppContext, survey: str) -> None:
    """Sai lệch theo điều tra viên / discrepancies per enumerator."""
    from fieldwork import verification

    with _db(app).session() as s:
        checks = verification.discrepancies(s, survey)
    click.echo("enumerator\tdrawn\tchecked\tconfirmed\tnot_visited\tother_person\tproblems")
    for c in checks:
        click.echo(f"{c.enumerator}\t{c.drawn}\t{c.checked}\t{c.confirmed}\t{c.not_visited}\t{c.other_person}\t"
                   + ",".join(map(str, c.problems)))


# --- counters --------------------------------------------------------------------------------


@click.group("counters")
def counters_group() -> None:
    """Khảo sát tại quầy / counter surveys: visitors, the quota rule, posters."""


@counters_group.command("visitors")
@click.argument("survey")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@WHO
@click.pass_obj
def counters_visitors(app: AppContext, survey: str, file: Path, actor: str) -> None:
    """Nhập lượt người đến / import visitor counts (counter code, day, [field], visitors, [responses])."""
    from fieldwork.counters import import_visitors

    with _db(app).session(immediate=True) as s:
        new, corrected = import_visitors(s, survey, file, actor=actor)
    click.echo(f"{survey}: {file.name}: {new} mới / new, {corrected} sửa / corrected")


@counters_group.command("add")
@click.argument("survey")
@click.argument("unit")
@click.argument("day")
@click.argument("visitors", type=int)
@click.option("--field", "field_name", default="", help="The field of procedure (Hộ tịch ...), or all.")
@click.option("--responses", type=int, help="Sheets the counter counted (default: the sheets checked in that day).")
@WHO
@click.pass_obj
def counters_add(app: AppContext, survey: str, unit: str, day: str, visitors: int, field_name: str,
                 responses: int | None, actor: str) -> None:
    """Ghi lượt người đến của một quầy trong một ngày / record one counter-day's visitors."""
    from fieldwork.counters import record_visitors
    from fieldwork.frame import get_survey

    parsed = _day(day)
    assert parsed is not None
    with _db(app).session(immediate=True) as s:
        _, outcome = record_visitors(s, get_survey(s, survey), unit, parsed, visitors, actor=actor, field=field_name,
                                     responses=responses)
    click.echo(f"{survey} {unit} {parsed}: {visitors} lượt / visitors ({outcome})")


@counters_group.command("check")
@click.argument("survey")
@click.option("--all", "show_all", is_flag=True, help="Every counter-day, not only those breaking the rule.")
@click.pass_obj
def counters_check(app: AppContext, survey: str, show_all: bool) -> None:
    """Kiểm tra quy tắc số phiếu / the quota rule per counter and day (exit 8 when a counter breaks it)."""
    from fieldwork.counters import counter_days, field_progress
    from fieldwork.frame import get_survey
    from fieldwork.plan import rules

    with _db(app).session() as s:
        found = get_survey(s, survey)
        days = counter_days(s, found, rules(s, found, app.workspace().settings.fieldwork).settings)
        fields = field_progress(s, found)
    click.echo("unit\tday\tfield\tvisitors\tresponses\tallowed\tproblem")
    for d in days:
        if show_all or d.problem:
            click.echo(f"{d.unit}\t{d.day}\t{d.field}\t{d.visitors}\t{d.responses}\t{d.low}-{d.high}\t{d.problem or 'ok'}")
    for f in fields:
        click.echo(f"{f['unit']}\t{f['field']}\tchỉ tiêu/quota {f['quota']}\tđã thu/collected {f['collected']}")
    broken = sum(bool(d.problem) for d in days)
    click.echo(f"{broken} ngày-quầy sai quy tắc / counter-days break the rule, trên / of {len(days)}")
    if broken:
        sys.exit(int(ConflictError.exit_code))


@counters_group.command("posters")
@click.argument("survey")
@click.option("--out", "out_pdf", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--unit", "units", multiple=True, help="Only these counters (repeat).")
@click.pass_obj
def counters_posters(app: AppContext, survey: str, out_pdf: Path, units: tuple[str, ...]) -> None:
    """In áp phích mã QR của từng quầy / one QR poster per counter."""
    from fieldwork.posters import posters_pdf

    ws = app.workspace()
    with _db(app).session() as s:
        count = posters_pdf(s, survey, ws.secret(), out_pdf, settings=ws.settings.fieldwork, only=list(units) or None)
    click.echo(f"{out_pdf}: {count} áp phích / posters")


# --- the operations table --------------------------------------------------------------------


@click.command("fieldwork")
@click.argument("survey")
@click.option("--format", "fmt", type=click.Choice(["text", "csv", "json", "xlsx"]), default="text", show_default=True)
@click.option("--by", type=click.Choice(["unit", "enumerator"]), default="unit", show_default=True)
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), help="File to write (xlsx needs one).")
@click.option("--today", help="Count overdue sheets as of this day (default today).")
@click.pass_obj
def fieldwork_command(app: AppContext, survey: str, fmt: str, by: str, out_path: Path | None, today: str | None) -> None:
    """Tình hình thực địa / the operations table: one row per unit at every level (or per enumerator)."""
    from fieldwork.chart import chart_png, pick_rows
    from fieldwork.operations import csv_text, operations
    from fieldwork.workbook import operations_xlsx

    with _db(app).session() as s:
        ops = operations(s, survey, app.workspace().settings.fieldwork, today=_day(today))
    rows = ops.units if by == "unit" else ops.enumerators
    if fmt == "xlsx":
        if out_path is None:
            raise click.UsageError("--format xlsx needs --out FILE.xlsx")
        out_path.write_bytes(operations_xlsx(ops, chart_png(pick_rows(ops.units), f"{ops.survey}: {ops.title}")))
        click.echo(str(out_path))
        return
    if fmt == "csv":
        text = csv_text(rows)
    elif fmt == "json":
        text = json.dumps({"survey": ops.survey, "today": ops.today.isoformat(), "rows": [r.as_dict() for r in rows],
                           "total": ops.total.as_dict()}, ensure_ascii=False, indent=1) + "\n"
    else:
        text = _text_table(rows + [ops.total])
    if out_path:
        out_path.write_text(text, encoding="utf-8")
        click.echo(str(out_path))
    else:
        click.echo(text, nl=False)


def _text_table(rows: list[Any]) -> str:
    lines = [f"{'đơn vị / unit':32} {'chỉ tiêu':>8} {'đã in':>6} {'đã phát':>7} {'đã thu':>6} {'từ chối':>7} "
             f"{'đã quét':>7} {'xong':>5} {'quá hạn':>7}"]
    for r in rows:
        c = r.counts
        label = ("  " * r.level + (r.key or "TỔNG / TOTAL"))[:32]
        lines.append(f"{label:32} {r.quota if r.quota is not None else '-':>8} {c.printed:>6} {c.delivered:>7} "
                     f"{c.collected:>6} {c.refused:>7} {c.scanned:>7} {c.final:>5} {c.overdue:>7}")
    return "\n".join(lines) + "\n"


COMMANDS: list[click.Command] = [frame_group, sheets_group, manifest_command, transmittal_group, verify_group,
                                 counters_group, fieldwork_command]
