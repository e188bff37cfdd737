"""review UI: sessions ended at logout, a third person for disagreements, OCR confidence, sheet lists

- users.session_generation: bumped at logout (and password change, disabling): every session cookie
  issued before carries the old number and is refused on load;
- review_items.excluded_user2_id: a disagreement is settled by a third person, neither of the two
  reviewers (excluded_user_id keeps the first);
- answers.ocr_confidence: tesseract's own mean word confidence (0-100) of the OCR draft, so the bar
  for showing a draft can be re-tuned without reading the pages again;
- indexes serving the supervisors' sheet list (keyset pages by serial within a survey, filtered by
  status or unit) and the per-status figures.

Columns are added with ALTER TABLE (no table copy), so the append-only triggers of 0002 stay.

Revision ID: 0005
Revises: 0002
Create Date: 2026-11-30 10:00:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: Union[str, Sequence[str], None] = "0004"  # after fieldwork (both branches began at 0002)
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column("users", sa.Column("session_generation", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("review_items", sa.Column("excluded_user2_id", sa.Integer(), nullable=True))
    op.add_column("answers", sa.Column("ocr_confidence", sa.Float(), nullable=True))
    op.create_index("ix_sheets_survey_status_serial", "sheets", ["survey_id", "status", "serial"])
    op.create_index("ix_sheets_survey_unit_serial", "sheets", ["survey_id", "unit_id", "serial"])
    op.create_index("ix_pages_status_id", "pages", ["status", "id"])


def downgrade() -> None:
    op.drop_index("ix_pages_status_id", table_name="pages")
    op.drop_index("ix_sheets_survey_unit_serial", table_name="sheets")
    op.drop_index("ix_sheets_survey_status_serial", table_name="sheets")
    for table, column in (("answers", "ocr_confidence"), ("review_items", "excluded_user2_id"),
                          ("users", "session_generation")):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")  # SQLite >= 3.35 too: no table copy
