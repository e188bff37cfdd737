"""`phieu backup DEST` and `phieu restore SRC`: a thin shell over storage.backup and storage.restore."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from core.errors import ExitCode, PhieuError
from phieu.cli import AppContext
from phieu.workspace import Workspace

STEP_NAMES = {"database": "CSDL / database", "files": "Kho tệp / file store", "check": "Kiểm tra / checking"}


def _place(ws: Workspace) -> Any:
    from storage.backup import Place

    return Place(files=ws.files_dir, secret=ws.secret_path, settings=ws.settings_path)


class _Bars:
    """One progress bar per step (database, files, check), on stderr."""

    def __init__(self) -> None:
        self.step: str | None = None
        self.bar: Any = None

    def __call__(self, step: str, done: int, total: int) -> None:
        from tqdm import tqdm

        if step != self.step:
            self.close()
            self.step = step
            self.bar = tqdm(total=total, desc=STEP_NAMES.get(step, step), file=sys.stderr, leave=False)
        self.bar.total = total
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


@click.command("backup")
@click.argument("dest", type=click.Path(path_type=Path, file_okay=False))
@click.pass_obj
def backup_command(ctx: AppContext, dest: Path) -> None:
    """Sao lưu không gian làm việc / back up the workspace into the folder DEST.

    The database (a consistent copy while scanning and review go on: SQLite online backup, or
    pg_dump for PostgreSQL), the file store (only the files DEST lacks, each checked), the secret
    and the settings, with a manifest. DEST holds the secret: keep it as safe as the workspace.
    """
    from storage.backup import backup

    ws = ctx.workspace()
    bars = _Bars()
    try:
        manifest = backup(ws.database_url, _place(ws), dest, progress=bars)
    finally:
        bars.close()
    files = manifest["files"]
    tables = manifest["database"]["tables"]
    click.echo(f"Đã sao lưu / backed up into {dest}: {len(tables)} bảng / tables, "
               f"{sum(tables.values())} dòng / rows, {files['count']} tệp / files ({files['copied']} mới / new, "
               f"{files['bytes'] / 1e6:.1f} MB), lược đồ / schema {manifest['alembic_revision']}")
    if files["damaged"]:
        for path in files["damaged"]:
            click.secho(f"Tệp hỏng, không sao lưu / damaged file, not backed up: {ws.files_dir / path}", fg="red", err=True)
        sys.exit(ExitCode.STORAGE)


@click.command("restore")
@click.argument("src", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--database-url", default=None, envvar="PHIEU_DATABASE_URL",
              help="PostgreSQL database to restore into (must exist; default the workspace's SQLite file).")
@click.option("--force", is_flag=True, help="Restore over an existing workspace (its database file, secret and "
              "settings are renamed aside, not deleted; a PostgreSQL database's tables are replaced).")
@click.option("--check", "check_only", is_flag=True, help="Only check the backup (every hash); restore nothing.")
@click.pass_obj
def restore_command(ctx: AppContext, src: Path, database_url: str | None, force: bool, check_only: bool) -> None:
    """Phục hồi bản sao lưu / restore the backup in SRC into the workspace (--home, PHIEU_HOME).

    Refuses a workspace that already holds data unless --force; checks the manifest and every
    hash; compares every table's row count; migrates a backup made by an older phieu.
    """
    from storage.backup import check
    from storage.restore import restore

    bars = _Bars()
    try:
        if check_only:
            manifest = check(src, progress=bars)
            bars.close()
            click.echo(f"Bản sao lưu tốt / the backup is sound: {src} ({manifest['created_at']}, "
                       f"{manifest['files']['count']} tệp / files)")
            return
        ws = Workspace.restore_target(ctx.home, database_url=database_url)
        done = restore(src, ws.database_url, _place(ws), force=force, progress=bars)
    except PhieuError:
        bars.close()
        raise
    bars.close()
    manifest = done.manifest
    click.echo(f"Đã phục hồi / restored {src} ({manifest['created_at']}) into {ws.home}: "
               f"{sum(manifest['database']['tables'].values())} dòng / rows, {manifest['files']['count']} tệp / files "
               f"({done.files_copied} chép / copied)")
    if done.migrated_from:
        click.echo(f"Lược đồ đã cập nhật / schema migrated from {done.migrated_from}")
    for path in done.moved_aside:
        click.echo(f"Giữ lại bản cũ / kept the previous one as {path}")


COMMANDS = [backup_command, restore_command]
