"""The satisfaction index: item rates, the levels above them, per unit rolled up the hierarchy, ranks,
and the change against an earlier round. The method is declared by the questionnaire
(``formgen/indexdef.py``; docs/questionnaire-format.md "The index").

Counts are kept raw (:class:`Tally` adds up exactly); values are floats at full precision and are
rounded only by whoever displays them.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from core.errors import NotFoundError
from formgen.indexdef import IndexConfig, index_items, item_key, item_tags
from results.dataset import MISSING, NOT_ASKED, REVIEW, UNIDENTIFIED, SurveyData, UnitInfo

log = logging.getLogger(__name__)
ALL = "ALL"  # the unit code of the whole survey in results
KIND_NAMES = {"province": "tỉnh", "district": "huyện", "commune": "xã", "village": "thôn", "counter": "quầy",
              "unit": "đơn vị"}  # unit kinds in words (others are shown as they are)


def kind_name(kind: str) -> str:
    return KIND_NAMES.get(kind, kind)


@dataclass
class Tally:
    """What the answers to one item (or to all items under a node) were, in one scope."""

    n_returned: int = 0
    n_valid: int = 0
    n_satisfied: int = 0
    n_blank: int = 0
    n_invalid: int = 0
    n_review: int = 0
    n_unidentified: int = 0
    n_missing: int = 0
    n_unexplained: int = 0  # read, yet no answer stored, or a code not on the scale
    points: float = 0.0
    options: dict[str, int] = field(default_factory=dict)

    @property
    def n_open(self) -> int:
        """Answers not settled yet: waiting for a person, on an unidentified page, page not scanned."""
        return self.n_review + self.n_unidentified + self.n_missing

    def add(self, other: Tally) -> None:
        for name in ("n_returned", "n_valid", "n_satisfied", "n_blank", "n_invalid", "n_review", "n_unidentified",
                     "n_missing", "n_unexplained", "points"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for code, n in other.options.items():
            self.options[code] = self.options.get(code, 0) + n


@dataclass(frozen=True)
class ItemSpec:
    key: str  # "B9.tc1"
    question: str
    item: str
    label: str
    satisfied: frozenset[str]
    points: dict[str, float]
    top_points: float
    weight: float
    nodes: tuple[str, ...]  # its node at each level, bottom up


@dataclass
class Row:
    """One line of the results: an item, a node of a level, or the overall index, in one scope."""

    level: str  # "item", a level id ("group", "part"), or "overall"
    node: str  # item key, node value, or "overall"
    label: str
    question: str
    item: str
    tally: Tally
    rate: float | None  # percent, full precision; None when nothing valid below
    weight: float = 1.0
    parent: str = ""
    rank: int | None = None  # among the units of the same kind (unit scopes only)
    previous: float | None = None
    change: float | None = None  # rate - previous, in percentage points

    @property
    def provisional(self) -> bool:
        return self.tally.n_open > 0


@dataclass
class Scope:
    unit: UnitInfo | None  # None: the whole survey
    n_sheets: int
    rows: list[Row]

    @property
    def code(self) -> str:
        return self.unit.code if self.unit else ALL

    @property
    def overall(self) -> Row:
        return self.rows[0]


@dataclass
class Results:
    survey: str
    title: str
    index: IndexConfig
    computed_at: datetime
    printed: int
    returned: int
    unknown_pages: int
    scopes: list[Scope]
    by: list[str]
    previous_survey: str | None = None

    @property
    def provisional(self) -> bool:
        return self.unknown_pages > 0 or any(s.overall.tally.n_open for s in self.scopes)

    @property
    def whole(self) -> Scope:
        return self.scopes[0]

    def level_title(self, level: str) -> str:
        found = next((lv.title for lv in self.index.levels if lv.id == level), "")
        return found or {"item": "Nội dung", "overall": "Chỉ số chung"}.get(level, level)


def item_specs(data: SurveyData) -> list[ItemSpec]:
    definition = data.definition
    if definition is None or definition.index is None:
        raise NotFoundError(
            f"Khảo sát {data.code} không khai báo chỉ số (index:) trong bảng hỏi / survey {data.code} declares no "
            "index: add an `index:` block to the questionnaire (docs/questionnaire-format.md), as a new edition")
    index = definition.index
    specs = []
    for entry, section, q, row in index_items(definition):
        key = item_key(q.id, row.id if row else "")
        tags = item_tags(section, q, row)
        points = index.points_of(entry) if index.method == "points" else {}
        specs.append(ItemSpec(
            key=key, question=q.id, item=row.id if row else "", label=row.text if row else q.text,
            satisfied=frozenset(index.satisfied_codes(entry)), points=points,
            top_points=max(points.values(), default=0.0), weight=index.item_weights.get(key, 1.0),
            nodes=tuple(tags.get(level.tag, "") for level in index.levels)))
    return specs


def classify(tally: Tally, cell: str | None, spec: ItemSpec, codes: frozenset[str], n: int = 1) -> None:
    """Count ``n`` answers ``cell`` of an item into ``tally``."""
    if cell == NOT_ASKED:
        return
    tally.n_returned += n
    if cell is None:
        tally.n_unexplained += n
    elif cell in codes:
        tally.n_valid += n
        tally.options[cell] = tally.options.get(cell, 0) + n
        tally.n_satisfied += n if cell in spec.satisfied else 0
        tally.points += spec.points.get(cell, 0.0) * n
    elif cell == "":
        tally.n_blank += n
    elif cell == "*":
        tally.n_invalid += n
    elif cell == REVIEW:
        tally.n_review += n
    elif cell == UNIDENTIFIED:
        tally.n_unidentified += n
    elif cell == MISSING:
        tally.n_missing += n
    else:
        tally.n_unexplained += n


def item_rate(tally: Tally, spec: ItemSpec, method: str) -> float | None:
    if tally.n_valid == 0:
        return None
    if method == "points":
        return tally.points / tally.n_valid / spec.top_points * 100.0
    return tally.n_satisfied * 100.0 / tally.n_valid


def weighted_mean(values: Iterable[tuple[float | None, float]]) -> float | None:
    """Mean of the values weighted; values that are None (nothing valid) are left out."""
    pairs = [(v, w) for v, w in values if v is not None]
    total = sum(w for _, w in pairs)
    return sum(v * w for v, w in pairs) / total if total else None


def tally_by_unit(data: SurveyData, specs: list[ItemSpec]) -> dict[int | None, dict[str, Tally]]:
    """Each item's tally per sheet unit (None: sheets without a unit), from one pass over the cells."""
    out: dict[int | None, dict[str, Tally]] = {}
    for spec in specs:
        codes = frozenset(code for code, _ in data.column(spec.key).options)
        cells = data.cells[spec.key]
        for (cell, unit), n in Counter(zip(cells, data.sheet_units, strict=True)).items():  # each distinct answer once
            per_unit = out.setdefault(unit, {})
            tally = per_unit.get(spec.key)
            if tally is None:
                tally = per_unit[spec.key] = Tally()
            classify(tally, cell, spec, codes, n)
    return out


