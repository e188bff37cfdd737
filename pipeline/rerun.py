"""Reading stored pages again: one page a person helped with (``rerun_page``), and every page that
was not identified because its survey was not registered yet (``reread_pages``, after ``survey add``).

Both read the original kept unchanged in the file store, never the folder it came from. Machine
readings already stored are never replaced: only pages without answers are read again, their new
reading is recorded through ``storage.scans.rerecord_page`` and what the page said before stays in
the audit log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import ConflictError, InputFileError, NotFoundError
from core.settings import Settings
from formgen.identity import SheetIdentity
from formgen.layout import Layout
from pipeline.executor import make_executor
from pipeline.worker import EditionKey, PageJob, PageWorker, WorkerContext
from scanner.types import PageError
from storage import scans
from storage.db import Database
from storage.files import FileStore
from storage.models import Edition, Page, ScanFile, Sheet, Survey
from storage.scans import pages_to_reread

log = logging.getLogger(__name__)

def load_context(session: Session, store: FileStore, *, secret: bytes, settings: Settings, ocr: bool = True) -> WorkerContext:
    """Every registered edition's layout and blank master, for the workers."""
    editions: dict[EditionKey, Layout] = {}
    blanks: dict[EditionKey, bytes] = {}
    rows = session.execute(select(Survey.code, Edition.code, Edition.layout_json, Edition.blank_pdf_sha256).join(Edition))
    for survey, edition, layout_json, blank_sha in rows:
        editions[(survey, edition)] = Layout.from_json(layout_json)
        if blank_sha:
            blanks[(survey, edition)] = store.read(blank_sha)
    return WorkerContext(editions=editions, blank_pdfs=blanks, secret=secret, settings=settings, ocr=ocr)


def rerun_page(
    db: Database,
    store: FileStore,
    page_id: int,
    *,
    secret: bytes,
    settings: Settings,
    rotation: int = 0,
    user: str = "",
    ocr: bool = True,
) -> scans.PageRecordResult:
    """Read a stored page again, after a person helped, and record the new reading in its place.

    ``rotation`` (0/90/180/270, clockwise) turns the page image first. A page that a person
    assigned to a sheet and page (``review_queue.assign_page``) is aligned and read as that page;
    any other page goes through identification again. Runs in the calling process (the review UI's
    background runner, or a command).
    """
    with db.session() as session:
        page = session.get(Page, page_id)
        if page is None:
            raise NotFoundError(f"Không có trang #{page_id} / no page #{page_id}")
        scan_file = session.get_one(ScanFile, page.scan_file_id)
        original, name, index = store.path(scan_file.sha256), scan_file.original_name, page.index_in_file
        identity = _assigned_identity(session, page)
        context = load_context(session, store, secret=secret, settings=settings, ocr=ocr)
    worker = PageWorker(context)
    try:  # in full: a person is waiting for this one page, and may have turned it (no retry then)
        image = worker.reader.read_page(original, index, full=True, name=name)
        if isinstance(image, PageError):
            raise InputFileError(image.message, reason=image.reason)
        image.source = Path(name)
        if rotation % 360:
            image.image = np.ascontiguousarray(np.rot90(image.image, k=-(rotation // 90)))
        if identity is not None:
            outcome = worker.read_assigned(image, identity)
        else:
            outcome = worker.process(PageJob(page_id, original, index, page=image, name=name)).outcome
    finally:
        worker.close()
    with db.session(immediate=True) as session:
        page = session.get_one(Page, page_id)
        return scans.rerecord_page(session, store, page, outcome, actor=user or "machine")


def _assigned_identity(session: Session, page: Page) -> SheetIdentity | None:
    if page.status != "identified" or page.sheet_id is None or page.page_number is None:
        return None
    sheet = session.get_one(Sheet, page.sheet_id)
    survey = session.get_one(Survey, sheet.survey_id)
    edition = session.get_one(Edition, sheet.edition_id)
    return SheetIdentity(survey.code, edition.code, sheet.serial, page.page_number)


@dataclass
class RereadSummary:
    pages: int = 0
    identified: int = 0
    duplicates: int = 0
    still_unidentified: int = 0
    answers_stored: int = 0
    answers_to_review: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def reread_pages(
    db: Database,
    store: FileStore,
    *,
    secret: bytes,
    settings: Settings,
    survey: str | None = None,
    every: bool = False,
    user: str = "",
    ocr: bool = True,
    progress: Callable[[int, int], None] | None = None,
    broker_url: str | None = None,
) -> RereadSummary:
    """Read again, from the stored originals, the pages :func:`pages_to_reread` selects, in worker processes."""
    with db.session() as session:
        selected = [(p.id, p.index_in_file, p.scan_file) for p in pages_to_reread(session, survey=survey, every=every)]
        jobs = [PageJob(page_id, store.path(f.sha256), index, name=f.original_name) for page_id, index, f in selected]
        context = load_context(session, store, secret=secret, settings=settings, ocr=ocr)
    summary = RereadSummary()
    executor = make_executor(context, settings.scan.jobs, broker_url=broker_url, store=store)
    try:
        for done, result in enumerate(executor.run(jobs), start=1):
            _record_reread(db, store, result.file_key, result.outcome, user, summary)
            if progress is not None:
                progress(done, len(jobs))
    finally:
        executor.close()
    log.info("reread: %s", summary.as_dict())
    return summary


def _record_reread(db: Database, store: FileStore, page_id: int, outcome: Any, user: str, summary: RereadSummary) -> None:
    summary.pages += 1
    try:
        with db.session(immediate=True) as session:
            recorded = scans.rerecord_page(session, store, session.get_one(Page, page_id), outcome,
                                           actor=user or "machine")
    except ConflictError as exc:  # answers were stored from it meanwhile: left as it is
        summary.errors.append(str(exc))
        return
    if recorded.status == "identified":
        summary.identified += 1
        summary.answers_stored += recorded.answers_stored
        summary.answers_to_review += recorded.review_items
    elif recorded.status == "duplicate":
        summary.duplicates += 1
    else:
        summary.still_unidentified += 1
    if outcome.error:
        summary.errors.append(outcome.error)
