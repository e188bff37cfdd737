"""The supervisors' sheet list: one survey's sheets by serial, filtered by status, unit or a serial typed.

Keyset pages (``serial > after``, ``LIMIT n``), never OFFSET and never a COUNT over the table: each
filter is served by an index on (survey_id, status, serial), (survey_id, unit_id, serial) or the
unique (survey_id, serial), so a page costs the same at sheet 10 as at sheet 3 million. Per-page
extras (pages in, answers waiting) are read for the page's rows only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import Answer, ReviewItem, Sheet, SheetPage, Unit, unindexed

STATUS_GROUPS: dict[str, tuple[str, ...]] = {  # what a progress figure counts, as a filter
    "returned": ("scanned", "review", "complete", "final"),
    "done": ("complete", "final"),
}
STATUSES = ("printed", "scanned", "review", "complete", "final")
PAGE_SIZE = 50


@dataclass(frozen=True)
class SheetPageOfList:
    rows: list[dict[str, Any]]
    next_after: int | None  # the serial to continue after, None at the end


def list_sheets(
    session: Session,
    survey_id: int,
    *,
    status: str = "",
    unit: str = "",
    serial_from: int | None = None,
    after: int = 0,
    limit: int = PAGE_SIZE,
) -> SheetPageOfList:
    """Sheets of ``survey_id`` in serial order after ``after`` (and from ``serial_from``): ``status`` one of
    STATUSES or STATUS_GROUPS, ``unit`` a unit code or the start of one (a district's code finds its communes)."""
    query = select(Sheet.id, Sheet.serial, Sheet.status, Sheet.unit_id).where(Sheet.survey_id == survey_id)
    statuses = STATUS_GROUPS.get(status) or ((status,) if status in STATUSES else ())
    if statuses:
        query = query.where(Sheet.status.in_(statuses))
    units: dict[int, str] = {}
    if unit:
        units = dict(session.execute(select(Unit.id, Unit.code).where(Unit.code.startswith(unit, autoescape=True))).all())  # type: ignore[arg-type]
        query = query.where(Sheet.unit_id.in_(list(units) or [-1]))
    start = max(after, (serial_from - 1) if serial_from is not None else 0)
    rows = session.execute(query.where(Sheet.serial > start).order_by(Sheet.serial).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    ids = [r.id for r in rows]
    pages_in = dict(session.execute(select(SheetPage.sheet_id, func.count(SheetPage.id))  # type: ignore[arg-type]
                                    .where(SheetPage.sheet_id.in_(ids)).group_by(SheetPage.sheet_id)).all())
    # each listed sheet's own count (its answers, then their items), in one query: a join over all the
    # listed sheets had PostgreSQL hash every open item, the cost growing with the round
    open_of_sheet = (select(func.count(ReviewItem.id)).join(Answer, Answer.id == ReviewItem.answer_id)
                     .where(Answer.sheet_id == Sheet.id, unindexed(ReviewItem.status) == "open")
                     .correlate(Sheet).scalar_subquery())
    waiting: dict[int, int] = dict(session.execute(select(Sheet.id, open_of_sheet).where(Sheet.id.in_(ids))).all())  # type: ignore[arg-type]
    missing = {r.unit_id for r in rows if r.unit_id is not None} - set(units)
    if missing:
        units.update(dict(session.execute(select(Unit.id, Unit.code).where(Unit.id.in_(missing))).all()))  # type: ignore[arg-type]
    listed = [{"serial": r.serial, "status": r.status, "unit": units.get(r.unit_id, "") if r.unit_id else "",
               "pages_in": int(pages_in.get(r.id, 0)), "waiting": int(waiting.get(r.id, 0))} for r in rows]
    return SheetPageOfList(listed, rows[-1].serial if more else None)
