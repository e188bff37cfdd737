"""The proving ground's truth and filler on real sheets: formgen's pages rendered with PDFium."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from formgen.definition import load_definition
from formgen.layout import AnswerBox, Layout, Rect
from formgen.render import BuiltForm, build_form
from phieu.provingground import (
    MarkMix,
    MarkSpec,
    SheetTruth,
    TruthAnswer,
    fill_page,
    random_truth,
    render_pdf_page,
)
from phieu.provingground.bundle import stamp
from phieu.provingground.sample import SAMPLE_YAML
from phieu.provingground.truth import truths_from_json, truths_to_json

REPO = Path(__file__).resolve().parent.parent
DPI = 300.0
PX = DPI / 25.4
INK = 200  # a pixel darker than this, where the page was white, is new ink


@pytest.fixture(scope="module")
def sample() -> BuiltForm:
    return build_form(load_definition(SAMPLE_YAML, source_name="sample"))


@pytest.fixture(scope="module")
def sipas() -> BuiltForm:
    return build_form(load_definition(REPO / "examples" / "sipas-2024.yaml"))


@pytest.fixture(scope="module")
def sample_page(sample: BuiltForm) -> np.ndarray:
    return render_pdf_page(stamp(sample, [7], bytes(32)), 0, dpi=DPI)


def new_ink(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Pixels that were paper-white and are now inked (the printed sheet never counts)."""
    return (before > 230) & (after < INK)


def ink_in(mask: np.ndarray, r: Rect, grow_mm: float = 0.0) -> int:
    x0, y0 = int((r.x - grow_mm) * PX), int((r.y - grow_mm) * PX)
    x1, y1 = int((r.x + r.w + grow_mm) * PX) + 1, int((r.y + r.h + grow_mm) * PX) + 1
    return int(mask[max(0, y0) : y1, max(0, x0) : x1].sum())


def interior_share(mask: np.ndarray, box: AnswerBox) -> float:
    inset = Rect(x=box.x + 0.5, y=box.y + 0.5, w=box.w - 1.0, h=box.h - 1.0)
    return ink_in(mask, inset) / ((inset.w * PX) * (inset.h * PX))


def every_style_truth(layout: Layout) -> SheetTruth:
    """One box per style, chosen where the style fits; a write-in and the free-text box written."""
    boxes = {b.id: b for b in layout.page(1).boxes}
    marks = {
        "A1:1": "circle",  # roomy: the ellipse takes in the box and its code
        "A3:1": "overflow",
        "A3:2": "cancel",
        "A3:3": "cross",
        "A2:c0:4": "pencil",
        "A2:c1:2": "fill",
        "B1:r1:2": "tick",
        "B1:r2:4": "circle",  # tight grid: the ellipse hugs the code
        "B1:r3:1": "dot",
    }
    answers = {
        (b.question, b.id): TruthAnswer(b.value, "answer", [MarkSpec(b.id, style)])  # type: ignore[arg-type]
        for b in (boxes[i] for i in marks)
        for style in [marks[b.id]]
    }
    answers[("A3", "A3:w9")] = TruthAnswer("Báo chí", "review", [MarkSpec("A3:w9", "write")], kind="writein")
    answers[("B2", "")] = TruthAnswer("Ý kiến", "review", [MarkSpec("B2:text", "write")], kind="text")
    return SheetTruth(7, answers, fill_seed=3)


def test_marks_land_in_their_boxes_and_nowhere_else(sample: BuiltForm, sample_page: np.ndarray) -> None:
    truth = every_style_truth(sample.layout)
    page = sample.layout.page(1)
    filled = fill_page(sample_page, page, truth, dpi=DPI, rng=np.random.default_rng(1))
    ink = new_ink(sample_page, filled)
    styles = {m.box_id: m.style for a in truth.answers.values() for m in a.marks}
    for box in page.boxes:
        style = styles.get(box.id)
        share = interior_share(ink, box)
        if style in ("cancel", "fill"):
            assert share > 0.6, (box.id, style, share)
        elif style in ("tick", "cross", "overflow"):
            assert 0.05 < share < 0.6, (box.id, style, share)
        elif style == "pencil":
            assert share > 0.02, (box.id, share)
            assert filled[ink].min() > 60  # light grey, never black
        elif style == "circle":  # around the frame (and the code), hardly inside
            assert ink_in(ink, box, grow_mm=1.8) - ink_in(ink, box) > 0.5 * PX * PX, box.id
        elif style == "dot":
            assert 0 < ink_in(ink, box, grow_mm=1.0) < 3.0 * PX * PX, box.id
        else:
            assert ink_in(ink, box, grow_mm=0.3) == 0, f"stray ink in unmarked box {box.id}"
    # overflow really crosses the frame
    a31 = next(b for b in page.boxes if b.id == "A3:1")
    assert ink_in(ink, a31, grow_mm=2.5) > ink_in(ink, a31) + 0.5 * PX * PX


