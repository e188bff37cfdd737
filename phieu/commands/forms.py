"""Questionnaire commands: ``phieu form build``, ``phieu survey add|list``, ``phieu print``.

reportlab, SQLAlchemy and the form renderer are imported inside the commands that use them, so
``phieu --help`` and the other commands do not pay for them.
"""

from __future__ import annotations

import csv
import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import click

from core.errors import ConflictError
from core.settings import FormSettings
from phieu.workspace import Workspace, is_workspace, resolve_home

if TYPE_CHECKING:
    from formgen.render import BuiltForm
    from phieu.cli import AppContext
    from storage.db import Database
    from storage.files import FileStore

log = logging.getLogger(__name__)


@click.group("form")
def form() -> None:
    """Phiếu in / printable questionnaires."""


@form.command("build")
@click.argument("survey_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for blank.pdf and layout.json.",
)
@click.option("--large-print", is_flag=True, help="Larger type and boxes (chữ to).")
@click.pass_obj
def form_build(app: AppContext, survey_file: Path, out_dir: Path, large_print: bool) -> None:
    """Dựng phiếu trắng và layout / write DIR/blank.pdf and DIR/layout.json from SURVEY_FILE."""
    from formgen.definition import load_definition
    from formgen.render import build_form

    built = build_form(load_definition(survey_file), settings=_form_settings(app), large_print=large_print)
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_atomic(out_dir / "blank.pdf", built.blank_pdf)
    _write_atomic(out_dir / "layout.json", built.layout.to_json().encode())
    boxes = sum(1 for _ in built.layout.all_boxes())
    click.echo(
        f"{survey_file}: {built.layout.page_count} trang / pages, {boxes} ô / boxes -> "
        f"{out_dir / 'blank.pdf'}, {out_dir / 'layout.json'}"
    )


@click.group("survey")
def survey() -> None:
    """Khảo sát đã đăng ký / registered surveys."""


@survey.command("add")
@click.argument("survey_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--large-print", is_flag=True, help="Register the large-print layout of this edition.")
@click.pass_obj
def survey_add(app: AppContext, survey_file: Path, large_print: bool) -> None:
    """Đăng ký khảo sát / register SURVEY_FILE (survey, edition, layout, blank master)."""
    from formgen.definition import load_definition
    from formgen.render import build_form
    from storage.surveys import register_edition

    ws = app.workspace()
    definition = load_definition(survey_file)
    built = build_form(definition, settings=ws.settings.form, large_print=large_print)
    db, files = _storage(ws)
    with db.session(immediate=True) as session:
        edition, created = register_edition(
            session,
            definition,
            yaml_text=survey_file.read_text(encoding="utf-8"),
            layout=built.layout,
            blank_pdf=built.blank_pdf,
            files=files,
        )
    verb = "đã đăng ký / registered" if created else "đã có, không đổi / already registered, unchanged"
    click.echo(
        f"{definition.survey} ấn bản / edition {definition.edition}: {verb} ({built.layout.page_count} pages)"
    )


@survey.command("list")
@click.pass_obj
def survey_list(app: AppContext) -> None:
    """Liệt kê khảo sát / list registered surveys and editions."""
    from sqlalchemy import func, select

    from storage.models import Edition, Sheet, Survey

    db, _ = _storage(app.workspace())
    with db.session() as session:
        rows = session.execute(
            select(Survey.code, Edition.code, Edition.page_count, Survey.title, func.count(Sheet.id))
            .join(Edition, Edition.survey_id == Survey.id)
            .outerjoin(Sheet, Sheet.edition_id == Edition.id)
            .group_by(Survey.code, Edition.code, Edition.page_count, Survey.title, Edition.id)
            .order_by(Edition.id)
        ).all()
    if not rows:
        click.echo("Chưa có khảo sát nào / no surveys yet: phieu survey add FILE.yaml")
    for code, edition, pages, title, printed in rows:
        click.echo(f"{code}\t{edition}\t{pages} trang/pages\t{printed} phiếu đã in/printed\t{title}")


@click.command("print")
@click.argument("survey_code")
@click.option("--count", type=click.IntRange(1, 100_000), help="Number of copies in this run (not with --by-frame).")
@click.option(
    "--unit", "units", multiple=True, help="Unit code (repeat); copies are split in consecutive blocks. "
    "With --by-frame: only these units and the units below them."
)
@click.option("--by-frame", is_flag=True, help="Each unit's quota from the sample frame, in consecutive blocks per "
              "enumerator and unit (only what is not printed yet).")
