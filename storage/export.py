"""Results out: one CSV row per returned sheet, and where a survey stands.

Columns: ``serial``, ``unit`` (unit code), ``status`` (sheet status), then one column per question in
questionnaire order: the question id for a plain question, ``question.item`` for each grid row,
and ``question.option`` for the text written on an option's "other, please specify" line.

Cell values:
- the stored code; several codes of a multiple-choice question joined by ``;``;
- empty: the respondent left the question blank (or the write-in line has no writing);
- the reviewed value once a person decided (``*`` = a person judged the answer invalid);
- ``?REVIEW``: waiting for a person; never a guess. Handwriting is exported only as a person
  transcribed it, never as the OCR draft;
- ``?MISSING``: the page holding this question has not been scanned (yet).

Only sheets with at least one page scanned are exported (printed sheets not returned are counted by
:func:`survey_progress`). The CSV is UTF-8 with a byte-order mark, so Excel shows Vietnamese correctly.

Formula injection: a spreadsheet runs a cell that begins with ``=``, ``+``, ``-``, ``@`` (and, in some,
a tab or carriage return) as a formula, and a transcribed write-in may begin so. :func:`write_csv`
passes every cell through :func:`spreadsheet_text`, which puts an apostrophe before such a cell
unless it is a plain number (``-5``, ``+3.5`` stay numbers).
"""

from __future__ import annotations

import csv
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from core.errors import NotFoundError, StorageError
from formgen.layout import Layout
from storage.models import Answer, Edition, Page, ReviewItem, Sheet, SheetPage, Survey, Unit

REVIEW = "?REVIEW"
MISSING = "?MISSING"
SHEET_COLUMNS = ("serial", "unit", "status")
HANDWRITING_KINDS = {"writein", "text"}
ANSWER_ITEM_KINDS = ("answer", "writein", "second")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:[.,]\d+)?|[.,]\d+)(?:[eE][+-]?\d+)?")


_STARTS = frozenset(FORMULA_STARTS)


def _safe_row(row: Iterable[Any]) -> list[str]:
    """:func:`spreadsheet_text` of every cell, with a fast path for the (usual) harmless text."""
    return [c if c.__class__ is str and c[:1] not in _STARTS else spreadsheet_text(c) for c in row]


def spreadsheet_text(cell: Any) -> str:
    """A cell's text, safe to open in a spreadsheet: a leading apostrophe before anything a
    spreadsheet would run as a formula (``=HYPERLINK(...)``, ``+cmd|...``, ``@SUM(...)``); plain
    numbers are left as they are."""
    text = "" if cell is None else str(cell)
    if text.startswith(FORMULA_STARTS) and not PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def _survey(session: Session, survey_code: str) -> Survey:
    survey = session.scalar(select(Survey).where(Survey.code == survey_code))
    if survey is None:
        known = ", ".join(session.scalars(select(Survey.code).order_by(Survey.code))) or "không có / none"
        raise NotFoundError(f"Không có khảo sát {survey_code} (đã đăng ký: {known}) / no survey {survey_code}")
    return survey


def column_keys(layout: Layout) -> dict[tuple[str, str], str]:
    """Answer key (question, item) → column name, in questionnaire order.

    Write-in answers are stored with the region id as item (``Q1:w9``); their column is named after
    the option (``Q1.9``), or after the region id without the question prefix (``A2.write``).
    """
    writeins: dict[str, list[tuple[str, str]]] = {}
    for region in layout.all_regions():
        if region.kind == "writein":
            short = region.option_value or region.id.removeprefix(f"{region.question}:")
            writeins.setdefault(region.question, []).append((region.id, f"{region.question}.{short}"))
    keys: dict[tuple[str, str], str] = {}
    for q in layout.questions:
        if q.kind == "grid":
            keys.update({(q.id, item.id): f"{q.id}.{item.id}" for item in q.items})
        else:
            keys[(q.id, "")] = q.id
        keys.update({(q.id, region_id): name for region_id, name in writeins.get(q.id, [])})
    return keys


def answer_columns(layout: Layout) -> list[str]:
    """The answer columns of one edition, in questionnaire order."""
    return list(column_keys(layout).values())


def _column(question: str, item: str) -> str:
    return f"{question}.{item}" if item else question


def cell_value(kind: str, status: str, machine_state: str, machine_value: str | None, final_value: str | None) -> str:
    """The exported text of one stored answer (rules in the module docstring)."""
    if status == "review":
        return REVIEW
    if status in ("reviewed", "final"):
        return final_value or ""
    if kind in HANDWRITING_KINDS:  # accepted handwriting can only mean "no writing"
        return "" if machine_state == "no_ink" else REVIEW
    return machine_value or ""


def cell_value_sql() -> Any:
    """:func:`cell_value` as one SQL expression over the ``answers`` columns (same rules, computed by
    the database: the results layer reads ~100 answers per sheet; tests check both agree)."""
    handwriting = case((Answer.machine_state == "no_ink", ""), else_=REVIEW)
    return case(
        (Answer.status == "review", REVIEW),
        (Answer.status.in_(("reviewed", "final")), func.coalesce(Answer.final_value, "")),
        (Answer.kind.in_(tuple(HANDWRITING_KINDS)), handwriting),
        else_=func.coalesce(Answer.machine_value, ""),
    )