def test_handwriting_stays_inside_its_region(sample: BuiltForm, sample_page: np.ndarray) -> None:
    truth = every_style_truth(sample.layout)
    page = sample.layout.page(1)
    only_writing = SheetTruth(7, {k: a for k, a in truth.answers.items() if a.kind in ("writein", "text")})
    filled = fill_page(sample_page, page, only_writing, dpi=DPI, rng=np.random.default_rng(2))
    ink = new_ink(sample_page, filled)
    inside = sum(ink_in(ink, r) for r in page.regions if r.id in ("A3:w9", "B2:text"))
    assert inside > 30 * PX  # some centimetres of strokes
    assert int(ink.sum()) == inside  # nothing outside the two regions
    assert all(ink_in(ink, r) == 0 for r in page.regions if r.id not in ("A3:w9", "B2:text"))


def test_same_seed_same_marks_different_seed_different_marks(
    sample: BuiltForm, sample_page: np.ndarray
) -> None:
    page = sample.layout.page(1)
    truth = random_truth(sample.layout, np.random.default_rng(5), serial=7, mix="mixed")
    a = fill_page(sample_page, page, truth, dpi=DPI, rng=np.random.default_rng(9))
    b = fill_page(sample_page, page, truth, dpi=DPI, rng=np.random.default_rng(9))
    c = fill_page(sample_page, page, truth, dpi=DPI, rng=np.random.default_rng(10))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_random_truth_answers_every_question_realistically(sipas: BuiltForm) -> None:
    layout = sipas.layout
    rng = np.random.default_rng(0)
    truths = [random_truth(layout, rng, serial=i, mix="mixed") for i in range(150)]
    boxes = {b.id: b for b in layout.all_boxes()}
    grid_rows = {(q.id, item.id) for q in layout.questions if q.kind == "grid" for item in q.items}
    expects: Counter[str] = Counter()
    styles: Counter[str] = Counter()
    for truth in truths:
        assert grid_rows <= set(truth.answers)
        assert {(q.id, "") for q in layout.questions if q.kind != "grid"} <= set(truth.answers)
        for (qid, _item), answer in truth.answers.items():
            expects[answer.expect] += 1
            styles.update(m.style for m in answer.marks)
            q = layout.question(qid)
            if answer.expect == "answer" and answer.kind == "number":
                assert (q.min_value or 0) <= int(answer.value or "x") <= (q.max_value or 10**6)
            if answer.expect == "answer" and q.kind in ("single", "grid"):
                assert answer.value in {o.value for o in q.options}
            if answer.expect == "review" and answer.kind in ("single", "grid"):
                chosen = [m for m in answer.marks if m.style not in ("cancel", "dot")]
                assert len(chosen) == 2  # two marks on a single-choice question
            for mark in answer.marks:
                if mark.style != "write":
                    assert boxes[mark.box_id].question == qid
            groups = Counter(
                (boxes[m.box_id].column, m.style == "fill")
                for m in answer.marks
                if m.style not in ("dot", "write")
            )
            for (
                column,
                solid,
            ), count in groups.items():  # a fill beside another mark would be a cancellation
                assert not solid or (count == 1 and groups[(column, False)] == 0), answer
    choice_answers = sum(
        1 for t in truths for a in t.answers.values() if a.kind in ("single", "grid", "number")
    )
    blanks = sum(
        1 for t in truths for a in t.answers.values() if a.kind in ("single", "grid") and a.expect == "blank"
    )
    assert 0.015 < blanks / choice_answers < 0.05  # ~3% left empty
    assert set(styles) == {"tick", "cross", "fill", "circle", "pencil", "overflow", "cancel", "dot", "write"}
    multi = [a for t in truths for (q, _), a in t.answers.items() if a.kind == "multiple" and a.value]
    assert any(";" in (a.value or "") for a in multi)


