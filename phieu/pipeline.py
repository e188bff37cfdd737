"""The scan pipeline: files in, pages identified, aligned and read, results stored.

Shape (after OCRmyPDF): the parent walks the files and counts their pages; each page becomes a
picklable :class:`~phieu.pipeline_worker.PageJob` (file and page index: the worker decodes the page
itself, so the parent neither decodes nor pickles images) handed to an executor (worker processes,
or inline for ``--jobs 1``); each :class:`~phieu.pipeline_worker.PageResult` comes back to the parent,
which alone writes it through :mod:`storage.scans`, one transaction per page. An interrupted run
leaves whole pages only; running it again skips what is stored and completes the rest. Every
writing transaction takes SQLite's write lock when it begins, so a scan waits for reviewers' writes
(and they for it) instead of failing on a lock upgrade.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import ExitCode, InputFileError, NotFoundError, PhieuError
from core.settings import Settings
from formgen.identity import SheetIdentity
from formgen.layout import Layout
from phieu.pipeline_exec import make_executor
from phieu.pipeline_worker import (
    EditionKey,
    PageJob,
    PageResult,
    WorkerContext,
    init_worker,
    process_page,
    read_assigned,
)
from scanner.ingest import close_documents, discover, page_count, read_page
from scanner.types import PageError, PageImage
from storage import scans
from storage.db import Database
from storage.files import FileStore
from storage.models import Edition, Page, ScanBatch, ScanFile, Sheet, Survey

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""Called after every page with (pages done, pages expected in this run)."""


@dataclass
class FileError:
    path: str
    message: str


@dataclass
class ScanSummary:
    """What one run did. ``exit_code`` follows the documented CLI codes (0, 10, 4)."""

    files: int = 0
    files_already_done: int = 0
    pages: int = 0
    identified: int = 0
    duplicates: int = 0
    unidentified: int = 0
    blank: int = 0
    answers_stored: int = 0
    answers_to_review: int = 0
    seconds: float = 0.0
    errors: list[FileError] = field(default_factory=list)
    batch_id: int | None = None

    @property
    def pages_per_second(self) -> float:
        return self.pages / self.seconds if self.seconds > 0 else 0.0

    @property
    def exit_code(self) -> ExitCode:
        if self.errors:
            return ExitCode.INPUT_FILE
        return ExitCode.PAGES_NEED_ATTENTION if self.unidentified or self.duplicates else ExitCode.OK

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["pages_per_second"] = round(self.pages_per_second, 2)
        data["seconds"] = round(self.seconds, 2)
        return data


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


