"""`phieu init`: create the workspace explicitly (every other command refuses a folder that is not one)."""

from __future__ import annotations

import click

from phieu.cli import AppContext
from phieu.workspace import Workspace, is_workspace, resolve_home


@click.command("init")
@click.pass_obj
def init(ctx: AppContext) -> None:
    """Tạo không gian làm việc / create the workspace at --home (database, file store, secret).

    An existing workspace is left as it is (its secret is never replaced).
    """
    from storage.db import Database

    root = resolve_home(ctx.home)
    existed = is_workspace(root)
    ws = Workspace.create(root)
    Database.for_workspace(ws).dispose()  # the schema, now
    if existed:
        click.echo(f"Đã có không gian làm việc, không đổi / workspace already there, unchanged: {ws.home}")
    else:
        click.echo(f"Đã tạo không gian làm việc / workspace created: {ws.home}")


COMMANDS: list[click.Command] = [init]
