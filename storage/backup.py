"""Backups of a workspace, and restoring one into a new place (``phieu backup`` / ``phieu restore``).

A backup is a folder::

    manifest.json                       what, when, counts, hashes, phieu version, schema revision
    database-<time>.sqlite3 | .dump     a consistent snapshot (SQLite online backup / pg_dump custom format)
    files-<time>.txt                    the file store's listing: path and size, one a line
    files/ab/cd/<sha256><suffix>        the content-addressed file store, copied
    secret.key                          the workspace secret (every station must verify the same MACs)
    settings.yaml                       the workspace settings, when there are any

The database is copied first, then the file store: files are written before the rows that name
them and never deleted, so every file the snapshot names is copied. Backing up into the same
folder again copies only the files it lacks (the store is write-once and named by content), each
checked against its name as it is copied; the new manifest is written last (after an fsync of
everything), then the older snapshot is removed. The folder holds the secret: keep it like the
secret (docs/deploy.md).

Restoring checks the manifest and every hash, refuses a place that already holds a workspace unless
told (then the database, secret and settings there are renamed aside, never deleted; on PostgreSQL
the tables are replaced), compares every table's row count with the manifest, and migrates a backup
made by an older phieu to the current schema.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from core.errors import ConflictError, NotFoundError, StorageError
from storage import backup_db
from storage.db import normalise_url
from storage.files import FileStore, sha256_file

log = logging.getLogger(__name__)

FORMAT = "phieu-backup/1"
MANIFEST = "manifest.json"
FILES = "files"
STORE_NAME = re.compile(r"^([0-9a-f]{64})(\.[A-Za-z0-9]{1,12})?$")

# (step, done, total): steps are "database", "files", "check"
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Place:
    """Where a workspace keeps what is not in its database."""

    files: Path
    secret: Path
    settings: Path


def time_stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("phieu")
    except PackageNotFoundError:
        return "unknown"


def step_progress(progress: Progress | None, name: str) -> Callable[[int, int], None] | None:
    return (lambda done, total: progress(name, done, total)) if progress else None


# --- backup -------------------------------------------------------------------------------------------


def backup(database_url: str, place: Place, dest: Path, *, progress: Progress | None = None) -> dict[str, Any]:
    """Back up the workspace (database at ``database_url``, ``place``) into the folder ``dest``;
    returns the manifest. Files of the store whose content does not match their name are listed
    in ``manifest["files"]["damaged"]`` and not copied."""
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise ConflictError(f"{dest}: không phải thư mục / not a folder; choose a folder for the backup")
    if dest.exists() and any(dest.iterdir()) and not (dest / MANIFEST).exists():
        raise ConflictError(f"{dest}: thư mục có tệp khác, không phải bản sao lưu / the folder holds other files, "
                            "not a phieu backup; choose an empty or new folder")
    dest.mkdir(parents=True, exist_ok=True)
    dest.chmod(0o700)  # it holds the secret
    previous = _read_json(dest / MANIFEST) if (dest / MANIFEST).exists() else None
    stamp, kind = time_stamp(), backup_db.backend(database_url)
    database, counts, revision = _snapshot(database_url, dest, stamp, progress)
    listing, damaged, copied = _copy_store(FileStore(place.files), dest / FILES, progress)
    files_list = dest / f"files-{stamp}.txt"
    files_list.write_text("".join(f"{path}\t{size}\n" for path, size in listing), encoding="utf-8")
    secret, settings = dest / "secret.key", dest / "settings.yaml"
    for source, copy in ((place.secret, secret), (place.settings, settings)):
        if source.exists():  # no secret yet: nothing was ever printed or scanned
            copy_private(source, copy)
        else:
            copy.unlink(missing_ok=True)

    manifest = {
        "format": FORMAT, "created_at": datetime.now(UTC).isoformat(), "phieu_version": _version(),
        "alembic_revision": revision,
        "database": {"backend": kind, "file": database.name, "sha256": sha256_file(database),
                     "bytes": database.stat().st_size, "tables": counts},
        "files": {"list": files_list.name, "list_sha256": sha256_file(files_list), "count": len(listing),
                  "bytes": sum(size for _, size in listing), "copied": copied, "damaged": damaged},
        "secret": {"file": secret.name, "sha256": sha256_file(secret)} if secret.exists() else None,
        "settings": {"file": settings.name, "sha256": sha256_file(settings)} if settings.exists() else None,
    }
    if hasattr(os, "sync"):
        os.sync()  # every copied file on disk before the manifest names them
    _write_json(dest / MANIFEST, manifest)
    if previous:  # the older snapshot, now replaced
        for name in (previous["database"]["file"], previous["files"]["list"]):
            if name not in (database.name, files_list.name):
                (dest / name).unlink(missing_ok=True)
    log.info("backup in %s: %d tables, %d files (%d copied)", dest, len(counts), len(listing), copied)
    return manifest


def _snapshot(database_url: str, dest: Path, stamp: str, progress: Progress | None) -> tuple[Path, dict[str, int], str | None]:
    """The database copy (under a temporary name until complete), its row counts and schema revision."""
    for leftover in dest.glob(".database-*.tmp"):  # from a backup interrupted earlier
        leftover.unlink()
    kind = backup_db.backend(database_url)
    database = dest / f"database-{stamp}.{'sqlite3' if kind == 'sqlite' else 'dump'}"
    tmp = database.with_name(f".{database.name}.tmp")
    snapshot = backup_db.sqlite_snapshot if kind == "sqlite" else backup_db.postgres_snapshot
    try:
        counts, revision = snapshot(database_url, tmp, step_progress(progress, "database"))
        os.replace(tmp, database)
    finally:
        tmp.unlink(missing_ok=True)
    return database, counts, revision


def _copy_store(source: FileStore, dest_root: Path, progress: Progress | None) -> tuple[list[tuple[str, int]], list[str], int]:
    """Copy the files ``dest_root`` lacks, each checked against its name. Returns (listing of the
    source store, damaged files, number copied)."""
    listing = list_store(source.root)
    have = {path for path, _ in list_store(dest_root)} if dest_root.exists() else set()
    target = FileStore(dest_root)
    good: list[tuple[str, int]] = []
    damaged: list[str] = []
    copied = 0
    for done, (path, size) in enumerate(listing, start=1):
        if path not in have:
            sha, suffix = name_parts(path)
            if target.copy_in(source.root / path, sha, suffix, durable=False):
                copied += 1
            else:
                log.error("%s: content does not match its name (damaged); not copied", source.root / path)
                damaged.append(path)
                continue
        good.append((path, size))
        if progress and (done % 200 == 0 or done == len(listing)):
            progress("files", done, len(listing))
    return good, damaged, copied


def list_store(root: Path) -> list[tuple[str, int]]:
    """(``ab/cd/<sha256><suffix>``, size) of every file in a content-addressed store, sorted."""
    found = []
    for first in _dirs(root):
        for second in _dirs(first):
            with os.scandir(second) as entries:
                for entry in entries:
                    if entry.is_file() and STORE_NAME.match(entry.name):
                        found.append((f"{first.name}/{second.name}/{entry.name}", entry.stat().st_size))
    return sorted(found)


def _dirs(folder: Path) -> list[Path]:
    with os.scandir(folder) as entries:
        return [Path(e.path) for e in entries if e.is_dir() and len(e.name) == 2 and not e.name.startswith(".")]


def name_parts(path: str) -> tuple[str, str]:
    match = STORE_NAME.match(path.rsplit("/", 1)[-1])
    if match is None:
        raise StorageError(f"{path}: không phải tên trong kho tệp / not a file store name")
    return match.group(1), match.group(2) or ""


def copy_private(source: Path, target: Path) -> None:
    """Copy the secret, readable by its owner only, written whole or not at all."""
    tmp = target.with_name(f".{target.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(source.read_bytes())
    os.replace(tmp, target)


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StorageError(f"{path}: không đọc được bản kê sao lưu / cannot read the backup manifest: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise StorageError(f"{path}: không phải bản kê sao lưu phieu / not a phieu backup manifest "
                           f"(format {data.get('format') if isinstance(data, dict) else None!r}, expected {FORMAT})")
    return data


# --- checking and restoring ---------------------------------------------------------------------------


def read_manifest(src: Path) -> dict[str, Any]:
    path = Path(src) / MANIFEST
    if not path.exists():
        raise NotFoundError(f"{src}: không có {MANIFEST}, không phải bản sao lưu phieu / not a phieu backup "
                            f"(no {MANIFEST})")
    return _read_json(path)


def check(src: Path, *, files: bool = True, progress: Progress | None = None) -> dict[str, Any]:
    """Check a backup against its manifest: the database file, the secret, the settings, the file
    listing and (``files``) every stored file's content against its name. Returns the manifest."""
    src = Path(src)
    manifest = read_manifest(src)
    pieces = [(manifest["database"]["file"], manifest["database"]["sha256"]),
              (manifest["files"]["list"], manifest["files"]["list_sha256"])]
    pieces += [(manifest[part]["file"], manifest[part]["sha256"]) for part in ("secret", "settings") if manifest.get(part)]
    for name, expected in pieces:
        path = src / name
        if not path.exists():
            raise StorageError(f"{path}: thiếu trong bản sao lưu / missing from the backup")
        if sha256_file(path) != expected:
            raise StorageError(f"{path}: mã băm không khớp bản kê / hash differs from the manifest: the backup is damaged")
    if files:
        listing = read_listing(src, manifest)
        for done, (path, _size) in enumerate(listing, start=1):
            sha, _ = name_parts(path)
            if not (src / FILES / path).exists() or sha256_file(src / FILES / path) != sha:
                raise StorageError(f"{src / FILES / path}: thiếu hoặc hỏng / missing or damaged")
            if progress and (done % 200 == 0 or done == len(listing)):
                progress("check", done, len(listing))
    return manifest


def read_listing(src: Path, manifest: dict[str, Any]) -> list[tuple[str, int]]:
    rows = []
    for line in (src / manifest["files"]["list"]).read_text(encoding="utf-8").splitlines():
        path, size = line.split("\t")
        rows.append((path, int(size)))
    if len(rows) != manifest["files"]["count"]:
        raise StorageError(f"{src}: danh sách tệp không khớp bản kê / the file listing does not match the manifest")
    return rows


def occupied(database_url: str, place: Place) -> list[str]:
    """What makes ``place`` + ``database_url`` an existing workspace (empty list: a new place)."""
    found = []
    if backup_db.backend(database_url) == "sqlite":
        if backup_db.sqlite_has_schema(database_url):
            found.append(str(backup_db.sqlite_path(database_url)))
    elif backup_db.postgres_counts(database_url)[0]:
        found.append(make_url(normalise_url(database_url)).render_as_string(hide_password=True))
    if place.secret.exists():
        found.append(str(place.secret))
    return found
