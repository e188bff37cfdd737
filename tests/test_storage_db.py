"""Database gateway, migrations, file store and audit log, on real SQLite files and PostgreSQL."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select

from core.errors import NotFoundError, StorageError
from phieu.workspace import Workspace
from storage import audit
from storage.db import Database, normalise_url
from storage.files import FileStore
from storage.models import AuditEvent, Base, Survey


def test_migrations_create_every_model_table(database: Database) -> None:
    tables = set(inspect(database.engine).get_table_names())
    assert {t.name for t in Base.metadata.sorted_tables} <= tables
    assert database.current_revision() is not None
    database.migrate()  # running again is a no-op
    assert set(inspect(database.engine).get_table_names()) == tables


def test_migrations_match_the_models(database: Database) -> None:
    """A model change without a migration fails here (autogenerate finds nothing to do)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_session_commits_on_success_and_rolls_back_on_error(database: Database) -> None:
    with database.session() as s:
        s.add(Survey(code="SIPAS-2024", title="Chỉ số hài lòng"))
    with pytest.raises(RuntimeError), database.session() as s:
        s.add(Survey(code="OTHER", title="không lưu"))
        s.flush()
        raise RuntimeError("boom")
    with database.session(immediate=True) as s:
        assert s.scalars(select(Survey.code)).all() == ["SIPAS-2024"]
        assert s.scalar(select(Survey.title)) == "Chỉ số hài lòng"


