"""Work handed to the background: the job interface between the web application and the pipeline.

The web application never runs pipeline code in its request threads. It submits a :class:`Job`
(plain, JSON-serialisable data: what to do, for whom) to a :class:`JobRunner`, follows its
:class:`JobStatus` (state, progress, result) and may cancel it. :func:`execute` is what any runner
does with a job, given an environment (database, file store, secret, settings).

``pipeline.runner.LocalRunner`` is the runner of a single machine: one background process that runs
jobs one at a time (so two re-reads and an upload never race in one process's caches), quick ones
(re-reading one page a person is waiting for) between the pages of a long scan. A distributed queue
(Celery over Redis) is another ``JobRunner``: its task calls :func:`execute` with the same job.

Cancelling is safe at any point: a scan stops after the page being stored, its batch is closed and
its unfinished files are marked (every page is its own transaction).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from core.settings import Settings
from storage.db import Database
from storage.files import FileStore

JobKind = Literal["scan", "rerun", "reread"]
JobState = Literal["queued", "running", "done", "failed", "cancelled"]
FINISHED: frozenset[str] = frozenset({"done", "failed", "cancelled"})
QUICK: frozenset[str] = frozenset({"rerun"})  # a person waits for it: run before, or between pages of, the others


@dataclass
class Job:
    """What to do. ``params``: scan {"paths": [...], "source": "upload"}; rerun {"page_id", "rotation"};
    reread {"survey": code or None, "every": bool}. Anything else a caller wants kept rides in ``params`` too."""

    kind: JobKind
    params: dict[str, Any]
    user: str = ""
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        return cls(kind=data["kind"], params=dict(data["params"]), user=data.get("user", ""), id=data["id"])


@dataclass
class JobStatus:
    id: str
    kind: str
    state: str = "queued"
    done: int = 0
    total: int = 0
    result: dict[str, Any] | None = None
    error: str | None = None
    user: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class JobRunner(Protocol):
    """Where jobs go. Implementations: ``pipeline.runner.LocalRunner`` (one background process),
    ``pipeline.queue_jobs.CeleryRunner`` (Celery over Redis, run by ``phieu worker --writer``)."""

    def submit(self, job: Job) -> JobStatus: ...

    def status(self, job_id: str) -> JobStatus | None: ...

    def wait(self, job_id: str, timeout: float) -> JobStatus | None: ...

    def cancel(self, job_id: str) -> bool: ...

    def jobs(self) -> list[JobStatus]: ...

    def remember(self, status: JobStatus) -> None:
        """Keep the status of a job finished earlier (a record a stopped server left)."""

    def close(self) -> None: ...


@dataclass
class JobEnvironment:
    """What a runner gives every job: the stores and the workspace's secret and settings; with
    ``broker_url`` a scan's pages are read by queue workers (``pipeline.queue``)."""

    db: Database
    store: FileStore
    secret: bytes
    settings: Settings
    broker_url: str | None = None


Progress = Callable[[int, int], None]


def execute(job: Job, env: JobEnvironment, progress: Progress | None = None) -> dict[str, Any]:
    """Run ``job`` here and now; returns its result (JSON-serialisable). ``progress(done, total)`` may raise
    ``pipeline.run.Cancelled`` to stop a scan cleanly."""
    from pipeline.rerun import reread_pages, rerun_page
    from pipeline.run import scan_paths

    p = job.params
    if job.kind == "scan":
        summary = scan_paths(env.db, env.store, [Path(x) for x in p["paths"]], secret=env.secret, settings=env.settings,
                             source=str(p.get("source", "upload")), user=job.user, progress=progress,
                             resume=bool(p.get("resume", False)), broker_url=env.broker_url)
        return summary.as_dict()
    if job.kind == "rerun":
        result = rerun_page(env.db, env.store, int(p["page_id"]), secret=env.secret, settings=env.settings,
                            rotation=int(p.get("rotation") or 0), user=job.user)
        return asdict(result)
    if job.kind == "reread":
        reread = reread_pages(env.db, env.store, secret=env.secret, settings=env.settings, survey=p.get("survey"),
                              every=bool(p.get("every", False)), user=job.user, progress=progress,
                              broker_url=env.broker_url)
        return reread.as_dict()
    raise ValueError(f"unknown job kind {job.kind!r}")
