"""scan hardening: who runs a batch, why a file failed, how often its reading was cut short, and the
resolution of each page's aligned image

- scan_batches.owner: host:pid:start of the process running the batch, so the next run can tell a
  batch that crashed (kill -9, power cut) from one still running, and close it;
- scan_files.error_code: the reason code of a failed or interrupted file (scanner.problems.REASONS);
- scan_files.attempts: runs that started reading the file; a file that keeps stopping the scan is
  failed instead of tried for ever;
- pages.aligned_dpi: the resolution the aligned image was made at (NULL for pages stored before:
  they were made at the canonical_dpi then in force, which readers fall back to).

Columns are only added (no table is rebuilt), so the append-only triggers of 0002 stay as they are.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 08:00:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column("scan_batches", sa.Column("owner", sa.String(length=200), nullable=True))
    op.add_column("scan_files", sa.Column("error_code", sa.String(length=40), nullable=True))
    op.add_column("scan_files", sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("pages", sa.Column("aligned_dpi", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pages") as batch:
        batch.drop_column("aligned_dpi")
    with op.batch_alter_table("scan_files") as batch:
        batch.drop_column("attempts")
        batch.drop_column("error_code")
    with op.batch_alter_table("scan_batches") as batch:
        batch.drop_column("owner")
