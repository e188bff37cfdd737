"""The points method (Thông tư 01/2018: 2/1/0) on the counter example, through the real scan writer; the
expected values are worked out by hand below."""

from __future__ import annotations

from pathlib import Path

import results_helpers as h
from pytest import approx

from formgen.definition import load_definition
from formgen.render import build_form
from results.dataset import load_survey
from results.distribution import check
from results.engine import compute
from storage import surveys
from storage.db import Database
from storage.files import FileStore

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "counter-3level.yaml"
ROWS = ("tiep-don", "ho-so", "thai-do", "huong-dan", "ket-qua", "gop-y")
# L3 (1 on time, 2 late but acceptable, 3 late) and H1 (1 Rất hài lòng, 2 Hài lòng, 3 Không hài lòng);
# points 1 → 2, 2 → 1, 3 → 0, top 2
SHEETS = {1: ("1", ("1", "2", "1", "1", "2", "3")),
          2: ("2", ("2", "2", "3", "1", "1", None)),
          3: ("3", ("1", "3", "2", "2", "1", h.R))}


def test_points_method_by_hand(database: Database, file_store: FileStore, tmp_path: Path) -> None:
    built = build_form(load_definition(EXAMPLE))
    with database.session() as s:
        surveys.register_edition(s, built.definition, yaml_text=EXAMPLE.read_text(encoding="utf-8"),
                                 layout=built.layout, blank_pdf=built.blank_pdf, files=file_store)
        surveys.allocate_serials(s, "QUAY-3MUC", "2022", 3, units=["QUAY-1"])
    outcomes = []
    for serial, (l3, grid) in SHEETS.items():
        answers = [h.choice("L1", "1"), h.hand("L1", None, item="L1:w6"), h.choice("L2", "1"), h.choice("L3", l3),
                   *[h.choice("H1", v, item=row, kind="grid") for row, v in zip(ROWS, grid, strict=True)],
                   h.hand("H2", None, kind="text")]
        outcomes.append(h.outcome("QUAY-3MUC", len(outcomes), serial, 1, answers, edition="2022"))
    h.scan(database, file_store, tmp_path / "quay.pdf", outcomes)
    with database.session() as s:
        data = load_survey(s, "QUAY-3MUC")
    check(data)
    r = compute(data)
    rate = {row.node: row.rate for row in r.whole.rows}
    assert r.index.method == "points"
    assert rate["L3"] == approx(50.0)  # points 2 1 0: mean 1 of 2
    assert rate["H1.tiep-don"] == approx(500 / 6)  # 2 1 2
    assert rate["H1.ho-so"] == approx(100 / 3)  # 1 1 0
    assert rate["H1.gop-y"] == approx(0.0)  # 0; one blank, one waiting for review
    assert rate["civil-servants"] == approx(200 / 3)  # (thai-do 2 0 1 → 50, huong-dan 2 2 1 → 250/3) / 2
    assert rate["results"] == approx(200 / 3)  # (L3 50, ket-qua 1 2 2 → 250/3) / 2: two scales in one group
    assert r.whole.overall.rate == approx(50.0)  # (250/3 + 100/3 + 200/3 + 200/3 + 0) / 5
    gop_y = next(row for row in r.whole.rows if row.node == "H1.gop-y").tally
    assert (gop_y.n_valid, gop_y.n_blank, gop_y.n_review, gop_y.points) == (1, 1, 1, 0.0)
    l3 = next(row for row in r.whole.rows if row.node == "L3").tally
    assert (l3.n_satisfied, l3.points) == (2, 3.0)  # satisfied: on time or late but acceptable