def scope_rows(index: IndexConfig, specs: list[ItemSpec], tallies: dict[str, Tally]) -> list[Row]:
    """overall, then each level top-down (nodes in questionnaire order), then the items."""
    items = [Row("item", s.key, s.label, s.question, s.item, tallies.get(s.key, Tally()),
                 item_rate(tallies.get(s.key, Tally()), s, index.method), s.weight,
                 parent=s.nodes[0] if s.nodes else "overall") for s in specs]
    levels: list[list[Row]] = []
    below = items
    for n, level in enumerate(index.levels):
        nodes: dict[str, Row] = {}
        for child in below:
            value = child.parent
            node = nodes.get(value)
            if node is None:
                spec = next(s for s in specs if (s.nodes[n] if n < len(s.nodes) else "") == value)
                parent = spec.nodes[n + 1] if n + 1 < len(index.levels) else "overall"
                node = nodes[value] = Row(level.id, value, level.labels.get(value, value), "", "", Tally(), None,
                                          level.weights.get(value, 1.0), parent=parent)
            node.tally.add(child.tally)
        for node in nodes.values():
            node.rate = weighted_mean((c.rate, c.weight) for c in below if c.parent == node.node)
        levels.append(list(nodes.values()))
        below = levels[-1]
    overall = Row("overall", "overall", index.title, "", "", Tally(), weighted_mean((c.rate, c.weight) for c in below))
    for child in below:
        overall.tally.add(child.tally)
    return [overall, *[row for rows in reversed(levels) for row in rows], *items]


