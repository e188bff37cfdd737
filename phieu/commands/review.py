"""`phieu serve` (the review web app) and `phieu user add/passwd/disable/enable/list`."""

from __future__ import annotations

import click

from phieu.cli import AppContext

ROLES = ("admin", "supervisor", "reviewer", "clerk", "enumerator")


def _db(ctx: AppContext):  # type: ignore[no-untyped-def]
    from storage.db import Database

    return Database.for_workspace(ctx.workspace())


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0 for the office LAN).")
@click.option("--port", default=8080, show_default=True, type=int, help="Port (0 picks a free one).")
@click.pass_obj
def serve_command(ctx: AppContext, host: str, port: int) -> None:
    """Chạy giao diện duyệt trên web / serve the review web application (waitress)."""
    from review_ui.app import serve

    workspace = ctx.workspace()
    _db(ctx).dispose()  # migrate before serving

    def ready(url: str) -> None:
        click.echo(f"Giao diện duyệt / review UI: {url}  (Ctrl+C để dừng / to stop)")

    serve(workspace, host, port, ready_callback=ready)


@click.group("user")
def user_group() -> None:
    """Tài khoản người dùng / user accounts (roles: admin, supervisor, reviewer, clerk)."""


_password_option = click.option(
    "--password", envvar="PHIEU_PASSWORD", prompt="Mật khẩu / password", hide_input=True, confirmation_prompt=True,
    help="The password (prompted when absent; or env PHIEU_PASSWORD). At least 8 characters.",
)


@user_group.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What the person may do.")
@click.option("--name", "full_name", default="", help="Full name shown in the UI.")
@click.option("--language", type=click.Choice(["vi", "en"]), default="vi", show_default=True)
@_password_option
@click.pass_obj
def user_add(ctx: AppContext, username: str, role: str, full_name: str, language: str, password: str) -> None:
    """Thêm người dùng / add a user."""
    from review_ui.accounts import create_user

    db = _db(ctx)
    with db.session() as s:
        create_user(s, username, password, role, full_name=full_name, language=language, actor="cli")
    db.dispose()
    click.echo(f"Đã thêm / added {username} ({role})")


@user_group.command("passwd")
@click.argument("username")
@_password_option
@click.pass_obj
def user_passwd(ctx: AppContext, username: str, password: str) -> None:
    """Đặt mật khẩu mới (đăng xuất mọi phiên) / set a new password (ends the user's sessions)."""
    from review_ui.accounts import set_password

    db = _db(ctx)
    with db.session() as s:
        set_password(s, username, password)
    db.dispose()
    click.echo(f"Đã đổi mật khẩu / password changed: {username}")


@user_group.command("disable")
@click.argument("username")
@click.pass_obj
def user_disable(ctx: AppContext, username: str) -> None:
    """Khoá tài khoản / disable an account (its sessions end at once)."""
    _set_active(ctx, username, False)
    click.echo(f"Đã khoá / disabled: {username}")


@user_group.command("enable")
@click.argument("username")
@click.pass_obj
def user_enable(ctx: AppContext, username: str) -> None:
    """Mở khoá tài khoản / enable an account again."""
    _set_active(ctx, username, True)
    click.echo(f"Đã mở khoá / enabled: {username}")


def _set_active(ctx: AppContext, username: str, active: bool) -> None:
    from review_ui.accounts import set_active

    db = _db(ctx)
    with db.session() as s:
        set_active(s, username, active)
    db.dispose()


@user_group.command("list")
@click.pass_obj
def user_list(ctx: AppContext) -> None:
    """Liệt kê người dùng / list users."""
    from review_ui.accounts import list_users

    db = _db(ctx)
    with db.session() as s:
        for u in list_users(s):
            state = "active" if u.active else "disabled"
            click.echo(f"{u.username:20} {u.role:11} {state:9} {u.full_name}")
    db.dispose()


COMMANDS: list[click.Command] = [serve_command, user_group]
