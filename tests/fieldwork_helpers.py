"""Set-up for the fieldwork tests: the example questionnaires registered in a real database and the
example frames (examples/*.csv, the files we ship) imported through the real importer."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from sqlalchemy import select

from formgen.definition import load_definition
from formgen.render import BuiltForm, build_form
from storage import surveys
from storage.db import Database
from storage.files import FileStore
from storage.models import Unit

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
SIPAS = EXAMPLES / "sipas-2024.yaml"
PKS05 = EXAMPLES / "counter-pks05.yaml"
QT_FRAME = EXAMPLES / "frame-quang-tri-2024.csv"
COUNTER_FRAME = EXAMPLES / "counters-pks05-2024.csv"
SECRET = bytes(range(32))


@cache
def form(path: Path) -> BuiltForm:
    return build_form(load_definition(path))


def register(db: Database, store: FileStore, path: Path) -> BuiltForm:
    built = form(path)
    with db.session() as s:
        surveys.register_edition(s, built.definition, yaml_text=path.read_text(encoding="utf-8"), layout=built.layout,
                                 blank_pdf=built.blank_pdf, files=store, actor="test")
    return built


def with_frame(db: Database, store: FileStore, questionnaire: Path, frame_file: Path) -> BuiltForm:
    """The survey registered and the example frame imported (enumerator accounts created)."""
    from fieldwork.frame import import_frame

    built = register(db, store, questionnaire)
    with db.session() as s:
        import_frame(s, built.layout.survey, frame_file, actor="test", add_enumerators=True)
    return built


def subtree(db: Database, survey_id: int) -> dict[str, set[str]]:
    """Each unit code → the codes of itself and every unit below it."""
    with db.session() as s:
        units = {u.id: (u.code, u.parent_id) for u in s.scalars(select(Unit).where(Unit.survey_id == survey_id))}
    out: dict[str, set[str]] = {code: {code} for code, _ in units.values()}
    for code, parent in units.values():
        while parent in units:
            out[units[parent][0]].add(code)
            parent = units[parent][1]
    return out