def scan_paths(
    db: Database,
    store: FileStore,
    paths: Sequence[Path | str],
    *,
    secret: bytes,
    settings: Settings,
    source: str = "cli",
    user: str = "",
    progress: Progress | None = None,
    ocr: bool = True,
) -> ScanSummary:
    """Scan files and folders (recursively) into the database; returns what happened.

    Bad files never stop the run: each is recorded as failed with a message naming it (see
    ``ScanSummary.errors``); bad pages become unidentified pages with the reason.
    """
    started = time.perf_counter()
    files = discover([Path(p) for p in paths])
    with db.session(immediate=True) as session:
        context = load_context(session, store, secret=secret, settings=settings, ocr=ocr)
        batch_id = scans.start_batch(session, source, user).id
    summary = _Run(db, store, batch_id, settings, progress).run(files, context)
    summary.seconds = time.perf_counter() - started
    with db.session(immediate=True) as session:
        scans.finish_batch(session, session.get_one(ScanBatch, batch_id), summary.as_dict())
    log.info("scan finished: %s", summary.as_dict())
    return summary


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
    any other page goes through identification again. Runs in the calling process (the review UI).
    """
    with db.session() as session:
        page = session.get(Page, page_id)
        if page is None:
            raise NotFoundError(f"Không có trang #{page_id} / no page #{page_id}")
        scan_file = session.get_one(ScanFile, page.scan_file_id)
        original, name, index = store.path(scan_file.sha256), scan_file.original_name, page.index_in_file
        identity = _assigned_identity(session, page)
        context = load_context(session, store, secret=secret, settings=settings, ocr=ocr)
    try:  # in full: a person is waiting for this one page, and may have turned it (no retry then)
        full = settings.model_copy(update={"scan": settings.scan.model_copy(update={"decode_dpi": 0})})
        image = _read_one(original, index, full)
    finally:
        close_documents()
    image.source = Path(name)
    if rotation % 360:
        image.image = np.ascontiguousarray(np.rot90(image.image, k=-(rotation // 90)))
    init_worker(context)
    if identity is not None:
        outcome = read_assigned(image, identity)
    else:
        outcome = process_page(PageJob(0, Path(name), index, image)).outcome
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


def _read_one(path: Path, index: int, settings: Settings) -> PageImage:
    page = read_page(path, index, settings=settings.scan)
    if isinstance(page, PageError):
        raise InputFileError(page.message)
    return page


@dataclass
class _FileState:
    path: Path
    submitted: int = 0
    recorded: int = 0
    read_all: bool = False
    error: str | None = None


class _Run:
    """One pipeline run: produces jobs file by file, records results as they come back."""

    def __init__(
        self, db: Database, store: FileStore, batch_id: int, settings: Settings, progress: Progress | None
    ) -> None:
        self.db = db
        self.settings = settings
        self.store = store
        self.batch_id = batch_id
        self.progress = progress
        self.summary = ScanSummary(batch_id=batch_id)
        self.files: dict[int, _FileState] = {}
        self.total = 0
        self.done = 0

    def run(self, paths: list[Path], context: WorkerContext) -> ScanSummary:
        self.total = sum(_safe_page_count(p) for p in paths)
        executor = make_executor(context, self.settings.scan.jobs)
        try:
            for result in executor.run(self._jobs(paths)):
                self._record(result)
        except BrokenProcessPool as exc:
            raise PhieuError(
                "Một tiến trình xử lý bị dừng đột ngột (thiếu bộ nhớ?); chạy lại lệnh để quét tiếp các trang còn lại "
                "/ a worker process died; run the command again to finish the remaining pages"
            ) from exc
        finally:
            executor.close()
        return self.summary

    def _jobs(self, paths: list[Path]) -> Iterator[PageJob]:
        for path in paths:
            self.summary.files += 1
            try:
                with self.db.session(immediate=True) as session:
                    batch = session.get_one(ScanBatch, self.batch_id)
                    scan_file, complete = scans.register_file(session, self.store, path, batch)
                    file_id = scan_file.id
                    done = set(session.scalars(select(Page.index_in_file).where(Page.scan_file_id == file_id)))
            except PhieuError as exc:  # vanished or unreadable since it was found: name it, go on
                self._file_failed(_FileState(path), str(exc))
                continue
            if complete:
                self.summary.files_already_done += 1
                self._advance(_safe_page_count(path))
                continue
            state = _FileState(path)
            self.files[file_id] = state
            self._advance(len(done))
            yield from self._file_jobs(file_id, state, done)
            state.read_all = True
            self._maybe_finish(file_id)

    def _file_jobs(self, file_id: int, state: _FileState, done: set[int]) -> Iterator[PageJob]:
        """One job per page still to do; workers decode their own pages (the parent reads none)."""
        try:
            pages = page_count(state.path)
        except InputFileError as exc:
            self._file_failed(state, str(exc))
            return
        for index in range(pages):
            if index not in done:
                state.submitted += 1
                yield PageJob(file_id, state.path, index, None, read_here=True)

    def _file_failed(self, state: _FileState, message: str) -> None:
        state.error = message
        log.error("%s", message)
        self.summary.errors.append(FileError(str(state.path), message))

    def _record(self, result: PageResult) -> None:
        state = self.files[result.file_key]
        if result.file_error is not None:
            if state.error is None:  # every page of a vanished file says so: name the file once
                self._file_failed(state, result.file_error)
            state.recorded += 1
            self._advance(1)
            self._maybe_finish(result.file_key)
            return
        with self.db.session(immediate=True) as session:
            scan_file = session.get_one(ScanFile, result.file_key)
            recorded = scans.record_page(session, self.store, scan_file, result.outcome)
        state.recorded += 1
        self._count(recorded)
        self._advance(1)
        self._maybe_finish(result.file_key)

    def _count(self, recorded: Any) -> None:
        s = self.summary
        s.pages += 1
        status = recorded.status
        if status == "identified":
            s.identified += 1
            s.answers_stored += recorded.answers_stored
            s.answers_to_review += recorded.review_items
        elif status == "duplicate":
            s.duplicates += 1
        elif status == "blank":
            s.blank += 1
        else:
            s.unidentified += 1

    def _maybe_finish(self, file_id: int) -> None:
        state = self.files[file_id]
        if not state.read_all or state.recorded < state.submitted:
            return
        with self.db.session(immediate=True) as session:
            scan_file = session.get_one(ScanFile, file_id)
            count = session.query(Page).filter(Page.scan_file_id == file_id).count()
            scans.finish_file(session, scan_file, count, error=state.error)

    def _advance(self, pages: int) -> None:
        self.done += pages
        if self.progress is not None:
            self.progress(self.done, max(self.total, self.done))


def _safe_page_count(path: Path) -> int:
    try:
        return page_count(path)
    except (PhieuError, OSError, ValueError):
        return 0
