"""The index engine on the hand-made dataset of results_helpers (SQLite and PostgreSQL).

Every expected value below is worked out by hand from the tables in results_helpers' docstring;
fractions are written as fractions so the working can be checked. Rates are percentages.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import results_helpers as h
from pytest import approx
from sqlalchemy import select

from core.errors import NotFoundError, ReconciliationError
from results.dataset import MISSING, REVIEW, UNIDENTIFIED, load_survey
from results.distribution import check, distribution
from results.engine import Results, Row, compute
from results.tables import RESULT_COLUMNS, results_json, write_results_csv
from storage.db import Database
from storage.files import FileStore
from storage.models import Answer, Sheet, Survey

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def kq(database: Database, file_store: FileStore, tmp_path: Path) -> Database:
    h.build(database, file_store, tmp_path)
    return database


def _results(db: Database, by: tuple[str, ...] = ("district", "commune"), previous: bool = True) -> Results:
    with db.session() as s:
        data = load_survey(s, h.SURVEY)
        earlier = load_survey(s, h.EARLIER) if previous else None
    return compute(data, by=by, previous=earlier)


def _row(results: Results, unit: str, level: str, node: str) -> Row:
    scope = next(s for s in results.scopes if s.code == unit)
    return next(r for r in scope.rows if r.level == level and r.node == node)


def test_cells_hold_what_the_sheets_say(kq: Database) -> None:
    with kq.session() as s:
        data = load_survey(s, h.SURVEY)
    assert data.serials == [1, 2, 3, 4, 5, 6, 7, 8] and data.printed == 9  # 9 printed, never returned
    assert data.cells["B1.o1"] == ["4", "1", REVIEW, "4", "5", "3", "2", UNIDENTIFIED]
    assert data.cells["B1.o2"] == ["2", "*", "5", "4", "3", "4", "", UNIDENTIFIED]
    assert data.cells["B2"] == ["Thủ tục nhanh", "", "Cần thêm chỗ ngồi", "", "", REVIEW, MISSING, ""]
    assert data.cells["A2.3"][:5] == [h.ATTACK, "", "", "", "Zalo"]


def test_item_counts_and_rates_for_the_whole_survey(kq: Database) -> None:
    r = _results(kq)
    expected = {  # n_valid, n_satisfied (4 or 5), n_blank, n_invalid, n_open, rate
        "B1.a1": (7, 4, 0, 0, 1, 4 / 7 * 100),  # 5 4 2 5 3 4 1, sheet 8 unidentified
        "B1.a2": (6, 4, 1, 0, 1, 4 / 6 * 100),  # 4 _ 5 5 4 1 2
        "B1.p1": (6, 4, 1, 0, 1, 4 / 6 * 100),  # 3 5 4 2 _ 4 5: the group with one item
        "B1.o1": (6, 3, 0, 0, 2, 3 / 6 * 100),  # 4 1 R 4 5 3(decided from several marks) 2: one still in review
        "B1.o2": (5, 3, 1, 1, 1, 3 / 5 * 100),  # 2 *(several marks judged invalid) 5 4 3 4 _
    }
    for key, (valid, satisfied, blank, invalid, open_, rate) in expected.items():
        row = _row(r, "ALL", "item", key)
        t = row.tally
        assert (t.n_valid, t.n_satisfied, t.n_blank, t.n_invalid, t.n_open) == (valid, satisfied, blank, invalid, open_)
        assert t.n_returned == 8 and row.rate == approx(rate, abs=1e-12)
        assert row.provisional
    assert _row(r, "ALL", "item", "B1.o1").tally.n_review == 1
    assert _row(r, "ALL", "item", "B1.o1").tally.options == {"1": 1, "2": 1, "3": 1, "4": 2, "5": 1}


def test_levels_are_weighted_means_of_the_level_below(kq: Database) -> None:
    r = _results(kq)
    # access = (3 × a1 + 1 × a2) / 4 = (3 × 400/7 + 200/3) / 4 = 1250/21
    assert _row(r, "ALL", "group", "access").rate == approx(1250 / 21, abs=1e-12)
    assert _row(r, "ALL", "group", "procedures").rate == approx(200 / 3, abs=1e-12)
    assert _row(r, "ALL", "group", "openness").rate == approx(55.0, abs=1e-12)  # (50 + 60) / 2
    # service = (2 × access + procedures) / 3 = (2500/21 + 1400/21) / 3 = 1300/21; policy = openness
    assert _row(r, "ALL", "part", "service").rate == approx(1300 / 21, abs=1e-12)
    assert _row(r, "ALL", "part", "policy").rate == approx(55.0, abs=1e-12)
    # overall = (1300/21 + 55) / 2 = 2455/42 = 58.452…
    overall = r.whole.overall
    assert overall.rate == approx(2455 / 42, abs=1e-12)
    assert (overall.tally.n_valid, overall.tally.n_open, overall.tally.n_invalid) == (30, 6, 1)
    assert r.provisional and overall.label == "Chỉ số hài lòng thử"
    assert _row(r, "ALL", "group", "access").label == "Tiếp cận" and _row(r, "ALL", "group", "access").parent == "service"


def test_units_roll_up_the_hierarchy_with_ranks(kq: Database) -> None:
    r = _results(kq)
    assert [s.code for s in r.scopes] == ["ALL", "D1", "D2", "C11", "C12", "C21"]
    # D1 = sheets 1-5: a1 3/5, a2 4/4, p1 2/4, o1 3/4, o2 2/4 → access (3×60+100)/4 = 70, service (140+50)/3,
    # openness 62.5, overall (190/3 + 62.5)/2 = 755/12
    assert _row(r, "D1", "group", "access").rate == approx(70.0)
    assert _row(r, "D1", "overall", "overall").rate == approx(755 / 12, abs=1e-12)
    # D2 = C21 = sheets 6-8: a1 1/2, a2 0/2, p1 2/2, o1 0/2, o2 1/1 → access 37.5, service 175/3, openness 50
    assert _row(r, "D2", "overall", "overall").rate == approx(325 / 6, abs=1e-12)
    assert _row(r, "C21", "overall", "overall").rate == approx(325 / 6, abs=1e-12)
    assert _row(r, "C11", "overall", "overall").rate == approx(550 / 9, abs=1e-12)  # (650/9 + 50) / 2
    assert _row(r, "C12", "overall", "overall").rate == approx(175 / 3, abs=1e-12)  # (125/3 + 75) / 2
    assert [_row(r, u, "overall", "overall").rank for u in ("D1", "D2", "C11", "C12", "C21")] == [1, 2, 1, 2, 3]
    assert _row(r, "C12", "group", "procedures").rate == 0.0 and _row(r, "C12", "group", "procedures").rank == 3
    assert not _row(r, "C12", "overall", "overall").provisional  # nothing open in C12
    assert _row(r, "C11", "overall", "overall").tally.n_open == 1  # sheet 3's o1
    c11 = next(s for s in r.scopes if s.code == "C11")
    assert c11.n_sheets == 3 and c11.unit is not None and c11.unit.name == "Xã Một Một"


def test_change_against_the_earlier_round(kq: Database) -> None:
    r = _results(kq)
    assert r.previous_survey == h.EARLIER
    # KQ-2023: a1 2/4, a2 1/4, p1 1/4, o1 2/4, o2 3/4 → access (150+25)/4 = 43.75, service (87.5+25)/3 = 37.5,
    # openness 62.5, overall 50
    overall = r.whole.overall
    assert overall.previous == approx(50.0) and overall.change == approx(2455 / 42 - 50, abs=1e-12)
    assert _row(r, "ALL", "group", "access").change == approx(1250 / 21 - 43.75, abs=1e-12)
    assert _row(r, "D1", "overall", "overall").change == approx(755 / 12 - 50, abs=1e-12)  # 2023 D1 all 50
    assert _row(r, "D2", "overall", "overall").previous == approx(50.0)  # (25 + 75) / 2
    assert _row(r, "C12", "overall", "overall").previous is None  # not sampled in 2023
    assert _row(r, "C12", "overall", "overall").change is None


def test_unknown_unit_level_is_named(kq: Database) -> None:
    with pytest.raises(NotFoundError, match="village.*province, district, commune"):
        _results(kq, by=("village",))


def test_distribution_of_every_kind_of_question_reconciles(kq: Database) -> None:
    with kq.session() as s:
        data = load_survey(s, h.SURVEY)
    a1 = distribution(data, data.column("A1"))
    assert (a1.options, a1.n_blank, a1.n_open, a1.reconciles) == ({"1": 3, "2": 3}, 1, 1, True)
    a2 = distribution(data, data.column("A2"))  # several options per sheet: 9 choices by 6 sheets
    assert (a2.n_answered, a2.options, a2.n_blank, a2.n_open) == (6, {"1": 3, "2": 3, "3": 3}, 1, 1)
    assert a2.reconciles
    a3 = distribution(data, data.column("A3"))
    assert (sorted(a3.numbers), a3.n_blank, a3.n_review, a3.n_unidentified) == ([28, 35, 44, 50, 61], 1, 1, 1)
    b2 = distribution(data, data.column("B2"))
    assert [t for _, t in b2.texts] == ["Thủ tục nhanh", "Cần thêm chỗ ngồi"]
    assert (b2.n_blank, b2.n_review, b2.n_missing, b2.n_returned) == (4, 1, 1, 8)
    check(data)  # every column adds up


def test_totals_that_do_not_reconcile_are_refused_with_where(kq: Database) -> None:
    with kq.session() as s:  # a code off the scale on sheet 8 (as a faulty import could leave it)
        sheet = s.scalar(select(Sheet).join(Survey).where(Survey.code == h.SURVEY, Sheet.serial == 8))
        assert sheet is not None
        s.add(Answer(sheet_id=sheet.id, question="B1", item="a1", kind="grid", machine_value="7",
                     machine_state="answered", status="accepted", final_value="7"))
    with kq.session() as s:
        data = load_survey(s, h.SURVEY)
    with pytest.raises(ReconciliationError) as caught:
        check(data)
    message = str(caught.value)
    assert "B1.a1: 7 trả lời + 0 bỏ trống + 0 không hợp lệ + 0 chưa xong = 7 ≠ 8 phiếu đã thu" in message
    assert "phiếu 8: mã '7' không có trong câu hỏi" in message and "1 cột" in message
    assert caught.value.exit_code == 11


def test_results_csv_has_full_precision_and_stable_columns(kq: Database, tmp_path: Path) -> None:
    r = _results(kq, by=("district",))
    out = tmp_path / "kq.csv"
    write_results_csv(r, out)
    with open(out, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(RESULT_COLUMNS)
    assert list(RESULT_COLUMNS[:10]) == ["level", "unit", "question", "item", "n_valid", "n_satisfied", "n_blank",
                                         "n_invalid", "n_open", "rate"]
    a1 = next(x for x in rows if x["unit"] == "ALL" and x["level"] == "item" and x["item"] == "a1")
    assert (a1["question"], a1["n_valid"], a1["n_satisfied"], a1["n_open"]) == ("B1", "7", "4", "1")
    assert float(a1["rate"]) == approx(400 / 7, abs=1e-12) and len(a1["rate"]) > 10  # not rounded
    d2 = next(x for x in rows if x["unit"] == "D2" and x["level"] == "overall")
    assert (d2["rank"], d2["unit_name"], d2["unit_kind"], d2["provisional"]) == ("2", "Huyện Hai", "district", "1")
    assert float(d2["change"]) == approx(325 / 6 - 50, abs=1e-9)
    assert len(rows) == 3 * 11  # ALL, D1, D2 × (overall + 2 parts + 3 groups + 5 items)


def test_results_json_is_nested_and_follows_its_schema(kq: Database) -> None:
    import jsonschema

    body = results_json(_results(kq, by=("commune",)))
    schema = json.loads((REPO / "docs" / "results-schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(body, schema)
    whole = body["scopes"][0]["index"]
    assert whole["level"] == "overall" and [c["node"] for c in whole["children"]] == ["service", "policy"]
    access = whole["children"][0]["children"][0]
    assert access["node"] == "access" and [c["item"] for c in access["children"]] == ["a1", "a2"]
    assert access["children"][0]["counts"]["options"] == {"1": 1, "2": 1, "3": 1, "4": 2, "5": 2}
    assert body["sheets"] == {"printed": 9, "returned": 8, "unknown_pages": 0} and body["provisional"] is True
    assert [s["unit"]["code"] for s in body["scopes"][1:]] == ["C11", "C12", "C21"]
