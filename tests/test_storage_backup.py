"""`phieu backup` and `phieu restore` on real workspaces: scanned sheets in SQLite and in PostgreSQL, the
file store, the secret and the settings; restored into a new place and compared table by table."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from pipeline_helpers import Printed, print_sipas
from sqlalchemy import MetaData, create_engine, select
from sqlalchemy.engine import make_url

from core.errors import ConflictError, MissingToolError, StorageError
from phieu.cli import main
from storage import pgtools
from storage.backup import Place, list_store
from storage.db import Database, normalise_url
from storage.restore import restore

SETTINGS = "scan:\n  jobs: 1\nresults:\n  top_units: 3\n"


# --- helpers ------------------------------------------------------------------------------------------


def _postgres_server() -> str:
    server = os.environ.get("PHIEU_TEST_POSTGRES_URL")
    if not server:
        pytest.skip("PHIEU_TEST_POSTGRES_URL not set (bash scripts/dev.sh test starts PostgreSQL)")
    return server


@pytest.fixture
def new_postgres() -> Iterator[Any]:
    """Makes empty PostgreSQL databases on the suite's server (dropped afterwards); returns their URLs."""
    server = make_url(normalise_url(_postgres_server()))
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def make() -> str:
        name = f"phieu_backup_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' TEMPLATE template0")
        made.append(name)
        return server.set(database=name).render_as_string(hide_password=False)

    yield make
    with admin.connect() as conn:
        for name in made:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def _scanned_workspace(home: Path, database_url: str | None) -> Printed:
    """A workspace with settings, SIPAS printed (3 sheets), two of them filled, degraded and scanned."""
    home.mkdir(parents=True)
    (home / "settings.yaml").write_text(SETTINGS, encoding="utf-8")
    printed = print_sipas(home, 3, database_url=database_url)
    printed.bundle(printed.serials[:2], home.parent / "scans", profile="phone", seed=5, fmt="jpeg")
    summary = printed.scan(home.parent / "scans")
    assert summary.identified > 0
    printed.db.dispose()
    return printed


def _cli(home: Path, *args: str, database_url: str | None = None) -> Result:
    env = {"PHIEU_DATABASE_URL": database_url} if database_url else {}
    return CliRunner().invoke(main, ["--home", str(home), *args], env=env)


