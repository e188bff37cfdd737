"""A survey's stored answers as the results layer reads them: one cell per returned sheet and column.

Read once through storage (one query per table), then everything in ``results`` works on this:
the index, the reconciliation, the distributions, the report and every export.

A sheet is *returned* when at least one of its pages was scanned (identified, duplicate, or
identified but not aligned). A cell holds what the CSV export holds: the code (``"4"``, several
joined by ``;``), the transcribed text, ``""`` (blank), ``"*"`` (a person judged it invalid), or
one of the markers of an answer still open:

- :data:`REVIEW` waiting for a person (first review, or a second review not done yet);
- :data:`UNIDENTIFIED` on a page of this sheet that came back but is not identified/aligned yet;
- :data:`MISSING` on a page not scanned yet;
- :data:`NOT_ASKED` the sheet's edition has no such question (not counted anywhere);
- ``None``: the page was read but no answer is stored for this column (breaks reconciliation).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.errors import DefinitionError
from formgen.definition import Definition, load_definition
from formgen.layout import Layout, QuestionLayout
from storage.cells import read_columns
from storage.export import MISSING as _MISSING
from storage.export import REVIEW, column_keys, pages_by_column
from storage.export import _survey as find_survey
from storage.models import Answer, Edition, Page, ReviewItem, Sheet, SheetPage, Unit

log = logging.getLogger(__name__)

MISSING = _MISSING
UNIDENTIFIED = "?UNIDENTIFIED"
NOT_ASKED = "?NA"
OPEN_MARKERS = (REVIEW, UNIDENTIFIED, MISSING)
__all__ = ["MISSING", "NOT_ASKED", "OPEN_MARKERS", "REVIEW", "UNIDENTIFIED", "Column", "SurveyData", "UnitInfo",
           "load_survey"]


@dataclass(frozen=True)
class Column:
    """One exported variable: a question, a grid row, or an option's write-in line."""

    name: str  # as in the CSV export: "A1", "B9.tc1", "A3.2" (write-in of option 2)
    question: str
    item: str  # grid row id; "" for a plain question; the region id ("A3:w2") for a write-in
    kind: str  # single | multiple | grid | number | text | writein
    question_text: str
    item_text: str  # grid row text; the option label for a write-in; "" otherwise
    options: tuple[tuple[str, str], ...]  # (code, label) of the choices or the grid's scale
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """Vietnamese label of the variable: question text, then the row text."""
        return f"{self.question_text} — {self.item_text}" if self.item_text else self.question_text

    @property
    def is_choice(self) -> bool:
        return self.kind in ("single", "multiple", "grid")


@dataclass(frozen=True)
class UnitInfo:
    id: int
    code: str
    name: str
    kind: str
    parent_id: int | None


@dataclass
class SurveyData:
    code: str
    title: str
    definition: Definition | None  # of the latest edition (holds the index)
    layout: Layout  # of the latest edition
    columns: list[Column]
    serials: list[int]  # returned sheets, by serial
    sheet_ids: list[int]
    sheet_units: list[int | None]  # unit id of each returned sheet
    statuses: list[str]  # sheet status of each returned sheet
    cells: dict[str, list[str | None]]  # column name -> one cell per returned sheet
    units: dict[int, UnitInfo]
    printed: int  # sheets printed
    printed_units: dict[int | None, int]  # sheets printed per unit id
    unknown_pages: int  # unidentified pages whose sheet is not known (may belong to this survey)
    computed_at: datetime
    scanned_from: datetime | None = None  # first and last page scanned
    scanned_to: datetime | None = None
    scope_unit: UnitInfo | None = None  # set by :func:`subset`

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


