"""The scan pipeline: files in, pages identified, aligned and read, results stored.

Shape (after OCRmyPDF): the parent walks the files and counts their pages; each page becomes a
picklable :class:`~pipeline.worker.PageJob` (file and page index: the worker decodes the page
itself, so the parent neither decodes nor pickles images) handed to an executor (worker processes,
or inline for ``--jobs 1``); each :class:`~pipeline.worker.PageResult` comes back to the parent,
which alone writes it through :mod:`storage.scans`, one transaction per page. An interrupted run
leaves whole pages only; running it again skips what is stored and completes the rest. Every
writing transaction takes SQLite's write lock when it begins, so a scan waits for reviewers' writes
(and they for it) instead of failing on a lock upgrade.

Nothing in a file stops the run: a file that cannot be opened is recorded as failed with its reason,
a page that cannot be decoded is recorded unidentified with its reason, and the run goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from core.errors import ExitCode, InputFileError, PhieuError
from core.settings import Settings
from pipeline import lifeline
from pipeline.executor import make_executor
from pipeline.recovery import recover
from pipeline.rerun import load_context
from pipeline.worker import PageJob, PageResult, WorkerContext
from scanner.ingest import SUPPORTED_SUFFIXES, ScanReader, discover
from scanner.problems import explain
from storage import scans
from storage.db import Database
from storage.files import FileStore
from storage.models import Page, ScanBatch, ScanFile
from storage.scans import pages_to_reread

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""Called after every page with (pages done, pages expected in this run); it may raise
:class:`Cancelled` to stop the run cleanly after the page just stored."""


class Cancelled(Exception):
    """Raised by a progress callback to stop a run: the batch is closed, unfinished files are marked."""


@dataclass
class FileError:
    path: str
    message: str  # names the file (and page) and says what to do
    reason: str = "corrupt_file"  # code of scanner.problems.REASONS
    page: int | None = None  # 1-based page when one page failed, None when the whole file did


@dataclass
class ScanSummary:
    """What one run did. ``exit_code`` follows the documented CLI codes (0, 10, 4)."""

    files: int = 0
    files_already_done: int = 0
    pages: int = 0
    identified: int = 0
    duplicates: int = 0
    unidentified: int = 0
    unreadable: int = 0  # pages that could not be decoded (their reason is in ``errors``)
    blank: int = 0
    reread: int = 0  # pages stored earlier (survey then unknown) read again in this run
    stored_elsewhere: int = 0  # pages of a file another station was reading at the same time, stored by it
    answers_stored: int = 0
    answers_to_review: int = 0
    seconds: float = 0.0
    errors: list[FileError] = field(default_factory=list)
    batch_id: int | None = None
    recovered: dict[str, Any] = field(default_factory=dict)  # runs that had died (pipeline.recovery)
    cancelled: bool = False

    @property
    def pages_per_second(self) -> float:
        return self.pages / self.seconds if self.seconds > 0 else 0.0

    @property
    def failed_files(self) -> list[FileError]:
        """The files that could not be read at all (not those with one bad page)."""
        return [e for e in self.errors if e.page is None]

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
    resume: bool = False,
    broker_url: str | None = None,
) -> ScanSummary:
    """Scan files and folders (recursively) into the database; returns what happened.

    Bad files never stop the run: each is recorded as failed with a message naming it (see
    ``ScanSummary.errors``); bad pages become unidentified pages with the reason. Batches of runs
    that died are closed first; ``resume`` also reads their unfinished files to the end. With
    ``broker_url`` the pages are read by queue workers (``pipeline.queue``) and stored here.
    """
    started = time.perf_counter()
    files: list[tuple[Path, str | None]] = [(p, None) for p in discover([Path(p) for p in paths])]
    recovery = recover(db, store, resume=resume)
    files += [(path, name) for path, name in recovery.resumed]
    with db.session(immediate=True) as session:
        context = load_context(session, store, secret=secret, settings=settings, ocr=ocr)
        batch_id = scans.start_batch(session, source, user, owner=lifeline.owner()).id
    run = _Run(db, store, batch_id, settings, progress, broker_url)
    run.summary.recovered = recovery.as_dict() if recovery else {}
    try:
        summary = run.run(files, context)
    except Cancelled:
        summary = run.summary
        summary.cancelled = True
        _close_unfinished(db, batch_id, "cancelled")
    except BaseException:
        _close_unfinished(db, batch_id, "failed")
        raise
    summary.seconds = time.perf_counter() - started
    with db.session(immediate=True) as session:
        scans.finish_batch(session, session.get_one(ScanBatch, batch_id), summary.as_dict())
    db.optimize()  # the tables grew: fresh planner statistics for the reviewers' queries (SQLite)
    log.info("scan finished: %s", summary.as_dict())
    return summary


