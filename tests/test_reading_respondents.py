"""Marks as respondents make them, on grids whose rows are ~2 mm apart: loops that cross the
neighbours, circled codes, overshooting ticks, pen rests. Each case is a page the reader got wrong
before strokes were attributed by shape (issue #8): a blank neighbour auto-accepted with a value,
or a circled row sent to review as "multiple marks"."""

from __future__ import annotations

import numpy as np
import pytest
from reading_helpers import answers, box, circle_code, circle_option, dot, feeder, loop, page, read, tick


def _scan(image: np.ndarray):
    return read(feeder(image, angle=0.8, shift_mm=(1.0, -1.5)))


def test_a_loop_crossing_the_rows_above_and_below_belongs_to_its_own_row():
    image = page(4)
    circle_option(image, "B9:cl2:3", grow=2.4)  # reaches ~2.4 mm beyond: into cl1's and cl3's boxes
    got = answers(_scan(image)[1])
    assert (got["B9", "cl2"].value, got["B9", "cl2"].state, got["B9", "cl2"].needs_review) == ("3", "answered", False)
    for neighbour in ("cl1", "cl3"):
        assert got["B9", neighbour].state == "blank", got["B9", neighbour]


def test_loops_on_three_rows_in_a_row_each_belong_to_their_row():
    image = page(4)
    for item, value in (("kq1", "4"), ("kq2", "5"), ("kq3", "4")):
        circle_option(image, f"B9:{item}:{value}", grow=2.6)  # the loops touch and cross each other
    got = answers(_scan(image)[1])
    assert {i: (got["B9", i].value, got["B9", i].needs_review) for i in ("kq1", "kq2", "kq3")} == {
        "kq1": ("4", False), "kq2": ("5", False), "kq3": ("4", False)}
    assert got["B9", "kq4"].state == "blank"


def test_a_circled_code_is_the_answer():
    image = page(3)
    circle_code(image, "B9:gt2:4")
    got = answers(_scan(image)[1])
    assert (got["B9", "gt2"].value, got["B9", "gt2"].needs_review) == ("4", False)
    assert got["B9", "gt1"].state == got["B9", "gt3"].state == "blank"


def test_a_tick_overshooting_into_the_box_above_marks_only_its_own_box():
    image = page(4)
    tick(image, "B9:tt2:3", overshoot_mm=3.5)  # its long stroke ends inside tt1's box 3
    got = answers(_scan(image)[1])
    assert (got["B9", "tt2"].value, got["B9", "tt2"].needs_review) == ("3", False)
    assert got["B9", "tt1"].state == "blank", got["B9", "tt1"]


def test_pen_rests_beside_the_boxes_of_a_blank_row_leave_it_blank():
    image = page(4)
    for value, (dx, dy) in {"2": (-0.9, 2.0), "3": (6.2, -0.8), "4": (2.5, 6.3)}.items():
        b = box(f"B9:cc2:{value}")
        dot(image, b.x + dx, b.y + dy)
    b = box("B9:cc3:2")
    dot(image, b.x + 2.6, b.y + 2.9, diameter_mm=0.8)  # a pen rest inside an empty box
    got = answers(_scan(image)[1])
    assert (got["B9", "cc2"].state, got["B9", "cc2"].needs_review) == ("blank", False)
    assert (got["B9", "cc3"].state, got["B9", "cc3"].needs_review) == ("blank", False)


@pytest.mark.parametrize("sweep", [0.8, 0.72])
def test_a_loop_left_open_is_never_given_to_a_neighbour(sweep):
    image = page(4)
    circle_option(image, "B9:cl3:2", grow=2.5, sweep=sweep)  # a quarter or so of it never drawn
    got = answers(_scan(image)[1])
    assert got["B9", "cl3"].value in ("2", None)  # read, or left to a person: never another value
    assert got["B9", "cl3"].value == "2" or got["B9", "cl3"].needs_review
    for neighbour in ("cl2", "cl4"):
        assert got["B9", neighbour].state == "blank", got["B9", neighbour]


def test_a_loop_round_two_options_goes_to_a_person():
    image = page(3)
    a, b = box("B9:gt3:2"), box("B9:gt3:3")
    loop(image, ((a.x + b.x + b.w + b.code_dx) / 2, a.y + a.h / 2), ((b.x - a.x) / 2 + 7, a.h / 2 + 1.5))
    got = answers(_scan(image)[1])
    assert got["B9", "gt3"].needs_review and got["B9", "gt3"].value is None
