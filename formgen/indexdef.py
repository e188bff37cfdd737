"""The satisfaction index a questionnaire declares (``index:`` in the YAML; docs/questionnaire-format.md).

Leaf module (pydantic only), validated together with the rest of the definition by
:func:`formgen.definition.load_definition`, which reports every problem as ``FILE:LINE``.

The method: an *item* (a grid row, or a single-choice question) has a rate = answers in its
``satisfied`` codes ÷ valid answers × 100 (``method: rate``), or mean points ÷ the scale's top
points × 100 (``method: points``, e.g. 2/1/0 under Thông tư 01/2018/TT-VPCP). Items are grouped by
the tag named by the first level (``group``), those nodes by the second level's tag (``part``), and
so on; each node's value is the weighted mean of the nodes below it, and the overall index is the
weighted mean of the top level's nodes (of the items, when no level is declared).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

if TYPE_CHECKING:
    from formgen.definition import Definition, Question, Row, Section

LEVEL_ID = r"[a-z][a-z0-9_-]{0,23}"
RESERVED_LEVELS = ("item", "overall")
PathT = tuple[str | int, ...]


def _as_text(value: Any) -> Any:
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


Code = Annotated[str, BeforeValidator(_as_text)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class IndexQuestion(_Model):
    """A question of the index with its own scale rule (for a survey mixing scales)."""

    id: Code
    satisfied: list[Code] | None = None
    points: dict[Code, float] | None = None


class IndexLevel(_Model):
    """One level above the items: items (or the nodes of the level below) grouped by one tag."""

    id: str  # the level's name in results: "group", "part"
    tag: str  # the item tag whose value names the node: aspect, area
    title: str = ""  # what the level is called in reports, e.g. "Khía cạnh"
    labels: dict[Code, str] = Field(default_factory=dict)  # node value -> printed name
    weights: dict[Code, float] = Field(default_factory=dict)  # node value -> weight in the level above (1)


class IndexConfig(_Model):
    title: str = "Chỉ số hài lòng"
    method: Literal["rate", "points"] = "rate"
    questions: list[Annotated[str, BeforeValidator(_as_text)] | IndexQuestion]
    satisfied: list[Code] = Field(default_factory=list)
    points: dict[Code, float] = Field(default_factory=dict)
    levels: list[IndexLevel] = Field(default_factory=list)
    item_weights: dict[str, float] = Field(default_factory=dict)  # "B9.tc1" (or "Q5") -> weight in its group
    previous: Code | None = None  # survey code of an earlier round, for the change in points

    def entries(self) -> list[IndexQuestion]:
        return [q if isinstance(q, IndexQuestion) else IndexQuestion(id=q) for q in self.questions]

    def satisfied_codes(self, entry: IndexQuestion) -> list[str]:
        """Codes counted as satisfied: the entry's, else the index's, else (points) the top-scoring ones."""
        if entry.satisfied is not None:
            return list(entry.satisfied)
        if self.satisfied:
            return list(self.satisfied)
        points = self.points_of(entry)
        top = max(points.values(), default=None)
        return [code for code, p in points.items() if p == top] if top is not None else []

    def points_of(self, entry: IndexQuestion) -> dict[str, float]:
        return dict(entry.points if entry.points is not None else self.points)


def item_key(question: str, item: str) -> str:
    """An item's name everywhere in results: ``B9.tc1`` for a grid row, ``Q5`` for a question."""
    return f"{question}.{item}" if item else question


def index_items(definition: Definition) -> list[tuple[IndexQuestion, Section, Question, Row | None]]:
    """Every item of the index in questionnaire order: (its index entry, section, question, grid row)."""
    if definition.index is None:
        return []
    entries = {e.id: e for e in definition.index.entries()}
    out: list[tuple[IndexQuestion, Section, Question, Row | None]] = []
    for section, q in definition.questions():
        if q.id in entries:
            rows: list[Row | None] = list(q.rows) if q.type == "grid" else [None]
            out += [(entries[q.id], section, q, row) for row in rows]
    return out


def item_tags(section: Section, question: Question, row: Row | None) -> dict[str, str]:
    return {**section.tags, **question.tags, **(row.tags if row is not None else {})}