@click.option("--spares", type=click.IntRange(0, 1000), default=0, help="--by-frame: extra copies per unit.")
@click.option("--edition", default=None, help="Edition code (default: the latest registered).")
@click.option(
    "--duplex", is_flag=True, help="Two-sided printing: odd-page copies get a blank back page (in hai mặt)."
)
@click.option(
    "--out",
    "out_pdf",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="PDF to write; the manifest CSV is written beside it (NAME.manifest.csv).",
)
@click.pass_obj
def print_sheets(
    app: AppContext,
    survey_code: str,
    count: int | None,
    units: tuple[str, ...],
    by_frame: bool,
    spares: int,
    edition: str | None,
    duplex: bool,
    out_pdf: Path,
) -> None:
    """In phiếu có số / print COUNT uniquely numbered copies of SURVEY_CODE into one PDF."""
    from formgen.render import pages_per_copy, stamp_sheets
    from storage.surveys import allocate_serials, get_edition

    if (count is None) == (not by_frame):
        raise click.UsageError("give --count N, or --by-frame / cho --count N hoặc --by-frame")

    ws = app.workspace()
    db, _ = _storage(ws)
    manifest = out_pdf.with_name(out_pdf.stem + ".manifest.csv")
    out_pdf.parent.mkdir(parents=True, exist_ok=True)
    with db.session(immediate=True) as session:
        stored = get_edition(session, survey_code, edition)
        built = _rebuild(
            stored.definition_yaml, stored.layout_json, ws.settings.form, f"{survey_code} {stored.code}"
        )
        blocks: list[str] = []
        if by_frame:
            from fieldwork.printing import print_by_frame

            framed = print_by_frame(session, survey_code, stored.code, spares=spares, only=units,
                                    output_name=str(out_pdf))
            run, count, units_of = framed.run, len(framed.run.serials), framed.units
            blocks = [f"  {b.enumerator or '-'}\t{b.unit_code}{' ' + b.field if b.field else ''}\t{first}-{last}"
                      for b, first, last in framed.blocks]
        else:
            assert count is not None
            run = allocate_serials(
                session, survey_code, stored.code, count, units=units, output_name=str(out_pdf)
            )
            units_of = run.units
        pdf_tmp, csv_tmp = _temp_beside(out_pdf), _temp_beside(manifest)
        try:
            stamp_sheets(built, run.serials, ws.secret(), pdf_tmp, duplex=duplex)
            stride = pages_per_copy(built, duplex=duplex)
            _write_manifest(csv_tmp, run.serials, units_of, built.layout.page_count, stride)
        except BaseException:
            pdf_tmp.unlink(missing_ok=True)
            csv_tmp.unlink(missing_ok=True)
            raise
    os.replace(pdf_tmp, out_pdf)  # only once the serials are committed
    os.replace(csv_tmp, manifest)
    for line in blocks:
        click.echo(line)
    click.echo(
        f"{survey_code} ấn bản / edition {run.edition}: {count} phiếu / copies, số / serials "
        f"{run.serials[0]}-{run.serials[-1]} -> {out_pdf} ({count * stride} pages), {manifest}"
    )


def _rebuild(yaml_text: str, layout_json: str, settings: FormSettings, name: str) -> BuiltForm:
    """Render the stored definition again; it must give exactly the stored layout (normal or large print)."""
    from formgen.definition import load_definition
    from formgen.render import build_form

    definition = load_definition(yaml_text, source_name=name)
    for large in (False, True):
        built = build_form(definition, settings=settings, large_print=large)
        if built.layout.to_json() == layout_json:
            return built
    raise ConflictError(
        f"{name}: bố cục in ra khác bố cục đã đăng ký (settings.yaml đã đổi?) / the layout printed now differs from "
        "the registered one (were the form settings changed?). Restore the settings, or register a new edition."
    )


def _write_manifest(path: Path, serials: list[int], units: list[str | None], pages: int, stride: int) -> None:
    """serial, unit, first and last printed page of each copy (1-based pages of the PDF)."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["serial", "unit", "first_page", "last_page"])
        for i, (serial, unit) in enumerate(zip(serials, units, strict=True)):
            writer.writerow([serial, unit or "", i * stride + 1, i * stride + pages])


def _temp_beside(path: Path) -> Path:
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    return Path(name)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = _temp_beside(path)
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _form_settings(app: AppContext) -> FormSettings:
    """The workspace's form settings when a workspace exists; building a form needs none."""
    home = resolve_home(app.home)
    return Workspace.open(home).settings.form if is_workspace(home) else FormSettings()


def _storage(ws: Workspace) -> tuple[Database, FileStore]:
    from storage.db import Database
    from storage.files import FileStore

    return Database.for_workspace(ws), FileStore(ws.files_dir)


COMMANDS: list[click.Command] = [form, survey, print_sheets]
