"""storage.surveys on SQLite and PostgreSQL: editions frozen once registered, serials never repeat."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.errors import ConflictError, NotFoundError
from formgen.definition import load_definition
from formgen.render import BuiltForm, build_form
from storage.db import Database
from storage.files import FileStore
from storage.models import Sheet, Unit
from storage.surveys import allocate_serials, blank_pdf, get_layout, list_editions, register_edition

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "counter-3level.yaml"


@pytest.fixture(scope="module")
def built() -> BuiltForm:
    return build_form(load_definition(EXAMPLE))


def _register(db: Database, files: FileStore, built: BuiltForm, text: str | None = None) -> bool:
    definition = load_definition(text, source_name="x.yaml") if text else built.definition
    with db.session() as session:
        _, created = register_edition(
            session,
            definition,
            yaml_text=text or EXAMPLE.read_text(encoding="utf-8"),
            layout=build_form(definition).layout if text else built.layout,
            blank_pdf=built.blank_pdf,
            files=files,
        )
    return created


def test_register_is_idempotent_and_frozen(
    database: Database, file_store: FileStore, built: BuiltForm
) -> None:
    assert _register(database, file_store, built) is True
    assert _register(database, file_store, built) is False
    changed = EXAMPLE.read_text(encoding="utf-8").replace("Hộ tịch", "Hộ tịch, quốc tịch")
    with pytest.raises(ConflictError, match="new edition"):
        _register(database, file_store, built, changed)
    assert (
        _register(database, file_store, built, changed.replace('edition: "2022"', 'edition: "2023"')) is True
    )
    with database.session() as session:
        assert list_editions(session) == [("QUAY-3MUC", "2022"), ("QUAY-3MUC", "2023")]
        assert get_layout(session, "QUAY-3MUC", "2022") == built.layout
        assert blank_pdf(session, file_store, "QUAY-3MUC", "2022") == built.blank_pdf
        with pytest.raises(NotFoundError):
            get_layout(session, "QUAY-3MUC", "1999")


def test_serials_never_repeat_across_runs_and_editions(
    database: Database, file_store: FileStore, built: BuiltForm
) -> None:
    _register(database, file_store, built)
    with database.session() as session:
        first = allocate_serials(session, "QUAY-3MUC", "2022", 4, units=["HT", "CT"])
    with database.session() as session:
        second = allocate_serials(session, "QUAY-3MUC", "2022", 3, units=["CT"])
    assert first.serials == [1, 2, 3, 4] and second.serials == [5, 6, 7]
    assert first.units == ["HT", "HT", "CT", "CT"]
    with database.session() as session:
        units = {serial: code for serial, code in session.execute(select(Sheet.serial, Unit.code).join(Unit))}
        assert units == {1: "HT", 2: "HT", 3: "CT", 4: "CT", 5: "CT", 6: "CT", 7: "CT"}
        assert session.scalar(select(func.count()).select_from(Unit)) == 2  # CT created once


def test_parallel_print_runs_get_disjoint_serials(
    database: Database, file_store: FileStore, built: BuiltForm
) -> None:
    _register(database, file_store, built)
    results: list[list[int]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with database.session(immediate=True) as session:
                results.append(allocate_serials(session, "QUAY-3MUC", "2022", 25).serials)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    everything = [s for r in results for s in r]
    assert sorted(everything) == list(range(1, 76))


def test_unknown_survey_and_bad_count(database: Database) -> None:
    with database.session() as session, pytest.raises(NotFoundError, match="phieu survey add"):
        allocate_serials(session, "NOPE", "1", 3)