def _close_unfinished(db: Database, batch_id: int, why: str) -> None:
    """The run stops early: files it had not finished are marked interrupted (its pages stay)."""
    try:
        with db.session(immediate=True) as session:
            scans.close_interrupted(session, session.get_one(ScanBatch, batch_id), by=why,
                                    message=explain("{name}", None, "interrupted"))
    except PhieuError:  # the database itself failed: the next run closes the batch
        log.exception("could not close batch #%d", batch_id)


def _rereadable(session: Any, file_id: int) -> dict[int, int]:
    """Pages of a file stored earlier that a new reading may settle (their survey registered since)."""
    return {p.index_in_file: p.id for p in pages_to_reread(session, scan_file_id=file_id)}


@dataclass
class _FileState:
    path: Path
    name: str
    stored: Path | None = None  # the copy in the file store
    submitted: int = 0
    recorded: int = 0
    read_all: bool = False
    error: str | None = None
    reason: str | None = None


class _Run:
    """One pipeline run: produces jobs file by file, records results as they come back."""

    def __init__(
        self, db: Database, store: FileStore, batch_id: int, settings: Settings, progress: Progress | None,
        broker_url: str | None = None,
    ) -> None:
        self.db = db
        self.broker_url = broker_url
        self.stored_files = False  # page jobs name the copy in the store (queue workers open it there)
        self.settings = settings
        self.store = store
        self.batch_id = batch_id
        self.progress = progress
        self.summary = ScanSummary(batch_id=batch_id)
        self.files: dict[int, _FileState] = {}
        self.rereads: dict[tuple[int, int], int] = {}  # (file id, page index) -> page id read again
        self.reader = ScanReader(settings.scan)  # the parent only counts pages
        self.total = 0
        self.done = 0

    def run(self, paths: list[tuple[Path, str | None]], context: WorkerContext) -> ScanSummary:
        try:
            self.total = sum(self._safe_page_count(p, n) for p, n in paths)
        finally:
            self.reader.close()
        executor = make_executor(context, self.settings.scan.jobs, broker_url=self.broker_url, store=self.store)
        self.stored_files = executor.stored_files
        try:
            for result in executor.run(self._jobs(paths)):
                self._record(result)
        finally:
            executor.close()
            self.reader.close()
        return self.summary

    def _safe_page_count(self, path: Path, name: str | None) -> int:
        """Pages expected, for the progress bar: a single image counts 1 unopened (its worker checks it)."""
        if SUPPORTED_SUFFIXES.get(path.suffix.lower()) in ("png", "jpeg"):
            return 1
        try:
            return self.reader.page_count(path, name=name)
        except PhieuError:
            return 0

    def _jobs(self, paths: list[tuple[Path, str | None]]) -> Iterator[PageJob]:
        for path, name in paths:
            self.summary.files += 1
            state = _FileState(path, name or str(path))
            try:
                with self.db.session(immediate=True) as session:
                    batch = session.get_one(ScanBatch, self.batch_id)
                    scan_file, complete = scans.register_file(session, self.store, path, batch, name=name)
                    file_id, attempts = scan_file.id, scan_file.attempts
                    state.stored = self.store.path(scan_file.sha256)
                    done = set(session.scalars(select(Page.index_in_file).where(Page.scan_file_id == file_id)))
                    again = _rereadable(session, file_id) if complete else {}
            except PhieuError as exc:  # vanished or unreadable since it was found: name it, go on
                self._file_failed(state, str(exc), getattr(exc, "reason", "missing_file"))
                continue
            self.files[file_id] = state
            if complete:
                self.summary.files_already_done += 1
                self._advance(self._safe_page_count(path, name) - len(again))
                yield from self._reread_jobs(file_id, state, again)
                continue
            if attempts - 1 >= self.settings.scan.max_interrupted:  # it stopped the scan before, more than once
                self._file_failed(state, explain(state.name, None, "repeated_interruption",
                                                 f"{attempts - 1} lần / times"), "repeated_interruption")
                state.read_all = True
                self._maybe_finish(file_id)
                continue
            self._advance(len(done))
            yield from self._file_jobs(file_id, state, done)
            state.read_all = True
            self._maybe_finish(file_id)

    def _file_jobs(self, file_id: int, state: _FileState, done: set[int]) -> Iterator[PageJob]:
        """One job per page still to do; workers decode their own pages (the parent reads none)."""
        try:
            pages = self.reader.page_count(state.path, name=state.name)
        except InputFileError as exc:
            self._file_failed(state, str(exc), exc.reason)
            return
        finally:
            self.reader.close()  # the parent holds no file open while workers read it
        for index in range(pages):
            if index not in done:
                state.submitted += 1
                yield self._page_job(file_id, state, index)

    def _reread_jobs(self, file_id: int, state: _FileState, again: dict[int, int]) -> Iterator[PageJob]:
        """Pages of a file scanned before whose survey was registered since: read again (see pipeline.rerun)."""
        for index, page_id in sorted(again.items()):
            self.rereads[(file_id, index)] = page_id
            yield self._page_job(file_id, state, index)

    def _page_job(self, file_id: int, state: _FileState, index: int) -> PageJob:
        if self.stored_files and state.stored is not None:  # a queue worker elsewhere opens the stored copy
            return PageJob(file_id, state.stored, index, name=state.name)
        return PageJob(file_id, state.path, index, name=state.name if state.name != str(state.path) else "")

    def _file_failed(self, state: _FileState, message: str, reason: str) -> None:
        state.error, state.reason = message, reason
        log.error("%s", message)
        self.summary.errors.append(FileError(state.name, message, reason))

    def _record(self, result: PageResult) -> None:
        state = self.files[result.file_key]
        page_id = self.rereads.pop((result.file_key, result.outcome.index), None)
        if page_id is not None:
            self._record_reread(page_id, result)
            return
        if result.file_error is not None:
            if state.error is None:  # every page of a vanished file says so: name the file once
                self._file_failed(state, result.file_error, result.file_reason or "corrupt_file")
            state.recorded += 1
            self._advance(1)
            self._maybe_finish(result.file_key)
            return
        with self.db.session(immediate=True) as session:
            scan_file = session.get_one(ScanFile, result.file_key)
            recorded = scans.record_page(session, self.store, scan_file, result.outcome)
        if recorded.already_recorded:  # another station stored this page a moment ago: counted there
            self.summary.stored_elsewhere += 1
            state.recorded += 1
            self._advance(1)
            self._maybe_finish(result.file_key)
            return
        if result.unreadable:
            reason = result.outcome.identification.reason or "corrupt_page"
            self.summary.errors.append(FileError(state.name, result.outcome.error or reason, reason,
                                                 result.outcome.index + 1))
        state.recorded += 1
        self._count(recorded, unreadable=result.unreadable)
        self._advance(1)
        self._maybe_finish(result.file_key)

    def _record_reread(self, page_id: int, result: PageResult) -> None:
        with self.db.session(immediate=True) as session:
            recorded = scans.rerecord_page(session, self.store, session.get_one(Page, page_id), result.outcome,
                                           actor="machine")
        self.summary.reread += 1
        self._count(recorded, unreadable=result.unreadable)
        self._advance(1)

    def _count(self, recorded: Any, *, unreadable: bool) -> None:
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
        elif unreadable:
            s.unreadable += 1
        else:
            s.unidentified += 1

    def _maybe_finish(self, file_id: int) -> None:
        state = self.files[file_id]
        if not state.read_all or state.recorded < state.submitted:
            return
        with self.db.session(immediate=True) as session:
            scan_file = session.get_one(ScanFile, file_id)
            count = session.query(Page).filter(Page.scan_file_id == file_id).count()
            scans.finish_file(session, scan_file, count, error=state.error, error_code=state.reason)

    def _advance(self, pages: int) -> None:
        self.done += max(pages, 0)
        if self.progress is not None:
            self.progress(self.done, max(self.total, self.done))
