"""`phieu user ...` on a real workspace: accounts are created, listed, disabled, re-passworded; errors are clear."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from phieu.cli import main
from review_ui.accounts import check_password
from storage.db import Database
from storage.models import AuditEvent, User


def test_user_commands(tmp_path: Path) -> None:
    run = CliRunner()
    home = ["--home", str(tmp_path)]
    assert run.invoke(main, [*home, "init"]).exit_code == 0
    added = run.invoke(main, [*home, "user", "add", "duyet1", "--role", "reviewer", "--name", "Nguyễn Văn A"],
                       env={"PHIEU_PASSWORD": "mat-khau-123"})
    assert added.exit_code == 0, added.output
    twice = run.invoke(main, [*home, "user", "add", "duyet1", "--role", "reviewer"], env={"PHIEU_PASSWORD": "mat-khau-123"})
    assert twice.exit_code == 8 and "duyet1" in twice.output  # ConflictError, named
    short = run.invoke(main, [*home, "user", "add", "duyet2", "--role", "clerk"], env={"PHIEU_PASSWORD": "ngan"})
    assert short.exit_code == 1 and "8" in short.output
    assert run.invoke(main, [*home, "user", "passwd", "duyet1"], input="mat-khau-moi-1\nmat-khau-moi-1\n").exit_code == 0
    assert run.invoke(main, [*home, "user", "disable", "duyet1"]).exit_code == 0
    listed = run.invoke(main, [*home, "user", "list"])
    assert "duyet1" in listed.output and "disabled" in listed.output and "Nguyễn Văn A" in listed.output
    assert run.invoke(main, [*home, "user", "disable", "khong-co"]).exit_code == 7
    db = Database.open(f"sqlite:///{tmp_path / 'phieu.sqlite3'}")
    with db.session() as s:
        user = s.scalar(select(User).where(User.username == "duyet1"))
        assert not user.active and check_password(user, "mat-khau-moi-1") and not check_password(user, "mat-khau-123")
        actions = list(s.scalars(select(AuditEvent.action).where(AuditEvent.entity == "user").order_by(AuditEvent.id)))
        assert actions == ["user_add", "user_passwd", "user_disable"]
    db.dispose()