def load_survey(session: Session, survey_code: str, *, answers: bool = True) -> SurveyData:
    """Everything the results need about one survey, read in one transaction (``answers=False``:
    the questionnaire's columns only, no sheets: what a codebook needs)."""
    survey = find_survey(session, survey_code)  # the one "no such survey" message
    editions = session.scalars(select(Edition).where(Edition.survey_id == survey.id).order_by(Edition.id)).all()
    layouts = {e.id: _layout(e.id, e.layout_json) for e in editions}
    latest = editions[-1]
    columns = _columns(layouts[latest.id], [layouts[e.id] for e in editions])
    names = {(c.question, c.item): c.name for c in columns}
    asked = {eid: set(column_keys(layout).values()) for eid, layout in layouts.items()}
    page_of = {eid: pages_by_column(layout) for eid, layout in layouts.items()}

    returned = _returned_sheets(session, survey.id) if answers else []
    index = {sheet_id: i for i, (sheet_id, *_rest) in enumerate(returned)}
    cells: dict[str, list[str | None]] = {c.name: [None] * len(returned) for c in columns}
    for key, column in (read_columns(session, survey.id, [r[0] for r in returned]) if returned else {}).items():
        if (name := names.get(key)) is not None:
            cells[name] = column
    second = (select(Answer.sheet_id, Answer.question, Answer.item)  # decided once, a second review pending
              .join(ReviewItem, ReviewItem.answer_id == Answer.id)
              .where(ReviewItem.survey_id == survey.id, ReviewItem.status == "open", Answer.status != "review"))
    for sheet_id, question, item in session.execute(second):
        row, name = index.get(sheet_id), names.get((question, item))
        if row is not None and name is not None:
            cells[name][row] = REVIEW
    _fill_absent(session, survey.id, returned, cells, asked, page_of, index)
    printed: dict[int | None, int] = dict(session.execute(  # type: ignore[arg-type]
        select(Sheet.unit_id, func.count(Sheet.id)).where(Sheet.survey_id == survey.id).group_by(Sheet.unit_id)).all())
    first, last = session.execute(select(func.min(Page.processed_at), func.max(Page.processed_at))
                                  .join(Sheet, Sheet.id == Page.sheet_id).where(Sheet.survey_id == survey.id)).one()
    return SurveyData(
        code=survey.code, title=survey.title, definition=_definition(latest), layout=layouts[latest.id],
        columns=columns, serials=[r[1] for r in returned], sheet_ids=[r[0] for r in returned],
        sheet_units=[r[2] for r in returned], statuses=[r[4] for r in returned], cells=cells, units=_units(session),
        printed=sum(printed.values()), printed_units=printed,
        unknown_pages=session.scalar(select(func.count(Page.id)).where(Page.status == "unidentified",
                                                                       Page.sheet_id.is_(None))) or 0,
        computed_at=datetime.now(UTC), scanned_from=first, scanned_to=last,
    )


def _returned_sheets(session: Session, survey_id: int) -> list[tuple[int, int, int | None, int, str]]:
    """(sheet id, serial, unit id, edition id, status) of every sheet with a page scanned, by serial."""
    scanned = select(Page.sheet_id).where(Page.sheet_id.is_not(None),
                                          Page.status.in_(("identified", "duplicate", "unidentified")))
    rows = session.execute(
        select(Sheet.id, Sheet.serial, Sheet.unit_id, Sheet.edition_id, Sheet.status)
        .where(Sheet.survey_id == survey_id, Sheet.id.in_(scanned)).order_by(Sheet.serial))
    return [(a, b, c, d, e) for a, b, c, d, e in rows]


def _fill_absent(session: Session, survey_id: int, returned: list[tuple[int, int, int | None, int, str]],
                 cells: dict[str, list[str | None]], asked: dict[int, set[str]], page_of: dict[int, dict[str, int]],
                 index: dict[int, int]) -> None:
    """Cells without a stored answer: not asked, page unidentified, page missing, or (None) unexplained."""
    identified: dict[int, set[int]] = {}
    for sheet_id, number in session.execute(
            select(SheetPage.sheet_id, SheetPage.page_number).join(Page, Page.id == SheetPage.page_id)
            .join(Sheet, Sheet.id == SheetPage.sheet_id)
            .where(Sheet.survey_id == survey_id, Page.status == "identified")):
        identified.setdefault(sheet_id, set()).add(number)
    waiting: dict[int, set[int]] = {}
    for waiting_sheet, waiting_page in session.execute(
            select(Page.sheet_id, Page.page_number).join(Sheet, Sheet.id == Page.sheet_id)
            .where(Sheet.survey_id == survey_id, Page.status == "unidentified")):
        if waiting_sheet is not None:
            waiting.setdefault(waiting_sheet, set()).add(waiting_page or 0)
    for name, column in cells.items():
        if None not in column:  # every sheet answered (the usual case at the end of a round)
            continue
        for sheet_id, _serial, _unit, edition_id, _status in returned:
            row = index[sheet_id]
            if column[row] is not None:
                continue
            page = page_of[edition_id].get(name)
            if name not in asked[edition_id] or page is None:
                column[row] = NOT_ASKED
            elif page in identified.get(sheet_id, ()):
                continue  # read, yet nothing stored: left None for the reconciliation to report
            elif page in waiting.get(sheet_id, ()) or 0 in waiting.get(sheet_id, ()):
                column[row] = UNIDENTIFIED
            else:
                column[row] = MISSING


