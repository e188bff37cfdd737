"""Question rules on measured boxes: exactly one mark answers, everything doubtful goes to review."""

from __future__ import annotations

import pytest

from core.settings import RecognitionSettings
from core.types import AnswerReading, BoxMeasure, BoxState
from formgen.definition import load_definition
from formgen.layout import Layout
from formgen.render import build_form
from recognition.rules import answers_for_page

DEFINITION = """
survey: RULETEST
edition: "1"
title: Phiếu thử quy tắc
sections:
  - title: A
    questions:
      - {id: Q1, type: single, text: Giới tính, options: [{code: 1, label: Nam}, {code: 2, label: Nữ}]}
      - {id: Q2, type: multiple, text: Kênh, options: [{code: 1, label: Báo}, {code: 2, label: Đài}, {code: 3, label: Mạng}]}
      - {id: Q3, type: number, text: Tuổi, digits: 2, min: 18, max: 90}
      - id: Q4
        type: grid
        text: Hài lòng
        scale: [{code: 1, label: Không}, {code: 2, label: Bình thường}, {code: 3, label: Có}]
        rows: [{id: r1, text: Thủ tục}, {id: r2, text: Cán bộ}]
"""
SETTINGS = RecognitionSettings()
INK: dict[str, float] = {"empty": 0.0, "marked": 0.3, "cancelled": 0.95, "uncertain": 0.1}


@pytest.fixture(scope="module")
def layout() -> Layout:
    return build_form(load_definition(DEFINITION, source_name="rules.yaml")).layout


def read(layout: Layout, states: dict[str, BoxState]) -> dict[tuple[str, str], AnswerReading]:
    """Every box empty except ``states`` (box id → state); the answers of the page, by key."""
    page = layout.page(1)
    unknown = set(states) - {b.id for b in page.boxes}
    assert not unknown, unknown
    measures = []
    for box in page.boxes:
        state = states.get(box.id, "empty")
        measures.append(BoxMeasure(box.id, INK[state], 0.0, 0.7 if state != "empty" else 0.0, state))
    answers = answers_for_page(measures, page, layout, settings=SETTINGS)
    return {(a.question, a.item): a for a in answers}


def test_single_choice(layout: Layout) -> None:
    assert (read(layout, {"Q1:2": "marked"})[("Q1", "")].value, read(layout, {})[("Q1", "")].state) == (
        "2",
        "blank",
    )
    two = read(layout, {"Q1:1": "marked", "Q1:2": "marked"})[("Q1", "")]
    assert (two.state, two.needs_review, two.reason, two.value) == ("multiple", True, "multiple_marks", None)
    doubt = read(layout, {"Q1:1": "marked", "Q1:2": "uncertain"})[("Q1", "")]
    assert (doubt.state, doubt.needs_review, doubt.reason) == ("uncertain", True, "uncertain_box")


def test_cancelled_box_plus_one_mark_gives_that_mark_and_a_lone_fill_is_doubtful(layout: Layout) -> None:
    corrected = read(layout, {"Q1:1": "cancelled", "Q1:2": "marked"})[("Q1", "")]
    assert (corrected.state, corrected.value, corrected.needs_review) == ("answered", "2", False)
    # the sheet says "fill a box to cancel it": a fill with no mark beside it is a person's call
    lone = read(layout, {"Q1:1": "cancelled"})[("Q1", "")]
    assert (lone.state, lone.value, lone.needs_review, lone.reason) == ("uncertain", None, True, "lone_fill")
    assert read(layout, {"Q1:1": "cancelled", "Q1:2": "cancelled"})[("Q1", "")].reason == "lone_fill"


def test_lone_fills_names_the_boxes_the_rule_made_doubtful(layout: Layout) -> None:
    from recognition.rules import lone_fills

    states = {"Q1:1": "cancelled", "Q2:1": "cancelled", "Q2:2": "marked", "Q3:c0:4": "cancelled", "Q3:c1:7": "marked",
              "Q4:r1:2": "cancelled"}
    assert lone_fills(layout.page(1), layout, states) == {"Q1:1", "Q3:c0:4", "Q4:r1:2"}


def test_multiple_choice_takes_every_mark(layout: Layout) -> None:
    got = read(layout, {"Q2:1": "marked", "Q2:3": "marked"})[("Q2", "")]
    assert (got.state, got.value, got.needs_review) == ("answered", "1;3", False)
    assert read(layout, {"Q2:1": "marked", "Q2:2": "uncertain"})[("Q2", "")].reason == "uncertain_box"
    corrected = read(layout, {"Q2:1": "marked", "Q2:2": "cancelled", "Q2:3": "marked"})[("Q2", "")]
    assert (corrected.value, corrected.needs_review) == ("1;3", False)  # the fill cancels box 2
    alone = read(layout, {"Q2:1": "cancelled", "Q2:2": "cancelled"})[("Q2", "")]
    assert (alone.value, alone.needs_review, alone.reason) == (None, True, "lone_fill")


def test_grid_rows_are_answers_with_the_row_as_item(layout: Layout) -> None:
    got = read(layout, {"Q4:r1:3": "marked", "Q4:r2:1": "marked", "Q4:r2:2": "marked"})
    assert (got[("Q4", "r1")].value, got[("Q4", "r1")].item) == ("3", "r1")
    assert got[("Q4", "r2")].reason == "multiple_marks"


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ({"Q3:c0:4": "marked", "Q3:c1:7": "marked"}, ("answered", "47", False, None)),
        ({}, ("blank", None, False, None)),
        ({"Q3:c0:4": "marked"}, ("unreadable", None, True, "unreadable_digit")),
        (
            {"Q3:c0:4": "marked", "Q3:c1:7": "marked", "Q3:c1:8": "marked"},
            ("unreadable", None, True, "unreadable_digit"),
        ),
        ({"Q3:c0:4": "marked", "Q3:c1:7": "uncertain"}, ("uncertain", None, True, "uncertain_box")),
        ({"Q3:c0:0": "marked", "Q3:c1:7": "marked"}, ("unreadable", "7", True, "out_of_range")),
        ({"Q3:c0:2": "cancelled", "Q3:c0:3": "marked", "Q3:c1:0": "marked"}, ("answered", "30", False, None)),
        ({"Q3:c0:3": "cancelled", "Q3:c1:0": "marked"}, ("uncertain", None, True, "lone_fill")),  # a column's only mark is a fill
    ],
)
def test_number_from_digit_columns(
    layout: Layout, states: dict[str, BoxState], expected: tuple[str, str | None, bool, str | None]
) -> None:
    got = read(layout, states)[("Q3", "")]
    assert (got.state, got.value, got.needs_review, got.reason) == expected


def test_confidence_falls_with_the_margin_to_the_thresholds(layout: Layout) -> None:
    page = layout.page(1)
    boxes = [b for b in page.boxes if b.question == "Q1"]

    def confidence(ink: float) -> float:
        measures = [
            BoxMeasure(boxes[0].id, ink, 0.0, 0.7, "marked"),
            BoxMeasure(boxes[1].id, 0.0, 0.0, 0.0, "empty"),
        ]
        return answers_for_page(measures, page, layout, settings=SETTINGS)[0].confidence

    assert 0.5 <= confidence(0.15) < confidence(0.25) <= 1.0
    assert confidence(0.6) < confidence(0.3)  # close to a solid fill is less sure than a clear tick
