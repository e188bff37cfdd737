"""Executors for the scan pipeline: run :class:`~pipeline.worker.PageWorker` over a stream of jobs.

Both yield results as they finish and keep at most ``window`` jobs in flight, so a 1,000-page file
streams through with a few pages in memory. ``SerialExecutor`` runs the same code inline (tests,
``--jobs 1``); ``PoolExecutor`` runs one worker process per core. Each worker process owns one
``PageWorker``; each worker dies with the process that started the pool (``pipeline.lifeline``) and
stays under ``ScanSettings.worker_memory_mb``. A worker that dies anyway (a decoder crashing) costs
only the page it was reading: the pool is started again and the pages that were in flight are tried
once more, one at a time, so that the one that kills a worker is found and reported alone.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Protocol

from pipeline import lifeline
from pipeline.forkserver import worker_context
from pipeline.outcome import unreadable_outcome
from pipeline.worker import PageJob, PageResult, PageWorker, WorkerContext, configure_process
from scanner.problems import explain
from storage.files import FileStore

log = logging.getLogger(__name__)


class Executor(Protocol):
    stored_files: bool  # the jobs must name files in the shared store (the queue's workers open them there)

    def run(self, jobs: Iterable[PageJob]) -> Iterator[PageResult]: ...

    def close(self) -> None: ...


class SerialExecutor:
    """Runs every page in this process, in order, with a worker of its own."""

    stored_files = False

    def __init__(self, context: WorkerContext) -> None:
        configure_process()
        self.worker = PageWorker(context)

    def run(self, jobs: Iterable[PageJob]) -> Iterator[PageResult]:
        for job in jobs:
            yield self.worker.process(job)

    def close(self) -> None:
        self.worker.close()


# The one PageWorker of a pool's worker process, made by _start_pool_process in that process only
# (the pool calls a plain function; the worker and its caches must outlive one page).
_POOL_WORKER: PageWorker | None = None


def _start_pool_process(context: WorkerContext, parent_pid: int, memory_mb: int) -> None:
    global _POOL_WORKER
    lifeline.die_with(parent_pid)
    lifeline.limit_memory(memory_mb)
    configure_process()
    _POOL_WORKER = PageWorker(context)


def _process_in_pool(job: PageJob) -> PageResult:
    assert _POOL_WORKER is not None, "pool process not initialised"
    return _POOL_WORKER.process(job)


class PoolExecutor:
    """One worker process per core; results come back in completion order.

    Workers start from a fork server (not a fork of this process) so a parent holding database
    connections or web-server threads is never copied into them.
    """

    stored_files = False

    def __init__(self, context: WorkerContext, workers: int) -> None:
        self.context, self.workers = context, workers
        self.window = workers + 1  # every worker busy plus one page ready: memory stays flat
        self.restarts = 0
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        args = (self.context, os.getpid(), self.context.settings.scan.worker_memory_mb)
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=worker_context(),
                                   initializer=_start_pool_process, initargs=args)

    def run(self, jobs: Iterable[PageJob]) -> Iterator[PageResult]:
        pending: dict[Future[PageResult], PageJob] = {}
        for job in jobs:
            pending[self._submit(job)] = job
            if len(pending) >= self.window:
                yield from self._collect(pending)
        while pending:
            yield from self._collect(pending)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _submit(self, job: PageJob) -> Future[PageResult]:
        try:
            return self._pool.submit(_process_in_pool, job)
        except BrokenProcessPool:
            self._restart()
            return self._pool.submit(_process_in_pool, job)

    def _collect(self, pending: dict[Future[PageResult], PageJob]) -> Iterator[PageResult]:
        done, _ = wait(pending, return_when=FIRST_COMPLETED)
        broken = []
        for future in done:
            job = pending.pop(future)
            try:
                yield future.result()
            except BrokenProcessPool:
                broken.append(job)
        if not broken:
            return
        broken += pending.values()  # everything in flight went down with the pool
        pending.clear()
        log.warning("một tiến trình xử lý bị dừng; thử lại %d trang / a worker died; retrying %d pages",
                    len(broken), len(broken))
        self._restart()
        for job in broken:
            yield self._alone(job)

    def _alone(self, job: PageJob) -> PageResult:
        started = time.perf_counter()
        try:
            return self._submit(job).result()
        except BrokenProcessPool:
            self._restart()
            message = explain(job.shown, job.index, "worker_crashed")
            log.error("%s", message)
            return PageResult(job.file_key, unreadable_outcome(job.index, "worker_crashed", message),
                              time.perf_counter() - started)

    def _restart(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.restarts += 1
        self._pool = self._new_pool()


def worker_count(jobs: int) -> int:
    """``ScanSettings.jobs`` / ``--jobs``: 0 means one per CPU core available to this process."""
    if jobs > 0:
        return jobs
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def make_executor(context: WorkerContext, jobs: int, *, broker_url: str | None = None,
                  store: FileStore | None = None) -> Executor:
    """Local worker processes (``jobs``), or with ``broker_url`` the queue workers (``pipeline.queue``),
    which read files from ``store``."""
    if broker_url:
        from pipeline.queue import QueueExecutor

        assert store is not None, "queued pages are read from the shared store"
        return QueueExecutor(broker_url, context, store)
    workers = worker_count(jobs)
    if workers == 1:
        return SerialExecutor(context)
    return PoolExecutor(context, workers)
