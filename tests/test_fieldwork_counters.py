"""Counter surveys on the 220-point network we ship (PKS05), on real SQLite and PostgreSQL: sheet stock
printed per counter (and per field of procedure), sheets checked in day by day, real PKS05 sheets
scanned, visitor counts entered and imported, the provincial plan's quota rule per counter and day
(one point with too few responses, one with more than its visitors allow, one field below its share),
the rule's numbers changed for the survey, and the operations figures at every level."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest
from fieldwork_helpers import COUNTER_FRAME, PKS05, SECRET, with_frame
from sqlalchemy import func, select

from core.errors import InputFileError
from core.settings import FieldworkSettings, ScanSettings, Settings
from fieldwork import checkin, counters, lifecycle
from fieldwork.counters import QuotaRule
from fieldwork.operations import check_reconciles, operations
from fieldwork.plan import set_rules
from fieldwork.printing import print_by_frame
from formgen.identity import SheetIdentity, encode_payload
from phieu.provingground.bundle import make_bundle
from pipeline.run import scan_paths
from storage.fieldwork_models import VisitorCount
from storage.models import Sheet, Survey, Unit

SURVEY = "PKS05"
DAY1, DAY2 = date(2024, 7, 10), date(2024, 7, 11)


@pytest.mark.parametrize(("visitors", "low", "high"), [
    (0, 0, 0), (1, 1, 1), (20, 10, 30), (21, 11, 31), (39, 20, 58), (40, 20, 60), (100, 20, 150), (7, 4, 10),
])
def test_quota_rule_bounds(visitors: int, low: int, high: int) -> None:
    """Within ±50 % of the visitors; from 40 visitors (very busy) at least 20 suffice."""
    rule = QuotaRule.of(FieldworkSettings())
    assert rule.bounds(visitors) == (low, high)
    assert rule.verdict(visitors, low) == "" and rule.verdict(visitors, high) == ""
    if low > 0:
        assert rule.verdict(visitors, low - 1).startswith("thiếu")
    assert rule.verdict(visitors, high + 1).startswith("thừa")


def _serials(db, code: str, field: str | None = None) -> list[int]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        query = select(Sheet.serial).join(Unit, Unit.id == Sheet.unit_id).where(Unit.code == code).order_by(Sheet.serial)
        if field is not None:
            query = query.where(Sheet.field == field)
        return list(s.scalars(query))


@pytest.mark.slow
def test_counter_survey_days_rules_and_figures(database, file_store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = database
    built = with_frame(db, file_store, PKS05, COUNTER_FRAME)
    with db.session() as s:
        survey = s.scalar(select(Survey).where(Survey.code == SURVEY))
        kinds = dict(s.execute(select(Unit.kind, func.count()).where(Unit.survey_id == survey.id).group_by(Unit.kind)).all())
    assert kinds == {"province": 1, "district": 10, "counter": 220}

    # sheet stock for the provincial centre and every counter of Tân Yên (TY-02 per field: Hộ tịch 10, Chứng thực 20)
    with db.session() as s:
        printed = print_by_frame(s, SURVEY, "2024", only=["BG-TTHCC", "TY"], actor="in-an")
    assert len(printed.run.serials) == 90 + 45 + 21 * 30 + 30
    fields = [(b.unit_code, b.field, last - first + 1) for b, first, last in printed.blocks if b.unit_code == "TY-02"]
    assert fields == [("TY-02", "Hộ tịch", 10), ("TY-02", "Chứng thực", 20)]
    with db.session() as s:
        lifecycle.mark(s, SURVEY, printed.run.serials, "issued", actor="thukho", source="cli", day=DAY1)

    centre, district, calm, fields_point, stuffed = (_serials(db, c) for c in ("BG-TTHCC", "TY-UB", "TY-01", "TY-02", "TY-03"))
    ho_tich, chung_thuc = _serials(db, "TY-02", "Hộ tịch"), _serials(db, "TY-02", "Chứng thực")
    collect = {DAY1: centre[:30] + district[:12] + calm[:20] + ho_tich[:6] + chung_thuc[:9] + stuffed[:5],
               DAY2: centre[30:55] + district[12:32]}
    with db.session() as s:
        for day, serials in collect.items():
            lifecycle.mark(s, SURVEY, serials, "collected", actor="vanthu", source="checkin", day=day)
        answer = checkin.check_in(s, SURVEY, encode_payload(SheetIdentity(SURVEY, "2024", calm[20], 1), SECRET),
                                  secret=SECRET, actor="vanthu", day=DAY2)
    assert answer.outcome == "collected" and answer.unit == "TY-01"
    collect[DAY2].append(calm[20])

    # three real PKS05 sheets of TY-01 scanned afterwards: they stay counted on the day they came back
    make_bundle(built, built.layout, calm[:3], profile="office", rng=np.random.default_rng(5), out_dir=tmp_path / "scans",
                secret=SECRET)
    summary = scan_paths(db, file_store, [tmp_path / "scans"], secret=SECRET, settings=Settings(scan=ScanSettings(jobs=1)),
                         ocr=False)
    assert summary.identified == 3

    # visitors: typed for some counter-days, imported from a file for the others
    with db.session() as s:
        survey = s.scalar(select(Survey).where(Survey.code == SURVEY))
        counters.record_visitors(s, survey, "BG-TTHCC", DAY1, 100, actor="vanthu")  # very busy: 30 ≥ 20 is enough
        counters.record_visitors(s, survey, "TY-UB", DAY1, 30, actor="vanthu")  # 12 < 15: too few
    visitors = tmp_path / "luot-den.csv"
    visitors.write_text("mã điểm;ngày;lĩnh vực;lượt đến;số phiếu\n"
                        "BG-TTHCC;11/07/2024;;45;\nTY-UB;11/07/2024;;30;\nTY-01;10/07/2024;;20;\n"
                        "TY-02;10/07/2024;Hộ tịch;10;\nTY-02;10/07/2024;Chứng thực;20;\n"
                        "TY-03;10/07/2024;;8;13\n", encoding="utf-8")
    with db.session() as s:
        assert counters.import_visitors(s, SURVEY, visitors, actor="vanthu") == (6, 0)
        assert counters.import_visitors(s, SURVEY, visitors, actor="vanthu") == (0, 0)  # again: nothing changes

    with db.session() as s:
        survey = s.scalar(select(Survey).where(Survey.code == SURVEY))
        days = {(d.unit, d.day, d.field): d for d in counters.counter_days(s, survey, FieldworkSettings())}
        progress = {(f["unit"], f["field"]): (f["quota"], f["collected"]) for f in counters.field_progress(s, survey)}
    assert {k: d.responses for k, d in days.items()} == {
        ("BG-TTHCC", DAY1, ""): 30, ("BG-TTHCC", DAY2, ""): 25, ("TY-UB", DAY1, ""): 12, ("TY-UB", DAY2, ""): 20,
        ("TY-01", DAY1, ""): 20, ("TY-02", DAY1, "Hộ tịch"): 6, ("TY-02", DAY1, "Chứng thực"): 9, ("TY-03", DAY1, ""): 13}
    assert days[("TY-03", DAY1, "")].counted == 5  # the counter wrote 13 down; 5 sheets were checked in
    broken = sorted(k for k, d in days.items() if d.problem)
    assert broken == [("TY-02", DAY1, "Chứng thực"), ("TY-03", DAY1, ""), ("TY-UB", DAY1, "")]
    assert days[("TY-03", DAY1, "")].problem.startswith("thừa") and days[("TY-UB", DAY1, "")].problem.startswith("thiếu")
    assert progress == {("TY-02", "Hộ tịch"): (10, 6), ("TY-02", "Chứng thực"): (20, 9)}

    # the operations table: rule breaks and visitors at every level, figures that add up
    with db.session() as s:
        ops = operations(s, SURVEY, FieldworkSettings(), today=DAY2)
    assert check_reconciles(ops) == []
    rows = {r.key: r for r in ops.units}
    assert len(rows) == 231
    assert {k: rows[k].counts.rule_breaks for k in ("BG", "BG-TTHCC", "TY", "TY-UB", "TY-02", "TY-03", "TY-01", "LG")} == {
        "BG": 3, "BG-TTHCC": 0, "TY": 3, "TY-UB": 1, "TY-02": 1, "TY-03": 1, "TY-01": 0, "LG": 0}
    assert (rows["BG"].counts.visitors, rows["TY"].counts.visitors, rows["TY-02"].counts.visitors) == (263, 118, 30)
    back = {code: len([n for day in collect.values() for n in day if n in serials])
            for code, serials in {"BG-TTHCC": centre, "TY-UB": district, "TY-01": calm, "TY-02": fields_point}.items()}
    for code, count in back.items():
        assert (rows[code].counts.printed, rows[code].counts.collected) == (len(_serials(db, code)), count), code
    assert rows["TY-01"].counts.scanned == 3 and rows["BG"].counts.scanned == 3
    assert rows["TY"].counts.collected == sum(len(v) for v in collect.values()) - 55  # the centre's 55 are not Tân Yên's
    assert rows["BG"].counts.printed == len(printed.run.serials) and rows["LG"].counts.printed == 0
    assert rows["BG"].quota == 90 + 10 * 45 + 209 * 30 and rows["TY-02"].quota == 30

    # the survey's own numbers: a looser tolerance forgives two of the three
    with db.session() as s:
        survey = s.scalar(select(Survey).where(Survey.code == SURVEY))
        looser = set_rules(s, survey, FieldworkSettings(), actor="giamsat", overrides={"quota_tolerance": 0.6})
        still = [(d.unit, d.field) for d in counters.counter_days(s, survey, looser.settings) if d.problem]
    assert still == [("TY-03", "")]


def test_visitor_file_errors_name_their_lines(database, file_store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with_frame(database, file_store, PKS05, COUNTER_FRAME)
    bad = tmp_path / "sai.csv"
    bad.write_text("mã điểm,ngày,lượt đến\nTY-01,10/07/2024,20\nXX-99,10/07/2024,5\nTY-02,31/02/2024,5\n"
                   "TY-03,10/07/2024,nhiều\nTY-01,2024-07-10,21\n", encoding="utf-8")
    with pytest.raises(InputFileError) as raised, database.session() as s:
        counters.import_visitors(s, SURVEY, bad, actor="vanthu")
    message = str(raised.value)
    assert message.startswith("sai.csv: 4 dòng lỗi")
    for line in ("dòng 3:", "dòng 4:", "dòng 5:", "dòng 6:"):
        assert line in message
    assert "dòng 2:" not in message
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(VisitorCount)) == 0  # nothing half-imported
