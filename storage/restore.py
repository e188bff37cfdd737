"""Restoring a backup (``storage.backup``) into a workspace: ``phieu restore SRC``.

In order, so that a failure leaves the place as it was or plainly incomplete, never mixed: check the
manifest and the hashes of the database, listing, secret and settings; refuse a place that already
holds a workspace unless ``force``; copy the file store (each file checked against its name; files
the place already has are kept, the store being write-once); install the database (SQLite: copied
to a temporary name, checked, renamed; PostgreSQL: ``pg_restore`` in one transaction) and compare
every table's row count with the manifest; then the secret and the settings; then migrate when the
backup was made by an older phieu. With ``force`` the database file, secret and settings already
there are renamed ``…replaced-<time>``, never deleted; a PostgreSQL database's tables are replaced.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import ConflictError, StorageError
from storage import backup_db
from storage.backup import (
    FILES,
    Place,
    Progress,
    check,
    copy_private,
    list_store,
    name_parts,
    occupied,
    read_listing,
    step_progress,
    time_stamp,
)
from storage.db import Database
from storage.files import CHUNK_BYTES, FileStore

log = logging.getLogger(__name__)


@dataclass
class Restored:
    manifest: dict[str, Any]
    files_copied: int = 0
    migrated_from: str | None = None  # the backup's schema revision, when it was migrated
    moved_aside: list[Path] = field(default_factory=list)


def restore(src: Path, database_url: str, place: Place, *, force: bool = False,
            progress: Progress | None = None) -> Restored:
    """Restore the backup in the folder ``src`` into ``place`` and the database at ``database_url``."""
    src = Path(src)
    manifest = check(src, files=False)
    kind, target_kind = manifest["database"]["backend"], backup_db.backend(database_url)
    if kind != target_kind:
        raise ConflictError(
            f"{src}: bản sao lưu chứa CSDL {kind}, nơi phục hồi dùng {target_kind} / the backup holds a {kind} "
            f"database, the target uses {target_kind}: " + ("set PHIEU_DATABASE_URL (or --database-url) to an empty "
            "PostgreSQL database" if kind == "postgresql" else "unset PHIEU_DATABASE_URL to restore into the workspace's SQLite file"))
    _check_revision(src, manifest["alembic_revision"])
    there = occupied(database_url, place)
    if there and not force:
        raise ConflictError(
            f"Nơi phục hồi đã có dữ liệu / the target already holds a workspace: {', '.join(there)}. "
            "Phục hồi vào nơi mới (--home, PHIEU_DATABASE_URL) hoặc dùng --force / restore into a new place, "
            "or use --force (the database file, secret and settings there are renamed aside, not deleted; "
            "a PostgreSQL database's tables are replaced)")
    done = Restored(manifest)
    done.files_copied = _restore_store(src, manifest, place.files, progress)
    suffix = f".replaced-{time_stamp()}"
    _restore_database(src, manifest, database_url, force=force, suffix=suffix, done=done, progress=progress)
    for part, target in (("secret", place.secret), ("settings", place.settings)):
        if manifest.get(part) or force:
            done.moved_aside += backup_db.move_aside(target, suffix)
        if manifest.get(part):  # a backup made before anything was printed has no secret yet
            copy_private(src / manifest[part]["file"], target)
    db = Database.open(database_url)
    try:
        before = db.current_revision()
        db.migrate()
        if db.current_revision() != before:
            done.migrated_from = before
    finally:
        db.dispose()
    log.info("restored %s into %s (%d files copied)", src, place.files.parent, done.files_copied)
    return done


def _check_revision(src: Path, revision: str | None) -> None:
    """A backup made by a newer phieu (a schema revision this one does not know) is refused."""
    from alembic.script import ScriptDirectory
    from alembic.util.exc import CommandError

    from storage.db import alembic_config

    if revision is None:
        raise StorageError(f"{src}: bản sao lưu không có phiên bản lược đồ / the backup has no schema revision")
    try:
        ScriptDirectory.from_config(alembic_config()).get_revision(revision)
    except CommandError as exc:
        raise ConflictError(
            f"{src}: bản sao lưu do phieu mới hơn tạo (lược đồ {revision}) / made by a newer phieu (schema revision "
            f"{revision}); cập nhật phieu rồi phục hồi / upgrade phieu, then restore") from exc


def _restore_store(src: Path, manifest: dict[str, Any], root: Path, progress: Progress | None) -> int:
    listing = read_listing(src, manifest)
    root.mkdir(parents=True, exist_ok=True)
    have = {path for path, _ in list_store(root)}
    store, copied = FileStore(root), 0
    for done, (path, _size) in enumerate(listing, start=1):
        if path not in have:
            sha, suffix = name_parts(path)
            source = src / FILES / path
            if not source.exists() or not store.copy_in(source, sha, suffix, durable=False):
                raise StorageError(f"{source}: thiếu hoặc hỏng, chưa phục hồi CSDL / missing or damaged; the database "
                                   "was not restored (files copied so far are kept in the store)")
            copied += 1
        if progress and (done % 200 == 0 or done == len(listing)):
            progress("files", done, len(listing))
    if hasattr(os, "sync"):
        os.sync()
    return copied


def _restore_database(src: Path, manifest: dict[str, Any], url: str, *, force: bool, suffix: str, done: Restored,
                      progress: Progress | None) -> None:
    database = manifest["database"]
    expected: dict[str, int] = database["tables"]
    dump = src / database["file"]
    if database["backend"] == "sqlite":
        path = backup_db.sqlite_path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.restoring")
        try:
            _copy_checked(dump, tmp, database["sha256"], progress)
            _compare(expected, backup_db.sqlite_counts(tmp)[0], src)
            if force:
                done.moved_aside += backup_db.move_aside(path, suffix, sqlite=True)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    else:
        backup_db.postgres_restore(url, dump, clean=force, tables=len(expected), progress=step_progress(progress, "database"))
        _compare(expected, backup_db.postgres_counts(url)[0], src)


def _copy_checked(source: Path, target: Path, sha256: str, progress: Progress | None) -> None:
    total, done = source.stat().st_size, 0
    digest = hashlib.sha256()
    with open(source, "rb") as src, open(target, "wb") as dst:
        while chunk := src.read(CHUNK_BYTES):
            digest.update(chunk)
            dst.write(chunk)
            done += len(chunk)
            if progress:
                progress("database", done, total)
        dst.flush()
        os.fsync(dst.fileno())
    if digest.hexdigest() != sha256:
        raise StorageError(f"{source}: mã băm không khớp bản kê / hash differs from the manifest: the backup is damaged")


def _compare(expected: dict[str, int], found: dict[str, int], src: Path) -> None:
    wrong = {t: (n, found.get(t)) for t, n in expected.items() if found.get(t) != n}
    if wrong:
        detail = ", ".join(f"{t}: {n} → {m}" for t, (n, m) in sorted(wrong.items()))
        raise StorageError(f"{src}: số dòng sau phục hồi khác bản kê / row counts after restoring differ from the "
                           f"manifest: {detail}")
