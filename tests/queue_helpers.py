"""Test support for the queue and the stations: a real redis-server on a free port in a temporary folder,
`phieu worker` processes, and a comparable picture of what a scan stored."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from storage.db import Database
from storage.models import Answer, AuditEvent, Page, ReviewItem, ScanFile, Sheet, SheetPage

PHIEU = str(Path(sys.executable).with_name("phieu"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """Debian's redis-server on a free port, data in ``folder``, no persistence; stopped afterwards."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: `bash scripts/dev.sh setup` installs it (Debian package redis-server)")
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder), "--save", "",
                                "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    import redis

    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.ping()
            break
        except redis.RedisError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise
            time.sleep(0.05)
    client.close()
    try:
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def env_for(home: Path, broker_url: str, database_url: str | None = None) -> dict[str, str]:
    env = {**os.environ, "PHIEU_HOME": str(home), "PHIEU_BROKER_URL": broker_url, "PYTHONUNBUFFERED": "1"}
    if database_url:
        env["PHIEU_DATABASE_URL"] = database_url
    return env


class Workers:
    """`phieu worker` processes (each in its own process group), stopped at the end of the block."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, env: dict[str, str], *extra: str, concurrency: int = 1) -> subprocess.Popen[bytes]:
        with (self.log_dir / f"worker-{len(self.processes)}.log").open("wb") as log:
            process = subprocess.Popen([PHIEU, "worker", "--concurrency", str(concurrency), *extra], env=env,
                                       stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append(process)
        return process

    def log(self, n: int) -> str:
        return (self.log_dir / f"worker-{n}.log").read_text(errors="replace")

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def wait_for_nodes(broker_url: str, count: int, timeout: float = 60) -> list[str]:
    """The names of ``count`` page workers once they answer a ping."""
    from core.settings import Settings
    from pipeline.queue import celery_app

    app = celery_app(broker_url, Settings())
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            replies = app.control.ping(timeout=1.0) or []
            names = sorted(name for reply in replies for name in reply)
            if len(names) >= count:
                return names
            time.sleep(0.3)
        raise AssertionError(f"only {len(names)} of {count} workers answered")
    finally:
        app.close()


def picture(db: Database) -> dict[str, Any]:
    """What a scan stored, without ids, batches, times or file names (two runs compare equal when they
    stored the same sheets, pages, answers, review items and duplicates)."""
    with db.session() as s:
        serial = dict(s.execute(select(Sheet.id, Sheet.serial)).all())
        files = dict(s.execute(select(ScanFile.id, ScanFile.sha256)).all())
        counted = set(s.scalars(select(SheetPage.page_id)))
        pages = Counter()
        copies: Counter[tuple[int, int]] = Counter()
        for p in s.scalars(select(Page)):
            pages[(files[p.scan_file_id], p.index_in_file, serial.get(p.sheet_id), p.page_number,
                   "counted" if p.id in counted else p.status)] += 1
            if p.sheet_id is not None:
                copies[(serial[p.sheet_id], p.page_number or 0)] += 1
        answers = {(serial[a.sheet_id], a.question, a.item): (a.machine_value, a.machine_state, a.status, a.final_value)
                   for a in s.scalars(select(Answer))}
        items = Counter((r.kind, r.reason, r.status) for r in s.scalars(select(ReviewItem)))
        return {
            "files": sorted((f.sha256, f.status, f.page_count) for f in s.scalars(select(ScanFile))),
            "sheets": sorted(s.execute(select(Sheet.serial, Sheet.status, Sheet.field_status)).all()),
            "pages": dict(pages), "copies": dict(copies), "answers": answers, "items": dict(items),
        }


def without_which_copy(shot: dict[str, Any]) -> dict[str, Any]:
    """The picture, not saying which of two identical copies of a page was counted (a race decides that)."""
    pages = Counter()
    for (sha, index, serial, number, status), n in shot["pages"].items():
        pages[(sha, index, serial, number, "copy" if status in ("counted", "duplicate") else status)] += n
    return {**shot, "pages": dict(pages)}


def stored_once(db: Database) -> None:
    """Every page has one row and one 'scan.page_*' audit event: nothing was stored twice."""
    with db.session() as s:
        events = Counter(s.scalars(select(AuditEvent.entity_id).where(AuditEvent.entity == "page",
                                                                       AuditEvent.action.like("scan.page_%"))))
        page_ids = list(s.scalars(select(Page.id)))
        assert sorted(events) == sorted(page_ids) and set(events.values()) == {1}, events
        sheet_pages = set(s.execute(select(Page.sheet_id, Page.page_number).where(Page.sheet_id.is_not(None))).all())
        assert s.scalar(select(func.count()).select_from(SheetPage)) == len(sheet_pages)  # one counted copy each
