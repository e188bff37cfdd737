"""PostgreSQL's client programs ``pg_dump`` and ``pg_restore``, for backups: found, version-checked,
run with the connection taken from a SQLAlchemy URL (the password through ``PGPASSWORD``, never on
the command line), their per-table lines turned into progress, their failures into typed errors.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import URL

from core.errors import MissingToolError, StorageError

log = logging.getLogger(__name__)

INSTALL_HINT = ("cài công cụ khách PostgreSQL / install the PostgreSQL client tools "
                "(Debian/Ubuntu: sudo apt-get install postgresql-client; "
                "bash scripts/dev.sh setup installs them)")
# pg_dump --verbose / pg_restore --verbose name each table as its data is written or read
_TABLE_LINE = re.compile(r'(?:dumping contents of table|processing data for table) "?(?:[\w]+"?\.)?"?([\w]+)"?')

Progress = Callable[[int, int], None]


def find(program: str) -> Path:
    """The newest ``pg_dump`` / ``pg_restore``: on PATH, else in Debian's ``/usr/lib/postgresql/*/bin``."""
    candidates = [Path(p) for p in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{program}"),
                                          key=lambda p: _number(p.parent.parent.name))]
    on_path = shutil.which(program)
    found = candidates[-1] if candidates else Path(on_path) if on_path else None
    if found is None:
        raise MissingToolError(f"Không tìm thấy {program} / {program} not found: {INSTALL_HINT}")
    return found


def major_version(program: Path) -> int:
    """``pg_dump (PostgreSQL) 15.18`` → 15."""
    try:
        out = subprocess.run([str(program), "--version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise MissingToolError(f"{program} không chạy được / does not run ({exc}): {INSTALL_HINT}") from exc
    match = re.search(r"(\d+)(?:\.\d+)?", out)
    if match is None:
        raise MissingToolError(f"{program}: không rõ phiên bản / unknown version {out.strip()!r}")
    return int(match.group(1))


def check_version(program: Path, server_major: int) -> None:
    """pg_dump refuses a server newer than itself; say so before it starts."""
    mine = major_version(program)
    if mine < server_major:
        raise MissingToolError(
            f"{program.name} {mine} cũ hơn máy chủ PostgreSQL {server_major} / is older than the server: "
            f"install postgresql-client-{server_major} or newer")


def dump(url: URL, target: Path, *, snapshot: str | None, tables: int, progress: Progress | None = None) -> None:
    """``pg_dump --format=custom`` of the database at ``url`` into ``target`` (from the exported
    ``snapshot`` when given, so it holds exactly what the caller counted)."""
    args = [str(find("pg_dump")), "--format=custom", "--verbose", f"--file={target}", "--no-password"]
    if snapshot:
        args.append(f"--snapshot={snapshot}")
    _run([*args, f"--dbname={_conninfo(url)}"], url, tables, progress, what="pg_dump")


def restore(url: URL, source: Path, *, clean: bool, tables: int, progress: Progress | None = None) -> None:
    """``pg_restore`` of a custom-format dump into the (existing) database at ``url``, in one
    transaction: it is all there or none of it. ``clean`` drops the dump's objects first."""
    args = [str(find("pg_restore")), "--verbose", "--no-owner", "--no-privileges", "--exit-on-error",
            "--single-transaction", "--no-password", f"--dbname={_conninfo(url)}"]
    if clean:
        args += ["--clean", "--if-exists"]
    _run([*args, str(source)], url, tables, progress, what="pg_restore")


def _run(args: list[str], url: URL, tables: int, progress: Progress | None, *, what: str) -> None:
    env = {**os.environ}
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    log.info("running %s", " ".join(a for a in args if not a.startswith("--dbname=")))
    done, lines = 0, []
    with subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env) as proc:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line.rstrip())
            if _TABLE_LINE.search(line):
                done += 1
                if progress:
                    progress(min(done, tables), tables)
        code = proc.wait()
    if code != 0:
        detail = " | ".join(ln for ln in lines if "error" in ln.lower())[-800:] or " | ".join(lines[-5:])
        raise StorageError(f"{what} thất bại / failed (exit {code}) on {url.render_as_string(hide_password=True)}: {detail}")


def _conninfo(url: URL) -> str:
    """A libpq URI of ``url`` without the password and without SQLAlchemy's driver name."""
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0
