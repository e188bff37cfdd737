"""The index a questionnaire declares: the examples carry one; each mistake names its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import DefinitionError
from formgen.definition import load_definition
from formgen.indexdef import index_items, item_key

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

BASE = """\
survey: TEST-1
edition: 1
title: Phiếu thử
sections:
  - title: Phần B
    tags: {part: B}
    questions:
      - id: Q1
        type: grid
        text: Hài lòng
        scale: [{code: 1, label: Không}, {code: 2, label: Bình thường}, {code: 3, label: Có}]
        rows:
          - {id: a, text: Hàng a, tags: {aspect: x, area: p}}
          - {id: b, text: Hàng b, tags: {aspect: y, area: p}}
      - id: Q2
        type: text
        text: Ý kiến
        lines: 2
"""


def _load(index: str) -> str:
    with pytest.raises(DefinitionError) as caught:
        load_definition(BASE + index, source_name="t.yaml")
    return str(caught.value)


def test_examples_declare_their_index() -> None:
    sipas = load_definition(EXAMPLES / "sipas-2024.yaml")
    assert sipas.index is not None and sipas.index.method == "rate"
    assert [lv.id for lv in sipas.index.levels] == ["group", "part"]
    assert len(index_items(sipas)) == 40
    counter = load_definition(EXAMPLES / "counter-3level.yaml")
    assert counter.index is not None and counter.index.method == "points"
    entries = {e.id: e for e in counter.index.entries()}
    assert counter.index.points_of(entries["H1"]) == {"1": 2, "2": 1, "3": 0}
    assert counter.index.satisfied_codes(entries["L3"]) == ["1", "2"]
    assert [item_key(q.id, r.id if r else "") for _, _, q, r in index_items(counter)][:2] == ["L3", "H1.tiep-don"]


def test_a_valid_index_loads() -> None:
    d = load_definition(BASE + "index: {questions: [Q1], satisfied: [3], levels: [{id: group, tag: aspect}]}\n")
    assert d.index is not None and d.index.satisfied == ["3"]


def test_unknown_question_and_wrong_kind_name_their_lines() -> None:
    message = _load("index:\n  satisfied: [3]\n  questions:\n    - Q1\n    - Q9\n    - Q2\n")
    assert "t.yaml:23: index question 'Q9' is not in the questionnaire" in message
    assert "t.yaml:24: index question Q2 is a text question" in message


def test_satisfied_codes_must_be_on_the_scale() -> None:
    message = _load("index:\n  questions: [Q1]\n  satisfied: [4, 5]\n")
    assert "t.yaml:20: Q1: satisfied codes 4, 5 are not on its scale (1, 2, 3)" in message


def test_points_must_cover_the_scale() -> None:
    message = _load("index:\n  method: points\n  questions: [Q1]\n  points: {3: 2, 2: 1}\n")
    assert "Q1: the points method needs points for every code; missing 1" in message


def test_an_item_without_the_level_tag_names_its_row() -> None:
    message = _load("index:\n  questions: [Q1]\n  satisfied: [3]\n  levels:\n    - {id: group, tag: topic}\n")
    assert "t.yaml:13: Q1.a has no tag 'topic'" in message and "t.yaml:14: Q1.b has no tag 'topic'" in message


def test_levels_nest_and_labels_name_real_nodes() -> None:
    bad_nesting = BASE.replace("{aspect: y, area: p}", "{aspect: x, area: q}")
    with pytest.raises(DefinitionError) as caught:
        load_definition(bad_nesting + "index:\n  questions: [Q1]\n  satisfied: [3]\n  levels:\n"
                        "    - {id: group, tag: aspect}\n    - {id: part, tag: area}\n", source_name="t.yaml")
    assert "level 'part': 'x' falls under both 'p' and 'q'" in str(caught.value)
    message = _load("index:\n  questions: [Q1]\n  satisfied: [3]\n  levels:\n    - id: group\n      tag: aspect\n"
                    "      labels: {z: Không có}\n      weights: {x: 0}\n")
    assert "t.yaml:25: level 'group' labels: no index item is tagged aspect: z" in message
    assert "t.yaml:26: the weight of 'x' must be above 0" in message


def test_item_weights_and_reserved_level_ids() -> None:
    message = _load("index:\n  questions: [Q1]\n  satisfied: [3]\n  item_weights: {Q1.c: 2}\n"
                    "  levels: [{id: overall, tag: aspect}]\n")
    assert "item_weights: 'Q1.c' is not an index item" in message
    assert "level id 'overall' must be" in message
