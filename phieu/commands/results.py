"""`phieu results`, `phieu report` and `phieu export`: the results layer's files (docs/results.md).

The results package (pandas, matplotlib, openpyxl, pyreadstat behind it) is imported inside the
commands, so the other commands do not pay for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from phieu.cli import AppContext

EXPORT_FORMATS = ("csv", "xlsx", "sav", "long", "codebook")


def _db(app: AppContext) -> Any:
    from storage.db import Database

    return Database.for_workspace(app.workspace())


def percent(value: float | None) -> str:
    """A rate for people: two decimals with a comma, as Vietnamese reports print it."""
    return "—" if value is None else f"{value:.2f}".replace(".", ",") + " %"


_by_option = click.option(
    "--by", "by", multiple=True, metavar="LEVEL",
    help="Also per unit of this kind (district, commune, village, counter…; 'all' = every kind). Repeatable.")


@click.command("results")
@click.argument("survey")
@_by_option
@click.option("--against", default=None, metavar="SURVEY", help="Earlier round to compare with (default: the questionnaire's index.previous).")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="File to write.")
@click.pass_obj
def results_command(app: AppContext, survey: str, by: tuple[str, ...], against: str | None, fmt: str, out: Path) -> None:
    """Chỉ số hài lòng / the satisfaction index, per level and unit (CSV or JSON; docs/results.md)."""
    from results.service import survey_results
    from results.tables import results_json, write_json, write_results_csv

    db = _db(app)
    with db.session() as session:
        computed = survey_results(session, survey, by=by, against=against)
    db.dispose()
    results = computed.results
    if fmt == "csv":
        write_results_csv(results, out)
    else:
        write_json(results_json(results), out)
    _say_index(results)
    click.echo(f"Đã ghi / wrote {out}")


def _say_index(results: Any) -> None:
    overall = results.whole.overall
    line = f"{results.index.title}: {percent(overall.rate)} ({overall.tally.n_valid} câu trả lời hợp lệ / valid answers)"
    if overall.change is not None:
        line += f", {overall.change:+.2f} điểm so với / points against {results.previous_survey}".replace(".", ",", 1)
    click.echo(line)
    if results.provisional:
        click.echo(f"TẠM TÍNH / PROVISIONAL: {overall.tally.n_open} câu trả lời chưa xong / answers still open "
                   f"(chờ duyệt / review {overall.tally.n_review}, trang chưa nhận dạng / unidentified pages "
                   f"{overall.tally.n_unidentified}, trang chưa quét / pages not scanned {overall.tally.n_missing}); "
                   f"{results.unknown_pages} trang không rõ phiếu / pages of unknown sheet")


@click.command("report")
@click.argument("survey")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="PDF file to write.")
@click.option("--unit", default=None, metavar="CODE", help="Only this unit and the units below it.")
@click.option("--by", "by", multiple=True, metavar="LEVEL", help="Unit kinds ranked in the report (default: all below the scope).")
@click.option("--against", default=None, metavar="SURVEY", help="Earlier round to compare with (default: the questionnaire's index.previous).")
@click.pass_obj
def report_command(app: AppContext, survey: str, out: Path, unit: str | None, by: tuple[str, ...],
                   against: str | None) -> None:
    """Báo cáo PDF tiếng Việt / the Vietnamese PDF report (refused when totals do not reconcile)."""
    from results.report import write_report
    from results.service import survey_results

    db = _db(app)
    with db.session() as session:
        computed = survey_results(session, survey, by=by or ("all",), against=against, unit=unit)
    db.dispose()
    pages = write_report(computed, out, settings=app.workspace().settings.results)
    _say_index(computed.results)
    click.echo(f"Đã ghi / wrote {out} ({pages} trang / pages)")


@click.command("export")
@click.argument("survey")
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS), default="csv", show_default=True,
              help="csv: one row per sheet; xlsx: the same with a codebook sheet; sav: SPSS; long: one row per answer; codebook: every variable.")
@click.option("--labels", is_flag=True, help="Option labels instead of codes (csv, xlsx, long).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="File to write.")
@click.pass_obj
def export_command(app: AppContext, survey: str, fmt: str, labels: bool, out: Path) -> None:
    """Xuất dữ liệu / export the answers (answers awaiting review are marked ?REVIEW; docs/results.md)."""
    db = _db(app)
    if fmt == "csv" and not labels:  # the CSV of codes, exactly as before
        from storage.export import export_rows, write_csv

        with db.session() as session:
            header, rows = export_rows(session, survey)
        db.dispose()
        write_csv(out, header, rows)
        click.echo(f"Đã ghi / wrote {out} ({len(rows)} phiếu / sheets, {len(header)} cột / columns)")
        return
    from results import exports, spss
    from results.dataset import load_survey

    with db.session() as session:
        data = load_survey(session, survey, answers=fmt != "codebook")
    db.dispose()
    writers = {
        "csv": lambda: exports.write_wide_csv(data, out, labels=labels),
        "xlsx": lambda: exports.write_xlsx(data, out, labels=labels),
        "sav": lambda: spss.write_sav(data, out),
        "long": lambda: exports.write_long_csv(data, out, labels=labels),
        "codebook": lambda: exports.write_codebook_csv(data, out),
    }
    count = writers[fmt]()
    unit = "biến / variables" if fmt == "codebook" else "câu trả lời / answers" if fmt == "long" else "phiếu / sheets"
    click.echo(f"Đã ghi / wrote {out} ({count} {unit})")


COMMANDS: list[click.Command] = [results_command, report_command, export_command]
