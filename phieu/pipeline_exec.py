"""Executors for the scan pipeline: run :func:`process_page` over a stream of jobs.

Both yield results as they finish and keep at most ``window`` jobs in flight, so a 1,000-page file
streams through with a few pages in memory. ``SerialExecutor`` runs the same code inline (tests,
``--jobs 1``); ``PoolExecutor`` runs one worker process per core.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Protocol

from phieu.forkserver import worker_context
from phieu.pipeline_worker import PageJob, PageResult, WorkerContext, init_worker, process_page
from scanner.ingest import close_documents


class Executor(Protocol):
    def run(self, jobs: Iterable[PageJob]) -> Iterator[PageResult]: ...

    def close(self) -> None: ...


class SerialExecutor:
    """Runs every page in this process, in order."""

    def __init__(self, context: WorkerContext) -> None:
        init_worker(context)

    def run(self, jobs: Iterable[PageJob]) -> Iterator[PageResult]:
        for job in jobs:
            yield process_page(job)

    def close(self) -> None:
        close_documents()


class PoolExecutor:
    """One worker process per core; results come back in completion order.

    Workers start from a fork server (not a fork of this process) so a parent holding database
    connections or web-server threads is never copied into them.
    """

    def __init__(self, context: WorkerContext, workers: int) -> None:
        ctx = worker_context()
        self.window = workers + 1  # every worker busy plus one page ready: memory stays flat
        self._pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=ctx, initializer=init_worker, initargs=(context,)
        )

    def run(self, jobs: Iterable[PageJob]) -> Iterator[PageResult]:
        pending: set[Future[PageResult]] = set()
        for job in jobs:
            pending.add(self._pool.submit(process_page, job))
            if len(pending) >= self.window:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                yield from (f.result() for f in done)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            yield from (f.result() for f in done)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def worker_count(jobs: int) -> int:
    """``ScanSettings.jobs`` / ``--jobs``: 0 means one per CPU core available to this process."""
    if jobs > 0:
        return jobs
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def make_executor(context: WorkerContext, jobs: int) -> Executor:
    workers = worker_count(jobs)
    if workers == 1:
        return SerialExecutor(context)
    return PoolExecutor(context, workers)
