"""Marks as respondents make them (issue 8): each style lands where the truth says, whatever the
neighbours, and the truth follows the coder's rules written in ``phieu.provingground.truth``."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from formgen.definition import load_definition
from formgen.layout import AnswerBox, Layout, PageLayout, Rect
from formgen.render import BuiltForm, build_form
from phieu.provingground import (
    MarkSpec,
    SheetTruth,
    TruthAnswer,
    fill_page,
    random_truth,
    render_pdf_page,
    strokes,
)
from phieu.provingground.bundle import stamp
from phieu.provingground.filler import code_rect
from phieu.provingground.truth import MIX_PRESETS, NOT_A_CHOICE, SOLID_STYLES, chosen_boxes

REPO = Path(__file__).resolve().parent.parent
DPI = 300.0
PX = DPI / 25.4
NEW_PRESETS = ("loops", "strays", "returns", "returns-pen")


@pytest.fixture(scope="module")
def sipas() -> BuiltForm:
    return build_form(load_definition(REPO / "examples" / "sipas-2024.yaml"))


@pytest.fixture(scope="module")
def grid_page(sipas: BuiltForm) -> tuple[np.ndarray, PageLayout]:
    """SIPAS page 4: a satisfaction grid whose rows are 2 mm apart."""
    return render_pdf_page(stamp(sipas, [5], bytes(32)), 3, dpi=DPI), sipas.layout.page(4)


def new_ink(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    return (before > 230) & (after < 200)


def ink_in(mask: np.ndarray, r: Rect, grow: float = 0.0) -> int:
    x0, y0 = max(0, int((r.x - grow) * PX)), max(0, int((r.y - grow) * PX))
    return int(mask[y0 : int((r.y + r.h + grow) * PX) + 1, x0 : int((r.x + r.w + grow) * PX) + 1].sum())


def inner(box: Rect, inset: float = 0.5) -> Rect:
    return Rect(x=box.x + inset, y=box.y + inset, w=box.w - 2 * inset, h=box.h - 2 * inset)


def draw(image: np.ndarray, page: PageLayout, marks: dict[str, str], seed: int) -> np.ndarray:
    answers = {(str(i), ""): TruthAnswer(None, "answer", [MarkSpec(b, s)]) for i, (b, s) in enumerate(marks.items())}
    truth = SheetTruth(5, answers)  # type: ignore[arg-type]
    return fill_page(image, page, truth, dpi=DPI, rng=np.random.default_rng(seed))


def middle_row_box(page: PageLayout, column: str = "3") -> tuple[AnswerBox, AnswerBox, AnswerBox]:
    """A grid box with grid neighbours right above and below it (rows 7.5 mm apart)."""
    boxes = [b for b in page.boxes if b.value == column]
    for b in boxes:
        above = [o for o in boxes if 0 < b.y - o.y < 8 and abs(o.x - b.x) < 0.1]
        below = [o for o in boxes if 0 < o.y - b.y < 8 and abs(o.x - b.x) < 0.1]
        if above and below:
            return above[0], b, below[0]
    raise AssertionError("no grid box with neighbours above and below")


def test_loops_enclose_box_and_code_and_cross_the_neighbours(grid_page: tuple[np.ndarray, PageLayout]) -> None:
    image, page = grid_page
    above, box, below = middle_row_box(page)
    code = code_rect(image, box, DPI)
    assert box.x + box.w + 1.0 < code.x < box.x + box.w + 2.5 and 1.5 < code.w < 3.5  # the bold digit beside
    crossed = 0
    for seed in range(24):
        filled = draw(image, page, {box.id: "loop"}, seed)
        ink = new_ink(image, filled)
        assert ink_in(ink, inner(box, 0.6)) < 0.02 * (box.w * PX) ** 2, seed  # round it, not in it
        ys, xs = np.nonzero(ink)
        assert xs.min() < box.x * PX and xs.max() > (code.x + code.w) * PX, seed  # left of the box, right of the code
        assert ys.min() < box.y * PX and ys.max() > (box.y + box.h) * PX, seed
        reach = max(box.y * PX - ys.min(), ys.max() - (box.y + box.h) * PX) / PX
        assert reach <= strokes.LOOP_REACH_MM + 0.6, seed  # a hand's loop, not a lasso
        crossed += ink_in(ink, above, 0.2) + ink_in(ink, below, 0.2) > 0
    assert crossed >= 6  # drawn whatever the neighbours: many loops run through the next row's frame


def test_loop_shapes_cover_what_people_draw() -> None:
    rng = np.random.default_rng(3)
    target = Rect(x=10, y=10, w=9.6, h=5.5)
    kinds: Counter[str] = Counter()
    cx, cy = target.x + target.w / 2, target.y + target.h / 2
    for _ in range(200):
        (stroke,) = strokes.loop(rng, target)
        pts = np.array(stroke)
        angles = np.unwrap(np.arctan2(pts[:, 1] - cy, pts[:, 0] - cx))
        turns = abs(angles[-1] - angles[0]) / (2 * np.pi)  # how far round the option the pen went
        kinds["open" if turns < 0.95 else "spiral" if turns > 1.3 else "closed"] += 1
        assert turns > 0.6  # open by 30 % at most (measured round the option, not the loop's own centre)
        if 1.0 <= turns <= 1.3:  # a closed loop's first turn takes in the whole option
            one_turn = stroke[: int(np.argmax(np.abs(angles - angles[0]) >= 2 * np.pi)) + 1]
            corners = [(target.x, target.y), (target.x + target.w, target.y), (target.x, target.y + target.h),
                       (target.x + target.w, target.y + target.h)]
            assert all(strokes.contains(one_turn, x, y) for x, y in corners)
    assert kinds["open"] > 20 and kinds["spiral"] > 20 and kinds["closed"] > 60


def test_loop_round_the_code_alone(grid_page: tuple[np.ndarray, PageLayout]) -> None:
    image, page = grid_page
    _above, box, _below = middle_row_box(page, "2")
    code = code_rect(image, box, DPI)
    for seed in range(8):
        ink = new_ink(image, draw(image, page, {box.id: "loop_code"}, seed))
        left_of_box = Rect(x=box.x + 0.4, y=box.y + 0.4, w=box.w * 0.5, h=box.h - 0.8)
        assert ink_in(ink, left_of_box) == 0, seed  # the box itself stays empty (its right side may be cut)
        ys, xs = np.nonzero(ink)
        assert xs.min() < code.x * PX < (code.x + code.w) * PX < xs.max(), seed
        assert ys.min() < code.y * PX and ys.max() > (code.y + code.h) * PX, seed


@pytest.mark.parametrize("style", ["tick_over", "cross_over"])
def test_overshooting_ticks_and_crosses_run_past_the_frame(grid_page: tuple[np.ndarray, PageLayout], style: str) -> None:
    image, page = grid_page
    above, box, _below = middle_row_box(page)
    reached_above = 0
    for seed in range(12):
        ink = new_ink(image, draw(image, page, {box.id: style}, seed))
        assert ink_in(ink, inner(box)) > 0.03 * (box.w * PX) ** 2, seed  # the mark is in its box
        outside = ink_in(ink, box, 3.0) - ink_in(ink, box, 0.8)
        assert outside > 0.5 * PX * PX, seed  # and runs on beyond the frame
        reached_above += ink_in(ink, Rect(x=box.x, y=above.y + above.h, w=box.w + 6, h=box.y - above.y - above.h)) > 0
    assert reached_above >= 6  # into the gap to the row above (its code, its frame)


def test_heavy_marker_skipping_pen_light_pencil_and_ghost(grid_page: tuple[np.ndarray, PageLayout]) -> None:
    image, page = grid_page
    _a, box, _b = middle_row_box(page)
    for seed in range(6):
        marker = draw(image, page, {box.id: "marker"}, seed)
        share = ink_in(new_ink(image, marker), inner(box)) / (inner(box).w * PX) ** 2
        assert 0.12 < share < 0.7 and marker[new_ink(image, marker)].min() < 60, (seed, share)  # broad, black, not a fill
        skip = draw(image, page, {box.id: "skip"}, seed)
        ink = new_ink(image, skip)
        count, _ = cv2.connectedComponents(ink[int(box.y * PX) - 40 : int((box.y + box.h) * PX) + 40,
                                               int(box.x * PX) - 40 : int((box.x + box.w) * PX) + 40].astype(np.uint8))
        assert count - 1 >= 3, seed  # a stroke in pieces
        light = draw(image, page, {box.id: "light"}, seed)
        assert (image.astype(int) - light).max() > 40 and light[new_ink(image, light)].min() > 110, seed  # pale
        ghost = draw(image, page, {box.id: "ghost"}, seed)
        trace = image.astype(int) - ghost
        assert trace.max() > 15 and ghost[(trace > 0) & (image > 230)].min() > 100, seed  # a grey trace, no pen stroke


def test_tick_beside_the_code_scribble_and_strays(grid_page: tuple[np.ndarray, PageLayout]) -> None:
    image, page = grid_page
    _a, box, _b = middle_row_box(page)
    code = code_rect(image, box, DPI)
    frames = [Rect(x=b.x, y=b.y, w=b.w, h=b.h) for b in page.boxes]
    for seed in range(8):
        ink = new_ink(image, draw(image, page, {box.id: "check_out"}, seed))
        assert ink_in(ink, box, 0.2) == 0 and ink_in(ink, code) > 0, seed  # over the code, not in the box
        scribble = new_ink(image, draw(image, page, {box.id: "scribble"}, seed))
        assert ink_in(scribble, inner(box)) > 0.35 * (inner(box).w * PX) ** 2, seed  # scribbled out
        stray = new_ink(image, draw(image, page, {box.id: "stray"}, seed))
        assert 0 < stray.sum() < 3 * PX * PX, seed  # a dot, a blot, a short dash
        assert ink_in(stray, box, 5.0) == int(stray.sum()), seed  # beside this box
        assert all(ink_in(stray, f, 0.1) == 0 for f in frames), seed  # inside no frame at all


def test_truth_follows_the_coders_rules(sipas: BuiltForm) -> None:
    layout = sipas.layout
    boxes = {b.id: b for b in layout.all_boxes()}
    seen: Counter[str] = Counter()
    for preset in NEW_PRESETS:
        rng = np.random.default_rng(11)
        for serial in range(25):
            truth = random_truth(layout, rng, serial=serial, mix=preset)
            for (qid, _item), answer in truth.answers.items():
                seen.update(m.style for m in answer.marks)
                check_answer(layout, boxes, qid, answer)
    wanted = {"loop", "loop_code", "tick_over", "cross_over", "marker", "skip", "light", "check_out", "scribble",
              "ghost", "stray"}
    assert wanted <= set(seen), wanted - set(seen)


def check_answer(layout: Layout, boxes: dict[str, AnswerBox], qid: str, answer: TruthAnswer) -> None:
    """One answer against the rules: chosen boxes decide, corrections and stray ink never count."""
    q = layout.question(qid)
    if answer.kind in ("writein", "text"):
        assert answer.expect == ("review" if answer.marks else "blank")
        return
    chosen = chosen_boxes(answer)
    for mark in answer.marks:  # a solid box is its group's only clear mark (else it would read as a cancellation)
        if mark.style in SOLID_STYLES:
            group = [m for m in answer.marks if m.style not in NOT_A_CHOICE
                     and boxes[m.box_id].column == boxes[mark.box_id].column]
            assert len({m.box_id for m in group}) == 1, answer
    if any(m.style == "ghost" for m in answer.marks):  # a ghost only beside a firm (pen) answer
        assert not any(m.style in ("pencil", "light") for m in answer.marks), answer
    values = [boxes[b].value for b in chosen]
    if q.kind == "number":
        columns = Counter(boxes[b].column for b in chosen)
        if answer.expect == "answer":
            assert all(n == 1 for n in columns.values()) and len(columns) == (q.digits or len(columns))
            assert int("".join(boxes[b].value for b in sorted(chosen, key=lambda i: boxes[i].column or 0))) == int(answer.value or -1)
        elif answer.expect == "review":
            assert any(n == 2 for n in columns.values()), answer
    elif q.kind == "multiple":
        printed = [o.value for o in q.options]
        assert answer.expect != "review"
        assert (answer.value or None) == (";".join(v for v in printed if v in values) or None), answer
    elif answer.expect == "answer":
        assert values == [answer.value], answer
    elif answer.expect == "review":
        assert len(values) == 2, answer
    else:
        assert values == [] and answer.value is None, answer


def test_blank_rows_with_strays_stay_blank(sipas: BuiltForm) -> None:
    rng = np.random.default_rng(2)
    strays = 0
    for serial in range(15):
        truth = random_truth(sipas.layout, rng, serial=serial, mix="strays")
        for answer in truth.answers.values():
            if any(m.style == "stray" for m in answer.marks):
                strays += 1
                assert answer.expect == "blank" and answer.value is None and not chosen_boxes(answer)
    assert strays > 100


def test_presets_hold_their_promises() -> None:
    for name in NEW_PRESETS + ("real",):
        mix = MIX_PRESETS[name]
        assert abs(sum(mix.styles.values()) - 1.0) < 1e-9, name
    assert "pencil" not in MIX_PRESETS["returns-pen"].styles and "light" not in MIX_PRESETS["returns-pen"].styles


DETERMINISM = """
import hashlib, sys
import numpy as np
from pathlib import Path
from formgen.definition import load_definition
from formgen.render import build_form
from phieu.provingground import degrade, fill_page, random_truth, render_pdf_page
from phieu.provingground.bundle import stamp
from phieu.provingground.truth import truths_to_json
built = build_form(load_definition(Path(sys.argv[1])))
page = render_pdf_page(stamp(built, [3], bytes(32)), 3, dpi=150)
truth = random_truth(built.layout, np.random.default_rng(4), serial=3, mix="returns")
filled = fill_page(page, built.layout.page(4), truth, dpi=150, rng=np.random.default_rng(5))
out = degrade(filled, "askew-clipped", np.random.default_rng(6), dpi=150, page=built.layout.page(4))
print(hashlib.sha256(truths_to_json([truth]).encode() + filled.tobytes() + out.image.tobytes()).hexdigest())
"""


def test_same_seed_same_sheet_whatever_the_hash_seed() -> None:
    """Nothing depends on set order or string hashing: two interpreters, two hash seeds, one sheet."""
    digests = set()
    for hash_seed in ("1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        run = subprocess.run([sys.executable, "-c", DETERMINISM, str(REPO / "examples" / "sipas-2024.yaml")],
                             capture_output=True, text=True, env=env, cwd=REPO, check=True)
        digests.add(run.stdout.strip())
    assert len(digests) == 1 and len(next(iter(digests))) == 64


def test_truth_json_keeps_the_new_styles(sipas: BuiltForm) -> None:
    from phieu.provingground.truth import truths_from_json, truths_to_json

    truths = [random_truth(sipas.layout, np.random.default_rng(s), serial=s, mix="returns") for s in range(3)]
    assert truths_from_json(truths_to_json(truths)) == truths
    assert hashlib.sha256(truths_to_json(truths).encode()).hexdigest() == hashlib.sha256(
        truths_to_json([random_truth(sipas.layout, np.random.default_rng(s), serial=s, mix="returns")
                        for s in range(3)]).encode()).hexdigest()
