"""The web application's jobs on Celery: :class:`CeleryRunner` (a ``pipeline.jobs.JobRunner``) and the task
that ``phieu worker --writer`` runs.

With ``PHIEU_BROKER_URL`` set, ``phieu serve`` hands uploads and re-reads to the ``phieu.jobs`` queue
instead of its own background process. A writer (``phieu worker --writer``, on a machine that reaches
the database, the shared store and the upload folder) runs each job with :func:`pipeline.jobs.execute`:
it is the one writer of that job's pages, one transaction per page, and a scan's pages go to the page
workers through the ``phieu.pages`` queue. The job's state and progress travel back through the result
backend (Redis); cancelling sets a flag the writer reads between two pages.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from core.settings import Settings
from pipeline.jobs import Job, JobEnvironment, JobStatus, execute

log = logging.getLogger(__name__)

CANCEL_PREFIX = "phieu:cancel:"
PROGRESS_EVERY_SECONDS = 0.3
POLL_SECONDS = 0.25
_STATES = {"PENDING": "queued", "RECEIVED": "queued", "STARTED": "running", "PROGRESS": "running", "RETRY": "queued",
           "SUCCESS": "done", "FAILURE": "failed", "REVOKED": "cancelled"}

_WRITER: tuple[JobEnvironment, str] | None = None


def set_writer_environment(env: JobEnvironment, broker_url: str) -> None:
    global _WRITER
    _WRITER = (env, broker_url)


def job_task(task: Any, data: dict[str, Any]) -> dict[str, Any]:
    """Run one job of the web application here (the writer), reporting progress, stopping when cancelled."""
    from pipeline.queue import redis_client
    from pipeline.run import Cancelled

    assert _WRITER is not None, "writer environment not set"
    env, broker_url = _WRITER
    job = Job.from_dict(data)
    flags = redis_client(broker_url)
    last = 0.0

    def progress(done: int, total: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= PROGRESS_EVERY_SECONDS or done >= total:
            last = now
            task.update_state(state="PROGRESS", meta={"done": done, "total": total})
        if flags.exists(CANCEL_PREFIX + job.id):
            raise Cancelled(job.id)

    try:
        if flags.exists(CANCEL_PREFIX + job.id):
            return {"cancelled": True}
        return execute(job, env, progress=progress)
    except Cancelled:
        return {"cancelled": True}
    except Exception as exc:  # the job's state says it; the writer goes on with the next
        log.exception("job %s (%s) failed", job.id, job.kind)
        raise RuntimeError(f"{type(exc).__name__}: {exc}") from None
    finally:
        flags.close()


class CeleryRunner:
    """Jobs through the broker to ``phieu worker --writer``. ``on_change(status)`` is called (from a
    polling thread) whenever a job this runner knows changes state."""

    def __init__(self, broker_url: str, settings: Settings, *,
                 on_change: Callable[[JobStatus], None] | None = None) -> None:
        from pipeline.queue import celery_app, check_broker

        self.redis = check_broker(broker_url)
        self.app = celery_app(broker_url, settings, role="jobs")
        self.on_change = on_change
        self._lock = threading.Lock()
        self._statuses: dict[str, JobStatus] = {}
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    # --- the JobRunner interface ---

    def submit(self, job: Job) -> JobStatus:
        from pipeline.queue import JOB_TASK, JOBS_QUEUE

        status = JobStatus(job.id, job.kind, user=job.user, params=dict(job.params))
        with self._lock:
            self._statuses[job.id] = status
        self.app.send_task(JOB_TASK, args=[job.as_dict()], task_id=job.id, queue=JOBS_QUEUE)
        self._changed(status)
        self._ensure_poller()
        return self.status(job.id) or status

    def status(self, job_id: str) -> JobStatus | None:
        with self._lock:
            found = self._statuses.get(job_id)
        if found is None:
            return None
        self._refresh(found)
        with self._lock:
            return JobStatus(**found.as_dict())

    def wait(self, job_id: str, timeout: float) -> JobStatus | None:
        deadline = time.monotonic() + timeout
        while (found := self.status(job_id)) is not None and not found.finished and time.monotonic() < deadline:
            time.sleep(min(POLL_SECONDS / 2, max(deadline - time.monotonic(), 0)))
        return found

    def cancel(self, job_id: str) -> bool:
        found = self.status(job_id)
        if found is None or found.finished:
            return False
        self.redis.set(CANCEL_PREFIX + job_id, 1, ex=86_400)
        return True

    def jobs(self) -> list[JobStatus]:
        with self._lock:
            known = list(self._statuses)
        return [s for s in (self.status(i) for i in known) if s is not None]

    def remember(self, status: JobStatus) -> None:
        with self._lock:
            self._statuses.setdefault(status.id, status)

    def close(self) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join(5)
        self.redis.close()
        self.app.close()

    # --- state from the result backend ---

    def _refresh(self, status: JobStatus) -> None:
        """Bring ``status`` up to date from the result backend; ``on_change`` when its state changed."""
        if status.finished:
            return
        result = self.app.AsyncResult(status.id)
        state, info = result.state, result.info
        if self._apply(status, state, info):
            with self._lock:
                snapshot = JobStatus(**status.as_dict())
            self._changed(snapshot)

    def _apply(self, status: JobStatus, state: str, info: Any) -> bool:
        with self._lock:
            before = status.state
            status.state = _STATES.get(state, "running")
            if state == "PROGRESS" and isinstance(info, dict):
                status.done, status.total = int(info.get("done", 0)), int(info.get("total", 0))
            elif state == "SUCCESS" and isinstance(info, dict):
                status.result = info
                if info.get("cancelled"):
                    status.state = "cancelled"
                status.done = status.total = max(status.total, status.done)
            elif state == "FAILURE":
                status.error = str(info)
            return status.state != before

    def _ensure_poller(self) -> None:
        if self._poller is None or not self._poller.is_alive():
            self._poller = threading.Thread(target=self._poll, name="phieu-celery-jobs", daemon=True)
            self._poller.start()

    def _poll(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            with self._lock:
                live = [s for s in self._statuses.values() if not s.finished]
            for status in live:
                try:
                    self._refresh(status)
                except Exception:  # noqa: BLE001 - the broker may be away a moment; try again next round
                    log.exception("job %s: state not read", status.id)

    def _changed(self, status: JobStatus) -> None:
        if self.on_change is not None:
            try:
                self.on_change(status)
            except Exception:  # noqa: BLE001 - a record that cannot be written must not stop the runner
                log.exception("job %s: on_change failed", status.id)
