"""national scale: running counts kept by triggers, an index for every query of the review queue

- ``tallies`` (survey, subject, key) -> n: open review items by kind, sheets by status, pages of a
  survey's sheets by status. Triggers on review_items, sheets and pages add and subtract in the
  same transaction as the change, so storage.progress reads a handful of rows instead of counting
  hundreds of thousands of open items. SQLite: row triggers (one writer at a time). PostgreSQL:
  statement triggers over transition tables, which sum a statement's changes and update the
  counts in key order (two transactions never take two count rows in opposite orders).
  Filled from the rows already there.
- review_items: the head of every survey's queue (status, id), a person's own leases
  (leased_by, status, id), the live leases (status, lease_expires), the items a person may not
  take (excluded_user_id / excluded_user2_id, status); decisions by time (throughput).

SQLite batch migrations copy a table without its triggers: a later migration that rebuilds
review_items, sheets or pages must create these again (tests/test_storage_db.py checks them).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08 09:00:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: Union[str, Sequence[str], None] = "0005"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

INDEXES = (
    ("ix_review_open_id", "review_items", ["status", "id"]),
    ("ix_review_leased_by", "review_items", ["leased_by", "status", "id"]),
    ("ix_review_lease_expires", "review_items", ["status", "lease_expires"]),
    ("ix_review_excluded", "review_items", ["excluded_user_id", "status"]),
    ("ix_review_excluded2", "review_items", ["excluded_user2_id", "status"]),
    ("ix_decisions_decided_at", "decisions", ["decided_at"]),
)

# What each table counts: (survey, subject, key) of a row ``r``, the rows that count, and a join.
COUNTED = {
    "review_items": ("coalesce(r.survey_id, 0)", "'item'", "r.kind", "r.status = 'open'", ""),
    "sheets": ("r.survey_id", "'sheet'", "r.status", "TRUE", ""),
    "pages": ("s.survey_id", "'page'", "r.status", "TRUE", "JOIN sheets s ON s.id = r.sheet_id"),
}


def _rows(table: str, source: str, sign: int) -> str:
    survey, subject, key, where, join = COUNTED[table]
    return f"SELECT {survey} AS survey_id, {subject} AS subject, {key} AS key, {sign} AS d FROM {source} r {join} WHERE {where}"


def upgrade() -> None:
    op.create_table(
        "tallies",
        sa.Column("survey_id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=8), nullable=False),
        sa.Column("key", sa.String(length=20), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("survey_id", "subject", "key", name=op.f("pk_tallies")),
    )
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)
    for table in COUNTED:
        op.execute(f"INSERT INTO tallies (survey_id, subject, key, n) SELECT survey_id, subject, key, sum(d) "
                   f"FROM ({_rows(table, table, 1)}) x GROUP BY survey_id, subject, key")
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_triggers()
    else:
        _sqlite_triggers()


def _sqlite_triggers() -> None:
    for table, (survey, subject, key, where, join) in COUNTED.items():
        def one(row: str, sign: int) -> str:
            expr = (survey, key, where)
            s, k, w = (e.replace("r.", f"{row}.") for e in expr)
            if join:  # a page counts for its sheet's survey
                return (f"INSERT INTO tallies (survey_id, subject, key, n) SELECT s.survey_id, {subject}, {k}, {sign} "
                        f"FROM sheets s WHERE s.id = {row}.sheet_id "
                        f"ON CONFLICT (survey_id, subject, key) DO UPDATE SET n = n + ({sign});")
            return (f"INSERT INTO tallies (survey_id, subject, key, n) SELECT {s}, {subject}, {k}, {sign} WHERE {w} "
                    f"ON CONFLICT (survey_id, subject, key) DO UPDATE SET n = n + ({sign});")

        op.execute(f"CREATE TRIGGER {table}_tally_insert AFTER INSERT ON {table} BEGIN {one('NEW', 1)} END")
        op.execute(f"CREATE TRIGGER {table}_tally_delete AFTER DELETE ON {table} BEGIN {one('OLD', -1)} END")
        watched = {"review_items": ("status", "kind", "survey_id"), "sheets": ("status", "survey_id"),
                   "pages": ("status", "sheet_id")}[table]
        changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in watched)
        op.execute(f"CREATE TRIGGER {table}_tally_update AFTER UPDATE OF {', '.join(watched)} ON {table} "
                   f"WHEN {changed} BEGIN {one('OLD', -1)} {one('NEW', 1)} END")


def _postgresql_triggers() -> None:
    for table in COUNTED:
        for event, sources in (("insert", (("new_rows", 1),)), ("update", (("old_rows", -1), ("new_rows", 1))),
                               ("delete", (("old_rows", -1),))):
            rows = " UNION ALL ".join(_rows(table, source, sign) for source, sign in sources)
            op.execute(
                f"CREATE FUNCTION {table}_tally_{event}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "INSERT INTO tallies (survey_id, subject, key, n) "
                f"SELECT survey_id, subject, key, sum(d) FROM ({rows}) x GROUP BY survey_id, subject, key "
                "HAVING sum(d) <> 0 ORDER BY survey_id, subject, key "
                "ON CONFLICT (survey_id, subject, key) DO UPDATE SET n = tallies.n + EXCLUDED.n; "
                "RETURN NULL; END $$"
            )
            referencing = " ".join(f"{'OLD' if s.startswith('old') else 'NEW'} TABLE AS {s}" for s, _ in sources)
            op.execute(f"CREATE TRIGGER {table}_tally_{event} AFTER {event.upper()} ON {table} "
                       f"REFERENCING {referencing} FOR EACH STATEMENT EXECUTE FUNCTION {table}_tally_{event}()")


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in COUNTED:
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_tally_{event}" + (f" ON {table}" if postgresql else ""))
            if postgresql:
                op.execute(f"DROP FUNCTION IF EXISTS {table}_tally_{event}()")
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_table("tallies")
