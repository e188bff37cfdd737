"""The questionnaire definition: a YAML file a survey office writes once (docs/questionnaire-format.md).

Leaf module (pydantic + yaml only). ``load_definition`` validates the file and raises
:class:`core.errors.DefinitionError` whose message names ``FILE:LINE`` and the problem; every
problem found is listed, one per line. Line numbers come from YAML's node marks: the text is
composed to nodes first, so every value's position is known.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from core.errors import DefinitionError
from formgen.identity import EDITION_PATTERN, SURVEY_ID_PATTERN
from formgen.indexdef import IndexConfig, check_index

QuestionType = Literal["single", "multiple", "grid", "number", "text"]
QUESTION_TYPES = ("single", "multiple", "grid", "number", "text")
ID_PATTERN = r"[A-Za-z][A-Za-z0-9_.-]{0,39}"  # no ":" - box ids join question:item:value with it
CODE_PATTERN = r"[0-9A-Za-z]{1,4}"
MAX_DIGITS = 6
MAX_TEXT_LINES = 15

Path_ = tuple[str | int, ...]


def _as_text(value: Any) -> Any:
    """YAML reads ``code: 1`` and ``edition: 2024`` as numbers; codes are text."""
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


Code = Annotated[str, BeforeValidator(_as_text)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Option(_Model):
    """One answer choice (or one level of a grid's scale); ``code`` is what gets stored."""

    code: Code
    label: str
    other: bool = False  # "Khác (ghi rõ)": a write-in line follows the box


class Row(_Model):
    """One row of a grid: an item rated on the shared scale."""

    id: Code
    text: str
    heading: str | None = None  # printed as a sub-heading above this row (e.g. a service aspect)
    tags: dict[str, Code] = Field(default_factory=dict)


class Question(_Model):
    id: Code
    type: QuestionType
    text: str
    note: str = ""  # short hint printed under the text, e.g. "(Có thể chọn nhiều phương án)"
    options: list[Option] = Field(default_factory=list)  # single / multiple
    columns: int | None = Field(None, ge=1, le=6)  # single / multiple: option columns (default: automatic)
    scale: list[Option] = Field(default_factory=list)  # grid
    rows: list[Row] = Field(default_factory=list)  # grid
    digits: int | None = None  # number
    min: int | None = None  # number
    max: int | None = None  # number
    lines: int | None = None  # text
    tags: dict[str, Code] = Field(default_factory=dict)
    line: int = Field(0, exclude=True)  # where the question starts in the YAML (for messages)


class Section(_Model):
    title: str
    tags: dict[str, Code] = Field(default_factory=dict)  # inherited by its questions, e.g. {part: B}
    questions: list[Question]


class Definition(_Model):
    survey: Code
    edition: Code
    title: str
    language: str = "vi"
    introduction: str = ""
    instructions: str = ""
    sections: list[Section]
    index: IndexConfig | None = None  # the satisfaction index (formgen/indexdef.py)
    source_name: str = Field("", exclude=True)

    def questions(self) -> Iterator[tuple[Section, Question]]:
        for section in self.sections:
            for question in section.questions:
                yield section, question

    def texts(self) -> Iterator[str]:
        """Every human-readable string the definition puts on paper (tests check each is printed)."""
        yield self.title
        for text in (self.introduction, self.instructions):
            if text:
                yield text
        for section, q in self.questions():
            yield section.title
            yield q.text
            if q.note:
                yield q.note
            for opt in (*q.options, *q.scale):
                yield opt.label
            for row in q.rows:
                yield row.text
                if row.heading:
                    yield row.heading


def question_tags(section: Section, question: Question) -> dict[str, str]:
    return {**section.tags, **question.tags}


def load_definition(path_or_text: str | Path, *, source_name: str | None = None) -> Definition:
    """Read and validate a questionnaire (a ``Path`` is read as a file, a ``str`` is YAML text)."""
    if isinstance(path_or_text, Path):
        name = source_name or str(path_or_text)
        try:
            text = path_or_text.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise DefinitionError(f"{name}: cannot read the file as UTF-8 text: {exc}") from exc
    else:
        name, text = source_name or "<text>", path_or_text
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark else name
        raise DefinitionError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    lines: dict[Path_, int] = {}
    problems: list[tuple[int, str]] = []
    if root is None or not isinstance(root, yaml.MappingNode):
        raise DefinitionError(
            f"{name}:1: the file must be a YAML mapping with survey, edition, title, sections"
        )
    _index_nodes(root, (), lines, problems)
    data = yaml.safe_load(text)
    _attach_question_lines(data, lines)
    if not problems:
        try:
            definition = Definition.model_validate({**data, "source_name": name})
        except ValidationError as exc:
            problems = [(_line_for(err["loc"], lines), _describe(err)) for err in exc.errors()]
        else:
            problems = _check(definition, lines)
    if problems:
        raise DefinitionError("\n".join(f"{name}:{line}: {msg}" for line, msg in sorted(problems)))
    return definition


def _index_nodes(
    node: yaml.Node, path: Path_, lines: dict[Path_, int], problems: list[tuple[int, str]]
) -> None:
    """Record the line of every value; flag duplicate keys (plain YAML silently keeps the last)."""
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                problems.append((key_node.start_mark.line + 1, f"key '{key}' is given twice"))
            seen.add(key)
            _index_nodes(value_node, (*path, key), lines, problems)
            lines[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, child in enumerate(node.value):
            _index_nodes(child, (*path, i), lines, problems)


def _attach_question_lines(data: Any, lines: dict[Path_, int]) -> None:
    sections = data.get("sections") if isinstance(data, dict) else None
    for s, section in enumerate(sections if isinstance(sections, list) else []):
        questions = section.get("questions") if isinstance(section, dict) else None
        for q, question in enumerate(questions if isinstance(questions, list) else []):
            if isinstance(question, dict):
                question["line"] = lines.get(("sections", s, "questions", q), 0)


def _line_for(loc: Path_, lines: dict[Path_, int]) -> int:
    for cut in range(len(loc), -1, -1):
        if loc[:cut] in lines:
            return lines[loc[:cut]]
    return 1


def _describe(err: Any) -> str:
    loc = ".".join(str(p) for p in err["loc"])
    kind, field = err["type"], str(err["loc"][-1]) if err["loc"] else ""
    if field == "type" and kind == "literal_error":
        return f"unknown question type {err['input']!r} at {loc}: use one of {', '.join(QUESTION_TYPES)}"
    if kind == "missing":
        return f"'{field}' is missing ({loc})"
    if kind == "extra_forbidden":
        return f"unknown field '{field}' ({loc}): check the spelling against docs/questionnaire-format.md"
    return f"{loc}: {err['msg']} (got {err.get('input')!r})"


def _check(d: Definition, lines: dict[Path_, int]) -> list[tuple[int, str]]:
    problems: list[tuple[int, str]] = []
    if not re.fullmatch(SURVEY_ID_PATTERN, d.survey):
        problems.append(
            (lines.get(("survey",), 1), f"survey id {d.survey!r} must be 2-24 of A-Z, 0-9 and '-'")
        )
    if not re.fullmatch(EDITION_PATTERN, d.edition):
        problems.append(
            (lines.get(("edition",), 1), f"edition {d.edition!r} must be 1-8 of A-Z, 0-9 and '-'")
        )
    if not d.title.strip():
        problems.append((lines.get(("title",), 1), "the title is empty"))
    if not d.sections:
        problems.append((lines.get(("sections",), 1), "there are no sections"))
    seen: dict[str, int] = {}
    question_at: dict[str, Path_] = {}
    for s, section in enumerate(d.sections):
        if not section.questions:
            problems.append((lines.get(("sections", s), 1), f"section '{section.title}' has no questions"))
        for qi, q in enumerate(section.questions):
            base: Path_ = ("sections", s, "questions", qi)
            if q.id in seen:
                problems.append((q.line, f"duplicate question id '{q.id}' (first used on line {seen[q.id]})"))
            seen.setdefault(q.id, q.line)
            question_at.setdefault(q.id, base)
            problems.extend(_check_question(q, base, lines))
    if d.index is not None and not problems:
        problems.extend(check_index(d, lambda *path: _line_for(path, lines), question_at))
    return problems


def _check_question(q: Question, base: Path_, lines: dict[Path_, int]) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []

    def at(*rel: str | int) -> int:
        return _line_for((*base, *rel), lines)

    if not re.fullmatch(ID_PATTERN, q.id):
        out.append(
            (
                at("id"),
                f"question id '{q.id}' must start with a letter and use only A-Z, a-z, 0-9, '.', '_', '-'",
            )
        )
    if not q.text.strip():
        out.append((at("text"), f"question {q.id} has no text"))
    allowed = {
        "single": {"options", "columns"},
        "multiple": {"options", "columns"},
        "grid": {"scale", "rows"},
        "number": {"digits", "min", "max"},
        "text": {"lines"},
    }[q.type]
    for field in ("options", "columns", "scale", "rows", "digits", "min", "max", "lines"):
        if field not in allowed and field in q.model_fields_set:
            out.append((at(field), f"'{field}' does not apply to a {q.type} question ({q.id})"))
    if q.type in ("single", "multiple"):
        need = 2 if q.type == "single" else 1
        if len(q.options) < need:
            out.append((at("options"), f"question {q.id} needs at least {need} options"))
        out.extend(_check_codes(q.options, "options", at, q.id))
    elif q.type == "grid":
        if not 2 <= len(q.scale) <= 7:
            out.append(
                (at("scale"), f"grid {q.id} needs a scale of 2 to 7 labelled levels (has {len(q.scale)})")
            )
        for i, level in enumerate(q.scale):
            if not level.label.strip():
                out.append((at("scale", i), f"scale level {level.code} of {q.id} has no label"))
            if level.other:
                out.append((at("scale", i), f"a scale level cannot be 'other' ({q.id})"))
        out.extend(_check_codes(q.scale, "scale", at, q.id))
        if not q.rows:
            out.append((at("rows"), f"grid {q.id} has no rows"))
        rows: set[str] = set()
        for i, row in enumerate(q.rows):
            if not re.fullmatch(ID_PATTERN, row.id):
                out.append(
                    (
                        at("rows", i, "id"),
                        f"row id '{row.id}' must start with a letter (A-Z, 0-9, '.', '_', '-')",
                    )
                )
            if row.id in rows:
                out.append((at("rows", i, "id"), f"duplicate row id '{row.id}' in grid {q.id}"))
            rows.add(row.id)
            if not row.text.strip():
                out.append((at("rows", i), f"row {row.id} of grid {q.id} has no text"))
    elif q.type == "number":
        if q.digits is None or not 1 <= q.digits <= MAX_DIGITS:
            out.append((at("digits"), f"number question {q.id} needs digits: 1 to {MAX_DIGITS}"))
        else:
            top = 10**q.digits - 1
            lo, hi = q.min if q.min is not None else 0, q.max if q.max is not None else top
            if not 0 <= lo <= hi <= top:
                out.append((at("min"), f"{q.id}: need 0 <= min <= max <= {top} for {q.digits} digits"))
    elif q.type == "text" and (q.lines is None or not 1 <= q.lines <= MAX_TEXT_LINES):
        out.append((at("lines"), f"text question {q.id} needs lines: 1 to {MAX_TEXT_LINES}"))
    return out


def _check_codes(options: list[Option], field: str, at: Any, qid: str) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    codes: set[str] = set()
    for i, opt in enumerate(options):
        if not re.fullmatch(CODE_PATTERN, opt.code):
            out.append((at(field, i, "code"), f"code '{opt.code}' of {qid} must be 1-4 letters or digits"))
        if opt.code in codes:
            out.append((at(field, i, "code"), f"duplicate code '{opt.code}' in {qid}"))
        codes.add(opt.code)
        if not opt.label.strip():
            out.append((at(field, i), f"option {opt.code} of {qid} has no label"))
    return out