def export_rows(session: Session, survey_code: str) -> tuple[list[str], list[list[str | None]]]:
    """Header and one row per scanned sheet of the survey, ordered by serial."""
    survey = _survey(session, survey_code)
    editions = session.scalars(select(Edition).where(Edition.survey_id == survey.id).order_by(Edition.id)).all()
    layouts = {e.id: Layout.from_json(e.layout_json) for e in editions}
    columns: list[str] = []
    names: dict[tuple[str, str], str] = {}
    for layout in layouts.values():
        keys = column_keys(layout)
        names.update(keys)
        columns += [c for c in keys.values() if c not in columns]
    pages_of_column = {eid: pages_by_column(layout) for eid, layout in layouts.items()}

    sheets = session.execute(
        select(Sheet.id, Sheet.serial, Sheet.status, Sheet.edition_id, Unit.code)
        .outerjoin(Unit, Unit.id == Sheet.unit_id)
        .where(Sheet.survey_id == survey.id, Sheet.status != "printed")
        .order_by(Sheet.serial)
    ).all()
    from storage.cells import read_columns  # it reads cells with this module's rules

    found = read_columns(session, survey.id, [sheet_id for sheet_id, *_ in sheets])
    cells: dict[str, list[str | None]] = {}
    for (question, item), answered in found.items():
        cells[names.get((question, item)) or _column(question, item)] = answered
    columns += sorted(c for c in cells if c not in columns)
    scanned = _scanned_pages(session, survey.id)
    out: list[list[str | None]] = [[str(s) for _, s, *_ in sheets], [unit or "" for *_, unit in sheets],
                                   [status for _, _, status, *_ in sheets]]
    for column in columns:
        values = cells.get(column) or [None] * len(sheets)
        if None in values:  # no answer stored: the page not scanned yet, or nothing to say
            for row, (sheet_id, _serial, _status, edition_id, _unit) in enumerate(sheets):
                if values[row] is None:
                    page = pages_of_column[edition_id].get(column)
                    values[row] = MISSING if page is not None and page not in scanned.get(sheet_id, set()) else ""
        out.append(values)
    return [*SHEET_COLUMNS, *columns], [list(row) for row in zip(*out, strict=True)]


def pages_by_column(layout: Layout) -> dict[str, int]:
    """The page each answer column is printed on (a question's first page)."""
    pages: dict[str, int] = {}
    for q in layout.questions:
        for item in q.items:
            pages[f"{q.id}.{item.id}" if q.kind == "grid" else q.id] = item.page
    names = column_keys(layout)
    for region in layout.all_regions():
        if region.kind == "writein":
            pages[names[(region.question, region.id)]] = region.page
    return pages


def _scanned_pages(session: Session, survey_id: int) -> dict[int, set[int]]:
    found: dict[int, set[int]] = {}
    query = (
        select(SheetPage.sheet_id, SheetPage.page_number)
        .join(Sheet, Sheet.id == SheetPage.sheet_id)
        .join(Page, Page.id == SheetPage.page_id)
        .where(Sheet.survey_id == survey_id, Page.status == "identified")
    )
    for sheet_id, number in session.execute(query):
        found.setdefault(sheet_id, set()).add(number)
    return found


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]], *, made_safe: bool = False) -> None:
    """Write a UTF-8 (with BOM) CSV, cells made safe by :func:`spreadsheet_text` (``made_safe``: the
    caller did it, once per distinct value); the file appears complete or not at all."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        # utf-8 with the mark written by hand: the utf-8-sig codec runs in Python for every row written
        with os.fdopen(fd, "w", encoding="utf-8", newline="", buffering=1 << 20) as fh:
            fh.write("\ufeff")
            writer = csv.writer(fh)
            writer.writerow(_safe_row(header))
            writer.writerows(rows if made_safe else (_safe_row(row) for row in rows))
        os.replace(tmp, path)
    except OSError as exc:
        raise StorageError(f"{path}: không ghi được tệp CSV / cannot write the CSV: {exc}") from exc


def survey_progress(session: Session, survey_code: str) -> dict[str, int]:
    """Where a survey stands: sheets printed / scanned / complete / in review, pages needing attention."""
    survey = _survey(session, survey_code)

    def count_sheets(*where: Any) -> int:
        return session.scalar(select(func.count(Sheet.id)).where(Sheet.survey_id == survey.id, *where)) or 0

    def count_pages(status: str) -> int:
        return session.scalar(
            select(func.count(Page.id)).join(Sheet, Sheet.id == Page.sheet_id)
            .where(Sheet.survey_id == survey.id, Page.status == status)
        ) or 0

    open_items: dict[str, int] = {
        kind: n
        for kind, n in session.execute(
            select(ReviewItem.kind, func.count(ReviewItem.id))
            .where(ReviewItem.survey_id == survey.id, ReviewItem.status == "open")
            .group_by(ReviewItem.kind)
        )
    }
    unknown = session.scalar(select(func.count(Page.id)).where(Page.status == "unidentified", Page.sheet_id.is_(None)))
    return {
        "printed": count_sheets(),
        "scanned": count_sheets(Sheet.status != "printed"),
        "complete": count_sheets(Sheet.status.in_(("complete", "final"))),
        "awaiting_review": count_sheets(Sheet.status == "review"),
        "answers_to_review": sum(open_items.get(k, 0) for k in ANSWER_ITEM_KINDS),
        "pages_identified": count_pages("identified"),
        "duplicates": count_pages("duplicate"),
        "unidentified_pages": count_pages("unidentified"),  # identity known (e.g. not aligned)
        "unidentified_pages_unknown_survey": unknown or 0,  # no survey could be told: shared by all surveys
    }
