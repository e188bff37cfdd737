"""The hot folder (`phieu scan --watch`) never dies on a file: a file that cannot be read is moved to the
quarantine folder with a note beside it (what, why, what to do), the good files beside it are read, and
neither the running watch nor a restarted one takes the bad file again, not even one that killed the
scan twice."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hostile_corpus import page_without_code, scanned, sheet_page
from pipeline_helpers import Printed, print_sipas
from sqlalchemy import select

from phieu.provingground import hostile
from phieu.provingground.writers import write_png
from pipeline.run import ScanSummary
from pipeline.watch import QUARANTINE_NAME, scan_hot_folder
from storage.files import sha256_file
from storage.models import Page, ScanBatch, ScanFile

pytestmark = pytest.mark.slow


def _good_page(printed: Printed, serial: int, number: int, path: Path) -> Path:
    image, _ = sheet_page(printed, serial, number, seed=serial * 10 + number)
    write_png(scanned(image, number), path, dpi=300)
    return path


def _watch(printed: Printed, folder: Path, until: Callable[[list[ScanSummary]], bool],
           seconds: float = 120) -> list[ScanSummary]:
    """Run the hot folder in a thread until ``until(summaries)`` holds; returns what each pickup did."""
    summaries: list[ScanSummary] = []
    stop = threading.Event()

    def scan(files: list[Path]) -> ScanSummary:
        summary = printed.scan(*files)
        summaries.append(summary)
        return summary

    watcher = threading.Thread(target=scan_hot_folder, args=(folder, scan),
                               kwargs={"settle_seconds": 0.3, "poll_seconds": 0.05, "stop": stop})
    watcher.start()
    deadline = time.monotonic() + seconds
    try:
        while not until(summaries):
            assert watcher.is_alive(), "the watch died"
            assert time.monotonic() < deadline, summaries
            time.sleep(0.1)
        assert watcher.is_alive()
    finally:
        stop.set()
        watcher.join(30)
    return summaries


def test_bad_files_are_set_aside_with_a_note_and_the_watch_goes_on(tmp_path: Path) -> None:
    printed = print_sipas(tmp_path / "ws", 2)
    folder = tmp_path / "inbox"
    folder.mkdir()
    hostile.password_pdf(folder / "mat-khau.pdf")
    hostile.pixel_bomb_png(folder / "bom.png")
    _good_page(printed, 1, 1, folder / "tot.png")
    quarantine = folder / QUARANTINE_NAME
    summaries = _watch(printed, folder, lambda done: sum(x.identified for x in done) >= 1
                       and len(list(quarantine.glob("*.txt"))) == 2)
    assert sorted(p.name for p in quarantine.iterdir()) == ["bom.png", "bom.png.txt", "mat-khau.pdf", "mat-khau.pdf.txt"]
    note = (quarantine / "mat-khau.pdf.txt").read_text(encoding="utf-8")
    assert "password_protected" in note and "mật khẩu" in note and "mat-khau.pdf" in note and "Sau khi sửa" in note
    assert "pixel_limit" in (quarantine / "bom.png.txt").read_text(encoding="utf-8")
    assert (folder / "tot.png").exists() and not (folder / "mat-khau.pdf").exists()
    assert sum(len(s.failed_files) for s in summaries) == 2

    # a restart: the good file is already scanned, the bad ones are not there to be taken again
    later = _good_page(printed, 1, 2, tmp_path / "later.png")
    seen: list[int] = []

    def drop_later(summaries: list[ScanSummary]) -> bool:
        if not seen:
            seen.append(1)
            later.rename(folder / "sau.png")
        return sum(s.identified for s in summaries) >= 1

    again = _watch(printed, folder, drop_later)
    assert all(not s.errors for s in again)
    assert sorted(p.name for p in quarantine.iterdir() if p.suffix != ".txt") == ["bom.png", "mat-khau.pdf"]


def test_a_file_that_stopped_the_scan_twice_is_set_aside(tmp_path: Path) -> None:
    printed = print_sipas(tmp_path / "ws", 1)
    folder = tmp_path / "inbox"
    folder.mkdir()
    killer = page_without_code(printed, 1, folder)  # any file: what matters is what two dead runs left
    with printed.db.session() as s:
        batch = ScanBatch(source="watch", owner=f"{socket.gethostname()}:999999999:1")  # here, a process long gone
        s.add(batch)
        s.flush()
        s.add(ScanFile(sha256=sha256_file(killer), original_name=str(killer), size=killer.stat().st_size,
                       batch_id=batch.id, attempts=2))
    summaries = _watch(printed, folder, lambda s: bool(s))
    assert [(e.reason, Path(e.path).name) for e in summaries[0].errors] == [("repeated_interruption", killer.name)]
    assert (folder / QUARANTINE_NAME / f"{killer.name}.txt").exists() and not killer.exists()
    with printed.db.session() as s:
        assert s.scalar(select(ScanFile.status)) == "failed"
        assert s.scalar(select(Page.id)) is None  # never read a third time