def test_audit_record_is_kept_with_the_transaction(database: Database) -> None:
    with database.session() as s:
        audit.record(s, actor="machine", action="scan.page", entity="page", entity_id=7, detail={"tệp": "a.pdf"})
        audit.record(s, actor="lan", action="review.decide", entity="page", entity_id=7)
    with database.session() as s:
        events = audit.history(s, "page", 7)
        assert [e.actor for e in events] == ["machine", "lan"]
        assert events[0].detail == {"tệp": "a.pdf"}
        assert events[1].detail == {}
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == 2


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    db = Database.open(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    db.migrate()
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    from storage.models import Edition

    with pytest.raises(Exception, match="FOREIGN KEY"), db.session() as s:
        s.add(Edition(survey_id=999, code="A", definition_yaml="", definition_sha256="", layout_json="", page_count=1))
    db.dispose()


def test_for_workspace_opens_and_migrates(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "home", database_url=None)
    db = Database.for_workspace(ws)
    assert (tmp_path / "home" / "phieu.sqlite3").exists()
    assert "sheets" in inspect(db.engine).get_table_names()
    db.dispose()


def test_urls_are_mapped_to_psycopg() -> None:
    assert normalise_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("sqlite:///x") == "sqlite:///x"
    with pytest.raises(StorageError, match="invalid database URL"):
        Database.open("not a url")


def test_file_store_is_content_addressed_and_write_once(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "files")
    sha = store.put_bytes(b"%PDF-1.7 trang 1", ".pdf")
    path = store.path(sha)
    assert path == tmp_path / "files" / sha[:2] / sha[2:4] / f"{sha}.pdf"
    assert store.read(sha) == b"%PDF-1.7 trang 1"
    assert not os.stat(path).st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    mtime = path.stat().st_mtime_ns
    assert store.put_bytes(b"%PDF-1.7 trang 1", ".png") == sha  # same content: nothing rewritten
    assert store.path(sha) == path and path.stat().st_mtime_ns == mtime
    assert len(list(path.parent.iterdir())) == 1


def test_file_store_copies_files_unchanged(tmp_path: Path) -> None:
    original = tmp_path / "Bó phiếu 1.TIF"
    data = os.urandom(3 * 1024 * 1024 + 17)  # several copy chunks
    original.write_bytes(data)
    store = FileStore(tmp_path / "files")
    sha = store.put_file(original)
    assert store.exists(sha) and store.path(sha).suffix == ".tif"
    assert store.read(sha) == data
    assert original.read_bytes() == data
    assert store.put_file(original) == sha


def test_file_store_reports_missing_and_malformed(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "files")
    with pytest.raises(NotFoundError):
        store.read("0" * 64)
    assert not store.exists("0" * 64)
    with pytest.raises(StorageError, match="SHA-256"):
        store.path("../../etc/passwd")
    with pytest.raises(StorageError, match="missing.pdf"):
        store.put_file(tmp_path / "missing.pdf")


def test_migrations_downgrade_and_upgrade_again(database: Database) -> None:
    from alembic import command

    from storage.db import alembic_config

    with database.engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
    assert "sheets" not in inspect(database.engine).get_table_names()
    database.migrate()
    assert {t.name for t in Base.metadata.sorted_tables} <= set(inspect(database.engine).get_table_names())


def test_head_revision_is_the_newest_migration_and_older_databases_are_upgraded(database: Database) -> None:
    from alembic import command
    from alembic.script import ScriptDirectory

    from storage.db import alembic_config
    from storage.migrations import HEAD_REVISION

    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD_REVISION
    with database.engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0001")
    assert database.current_revision() == "0001"
    database.migrate()  # not at head: the fast check must not skip the upgrade
    assert database.current_revision() == HEAD_REVISION


def test_sqlite_writers_wait_for_each_other_instead_of_failing(tmp_path: Path) -> None:
    """The scan writer and the web app write at once: read-then-write blocks use immediate=True."""
    import threading

    db = Database.open(f"sqlite:///{tmp_path / 'busy.sqlite3'}")
    db.migrate()
    with db.session() as s:
        s.add(Survey(code="S", title="đếm", second_review_share=0.0))
    errors: list[BaseException] = []

    def bump(times: int) -> None:
        try:
            for _ in range(times):
                with db.session(immediate=True) as s:
                    survey = s.scalars(select(Survey)).one()
                    survey.second_review_share += 1
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    def log_pages(times: int) -> None:
        try:
            for n in range(times):
                with db.session() as s:
                    audit.record(s, actor="machine", action="scan.page", entity="page", entity_id=n)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=bump, args=(40,)) for _ in range(3)]
    threads.append(threading.Thread(target=log_pages, args=(60,)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with db.session() as s:
        assert s.scalar(select(Survey.second_review_share)) == 120  # no lost update
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == 60
    db.dispose()


def test_an_unreachable_database_is_reported_with_its_address(tmp_path: Path) -> None:
    missing_dir = tmp_path / "không có" / "phieu.sqlite3"
    with pytest.raises(StorageError, match="không có"):
        Database.open(f"sqlite:///{missing_dir}").migrate()
    with pytest.raises(StorageError, match=r"127\.0\.0\.1:1/x.*PHIEU_DATABASE_URL") as info:
        Database.open("postgresql://lan:bí-mật@127.0.0.1:1/x").migrate()
    assert "bí-mật" not in str(info.value)


def test_file_store_leaves_no_partial_file_when_copying_fails(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "files")
    folder = tmp_path / "a-folder.pdf"
    folder.mkdir()
    with pytest.raises(StorageError, match="a-folder.pdf"):
        store.put_file(folder)
    assert [p for p in (tmp_path / "files").rglob("*") if p.is_file()] == []


def test_file_store_round_trips_any_content(tmp_path_factory: pytest.TempPathFactory) -> None:
    import hashlib

    from hypothesis import given, settings
    from hypothesis import strategies as st

    store = FileStore(tmp_path_factory.mktemp("files"))

    @settings(max_examples=60, deadline=None)
    @given(st.binary(max_size=4096), st.sampled_from(["", ".png", ".pdf"]))
    def check(data: bytes, suffix: str) -> None:
        sha = store.put_bytes(data, suffix, durable=False)
        assert sha == hashlib.sha256(data).hexdigest()
        assert store.read(sha) == data
        assert store.put_bytes(data, ".other") == sha and store.path(sha).read_bytes() == data

    check()


GUARDED = ["answers", "audit_log", "box_readings", "decisions", "sheet_events"]
TALLIED = ["pages", "review_items", "sheets"]  # their running counts (migration 0006)


def _guarded_tables(db: Database, *, tallies: bool = False) -> list[str]:
    if db.is_sqlite:
        query = "SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger'"
    else:
        query = "SELECT event_object_table, trigger_name FROM information_schema.triggers"
    with db.engine.connect() as conn:
        return sorted({table for table, name in conn.exec_driver_sql(query) if ("_tally_" in name) == tallies})


def test_the_database_refuses_to_rewrite_history(database: Database) -> None:
    """Append-only tables and machine values are guarded by the database, whatever code runs."""
    from sqlalchemy import delete, update

    from storage.models import Answer, Edition, Sheet

    assert _guarded_tables(database) == GUARDED  # a migration rebuilding a table must recreate its guards
    assert _guarded_tables(database, tallies=True) == TALLIED  # ... and its running counts
    with database.session() as s:
        audit.record(s, actor="machine", action="x", entity="page", entity_id=1)
        survey = Survey(code="S", title="t")
        s.add(survey)
        s.flush()
        edition = Edition(survey_id=survey.id, code="A", definition_yaml="", definition_sha256="", layout_json="{}",
                          page_count=1)
        s.add(edition)
        s.flush()
        sheet = Sheet(survey_id=survey.id, edition_id=edition.id, serial=1)
        s.add(sheet)
        s.flush()
        s.add(Answer(sheet_id=sheet.id, question="Q1", kind="single", machine_value="2", machine_state="answered",
                     status="review"))
    forbidden = [
        update(AuditEvent).values(actor="someone"),
        delete(AuditEvent),
        update(Answer).values(machine_value="3"),
        update(Answer).values(confidence=0.1),
        delete(Answer),
    ]
    for statement in forbidden:
        with pytest.raises(Exception, match="append-only"), database.session() as s:
            s.execute(statement)
    with database.session() as s:  # what reviews do stays allowed
        s.execute(update(Answer).values(final_value="3", status="reviewed", version=Answer.version + 1))
    with database.session() as s:
        answer = s.scalars(select(Answer)).one()
        assert (answer.machine_value, answer.final_value, answer.confidence) == ("2", "3", 1.0)
        assert s.scalars(select(AuditEvent.actor)).all() == ["machine"]
