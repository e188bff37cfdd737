"""The pipeline into PostgreSQL: two worker processes, the parent writing, a rescan changing nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from pipeline_helpers import print_sipas
from sqlalchemy import func, select

from phieu.provingground.score import score_answers
from storage.models import Answer, Page

pytestmark = pytest.mark.postgres


def test_scan_into_postgresql(_postgres_module_url: str, tmp_path: Path) -> None:
    printed = print_sipas(tmp_path / "ws", 2, database_url=_postgres_module_url)
    truths = printed.bundle(printed.serials, tmp_path / "scans", profile="office", seed=11)
    summary = printed.scan(tmp_path / "scans", jobs=2)
    pages = 2 * printed.built.layout.page_count
    assert (summary.pages, summary.identified, summary.exit_code) == (pages, pages, 0)
    with printed.db.session() as session:
        score = score_answers(session, printed.survey, truths)
        answers = session.scalar(select(func.count()).select_from(Answer))
    assert score.missing == 0 and score.wrong == 0, score.wrong_examples

    again = printed.scan(tmp_path / "scans", jobs=2)
    assert (again.files_already_done, again.pages) == (1, 0)
    with printed.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Page)) == pages
        assert session.scalar(select(func.count()).select_from(Answer)) == answers
    printed.db.dispose()
