"""Shared fixtures. Tests use real components: real files, real databases, real HTTP, a real browser."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


@pytest.fixture
def secret() -> bytes:
    return bytes(range(32))


# --- storage: the `database` fixture (SQLite file, and PostgreSQL when PHIEU_TEST_POSTGRES_URL is set) ---
# Each test gets an empty, migrated database. SQLite: a copy of a once-migrated template file.
# PostgreSQL: one fresh database per test module (CREATE DATABASE, dropped afterwards), emptied
# (TRUNCATE) before every test.


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from storage.db import Database

    path = tmp_path_factory.mktemp("db-template") / "template.sqlite3"
    db = Database.open(f"sqlite:///{path}")
    db.migrate()
    with db.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.dispose()
    return path


@pytest.fixture(scope="module")
def _postgres_module_url(request: pytest.FixtureRequest):
    import os
    import uuid

    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from storage.db import Database, normalise_url

    server = os.environ.get("PHIEU_TEST_POSTGRES_URL")
    if not server:
        pytest.skip("PHIEU_TEST_POSTGRES_URL not set (bash scripts/dev.sh test starts PostgreSQL)")
    server_url = make_url(normalise_url(server))
    name = f"phieu_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" ENCODING \'UTF8\' TEMPLATE template0')
    url = server_url.set(database=name).render_as_string(hide_password=False)
    db = Database.open(url)
    db.migrate()
    db.dispose()
    yield url
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path, _sqlite_template: Path):
    """An empty, migrated ``storage.db.Database``; tests using it run once per backend."""
    import shutil

    from storage.db import Database
    from storage.models import Base

    if request.param == "sqlite":
        path = tmp_path / "phieu.sqlite3"
        shutil.copyfile(_sqlite_template, path)
        db = Database.open(f"sqlite:///{path}")
    else:
        db = Database.open(request.getfixturevalue("_postgres_module_url"))
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with db.engine.begin() as conn:
            conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    yield db
    db.dispose()


@pytest.fixture
def file_store(tmp_path: Path):
    """An empty content-addressed ``storage.files.FileStore`` in a temporary folder."""
    from storage.files import FileStore

    return FileStore(tmp_path / "files")


# --- browser tests: one Chromium per module ---


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    from browser_support import ARGS, CHROMIUM, require_chromium

    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()
