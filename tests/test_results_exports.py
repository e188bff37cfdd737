"""Exports for statisticians on the hand-made dataset (results_helpers): every format through the real
command line; the XLSX opened with openpyxl, the SAV with pyreadstat (SQLite; PostgreSQL for the data)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import results_helpers as h
from click.testing import CliRunner

from phieu.cli import main
from results.dataset import load_survey
from results.exports import CODEBOOK_COLUMNS, LONG_COLUMNS, long_rows, wide_table
from storage.db import Database
from storage.files import FileStore


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return h.workspace(tmp_path)


def _export(home: Path, *args: str) -> str:
    result = CliRunner().invoke(main, ["--home", str(home), "export", h.SURVEY, *args])
    assert result.exit_code == 0, result.output
    return result.output


def _read_csv(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh))


SHEET_1_LABELS = ["1", "C11", "complete", "Nam", "Truyền hình; Khác (ghi rõ)", "'" + h.ATTACK, "35", "",
                  "Rất hài lòng", "Hài lòng", "Bình thường", "Hài lòng", "Không hài lòng", "Thủ tục nhanh"]


def test_csv_of_codes_is_unchanged_and_labelled_variant_has_words(home: Path) -> None:
    _export(home, "--format", "csv", "--out", str(home / "codes.csv"))
    codes = _read_csv(home / "codes.csv")
    assert codes[0] == ["serial", "unit", "status", "A1", "A2", "A2.3", "A3", "A3.write", "B1.a1", "B1.a2", "B1.p1",
                        "B1.o1", "B1.o2", "B2"]
    assert codes[2] == ["2", "C11", "complete", "2", "2", "", "", "", "4", "", "5", "1", "*", ""]
    out = _export(home, "--format", "csv", "--labels", "--out", str(home / "labels.csv"))
    assert "8 phiếu" in out
    labelled = _read_csv(home / "labels.csv")
    assert labelled[0] == codes[0] and labelled[1] == SHEET_1_LABELS
    assert labelled[2][12] == "Không hợp lệ"  # sheet 2's o2: several marks judged invalid
    assert labelled[4][6] == "?REVIEW" and labelled[8][3] == "?UNIDENTIFIED" and labelled[7][13] == "?MISSING"


def test_long_format_has_one_row_per_answer_with_its_status(home: Path) -> None:
    out = _export(home, "--format", "long", "--out", str(home / "long.csv"))
    rows = _read_csv(home / "long.csv")
    assert rows[0] == list(LONG_COLUMNS) and len(rows) - 1 == 8 * 11 and "88 câu trả lời" in out
    by_key = {(r[0], r[2]): r for r in rows[1:]}
    assert by_key[("3", "B1.o1")] == ["3", "C11", "B1.o1", "B1", "o1", "", "review"]
    assert by_key[("2", "B1.o2")] == ["2", "C11", "B1.o2", "B1", "o2", "*", "invalid"]
    assert by_key[("4", "A2")] == ["4", "C12", "A2", "A2", "", "1;2", "answered"]
    assert by_key[("5", "A2.3")] == ["5", "C12", "A2.3", "A2", "", "Zalo", "answered"]
    assert by_key[("7", "B2")][5:] == ["", "missing"] and by_key[("8", "A1")][5:] == ["", "unidentified"]
    assert by_key[("5", "A1")][5:] == ["", "blank"]


def test_codebook_lists_every_variable_and_the_special_values(home: Path) -> None:
    _export(home, "--format", "codebook", "--out", str(home / "codebook.csv"))
    rows = _read_csv(home / "codebook.csv")
    assert rows[0] == list(CODEBOOK_COLUMNS)
    b1 = next(r for r in rows if r[0] == "B1.a1")
    assert b1[1:6] == ["B1_a1", "B1", "a1", "grid", "Mức độ hài lòng — Nơi chờ đủ chỗ ngồi"]
    assert b1[6].startswith("1 = Rất không hài lòng; 2 = Không hài lòng") and "aspect=access" in b1[7]
    assert next(r for r in rows if r[0] == "A2")[1] == "A2_1, A2_2, A2_3"
    assert next(r for r in rows if r[0] == "A2.3")[1:5] == ["A2_3_txt", "A2", "", "writein"]
    assert [r[0] for r in rows if r[4] == "special"] == ["(trống / empty)", "*", "?REVIEW", "?UNIDENTIFIED", "?MISSING"]


def test_xlsx_opens_with_header_frozen_panes_typed_cells_and_codebook(home: Path) -> None:
    from openpyxl import load_workbook

    _export(home, "--format", "xlsx", "--out", str(home / "kq.xlsx"))
    book = load_workbook(home / "kq.xlsx")
    assert book.sheetnames == ["Dữ liệu", "Từ điển biến"]
    data = book["Dữ liệu"]
    assert data.freeze_panes == "B2" and data["A1"].font.bold
    header = [c.value for c in data[1]]
    assert header[:5] == ["serial", "unit", "status", "A1", "A2"] and data.max_row == 9
    row1 = {name: c for name, c in zip(header, data[2], strict=True)}
    assert row1["serial"].value == 1 and row1["A1"].value == 1 and row1["A3"].value == 35  # numbers
    assert row1["A2"].value == "1;3" and row1["A2"].data_type == "s"
    attack = row1["A2.3"]
    assert attack.value == h.ATTACK and attack.data_type == "s" and attack.quotePrefix  # text, never a formula
    assert [c.value for c in data[3]][header.index("B1.o2")] == "*"
    assert book["Từ điển biến"]["A1"].value == "column" and book["Từ điển biến"].max_row == 1 + 11 + 5
    _export(home, "--format", "xlsx", "--labels", "--out", str(home / "labels.xlsx"))
    labelled = load_workbook(home / "labels.xlsx")["Dữ liệu"]
    assert [c.value for c in labelled[2]][3:5] == ["Nam", "Truyền hình; Khác (ghi rõ)"]


def test_sav_opens_in_pyreadstat_with_vietnamese_labels(home: Path) -> None:
    import pyreadstat

    _export(home, "--format", "sav", "--out", str(home / "kq.sav"))
    frame, meta = pyreadstat.read_sav(str(home / "kq.sav"), user_missing=True)
    assert list(frame["serial"]) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert _values(frame["A1"]) == [1, 2, 2, 1, None, 2, 1, -3]  # blank = system missing, -3 = page unidentified
    assert _values(frame["A2_3"]) == [1, 0, None, 0, 1, 0, 1, -3]  # "other" chosen on sheets 1, 5, 7
    assert _values(frame["B1_o2"]) == [2, -1, 5, 4, 3, 4, None, -3]  # -1 invalid
    assert _values(frame["B1_o1"])[2] == -2 and _values(frame["A3"])[3] == -2  # waiting for review
    assert frame["A2_3_txt"][0] == h.ATTACK and frame["B2"][2] == "Cần thêm chỗ ngồi"
    labels = meta.column_names_to_labels
    assert labels["B1_a1"] == "Mức độ hài lòng — Nơi chờ đủ chỗ ngồi" and labels["A2_1"] == "Kênh thông tin — Truyền hình"
    assert meta.variable_value_labels["B1_a1"][4] == "Hài lòng"
    assert meta.variable_value_labels["A1"] == {1: "Nam", 2: "Nữ", -1: "Không hợp lệ", -2: "Chờ duyệt",
                                                -3: "Trang chưa nhận dạng", -4: "Trang chưa quét"}
    assert meta.missing_ranges["B1_a1"] == [{"lo": -4.0, "hi": -1.0}]
    assert meta.variable_measure["B1_a1"] == "ordinal" and meta.variable_measure["A3"] == "scale"


def _values(column: object) -> list[float | None]:
    return [None if isinstance(v, float) and math.isnan(v) else v for v in column]  # type: ignore[attr-defined]


def test_tables_are_the_same_on_every_backend(database: Database, file_store: FileStore, tmp_path: Path) -> None:
    h.build(database, file_store, tmp_path)
    with database.session() as s:
        data = load_survey(s, h.SURVEY)
    header, rows = wide_table(data, labels=True)
    assert rows[0] == [cell.removeprefix("'") for cell in SHEET_1_LABELS]
    assert len(list(long_rows(data))) == 88 and header[3] == "A1"


def test_unknown_survey_is_named(home: Path) -> None:
    result = CliRunner().invoke(main, ["--home", str(home), "export", "NOPE", "--format", "xlsx", "--out",
                                       str(home / "x.xlsx")])
    assert result.exit_code == 7 and "NOPE" in result.output and not (home / "x.xlsx").exists()


def test_results_command_writes_csv_and_json_and_says_the_index(home: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["--home", str(home), "results", h.SURVEY, "--by", "district", "--by", "commune",
                                  "--format", "csv", "--out", str(home / "kq.csv")])
    assert result.exit_code == 0, result.output
    # 2455/42 = 58.45 %, change against 2023: 2455/42 - 50 = +8.45 points; 6 answers open, 1 in review
    assert "Chỉ số hài lòng thử: 58,45 %" in result.output and "+8,45 điểm" in result.output
    assert "TẠM TÍNH / PROVISIONAL: 6 câu trả lời chưa xong" in result.output and "review 1" in result.output
    rows = _read_csv(home / "kq.csv")
    assert {r[1] for r in rows[1:]} == {"ALL", "D1", "D2", "C11", "C12", "C21"}
    result = runner.invoke(main, ["--home", str(home), "results", h.SURVEY, "--by", "all", "--format", "json",
                                  "--out", str(home / "kq.json")])
    assert result.exit_code == 0, result.output
    import json

    body = json.loads((home / "kq.json").read_text(encoding="utf-8"))
    assert body["by"] == ["province", "district", "commune"] and body["previous_survey"] == h.EARLIER
    assert [s["unit"]["code"] for s in body["scopes"][1:]] == ["P", "D1", "D2", "C11", "C12", "C21"]


def test_results_refuse_totals_that_do_not_reconcile(home: Path) -> None:
    h.corrupt(home)
    result = CliRunner().invoke(main, ["--home", str(home), "results", h.SURVEY, "--out", str(home / "r.csv")])
    assert result.exit_code == 11 and "B1.o1" in result.output and "phiếu 8" in result.output
    assert not (home / "r.csv").exists()
