"""The local job runner: one background process that runs the web application's scans and re-reads.

The web process (:class:`LocalRunner`) starts the background process on the first job
(``python -m pipeline.runner``), writes jobs to its standard input as JSON lines and reads status
lines back from a pipe of their own, in one thread that keeps every job's :class:`JobStatus`. The
background process (:func:`main`) runs one job at a time with its own database connections and
workers, and runs quick jobs (re-reading the page a person waits for) between the pages of a long
scan. It ends when the web process does: its standard input closes, it cancels what runs (the
batch is closed cleanly) and leaves. If it dies, the jobs it held are failed with a message and the
next job starts a new one.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from core.settings import Settings
from pipeline.jobs import QUICK, Job, JobEnvironment, JobStatus, execute

log = logging.getLogger(__name__)

PROGRESS_EVERY_SECONDS = 0.3
EXIT_GRACE_SECONDS = 10.0  # after the web process is gone: time to stop a scan cleanly, then leave anyway


class LocalRunner:
    """A :class:`pipeline.jobs.JobRunner` on this machine: one background process, started when first needed.

    ``on_change(status)`` is called (from the runner's reader thread) whenever a job changes state.
    """

    def __init__(
        self,
        database_url: str,
        files_dir: str | Path,
        settings: Settings,
        secret: bytes,
        *,
        on_change: Callable[[JobStatus], None] | None = None,
    ) -> None:
        self._config = {"database_url": database_url, "files_dir": str(Path(files_dir).resolve()),
                        "settings": settings.model_dump(mode="json"), "secret": secret.hex()}
        self.on_change = on_change
        self._lock = threading.Condition()
        self._statuses: dict[str, JobStatus] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._holder: dict[str, subprocess.Popen[bytes]] = {}  # job id -> the background process given it
        atexit.register(self.close)

    # --- the JobRunner interface ---

    def submit(self, job: Job) -> JobStatus:
        status = JobStatus(job.id, job.kind, user=job.user, params=dict(job.params))
        with self._lock:
            self._statuses[job.id] = status
            self._holder[job.id] = self._send({"submit": job.as_dict()})
        self._changed(status)
        return status

    def status(self, job_id: str) -> JobStatus | None:
        with self._lock:
            found = self._statuses.get(job_id)
            return JobStatus(**found.as_dict()) if found else None

    def wait(self, job_id: str, timeout: float) -> JobStatus | None:
        deadline = time.monotonic() + timeout
        with self._lock:
            while (found := self._statuses.get(job_id)) is not None and not found.finished:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._lock.wait(left)
        return self.status(job_id)

    def cancel(self, job_id: str) -> bool:
        with self._lock:
            found = self._statuses.get(job_id)
            if found is None or found.finished:
                return False
            self._send({"cancel": job_id})
            return True

    def jobs(self) -> list[JobStatus]:
        with self._lock:
            return [JobStatus(**s.as_dict()) for s in self._statuses.values()]

    @property
    def pid(self) -> int | None:
        """The background process's id while it runs."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def remember(self, status: JobStatus) -> None:
        """Keep a finished job's status (one loaded from a record a stopped server left)."""
        with self._lock:
            self._statuses.setdefault(status.id, status)

    def close(self, timeout: float = EXIT_GRACE_SECONDS + 5) -> None:
        """Stop the background process (a running scan stops cleanly after its current page)."""
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if self._reader is not None:
            self._reader.join(5)

    # --- the background process ---

    def _send(self, message: dict[str, Any]) -> subprocess.Popen[bytes]:
        """Write one line to the background process (lock held), starting it when needed; returns it."""
        for attempt in (1, 2):
            proc = self._proc if self._proc is not None and self._proc.poll() is None else self._start()
            try:
                assert proc.stdin is not None
                proc.stdin.write((json.dumps(message) + "\n").encode())
                proc.stdin.flush()
                return proc
            except (BrokenPipeError, OSError):
                if attempt == 2:
                    raise
                self._proc = None
        raise AssertionError("unreachable")

    def _start(self) -> subprocess.Popen[bytes]:
        read_fd, write_fd = os.pipe()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen([sys.executable, "-m", "pipeline.runner", str(write_fd)], stdin=subprocess.PIPE,
                                pass_fds=(write_fd,), env=env)
        os.close(write_fd)
        assert proc.stdin is not None
        proc.stdin.write((json.dumps({"config": self._config}) + "\n").encode())
        proc.stdin.flush()
        self._proc = proc
        self._reader = threading.Thread(target=self._read, args=(proc, os.fdopen(read_fd, "rb")),
                                        name="phieu-runner-events", daemon=True)
        self._reader.start()
        log.info("background runner started (pid %d)", proc.pid)
        return proc

    def _read(self, proc: subprocess.Popen[bytes], events: IO[bytes]) -> None:
        with events:
            for line in events:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                self._apply(event)
        proc.wait()
        self._orphaned(proc)

    def _apply(self, event: dict[str, Any]) -> None:
        with self._lock:
            status = self._statuses.get(event.get("id", ""))
            if status is None:
                return
            for key in ("state", "done", "total", "result", "error"):
                if key in event:
                    setattr(status, key, event[key])
            self._lock.notify_all()
            snapshot = JobStatus(**status.as_dict())
        if "state" in event:
            self._changed(snapshot)

    def _orphaned(self, proc: subprocess.Popen[bytes]) -> None:
        """The background process ended: the jobs it still held cannot finish."""
        with self._lock:
            lost = [s for s in self._statuses.values() if not s.finished and self._holder.get(s.id) is proc]
            for status in lost:
                status.state = "failed"
                status.error = (f"Tiến trình nền đã dừng (mã {proc.returncode}); hãy gửi lại. "
                                f"/ The background runner stopped (code {proc.returncode}); submit again.")
            self._lock.notify_all()
        for status in lost:
            self._changed(status)

    def _changed(self, status: JobStatus) -> None:
        if self.on_change is not None:
            try:
                self.on_change(status)
            except Exception:  # noqa: BLE001 - a record that cannot be written must not stop the runner
                log.exception("job %s: on_change failed", status.id)


# --- inside the background process ---


class _Background:
    """The background process: a thread reads commands, the main thread runs jobs."""

    def __init__(self, env: JobEnvironment, events: IO[str]) -> None:
        self.env = env
        self.events = events
        self.quick: queue.Queue[Job] = queue.Queue()
        self.slow: queue.Queue[Job | None] = queue.Queue()
        self.cancelled: set[str] = set()
        self.gone = threading.Event()
        self.current: Job | None = None
        self._last_progress = 0.0

    def commands(self, lines: IO[str]) -> None:
        for line in lines:
            message = json.loads(line)
            if "submit" in message:
                job = Job.from_dict(message["submit"])
                (self.quick if job.kind in QUICK else self.slow).put(job)
            elif "cancel" in message:
                self.cancelled.add(message["cancel"])
        self.gone.set()  # the web process closed our input: finish what runs, then leave
        if self.current is not None:
            self.cancelled.add(self.current.id)
        self.slow.put(None)
        threading.Timer(EXIT_GRACE_SECONDS, os._exit, args=(0,)).start()

    def serve(self) -> None:
        while not self.gone.is_set() or not self.quick.empty():
            self._run_quick()
            try:
                job = self.slow.get(timeout=0.2)
            except queue.Empty:
                continue
            if job is None:
                break
            self._run(job)

    def _run_quick(self) -> None:
        while True:
            try:
                job = self.quick.get_nowait()
            except queue.Empty:
                return
            self._run(job)

    def _run(self, job: Job) -> None:
        from pipeline.run import Cancelled

        if job.id in self.cancelled:
            self._emit(job.id, state="cancelled")
            return
        outer, self.current = self.current, job
        self._emit(job.id, state="running")
        try:
            result = execute(job, self.env, progress=lambda done, total: self._progress(job, done, total))
        except Cancelled:
            self._emit(job.id, state="cancelled")
        except Exception as exc:  # noqa: BLE001 - reported on the job; the runner goes on with the next
            log.exception("job %s (%s) failed", job.id, job.kind)
            self._emit(job.id, state="failed", error=f"{type(exc).__name__}: {exc}")
        else:
            state = "cancelled" if result.get("cancelled") else "done"
            self._emit(job.id, state=state, result=result)
        finally:
            self.current = outer

    def _progress(self, job: Job, done: int, total: int) -> None:
        """Between two pages of a long job: report, run the quick jobs waiting, stop if cancelled."""
        from pipeline.run import Cancelled

        now = time.monotonic()
        if now - self._last_progress >= PROGRESS_EVERY_SECONDS or done >= total:
            self._last_progress = now
            self._emit(job.id, done=done, total=total)
        if job.kind not in QUICK:
            self._run_quick()
            self.current = job
        if job.id in self.cancelled:
            raise Cancelled(job.id)

    def _emit(self, job_id: str, **fields: Any) -> None:
        try:
            self.events.write(json.dumps({"id": job_id, **fields}, ensure_ascii=False) + "\n")
            self.events.flush()
        except (OSError, ValueError):  # the web process is gone: stop what runs, then leave
            self.gone.set()
            self.cancelled.add(job_id)


def main(argv: list[str]) -> None:
    """``python -m pipeline.runner EVENTS_FD``: the first line of standard input is the configuration."""
    from storage.db import Database
    from storage.files import FileStore

    logging.basicConfig(level=logging.WARNING, format="runner %(levelname)s %(name)s: %(message)s")
    events = os.fdopen(int(argv[0]), "w", encoding="utf-8")
    config = json.loads(sys.stdin.readline())["config"]
    env = JobEnvironment(db=Database.open(config["database_url"]), store=FileStore(Path(config["files_dir"])),
                         secret=bytes.fromhex(config["secret"]), settings=Settings.model_validate(config["settings"]))
    background = _Background(env, events)
    threading.Thread(target=background.commands, args=(sys.stdin,), name="phieu-runner-commands", daemon=True).start()
    try:
        background.serve()
    finally:
        env.db.dispose()
    os._exit(0)  # no waiting on the grace timer (nor on a closed pipe's flush)


if __name__ == "__main__":
    main(sys.argv[1:])
