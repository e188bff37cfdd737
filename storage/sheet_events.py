"""The sheet log's one writer: each change of a sheet's fieldwork status is a ``SheetEvent`` row.

``Sheet.field_status`` (and the sheet's current household and enumerator) mirror the latest event;
the events themselves are append-only (database triggers), so a sheet's chain of custody is never
lost. Which changes are allowed is fieldwork's business (``fieldwork/lifecycle.py``); the scan
pipeline calls :func:`mark_scanned` when a page of a sheet comes in.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from storage import audit
from storage.fieldwork_models import SheetEvent
from storage.models import Sheet


def record(
    session: Session,
    sheet: Sheet,
    to_status: str,
    *,
    actor: str,
    source: str,
    day: date | None = None,
    household_id: int | None = None,
    enumerator_id: int | None = None,
    note: str = "",
) -> SheetEvent | None:
    """Log the change and apply it; None when nothing changes (same status, household and enumerator).

    ``household_id`` / ``enumerator_id`` of None keep the sheet's current ones.
    """
    household = household_id if household_id is not None else sheet.household_id
    enumerator = enumerator_id if enumerator_id is not None else sheet.enumerator_id
    if (to_status, household, enumerator) == (sheet.field_status, sheet.household_id, sheet.enumerator_id):
        return None
    event = SheetEvent(sheet_id=sheet.id, day=day, actor=actor, source=source, from_status=sheet.field_status,
                       to_status=to_status, household_id=household, enumerator_id=enumerator, note=note)
    session.add(event)
    sheet.field_status, sheet.household_id, sheet.enumerator_id = to_status, household, enumerator
    return event


def mark_scanned(session: Session, sheet: Sheet) -> None:
    """A page of ``sheet`` was scanned: the paper is back, whatever was recorded before (noted unless the
    log had it collected)."""
    if sheet.field_status == "scanned":
        return
    note = "" if sheet.field_status == "collected" else \
        f"quét khi sổ ghi '{sheet.field_status}' / scanned while the log said '{sheet.field_status}'"
    record(session, sheet, "scanned", actor=audit.MACHINE, source="scan", day=date.today(), note=note)
