"""How one page's reading is stored: raw box measures and answers, written in bulk.

A page holds ~400 boxes and ~100 answers; these are the bulkiest writes of a scan, so they skip
ORM objects (multi-row INSERT ... RETURNING; COPY on PostgreSQL). Machine values are inserted once
and never replaced: an answer already stored for the sheet is kept and the new one is ignored.
"""

from __future__ import annotations

import logging

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from core.types import AnswerReading, PageReading
from storage.files import FileStore
from storage.models import Answer, BoxReading, Page, ReviewItem, Sheet

log = logging.getLogger(__name__)

HANDWRITING_KINDS = {"writein", "text"}
BOX_COLUMNS = ("page_id", "box_id", "inner_ink", "ring_ink", "darkness", "state")


def store_boxes(session: Session, page: Page, reading: PageReading) -> None:
    """Raw measures of every box (~400 a page): the bulkiest write, so done the fastest way each server offers."""
    rows = [(page.id, b.box_id, float(b.inner_ink), float(b.ring_ink), float(b.darkness), b.state) for b in reading.boxes]
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql":  # COPY: one round trip, no SQL to parse per row
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f"COPY box_readings ({', '.join(BOX_COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.close()
    else:  # RETURNING makes SQLAlchemy batch the rows into multi-row INSERTs
        table = BoxReading.metadata.tables[BoxReading.__tablename__]
        connection.execute(insert(table).returning(table.c.id), [dict(zip(BOX_COLUMNS, r, strict=True)) for r in rows])


def store_answers(session: Session, store: FileStore, page: Page, sheet: Sheet, survey_id: int,
                  readings: list[AnswerReading]) -> tuple[int, int]:
    """Insert the page's answers (never replacing one already stored) and queue the doubtful ones."""
    existing: set[tuple[str, str]] = {
        (q, i) for q, i in session.execute(select(Answer.question, Answer.item).where(Answer.sheet_id == sheet.id))
    }
    new: list[AnswerReading] = []
    for r in readings:
        if (r.question, r.item) in existing:
            log.warning("sheet %s: answer %s/%s already stored, machine value kept", sheet.serial, r.question, r.item)
            continue
        existing.add((r.question, r.item))
        new.append(r)
    if not new:
        return 0, 0
    rows = [
        {"sheet_id": sheet.id, "page_id": page.id, "question": r.question, "item": r.item, "kind": r.kind,
         "machine_value": r.value, "machine_state": r.state, "machine_reason": r.reason,
         "confidence": float(r.confidence), "ocr_draft": r.ocr_draft, "ocr_confidence": r.ocr_confidence,
         "crop_sha256": store.put_bytes(r.crop_png, ".png", durable=False) if r.crop_png else None,
         "status": "review" if r.needs_review else "accepted", "final_value": None if r.needs_review else r.value}
        for r in new
    ]
    # one multi-row INSERT (a page holds ~20-100 answers): ORM objects would cost more than the rest of
    # the page. The ids come back keyed by (question, item), unique on a sheet: asking for them in
    # parameter order instead made SQLAlchemy send one INSERT per row on SQLite.
    table = Answer.metadata.tables[Answer.__tablename__]
    returned = session.connection().execute(insert(table).returning(table.c.id, table.c.question, table.c.item), rows)
    ids = {(question, item): answer_id for answer_id, question, item in returned}
    items = [
        {"kind": "writein" if r.kind in HANDWRITING_KINDS else "answer", "survey_id": survey_id,
         "answer_id": ids[(r.question, r.item)], "page_id": page.id, "reason": r.reason or r.state}
        for r in new if r.needs_review
    ]
    if items:
        session.connection().execute(insert(ReviewItem.metadata.tables[ReviewItem.__tablename__]), items)
    return len(new), len(items)