def compute(data: SurveyData, *, by: Iterable[str] = (), previous: SurveyData | None = None) -> Results:
    """The index for the whole survey and for every unit of the kinds in ``by`` (rolled up)."""
    specs = item_specs(data)
    assert data.definition is not None and data.definition.index is not None
    index = data.definition.index
    per_unit = tally_by_unit(data, specs)
    kinds = list(dict.fromkeys(by))
    scopes = [Scope(None, len(data.serials), scope_rows(index, specs, _sum(per_unit.values())))]
    for kind in kinds:
        scopes += _unit_scopes(data, index, specs, per_unit, kind)
    results = Results(data.code, data.title, index, data.computed_at, data.printed, len(data.serials),
                      data.unknown_pages, scopes, kinds)
    if previous is not None:
        compare(results, compute(previous, by=[k for k in kinds if k in unit_kinds(previous)]))
    return results


def unit_kinds(data: SurveyData) -> list[str]:
    """The unit kinds above or at the survey's sheets, from the top of the hierarchy down."""
    depth: dict[str, int] = {}
    for unit_id in {u for u in data.sheet_units if u is not None}:
        chain = ancestors(data.units, unit_id)
        for d, unit in enumerate(reversed(chain)):
            depth[unit.kind] = min(depth.get(unit.kind, d), d)
    return sorted(depth, key=lambda k: depth[k])


def ancestors(units: dict[int, UnitInfo], unit_id: int) -> list[UnitInfo]:
    """The unit and every unit above it, nearest first (a loop in the parent links is cut)."""
    chain: list[UnitInfo] = []
    current: int | None = unit_id
    while current is not None and current in units and all(u.id != current for u in chain):
        chain.append(units[current])
        current = units[current].parent_id
    return chain


def _unit_scopes(data: SurveyData, index: IndexConfig, specs: list[ItemSpec],
                 per_unit: dict[int | None, dict[str, Tally]], kind: str) -> list[Scope]:
    known = unit_kinds(data)
    if kind not in known:
        raise NotFoundError(f"Không có cấp đơn vị '{kind}' trong khảo sát {data.code} / no unit level '{kind}'; "
                            f"các cấp / levels: {', '.join(known) or 'không có / none (sheets have no unit)'}")
    members: dict[int, list[int | None]] = {}
    sheets: dict[int, int] = {}
    for unit_id in per_unit:
        if unit_id is None:
            continue
        for unit in ancestors(data.units, unit_id):
            if unit.kind == kind:
                members.setdefault(unit.id, []).append(unit_id)
    for unit_id, n in Counter(data.sheet_units).items():
        for unit in ancestors(data.units, unit_id) if unit_id is not None else []:
            if unit.kind == kind:
                sheets[unit.id] = sheets.get(unit.id, 0) + n
    scopes = [Scope(data.units[uid], sheets.get(uid, 0), scope_rows(index, specs, _sum(per_unit[m] for m in leaves)))
              for uid, leaves in members.items()]
    scopes.sort(key=lambda s: s.code)
    _rank(scopes)
    return scopes


def _sum(tallies: Iterable[dict[str, Tally]]) -> dict[str, Tally]:
    total: dict[str, Tally] = {}
    for per_item in tallies:
        for key, tally in per_item.items():
            total.setdefault(key, Tally()).add(tally)
    return total


def _rank(scopes: list[Scope]) -> None:
    """Competition ranking (1, 2, 2, 4) of the units on every row, highest value first."""
    if not scopes:
        return
    for n in range(len(scopes[0].rows)):
        values = sorted((r for s in scopes if (r := s.rows[n].rate) is not None), reverse=True)
        first: dict[float, int] = {}
        for position, value in enumerate(values):
            first.setdefault(value, position + 1)
        for s in scopes:
            rate = s.rows[n].rate
            s.rows[n].rank = first[rate] if rate is not None else None


def compare(current: Results, earlier: Results) -> None:
    """Fill ``previous`` and ``change`` (percentage points) where the earlier round has the same row."""
    current.previous_survey = earlier.survey
    before = {(s.code, r.level, r.node): r.rate for s in earlier.scopes for r in s.rows}
    for scope in current.scopes:
        for row in scope.rows:
            row.previous = before.get((scope.code, row.level, row.node))
            if row.previous is not None and row.rate is not None:
                row.change = row.rate - row.previous
