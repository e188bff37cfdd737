"""Questionnaire definitions: the shipped examples load; each kind of mistake names its line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from core.errors import DefinitionError
from formgen.definition import load_definition
from formgen.render import build_form

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

HEAD = """\
survey: TEST-1
edition: 1
title: Phiếu thử
sections:
  - title: Phần A
    questions:
"""


def _fails(body: str) -> str:
    text = HEAD + textwrap.indent(textwrap.dedent(body), "      ")
    with pytest.raises(DefinitionError) as caught:
        build_form(load_definition(text, source_name="thu.yaml"))
    return str(caught.value)


@pytest.mark.parametrize("name", ["sipas-2024.yaml", "counter-pks05.yaml", "counter-3level.yaml"])
def test_examples_load(name: str) -> None:
    d = load_definition(EXAMPLES / name)
    assert d.source_name.endswith(name)
    assert all(q.text for _, q in d.questions())


def test_sipas_example_has_the_method_s_parts() -> None:
    d = load_definition(EXAMPLES / "sipas-2024.yaml")
    kinds = {q.id: q for _, q in d.questions()}
    assert kinds["A2"].type == "number" and kinds["A2"].digits == 2
    satisfaction = max((q for q in kinds.values() if q.type == "grid"), key=lambda q: len(q.rows))
    assert len(satisfaction.scale) == 5 and 38 <= len(satisfaction.rows) <= 51
    aspects = {r.tags.get("aspect") for r in satisfaction.rows if r.tags.get("area") == "service"}
    assert aspects == {"access", "procedures", "civil-servants", "results", "complaints"}
    assert {r.tags.get("aspect") for r in satisfaction.rows if r.tags.get("area") == "policy"} == {
        "accountability", "participation", "policy-quality", "outcomes"}
    assert any(o.other for q in kinds.values() for o in q.options)
    assert any(q.type == "text" and q.text == "Ý kiến khác" for q in kinds.values())


def test_unknown_question_type_names_the_line() -> None:
    message = _fails("""\
        - id: Q1
          type: singel
          text: Giới tính
          options: [{code: 1, label: Nam}, {code: 2, label: Nữ}]
        """)
    assert message.startswith("thu.yaml:8:") and "unknown question type 'singel'" in message


def test_duplicate_question_id() -> None:
    message = _fails("""\
        - id: Q1
          type: text
          text: Ý kiến
          lines: 2
        - id: Q1
          type: text
          text: Ý kiến khác
          lines: 2
        """)
    assert "thu.yaml:11: duplicate question id 'Q1' (first used on line 7)" in message


def test_scale_without_labels() -> None:
    message = _fails("""\
        - id: G1
          type: grid
          text: Mức độ hài lòng
          scale: [{code: 1, label: ""}, {code: 2, label: "Hài lòng"}]
          rows: [{id: r1, text: Thái độ}]
        """)
    assert "thu.yaml:10: scale level 1 of G1 has no label" in message


def test_scale_of_one_level_and_grid_without_rows() -> None:
    message = _fails("""\
        - id: G1
          type: grid
          text: Mức độ hài lòng
          scale: [{code: 1, label: "Hài lòng"}]
          rows: []
        """)
    assert "thu.yaml:10: grid G1 needs a scale of 2 to 7 labelled levels (has 1)" in message
    assert "thu.yaml:11: grid G1 has no rows" in message


def test_question_that_cannot_fit_on_a_page() -> None:
    options = "\n".join(f"  - {{code: {i}, label: Phương án số {i}}}" for i in range(1, 46))
    message = _fails("- id: Q9\n  type: single\n  text: Quá dài\n  columns: 1\n  options:\n" + options + "\n")
    assert message.startswith("thu.yaml:7: question Q9 cannot fit on one page")


def test_missing_field_unknown_field_and_duplicate_key() -> None:
    assert "thu.yaml:7: 'text' is missing" in _fails("- id: Q1\n  type: text\n  lines: 2\n")
    assert "thu.yaml:10: unknown field 'colour'" in _fails("- id: Q1\n  type: text\n  text: Ý kiến\n  colour: red\n  lines: 2\n")
    assert "thu.yaml:10: key 'text' is given twice" in _fails("- id: Q1\n  type: text\n  text: A\n  text: B\n  lines: 2\n")


def test_kind_specific_rules() -> None:
    assert "thu.yaml:7: number question N1 needs digits" in _fails("- id: N1\n  type: number\n  text: Tuổi\n")
    assert "thu.yaml:12: duplicate code '1' in S1" in _fails(
        "- id: S1\n  type: single\n  text: Giới tính\n  options:\n    - {code: 1, label: Nam}\n    - {code: 1, label: Nữ}\n"
    )
    assert "thu.yaml:10: 'scale' does not apply to a single question (S1)" in _fails(
        "- id: S1\n  type: single\n  text: Giới tính\n  scale: [{code: 1, label: A}, {code: 2, label: B}]\n"
        "  options: [{code: 1, label: Nam}, {code: 2, label: Nữ}]\n"
    )


def test_bad_survey_id_and_invalid_yaml() -> None:
    with pytest.raises(DefinitionError, match=r"^x.yaml:1: survey id 'sipas 2024'"):
        load_definition(HEAD.replace("TEST-1", "sipas 2024") + "      - {id: T, type: text, text: a, lines: 1}\n", source_name="x.yaml")
    with pytest.raises(DefinitionError, match=r"^x.yaml:3: not valid YAML"):
        load_definition("survey: A1\ntitle: [unclosed\nedition: 1\n", source_name="x.yaml")


def test_file_path_is_named_in_messages(tmp_path: Path) -> None:
    path = tmp_path / "hong.yaml"
    path.write_text(HEAD + "      - {id: Q1, type: essay, text: a}\n", encoding="utf-8")
    with pytest.raises(DefinitionError, match=rf"^{path}:7: unknown question type 'essay'"):
        load_definition(path)


def test_empty_texts_are_refused() -> None:
    message = _fails("""\
        - id: G1
          type: grid
          text: " "
          scale: [{code: 1, label: Có}, {code: 2, label: Không}]
          rows: [{id: r1, text: ""}]
        """)
    assert "thu.yaml:9: question G1 has no text" in message
    assert "thu.yaml:11: row r1 of grid G1 has no text" in message


def test_introduction_longer_than_a_page() -> None:
    text = HEAD.replace("title: Phiếu thử", "title: Phiếu thử\nintroduction: " + "Lời giới thiệu rất dài. " * 300)
    with pytest.raises(DefinitionError, match=r"^thu.yaml:1: the title, introduction and instructions fill page 1"):
        build_form(load_definition(text + "      - {id: T, type: text, text: a, lines: 1}\n", source_name="thu.yaml"))
