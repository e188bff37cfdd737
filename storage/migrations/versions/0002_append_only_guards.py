"""append-only guards: the database itself refuses to change history or machine readings

audit_log, decisions and box_readings accept INSERT only; answers refuse any change of their
machine_* values and confidence, and any DELETE. SQLite batch migrations copy tables without
their triggers: a later migration that rebuilds one of these tables must create its guards again
(tests/test_storage_db.py checks they exist after upgrading).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 15:25:00

"""
from typing import Sequence, Union

from alembic import op

revision: str = "0002"
down_revision: Union[str, Sequence[str], None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

APPEND_ONLY = ("audit_log", "decisions", "box_readings")
MACHINE_COLUMNS = ("machine_value", "machine_state", "machine_reason", "confidence")
MESSAGE = "append-only: stored history and machine readings are never changed / chỉ được thêm, không sửa"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
    else:
        _upgrade_sqlite()


def _upgrade_sqlite() -> None:
    for table in APPEND_ONLY:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table}: {MESSAGE}'); END"
            )
    changed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in MACHINE_COLUMNS)
    op.execute(
        f"CREATE TRIGGER answers_keep_machine_values BEFORE UPDATE OF {', '.join(MACHINE_COLUMNS)} ON answers "
        f"WHEN {changed} BEGIN SELECT RAISE(ABORT, 'answers: {MESSAGE}'); END"
    )
    op.execute(f"CREATE TRIGGER answers_no_delete BEFORE DELETE ON answers BEGIN SELECT RAISE(ABORT, 'answers: {MESSAGE}'); END")


def _upgrade_postgresql() -> None:
    op.execute(
        "CREATE FUNCTION phieu_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN RAISE EXCEPTION '%: {MESSAGE}', TG_TABLE_NAME; END $$"
    )
    changed = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in MACHINE_COLUMNS)
    op.execute(
        "CREATE FUNCTION phieu_keep_machine_values() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN IF {changed} THEN RAISE EXCEPTION 'answers: {MESSAGE}'; END IF; RETURN NEW; END $$"
    )
    for table in APPEND_ONLY:
        op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION phieu_refuse_change()")
    op.execute("CREATE TRIGGER answers_keep_machine_values BEFORE UPDATE ON answers "
               "FOR EACH ROW EXECUTE FUNCTION phieu_keep_machine_values()")
    op.execute("CREATE TRIGGER answers_no_delete BEFORE DELETE ON answers FOR EACH ROW EXECUTE FUNCTION phieu_refuse_change()")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP TRIGGER IF EXISTS answers_keep_machine_values ON answers")
        op.execute("DROP TRIGGER IF EXISTS answers_no_delete ON answers")
        op.execute("DROP FUNCTION IF EXISTS phieu_keep_machine_values()")
        op.execute("DROP FUNCTION IF EXISTS phieu_refuse_change()")
    else:
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
        op.execute("DROP TRIGGER IF EXISTS answers_keep_machine_values")
        op.execute("DROP TRIGGER IF EXISTS answers_no_delete")