def _columns(latest: Layout, layouts: list[Layout]) -> list[Column]:
    """The latest edition's columns in questionnaire order, then any only older editions have."""
    out: dict[str, Column] = {}
    for layout in [latest, *layouts]:
        labels = {r.id: r for r in layout.all_regions()}
        for (question, item), name in column_keys(layout).items():
            if name in out:
                continue
            q = layout.question(question)
            out[name] = _column(q, item, name, labels.get(item))
    return list(out.values())


def _column(q: QuestionLayout, item: str, name: str, region: object) -> Column:
    options = tuple((o.value, o.label) for o in q.options)
    if region is not None:  # a write-in line: named after its option
        value = getattr(region, "option_value", None)
        label = next((lab for code, lab in options if code == value), "") or "chữ viết"
        return Column(name, q.id, item, "writein", q.text, label, (), dict(q.tags))
    row = next((i for i in q.items if i.id == item), None) if item else None
    tags = dict(row.tags) if row is not None else dict(q.tags)
    return Column(name, q.id, item, q.kind, q.text, row.text if row is not None else "", options, tags)


def _units(session: Session) -> dict[int, UnitInfo]:
    rows = session.execute(select(Unit.id, Unit.code, Unit.name, Unit.kind, Unit.parent_id))
    return {uid: UnitInfo(uid, code, name or code, kind or "unit", parent) for uid, code, name, kind, parent in rows}


@functools.lru_cache(maxsize=32)
def _layout(edition_id: int, text: str) -> Layout:
    return Layout.from_json(text)


def _definition(edition: Edition) -> Definition | None:
    return _parse_definition(edition.definition_yaml or "", f"{edition.survey_id}/{edition.code}")


@functools.lru_cache(maxsize=32)
def _parse_definition(text: str, name: str) -> Definition | None:
    if not text.strip():
        return None
    try:
        return load_definition(text, source_name=name)
    except DefinitionError as exc:  # registered by an older phieu that checked less: results without an index
        log.warning("edition %s: stored definition not valid any more (%s); no index", name, exc)
        return None



def subset(data: SurveyData, unit_code: str) -> SurveyData:
    """The same survey restricted to the sheets of one unit and the units below it."""
    from core.errors import NotFoundError

    unit = next((u for u in data.units.values() if u.code == unit_code), None)
    if unit is None:
        raise NotFoundError(f"Không có đơn vị {unit_code} / no unit {unit_code}")

    def inside(unit_id: int | None) -> bool:
        seen: set[int] = set()
        while unit_id is not None and unit_id in data.units and unit_id not in seen:
            if unit_id == unit.id:
                return True
            seen.add(unit_id)
            unit_id = data.units[unit_id].parent_id
        return False

    rows = [i for i, u in enumerate(data.sheet_units) if inside(u)]
    return dataclasses.replace(
        data, serials=[data.serials[i] for i in rows], sheet_ids=[data.sheet_ids[i] for i in rows],
        sheet_units=[data.sheet_units[i] for i in rows], statuses=[data.statuses[i] for i in rows],
        cells={name: [cells[i] for i in rows] for name, cells in data.cells.items()},
        printed=sum(n for u, n in data.printed_units.items() if inside(u)),
        printed_units={u: n for u, n in data.printed_units.items() if inside(u)}, unknown_pages=data.unknown_pages,
        scope_unit=unit)
