"""The one gateway to the database: open by URL, one transaction per ``session()``, Alembic migrations.

SQLite (the default, a file in the workspace) runs in WAL mode with foreign keys enforced and a busy
timeout, so the web app can read while the scan pipeline writes. PostgreSQL is reached through
psycopg 3; ``postgresql://`` URLs are mapped to ``postgresql+psycopg://``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from core.errors import StorageError
from storage.migrations import HEAD_REVISION

if TYPE_CHECKING:
    from phieu.workspace import Workspace

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000  # the pipeline's single writer may hold the lock for one file's pages
_BEGIN_OPTION = "phieu_sqlite_begin"
SQLITE_ANALYSIS_LIMIT = 1000  # rows sampled per index by ANALYZE: statistics in milliseconds at any size


def normalise_url(url: str) -> str:
    """Map plain ``postgresql://`` / ``postgres://`` URLs to the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Database:
    """An engine plus a session factory. Create with :meth:`open` or :meth:`for_workspace`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(bind=engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str) -> Database:
        """Connect to ``url`` (not migrated: call :meth:`migrate`, or use :meth:`for_workspace`)."""
        url = normalise_url(url)
        try:
            parsed = make_url(url)
        except ArgumentError as exc:
            raise StorageError(f"Địa chỉ cơ sở dữ liệu không hợp lệ / invalid database URL {url!r}: {exc}") from exc
        if parsed.get_backend_name() == "sqlite":
            engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
            _configure_sqlite(engine)
        else:
            engine = create_engine(parsed, pool_pre_ping=True)
        return cls(engine)

    @classmethod
    def for_workspace(cls, ws: Workspace) -> Database:
        """Open the workspace's database and bring its schema up to date."""
        db = cls.open(ws.database_url)
        db.migrate()
        return db

    @property
    def display_url(self) -> str:
        """The SQLite file, or the URL with any password masked: for messages."""
        if self.engine.url.get_backend_name() == "sqlite":
            return self.engine.url.database or ":memory:"
        return self.engine.url.render_as_string(hide_password=True)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self, *, immediate: bool = False) -> Iterator[Session]:
        """One transaction: commit when the block ends normally, roll back when it raises.

        ``immediate=True`` takes SQLite's write lock at the start (``BEGIN IMMEDIATE``) so a
        read-then-write block (leasing a review item) cannot fail half-way on a lock upgrade;
        it changes nothing on PostgreSQL.
        """
        bind = self.engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"}) if immediate else self.engine
        session = self._sessions(bind=bind)
        try:
            yield session
            session.commit()
        except OperationalError as exc:
            session.rollback()
            raise StorageError(f"Lỗi cơ sở dữ liệu / database error: {_one_line(exc.orig)}") from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def migrate(self, revision: str = "head") -> None:
        """Run the Alembic migrations shipped in ``storage/migrations`` up to ``revision``."""
        if revision == "head" and self._at_head():
            return
        from alembic import command

        try:
            with self.engine.connect() as connection, _sqlite_foreign_keys_off(connection), connection.begin():
                command.upgrade(alembic_config(connection), revision)
                _check_foreign_keys(connection)
        except OperationalError as exc:
            raise StorageError(
                f"Không mở được cơ sở dữ liệu {self.display_url} / cannot open the database: {_one_line(exc.orig)}. "
                "Kiểm tra PHIEU_DATABASE_URL và máy chủ / check PHIEU_DATABASE_URL and that the server runs."
            ) from exc

    def _at_head(self) -> bool:
        try:
            with self.engine.connect() as connection:
                versions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        except (OperationalError, ProgrammingError):  # no such table yet: a new database
            return False
        return list(versions) == [HEAD_REVISION]

    def optimize(self) -> None:
        """Keep SQLite's query planner statistics fresh (``ANALYZE`` on a sample of each index: milliseconds
        at any size). Without them SQLite may read a queue index end to end where another index finds a
        handful of rows. Run when a server starts and after each scan; PostgreSQL's autovacuum does this
        by itself."""
        if not self.is_sqlite:
            return
        try:
            with self.engine.connect() as connection:
                connection.exec_driver_sql(f"PRAGMA analysis_limit={SQLITE_ANALYSIS_LIMIT}")
                connection.exec_driver_sql("ANALYZE")
                connection.commit()
        except OperationalError as exc:  # busy for 30 s: the next run does it
            log.warning("ANALYZE skipped: %s", _one_line(exc.orig))

    def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def dispose(self) -> None:
        self.engine.dispose()


@contextmanager
def _sqlite_foreign_keys_off(connection: Any) -> Iterator[None]:
    """SQLite's procedure for rebuilding a table others refer to (a batch migration copies it, drops the
    old one, renames the copy): foreign keys off around the migration's transaction, checked before
    it commits, on again afterwards. The pragma only works outside a transaction, hence the raw
    connection. Nothing happens on PostgreSQL."""
    if connection.dialect.name != "sqlite":
        yield
        return
    raw = connection.connection.driver_connection
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        raw.execute("PRAGMA foreign_keys=ON")


def _check_foreign_keys(connection: Any) -> None:
    if connection.dialect.name == "sqlite" and (broken := connection.exec_driver_sql("PRAGMA foreign_key_check").all()):
        raise StorageError(f"Di chuyển lược đồ làm hỏng khoá ngoại / a migration broke foreign keys: {broken[:5]}")


def _one_line(error: BaseException | None) -> str:
    return " ".join(str(error).split())


def alembic_config(connection: Any = None) -> Any:
    """An Alembic ``Config`` pointing at the packaged migrations (no alembic.ini needed)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def _configure_sqlite(engine: Engine) -> None:
    """WAL, foreign keys, busy timeout; and real BEGINs so transactions and savepoints behave."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; fsync on checkpoint only
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())
