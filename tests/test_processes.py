"""Processes: after `kill -9` of `phieu scan` nothing of it keeps running (fork server, resource tracker,
workers), the next run closes the dead run's batch and says so, `--resume` reads its file to the end;
a worker that dies costs no page."""

from __future__ import annotations

import logging
import multiprocessing.forkserver as forkserver
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from pipeline_helpers import Printed, print_sipas
from sqlalchemy import func, select

from phieu.cli import main
from storage.models import Page, ScanBatch, ScanFile

pytestmark = pytest.mark.slow
PHIEU = str(Path(sys.executable).parent / "phieu")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Printed, Path]:
    printed = print_sipas(tmp_path_factory.mktemp("ws"), 6)
    folder = tmp_path_factory.mktemp("scans")
    printed.bundle(printed.serials, folder, profile="office", seed=3)
    return printed, folder / "bundle.pdf"


def _session_members(sid: int) -> list[int]:
    """Processes of the session ``sid`` (the scan started a session of its own: everything it started is in it)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def _stored_pages(printed: Printed) -> int:
    with printed.db.session() as s:
        return s.scalar(select(func.count()).select_from(Page)) or 0


def test_kill_9_of_a_scan_leaves_no_process_and_the_next_run_finishes_it(bundle: tuple[Printed, Path]) -> None:
    printed, pdf = bundle
    env = {**os.environ, "PHIEU_HOME": str(printed.ws.home)}
    scan = subprocess.Popen([PHIEU, "scan", "--jobs", "2", str(pdf)], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while _stored_pages(printed) < 3 or len(_session_members(scan.pid)) < 5:  # scan, tracker, server, 2 workers
            assert scan.poll() is None and time.monotonic() < deadline, "the scan ended before it could be killed"
            time.sleep(0.05)
        assert len(_session_members(scan.pid)) >= 5
        scan.send_signal(signal.SIGKILL)
        scan.wait()
        deadline = time.monotonic() + 5  # workers, then the fork server and the resource tracker follow
        while (left := _session_members(scan.pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert left == [], f"still running after kill -9 of the scan: {left}"
    finally:
        for pid in _session_members(scan.pid):  # whatever a failure left: only what this test started
            os.kill(pid, signal.SIGKILL)
    stored = _stored_pages(printed)
    pages = len(printed.serials) * printed.built.layout.page_count
    assert 3 <= stored < pages

    home = ["--home", str(printed.ws.home)]
    nothing = CliRunner().invoke(main, [*home, "scan", "--jobs", "1", str(pdf.parent / "bundle.pdf"), "--resume"])
    assert nothing.exit_code == 0, nothing.output
    assert "interrupted" in nothing.stderr and "bundle.pdf" in nothing.stderr  # the summary says so
    with printed.db.session() as s:
        dead = s.scalars(select(ScanBatch).order_by(ScanBatch.id)).all()[-2]
        assert dead.finished_at is not None and dead.summary["interrupted"] is True
        scan_file = s.scalars(select(ScanFile)).one()
        assert scan_file.status == "done" and scan_file.page_count == pages
        assert s.scalar(select(func.count()).select_from(Page).where(Page.status == "identified")) == pages


def test_a_run_that_died_is_marked_without_resume(bundle: tuple[Printed, Path], tmp_path: Path) -> None:
    printed = print_sipas(tmp_path / "ws", 1)
    with printed.db.session() as s:  # what a killed run leaves: a batch with no end, a file "received"
        batch = ScanBatch(source="cli", owner="not-this-host:1:1")
        s.add_all([batch, ScanBatch(source="cli", owner=f"{os.uname().nodename}:999999999:1")])
        s.flush()
        s.add(ScanFile(sha256="a" * 64, original_name="bo-dang-doc.pdf", size=1, batch_id=batch.id + 1, attempts=1))
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(main, ["--home", str(printed.ws.home), "scan", "--jobs", "1", str(tmp_path / "empty")])
    assert result.exit_code == 0, result.output
    assert "phieu scan --resume" in result.stderr and "bo-dang-doc.pdf" in result.stderr
    with printed.db.session() as s:
        other_host, dead = s.scalars(select(ScanBatch).order_by(ScanBatch.id)).all()[:2]
        assert other_host.finished_at is None  # another machine's run: not ours to judge
        assert dead.finished_at is not None and dead.summary["files_interrupted"] == ["bo-dang-doc.pdf"]
        marked = s.scalars(select(ScanFile)).one()
        assert (marked.status, marked.error_code) == ("interrupted", "interrupted")
        assert "phieu scan --resume" in (marked.error or "")


def test_a_worker_that_dies_costs_no_page(bundle: tuple[Printed, Path], tmp_path: Path,
                                          caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "ws").mkdir()  # a fresh workspace with the same secret: the bundle's codes are genuine there
    (tmp_path / "ws" / "secret.key").write_bytes((bundle[0].ws.home / "secret.key").read_bytes())
    printed = print_sipas(tmp_path / "ws", 6)
    killed: list[int] = []

    def kill_a_worker(done: int, _total: int) -> None:
        if done >= 2 and not killed:
            server = forkserver._forkserver._forkserver_pid  # type: ignore[attr-defined]
            workers = [p for p in _children(server)]
            assert workers
            os.kill(workers[0], signal.SIGKILL)
            killed.append(workers[0])

    with caplog.at_level(logging.WARNING, logger="pipeline.executor"):
        summary = printed.scan(bundle[1], jobs=2, progress=kill_a_worker)
    assert killed
    assert "a worker died" in caplog.text
    pages = len(printed.serials) * printed.built.layout.page_count
    assert summary.errors == [] and summary.identified == pages, summary.as_dict()


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def test_workers_run_our_code_whatever_the_current_folder(bundle: tuple[Printed, Path], tmp_path: Path) -> None:
    """Run from a folder holding another version's packages (a second checkout), the scan's workers still
    import the installed ones: Python 3.11's fork server would otherwise put the current folder first."""
    elsewhere = tmp_path / "another-checkout"
    (elsewhere / "scanner").mkdir(parents=True)
    (elsewhere / "scanner" / "__init__.py").write_text("")
    (elsewhere / "scanner" / "ingest.py").write_text("# an older version: no ScanReader here\n")
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "secret.key").write_bytes((bundle[0].ws.home / "secret.key").read_bytes())
    printed = print_sipas(tmp_path / "ws", 6)
    printed.db.dispose()
    env = {**os.environ, "PHIEU_HOME": str(printed.ws.home)}
    done = subprocess.run([PHIEU, "scan", "--jobs", "2", str(bundle[1])], env=env, cwd=elsewhere,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ImportError" not in done.stderr