def table_rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order: what "the same database" means here."""
    engine = create_engine(make_url(normalise_url(url)))
    meta = MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        rows = {t.name: sorted((tuple(r) for r in conn.execute(select(t))), key=repr) for t in meta.sorted_tables}
    engine.dispose()
    return rows


def store_hashes(root: Path) -> dict[str, str]:
    return {path: hashlib.sha256((root / path).read_bytes()).hexdigest() for path, _ in list_store(root)}


def _revision(url: str) -> str | None:
    db = Database.open(url)
    try:
        return db.current_revision()
    finally:
        db.dispose()


def _url(printed: Printed) -> str:
    return printed.ws.database_url


# --- restore into a new place and compare -------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_restore_into_a_new_place_equals_the_original(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    source_url = restored_url = None
    if backend == "postgres":
        make = request.getfixturevalue("new_postgres")
        source_url, restored_url = make(), make()
    printed = _scanned_workspace(tmp_path / "office" / "ws", source_url)
    backup = tmp_path / "backup"
    result = _cli(printed.ws.home, "backup", str(backup), database_url=source_url)
    assert result.exit_code == 0, result.output
    manifest = json.loads((backup / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["database"]["backend"] == ("sqlite" if backend == "sqlite" else "postgresql")
    assert manifest["alembic_revision"] == _revision(_url(printed))
    assert manifest["files"]["count"] == len(list_store(printed.ws.files_dir)) > 0
    assert oct((backup / "secret.key").stat().st_mode & 0o777) == "0o600"

    new_home = tmp_path / "elsewhere" / "ws"
    result = _cli(new_home, "restore", str(backup), database_url=restored_url)
    assert result.exit_code == 0, result.output
    assert "Đã phục hồi / restored" in result.output

    restored = restored_url or f"sqlite:///{new_home / 'phieu.sqlite3'}"
    before, after = table_rows(_url(printed)), table_rows(restored)
    assert before.keys() == after.keys()
    assert {t: len(r) for t, r in after.items()} == manifest["database"]["tables"]
    for table in before:
        assert after[table] == before[table], table
    assert all(after[t] for t in ("answers", "box_readings", "pages", "sheet_pages", "audit_log", "scan_files"))
    assert store_hashes(new_home / "files") == store_hashes(printed.ws.files_dir)
    assert all(path.endswith(sha) or path.split("/")[-1].startswith(sha) for path, sha in store_hashes(new_home / "files").items())
    assert (new_home / "secret.key").read_bytes() == printed.ws.secret_path.read_bytes()
    assert oct((new_home / "secret.key").stat().st_mode & 0o777) == "0o600"
    assert (new_home / "settings.yaml").read_text(encoding="utf-8") == SETTINGS

    # the restored workspace works: its export equals the original's
    exports = []
    for home, url in ((printed.ws.home, source_url), (new_home, restored_url)):
        out = tmp_path / f"{home.parent.name}.csv"
        result = _cli(home, "export", "SIPAS-2024", "--format", "csv", "--out", str(out), database_url=url)
        assert result.exit_code == 0, result.output
        exports.append(out.read_bytes())
    assert exports[0] == exports[1] and exports[0].count(b"\n") == 3

    # a second restore there is refused, and changes nothing
    result = _cli(new_home, "restore", str(backup), database_url=restored_url)
    assert result.exit_code == 8 and "already holds a workspace" in result.output
    assert table_rows(restored) == after


# --- a backup taken while a scan writes ----------------------------------------------------------------


def test_sqlite_backup_during_a_scan_is_consistent(tmp_path: Path) -> None:
    """`phieu scan` writes page after page (one transaction each) while `phieu backup` runs: the
    backup holds whole pages only, every file its database names, and a part of the scan."""
    import subprocess
    import sys
    import time

    printed = print_sipas(tmp_path / "ws", 10)
    printed.bundle(printed.serials, tmp_path / "scans", profile="office", seed=3, fmt="jpeg")
    printed.db.dispose()
    env = {**os.environ, "PHIEU_HOME": str(printed.ws.home)}
    env.pop("PHIEU_DATABASE_URL", None)
    log = tmp_path / "scan.log"
    with open(log, "wb") as out:
        scan = subprocess.Popen([str(Path(sys.executable).parent / "phieu"), "scan", "--jobs", "1", str(tmp_path / "scans")],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    db = Database.open(printed.ws.database_url)
    deadline = time.monotonic() + 120
    while _count(db, "pages") < 3 and time.monotonic() < deadline and scan.poll() is None:
        time.sleep(0.05)
    result = _cli(printed.ws.home, "backup", str(tmp_path / "backup"))
    assert result.exit_code == 0, result.output
    assert scan.wait(timeout=300) in (0, 10), log.read_text(errors="replace")

    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text(encoding="utf-8"))
    copy = tmp_path / "backup" / manifest["database"]["file"]
    snapshot = Database.open(f"sqlite:///{copy}")
    pages_then, pages_now = _count(snapshot, "pages"), _count(db, "pages")
    assert 3 <= pages_then < pages_now == 50, "the backup was not taken during the scan"
    with snapshot.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
    counts = manifest["database"]["tables"]
    assert counts == {t: len(rows) for t, rows in table_rows(f"sqlite:///{copy}").items()}
    # every page in the backup is whole: the same answers and box readings as once the scan ended
    query = ("SELECT p.id, (SELECT count(*) FROM answers a WHERE a.page_id = p.id), "
             "(SELECT count(*) FROM box_readings b WHERE b.page_id = p.id) FROM pages p ORDER BY p.id")
    with snapshot.engine.connect() as then, db.engine.connect() as now:
        in_backup = then.exec_driver_sql(query).all()
        final = {row[0]: row for row in now.exec_driver_sql(query).all()}
        named = [r[0] for r in then.exec_driver_sql(
            "SELECT sha256 FROM scan_files UNION SELECT image_sha256 FROM pages WHERE image_sha256 IS NOT NULL "
            "UNION SELECT aligned_sha256 FROM pages WHERE aligned_sha256 IS NOT NULL "
            "UNION SELECT crop_sha256 FROM answers WHERE crop_sha256 IS NOT NULL")]
    assert in_backup and all(final[row[0]] == row for row in in_backup)
    assert sum(row[1] for row in in_backup) > 0
    backed_up = {path.split("/")[-1][:64] for path, _ in list_store(tmp_path / "backup" / "files")}
    assert set(named) <= backed_up
    snapshot.dispose()
    db.dispose()


def _count(db: Database, table: str) -> int:
    with db.engine.connect() as conn:
        return int(conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar() or 0)


# --- checks and refusals ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> tuple[Printed, Path]:
    """One scanned SQLite workspace and a backup of it, shared by the checks below (none changes them)."""
    root = tmp_path_factory.mktemp("office")
    printed = _scanned_workspace(root / "ws", None)
    result = _cli(printed.ws.home, "backup", str(root / "backup"))
    assert result.exit_code == 0, result.output
    return printed, root / "backup"


def _place(home: Path) -> Place:
    return Place(files=home / "files", secret=home / "secret.key", settings=home / "settings.yaml")


def _copy_backup(backup: Path, target: Path) -> Path:
    import shutil

    shutil.copytree(backup, target)
    for path in target.rglob("*"):
        path.chmod(0o700 if path.is_dir() else 0o600)  # the store's files are read-only; the test damages some
    return target


def test_a_second_backup_copies_only_new_files(office: tuple[Printed, Path], tmp_path: Path) -> None:
    printed, backup = office
    again = _copy_backup(backup, tmp_path / "again")
    old = json.loads((again / "manifest.json").read_text(encoding="utf-8"))
    extra = printed.store.put_bytes("một tệp mới / a new file".encode(), ".txt")
    result = _cli(printed.ws.home, "backup", str(again))
    assert result.exit_code == 0, result.output
    new = json.loads((again / "manifest.json").read_text(encoding="utf-8"))
    assert (new["files"]["copied"], new["files"]["count"]) == (1, old["files"]["count"] + 1)
    assert any(path.endswith(f"{extra}.txt") for path, _ in list_store(again / "files"))
    # the older snapshot is gone, the new one is complete
    assert not (again / old["database"]["file"]).exists() and (again / new["database"]["file"]).exists()
    assert _cli(printed.ws.home, "restore", "--check", str(again)).exit_code == 0


def test_restore_refuses_a_damaged_file_before_the_database(office: tuple[Printed, Path], tmp_path: Path) -> None:
    _printed, backup = office
    damaged = _copy_backup(backup, tmp_path / "damaged")
    victim = damaged / "files" / list_store(damaged / "files")[-1][0]
    victim.write_bytes(victim.read_bytes()[:-1] + b"X")
    result = _cli(tmp_path / "new", "restore", str(damaged))
    assert result.exit_code == 6 and victim.name in result.output and "missing or damaged" in result.output
    assert not (tmp_path / "new" / "phieu.sqlite3").exists() and not (tmp_path / "new" / "secret.key").exists()
    check = _cli(tmp_path / "new", "restore", "--check", str(damaged))
    assert check.exit_code == 6 and victim.name in check.output


def test_restore_refuses_a_database_that_differs_from_the_manifest(office: tuple[Printed, Path], tmp_path: Path) -> None:
    _printed, backup = office
    broken = _copy_backup(backup, tmp_path / "broken")
    manifest = json.loads((broken / "manifest.json").read_text(encoding="utf-8"))
    with open(broken / manifest["database"]["file"], "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(StorageError, match="hash differs from the manifest"):
        restore(broken, f"sqlite:///{tmp_path / 'new' / 'phieu.sqlite3'}", _place(tmp_path / "new"))
    assert not (tmp_path / "new" / "phieu.sqlite3").exists()


def test_force_keeps_what_was_there(office: tuple[Printed, Path], tmp_path: Path) -> None:
    printed, backup = office
    home = tmp_path / "busy"
    other = print_sipas(home, 1)  # another workspace: its own secret and database
    other.db.dispose()
    other.ws.secret()  # made on first use
    secret, rows = other.ws.secret_path.read_bytes(), table_rows(other.ws.database_url)
    with pytest.raises(ConflictError, match="already holds a workspace"):
        restore(backup, other.ws.database_url, _place(home))
    done = restore(backup, other.ws.database_url, _place(home), force=True)
    assert (home / "secret.key").read_bytes() == printed.ws.secret_path.read_bytes()
    aside = {p.name.split(".replaced-")[0]: p for p in done.moved_aside}
    assert aside["secret.key"].read_bytes() == secret
    assert table_rows(f"sqlite:///{aside['phieu.sqlite3']}") == rows
    assert table_rows(other.ws.database_url) == table_rows(printed.ws.database_url)


def test_an_older_backup_is_migrated_and_a_newer_one_refused(tmp_path: Path) -> None:
    from storage.migrations import HEAD_REVISION

    home = tmp_path / "old"
    home.mkdir()  # nothing printed yet: no secret
    old = Database.open(f"sqlite:///{home / 'phieu.sqlite3'}")
    old.migrate("0002")  # a workspace of an older phieu
    old.dispose()
    assert _cli(home, "backup", str(tmp_path / "backup")).exit_code == 0
    done = restore(tmp_path / "backup", f"sqlite:///{tmp_path / 'new' / 'phieu.sqlite3'}", _place(tmp_path / "new"))
    assert done.migrated_from == "0002" and done.manifest["secret"] is None
    assert not (tmp_path / "new" / "secret.key").exists()  # made on first use, as in any new workspace
    assert _revision(f"sqlite:///{tmp_path / 'new' / 'phieu.sqlite3'}") == HEAD_REVISION

    manifest_path = tmp_path / "backup" / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["alembic_revision"] = "9999"
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ConflictError, match="newer phieu"):
        restore(tmp_path / "backup", f"sqlite:///{tmp_path / 'newer' / 'phieu.sqlite3'}", _place(tmp_path / "newer"))


def test_a_backup_of_the_wrong_kind_or_no_backup_is_refused(office: tuple[Printed, Path], tmp_path: Path) -> None:
    printed, backup = office
    result = _cli(tmp_path / "pg", "restore", str(backup), database_url="postgresql://nobody@127.0.0.1:1/none")
    assert result.exit_code == 8 and "the backup holds a sqlite database" in result.output
    (tmp_path / "plain").mkdir()
    result = _cli(tmp_path / "new", "restore", str(tmp_path / "plain"))
    assert result.exit_code == 7 and "not a phieu backup" in result.output
    (tmp_path / "plain" / "notes.txt").write_text("x")
    result = _cli(printed.ws.home, "backup", str(tmp_path / "plain"))
    assert result.exit_code == 8 and "not a phieu backup" in result.output
    result = _cli(tmp_path / "mistyped", "backup", str(tmp_path / "elsewhere"))
    assert result.exit_code == 7 and "No workspace at" in result.output


def test_missing_client_tools_say_what_to_install() -> None:
    with pytest.raises(MissingToolError, match="apt-get install postgresql-client"):
        pgtools.find("pg_dump_not_installed")
    with pytest.raises(MissingToolError, match="older than the server"):
        pgtools.check_version(pgtools.find("pg_dump"), pgtools.major_version(pgtools.find("pg_dump")) + 1)