def check_index(d: Definition, at: Callable[..., int], question_at: dict[str, PathT]) -> list[tuple[int, str]]:
    """Problems of ``d.index`` as (line, message). ``at(*path)`` gives a YAML path's line;
    ``question_at`` the YAML path of each question id."""
    index = d.index
    assert index is not None
    out: list[tuple[int, str]] = []
    questions = {q.id: q for _, q in d.questions()}
    seen: set[str] = set()
    for i, entry in enumerate(index.entries()):
        where = at("index", "questions", i)
        q = questions.get(entry.id)
        if q is None:
            out.append((where, f"index question '{entry.id}' is not in the questionnaire"))
            continue
        if entry.id in seen:
            out.append((where, f"index question '{entry.id}' is listed twice"))
        seen.add(entry.id)
        if q.type not in ("grid", "single"):
            out.append((where, f"index question {q.id} is a {q.type} question: only grid and single questions are rated"))
            continue
        out += _check_scale_rule(index, entry, q, where)
    if not index.questions:
        out.append((at("index", "questions"), "the index lists no questions"))
    out += _check_levels(d, at, question_at)
    items = {item_key(q.id, row.id if row else "") for _, _, q, row in index_items(d)}
    for key, weight in index.item_weights.items():
        if key not in items:
            out.append((at("index", "item_weights", key), f"item_weights: '{key}' is not an index item (use QUESTION.ROW)"))
        if weight <= 0:
            out.append((at("index", "item_weights", key), f"item_weights: the weight of '{key}' must be above 0"))
    if index.previous is not None and not re.fullmatch(r"[A-Z0-9][A-Z0-9-]{1,23}", index.previous):
        out.append((at("index", "previous"), f"previous: {index.previous!r} is not a survey id"))
    return out


def _check_scale_rule(index: IndexConfig, entry: IndexQuestion, q: Question, where: int) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    codes = [o.code for o in (q.scale if q.type == "grid" else q.options)]
    if index.method == "points":
        points = index.points_of(entry)
        missing = [c for c in codes if c not in points]
        unknown = [c for c in points if c not in codes]
        if missing:
            out.append((where, f"{q.id}: the points method needs points for every code; missing {', '.join(missing)}"))
        if unknown:
            out.append((where, f"{q.id}: points given for codes not on its scale: {', '.join(unknown)}"))
        if points and max(points.values()) <= 0:
            out.append((where, f"{q.id}: the top points must be above 0"))
    satisfied = index.satisfied_codes(entry)
    if not satisfied:
        out.append((where, f"{q.id}: no satisfied codes: give index.satisfied (e.g. [4, 5]) or the question's own"))
    bad = [c for c in satisfied if c not in codes]
    if bad:
        out.append((where, f"{q.id}: satisfied codes {', '.join(bad)} are not on its scale ({', '.join(codes)})"))
    return out


def _check_levels(d: Definition, at: Callable[..., int], question_at: dict[str, PathT]) -> list[tuple[int, str]]:
    index = d.index
    assert index is not None
    out: list[tuple[int, str]] = []
    items = index_items(d)
    for n, level in enumerate(index.levels):
        here = at("index", "levels", n)
        if not re.fullmatch(LEVEL_ID, level.id) or level.id in RESERVED_LEVELS:
            out.append((here, f"level id '{level.id}' must be 1-24 of a-z, 0-9, '_', '-' and not item/overall"))
        if level.id in [lv.id for lv in index.levels[:n]]:
            out.append((here, f"level id '{level.id}' is used twice"))
        parent_of: dict[str, str] = {}  # node of the level below -> node of this level
        for _, section, q, row in items:
            value = item_tags(section, q, row).get(level.tag)
            key = item_key(q.id, row.id if row else "")
            child = key if n == 0 else _node_at(items, index.levels[n - 1].tag, key)
            if value is None:
                path = (*question_at[q.id], "rows", q.rows.index(row)) if row is not None else question_at[q.id]
                out.append((at(*path), f"{key} has no tag '{level.tag}' (index level '{level.id}'): add it to its tags"))
                continue
            if child in parent_of and parent_of[child] != value and child:
                out.append((here, f"level '{level.id}': '{child}' falls under both '{parent_of[child]}' and '{value}'"))
            parent_of.setdefault(child, value)
        nodes = set(parent_of.values())
        for field in ("labels", "weights"):
            for value in getattr(level, field):
                if value not in nodes:
                    out.append((at("index", "levels", n, field, value),
                                f"level '{level.id}' {field}: no index item is tagged {level.tag}: {value}"))
        for value, weight in level.weights.items():
            if weight <= 0:
                out.append((at("index", "levels", n, "weights", value), f"the weight of '{value}' must be above 0"))
    return out


def _node_at(items: list[tuple[IndexQuestion, Section, Question, Row | None]], tag: str, key: str) -> str:
    for _, section, q, row in items:
        if item_key(q.id, row.id if row else "") == key:
            return item_tags(section, q, row).get(tag, "")
    return ""
