"""The database part of a backup: a consistent snapshot with the row count of every table and the
schema revision, taken while the database is in use; and its way back.

SQLite: the online backup API, stepped (for progress) inside one read transaction on the source,
so the copy and the counts are the same moment while a scan keeps writing (WAL readers do not block
the writer). PostgreSQL: ``pg_dump --format=custom`` from a snapshot exported by a REPEATABLE READ
transaction that also counted the rows; ``pg_restore`` in one transaction.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError

from core.errors import StorageError
from storage import pgtools
from storage.db import SQLITE_BUSY_TIMEOUT_MS, normalise_url

log = logging.getLogger(__name__)

SQLITE_PAGES_PER_STEP = 4096  # 16 MB a step at SQLite's 4 KiB pages: a progress tick every ~0.1 s
Progress = Callable[[int, int], None]


def backend(url: str) -> str:
    """``sqlite`` or ``postgresql``."""
    return make_url(normalise_url(url)).get_backend_name()


def sqlite_path(url: str) -> Path:
    database = make_url(normalise_url(url)).database
    if not database or database == ":memory:":
        raise StorageError(f"Không sao lưu được CSDL trong bộ nhớ / an in-memory database cannot be backed up: {url}")
    return Path(database)


# --- SQLite -------------------------------------------------------------------------------------------


def sqlite_snapshot(url: str, target: Path, progress: Progress | None = None) -> tuple[dict[str, int], str | None]:
    """Copy the SQLite database at ``url`` into ``target`` (one self-contained file, no WAL);
    returns the row count of each table and the Alembic revision, as of the copied moment."""
    source = sqlite3.connect(sqlite_path(url), timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    copy = sqlite3.connect(target, isolation_level=None)
    try:
        source.execute("BEGIN")  # one read transaction: the counts and every copied page are one moment
        counts, revision = _sqlite_counts(source)

        def step(_status: int, remaining: int, total: int) -> None:
            if progress:
                progress(total - remaining, total)

        source.backup(copy, pages=SQLITE_PAGES_PER_STEP, progress=step)
        source.execute("COMMIT")
        copy.execute("PRAGMA journal_mode=DELETE")  # the copy is one file
        if (check := copy.execute("PRAGMA quick_check").fetchone()[0]) != "ok":
            raise StorageError(f"{target}: bản sao CSDL hỏng / the database copy is damaged: {check}")
    except sqlite3.Error as exc:
        raise StorageError(f"Không sao lưu được CSDL / cannot back up the database {url}: {exc}") from exc
    finally:
        copy.close()
        source.close()
    return counts, revision


def sqlite_counts(path: Path) -> tuple[dict[str, int], str | None]:
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        return _sqlite_counts(connection)
    finally:
        connection.close()


def _sqlite_counts(connection: sqlite3.Connection) -> tuple[dict[str, int], str | None]:
    tables = [r[0] for r in connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    counts = {t: connection.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    revision = connection.execute("SELECT version_num FROM alembic_version").fetchone() if "alembic_version" in counts else None
    return counts, revision[0] if revision else None


def sqlite_has_schema(url: str) -> bool:
    path = sqlite_path(url)
    if not path.exists() or path.stat().st_size == 0:
        return False
    counts, _ = sqlite_counts(path)
    return bool(counts)


# --- PostgreSQL ---------------------------------------------------------------------------------------


def postgres_snapshot(url: str, target: Path, progress: Progress | None = None) -> tuple[dict[str, int], str | None]:
    """``pg_dump`` of the database at ``url`` into ``target``, from the same snapshot as the counts."""
    parsed = make_url(normalise_url(url))
    engine = create_engine(parsed, isolation_level="REPEATABLE READ")
    try:
        with engine.connect() as conn:
            pgtools.check_version(pgtools.find("pg_dump"), _server_major(conn))
            with conn.begin():
                conn.execute(text("SET TRANSACTION READ ONLY"))
                snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
                counts, revision = _postgres_counts(conn)
                pgtools.dump(parsed, target, snapshot=snapshot, tables=len(counts), progress=progress)
    except OperationalError as exc:
        raise StorageError(f"Không kết nối được / cannot connect to {_shown(parsed)}: {exc.orig}") from exc
    finally:
        engine.dispose()
    return counts, revision


def postgres_counts(url: str) -> tuple[dict[str, int], str | None]:
    parsed = make_url(normalise_url(url))
    engine = create_engine(parsed)
    try:
        with engine.connect() as conn:
            return _postgres_counts(conn)
    except OperationalError as exc:
        raise StorageError(
            f"Không kết nối được / cannot connect to {_shown(parsed)}: {exc.orig}. Cơ sở dữ liệu phải có sẵn "
            f"/ the database must exist (createdb)") from exc
    finally:
        engine.dispose()


def _postgres_counts(conn: Any) -> tuple[dict[str, int], str | None]:
    tables = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                               "ORDER BY tablename")).scalars().all()
    counts = {t: conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one() for t in tables}
    revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar() if "alembic_version" in counts else None
    return counts, revision


def postgres_restore(url: str, dump: Path, *, clean: bool, tables: int, progress: Progress | None = None) -> None:
    parsed = make_url(normalise_url(url))
    engine = create_engine(parsed)
    try:
        with engine.connect() as conn:
            server = _server_major(conn)
    except OperationalError as exc:
        raise StorageError(f"Không kết nối được / cannot connect to {_shown(parsed)}: {exc.orig}") from exc
    finally:
        engine.dispose()
    pgtools.check_version(pgtools.find("pg_restore"), server)
    pgtools.restore(parsed, dump, clean=clean, tables=tables, progress=progress)


def _server_major(conn: Any) -> int:
    version = conn.dialect.server_version_info or (0,)
    return int(version[0])


def _shown(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def move_aside(path: Path, suffix: str, *, sqlite: bool = False) -> list[Path]:
    """Rename ``path`` (and a SQLite database's ``-wal``/``-shm`` companions, which SQLite finds by
    name) to ``path + suffix``: kept, never deleted. Returns the new names."""
    moved = []
    for extra in ("", "-wal", "-shm") if sqlite else ("",):
        source = Path(f"{path}{extra}")
        if source.exists():
            target = Path(f"{path}{suffix}{extra}")
            os.replace(source, target)
            moved.append(target)
    return moved
