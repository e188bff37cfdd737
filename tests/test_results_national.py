"""The set-based reading and writing that let a national round's results run in seconds: each agrees
with the plain way on real data (both backends), and the XLSX writer's files read back in openpyxl."""

from __future__ import annotations

from pathlib import Path

import results_helpers as h
from sqlalchemy import select

from results import xlsx
from storage.cells import SEPARATOR, read_columns
from storage.db import Database
from storage.export import cell_value_sql
from storage.files import FileStore
from storage.models import Answer, Sheet, Survey


def _row_by_row(database: Database, survey_id: int) -> dict[tuple[str, str], dict[int, str]]:
    """The plain way: one row per answer."""
    found: dict[tuple[str, str], dict[int, str]] = {}
    with database.session() as s:
        query = (select(Answer.sheet_id, Answer.question, Answer.item, cell_value_sql())
                 .join(Sheet, Sheet.id == Answer.sheet_id).where(Sheet.survey_id == survey_id))
        for sheet_id, question, item, value in s.execute(query):
            found.setdefault((question, item), {})[sheet_id] = value
    return found


def test_columns_read_set_based_equal_the_answers_row_by_row(database: Database, file_store: FileStore,
                                                             tmp_path: Path) -> None:
    h.build(database, file_store, tmp_path)
    h.decide(database, [(6, "B2", "", f"chữ có dấu{SEPARATOR}tách")])  # a person typed the separator
    with database.session() as s:
        survey_id = s.scalar(select(Survey.id).where(Survey.code == h.SURVEY))
        sheets = list(s.scalars(select(Sheet.id).where(Sheet.survey_id == survey_id).order_by(Sheet.serial)))
    plain = _row_by_row(database, survey_id)
    assert any(SEPARATOR in v for column in plain.values() for v in column.values())
    # in serial order, in reverse, and with a sheet left out and an unknown sheet id asked for
    for order in (sheets, sheets[::-1], [*sheets[2:], 99_999]):
        with database.session() as s:
            columns = read_columns(s, survey_id, order)
        assert columns.keys() == plain.keys()
        for key, cells in columns.items():
            assert cells == [plain[key].get(sheet_id) for sheet_id in order], key
    assert None in columns[("B2", "")]  # sheet 7's page 2 was never scanned: no answer, None


def test_xlsx_writer_reads_back_in_openpyxl(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    texts = ["Hài lòng", "  lề hai bên  ", "a<b & c>d", "=HYPERLINK(\"http://x\")", "-5", "ký tự\x01lạ", "", None,
             "007", "123456789012345678"]
    sheet = xlsx.Sheet("Dữ liệu", ["serial", "văn bản", "số"], [[str(i + 1) for i in range(len(texts))], texts,
                                                                 texts[::-1]],
                       numeric=frozenset({0, 2}), freeze="B2")
    other = xlsx.Sheet("Từ điển", ["cột"], [["A1", "B1"]])
    target = tmp_path / "kq.xlsx"
    xlsx.write(target, [sheet, other])
    book = load_workbook(target)
    assert book.sheetnames == ["Dữ liệu", "Từ điển"]
    data = book["Dữ liệu"]
    assert data.freeze_panes == "B2" and book["Từ điển"].freeze_panes == "A2"
    assert [c.value for c in data[1]] == ["serial", "văn bản", "số"] and data["A1"].font.bold
    rows = list(data.iter_rows(min_row=2))
    assert [r[0].value for r in rows] == list(range(1, len(texts) + 1))  # numbers as numbers
    read = [r[1].value for r in rows]
    assert read[:5] == texts[:5] and read[6:8] == [None, None] and read[8] == "007"
    assert read[5] == "ký tự_x0001_lạ"  # not allowed in XML: written as its OOXML escape
    assert rows[3][1].data_type == "s" and rows[3][1].quotePrefix and rows[4][1].quotePrefix  # never a formula
    assert not rows[0][1].quotePrefix
    numbers = [r[2].value for r in rows]
    assert numbers[0] == "123456789012345678" and numbers[1] == 7  # too long for a number: text; "007" → 7
    assert [c.value for c in book["Từ điển"]["A"]] == ["cột", "A1", "B1"]