def test_clean_mix_has_no_ambiguity_and_pencil_mix_is_mostly_pencil(sipas: BuiltForm) -> None:
    rng = np.random.default_rng(1)
    clean = [random_truth(sipas.layout, rng, serial=i, mix="clean") for i in range(20)]
    assert all(
        a.expect != "review" for t in clean for a in t.answers.values() if a.kind not in ("writein", "text")
    )
    pencil = Counter(
        m.style
        for _ in range(20)
        for a in random_truth(sipas.layout, rng, serial=1, mix="pencil").answers.values()
        for m in a.marks
    )
    assert pencil["pencil"] > 0.6 * sum(v for k, v in pencil.items() if k != "write")
    with pytest.raises(ValueError, match="unknown mark mix"):
        random_truth(sipas.layout, rng, serial=1, mix="crayon")


def test_truth_survives_json(sipas: BuiltForm) -> None:
    truths = [random_truth(sipas.layout, np.random.default_rng(s), serial=s, mix="mixed") for s in range(3)]
    text = truths_to_json(truths)
    assert "\\u" not in text  # Vietnamese stays readable, not escaped
    assert truths_from_json(text) == truths


def test_numbers_can_also_be_written_in_their_frame(sample: BuiltForm, sample_page: np.ndarray) -> None:
    if not any(r.id == "A2:write" for r in sample.layout.page(1).regions):
        pytest.skip("this formgen prints the number's frame without a handwriting region")
    mix = MarkMix(styles={"cross": 1.0}, blank_share=0.0, number_write_share=1.0)
    truth = random_truth(sample.layout, np.random.default_rng(4), serial=7, mix=mix)
    number, written = truth.answers[("A2", "")], truth.answers[("A2", "A2:write")]
    assert number.expect == "answer" and 18 <= int(number.value or "0") <= 99
    assert (written.value, written.expect, written.kind) == (number.value, "review", "writein")
    page = sample.layout.page(1)
    ink = new_ink(sample_page, fill_page(sample_page, page, truth, dpi=DPI, rng=np.random.default_rng(1)))
    frame = next(r for r in page.regions if r.id == "A2:write")
    assert ink_in(ink, frame) > 5 * PX
    default = random_truth(sample.layout, np.random.default_rng(4), serial=7, mix="mixed")
    assert default.answers[("A2", "A2:write")].expect == "blank"


def test_hard_mix_rubs_out_pencil_marks_that_readers_must_ignore(sipas: BuiltForm) -> None:
    rng = np.random.default_rng(3)
    truths = [random_truth(sipas.layout, rng, serial=i, mix="hard") for i in range(20)]
    boxes = {b.id: b for b in sipas.layout.all_boxes()}
    erased = [(a, m) for t in truths for a in t.answers.values() for m in a.marks if m.style == "erased"]
    assert len(erased) > 20
    for answer, mark in erased:  # never the chosen box, and the answer still stands
        assert answer.expect in ("answer", "review")
        assert answer.value is None or boxes[mark.box_id].value not in answer.value.split(";")
    stamped = stamp(sipas, [1], bytes(32))
    box = boxes[erased[0][1].box_id]
    number = box.page
    page = render_pdf_page(stamped, number - 1, dpi=DPI)
    only = SheetTruth(1, {("x", ""): TruthAnswer(None, "blank", [erased[0][1]])})
    filled = fill_page(page, sipas.layout.page(number), only, dpi=DPI, rng=np.random.default_rng(0))
    inner = Rect(x=box.x + 0.5, y=box.y + 0.5, w=box.w - 1.0, h=box.h - 1.0)
    x0, y0, x1, y1 = (int(v * PX) for v in (inner.x, inner.y, inner.x + inner.w, inner.y + inner.h))
    before, after = page[y0:y1, x0:x1].astype(int), filled[y0:y1, x0:x1].astype(int)
    assert (before - after).max() > 10  # a grey trace is left...
    assert after[before > 230].min() > 150  # ...but nothing like a pen or pencil stroke
