"""Hot-folder mode: scan files dropped into a folder once they are complete; set aside those that fail.

A scanning station writes a file over several seconds; a file is taken only when its size and
modification time have stayed the same for ``settle_seconds``. Files already scanned are skipped by
the pipeline itself (same content hash), so restarting the watcher is harmless. A file that cannot
be read is moved to the quarantine folder with a note beside it (what, why, what to do), so neither
this watch nor the next one takes it again; the watch itself never stops on a file.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from scanner.ingest import discover

log = logging.getLogger(__name__)

WATCHDOG_RACE_WARNING = r"Callback with id .* already exists for watch"
QUARANTINE_NAME = "_quarantine"  # default quarantine folder, inside the watched one (never scanned)
NOTE_SUFFIX = ".txt"


class _Collector(FileSystemEventHandler):
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: set[Path] = set()

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            return
        target = getattr(event, "dest_path", "") or event.src_path
        with self.lock:
            self.seen.add(Path(str(target)))

    def take(self) -> set[Path]:
        with self.lock:
            seen, self.seen = self.seen, set()
        return seen


def stable_files(candidates: dict[Path, tuple[int, float, float]], now: float, settle_seconds: float) -> list[Path]:
    """Files whose (size, mtime) has not changed for ``settle_seconds``; pure, for testing.

    ``candidates`` maps a path to (size, mtime, time the pair was first seen).
    """
    return sorted(p for p, (_size, _mtime, since) in candidates.items() if now - since >= settle_seconds)


def watch_folder(
    folder: Path,
    on_ready: Callable[[list[Path]], None],
    *,
    settle_seconds: float = 2.0,
    poll_seconds: float = 0.5,
    stop: threading.Event | None = None,
    exclude: Sequence[Path] = (),
) -> None:
    """Call ``on_ready(files)`` with each batch of complete new files under ``folder`` until ``stop``.

    Files present when the watch starts are taken too; nothing under ``exclude`` is. Ctrl+C
    (KeyboardInterrupt) ends the watch; an exception from ``on_ready`` is logged and the watch goes on.
    """
    folder.mkdir(parents=True, exist_ok=True)
    stop = stop or threading.Event()
    # watchdog 7 warns from its observer thread when a new subfolder's watch is set up twice (its
    # own walk and the creation event race); the watch is reused and nothing is missed, so a clerk
    # need not see it (and under -W error it would end the observer thread).
    warnings.filterwarnings("ignore", message=WATCHDOG_RACE_WARNING, category=RuntimeWarning)
    collector = _Collector()
    observer = Observer()
    observer.schedule(collector, str(folder), recursive=True)
    observer.start()
    pending: dict[Path, tuple[int, float, float]] = {}
    done: dict[Path, tuple[int, float]] = {}
    fresh = set(discover([folder], exclude=exclude))
    try:
        while not stop.is_set():
            fresh |= {p for p in collector.take() if not _under(p, exclude)}
            now = time.monotonic()
            for path in fresh | set(pending):
                _observe(path, pending, done, now)
            fresh = set()
            ready = stable_files(pending, now, settle_seconds)
            ready = [p for p in ready if discover([p], exclude=exclude)] if ready else []
            for path in ready:
                size, mtime, _since = pending.pop(path)
                done[path] = (size, mtime)
            if ready:
                log.info("hot folder: %d file(s) ready", len(ready))
                _call(on_ready, ready)
            stop.wait(poll_seconds)
    except KeyboardInterrupt:
        log.info("hot folder: stopped")
    finally:
        observer.stop()
        observer.join()


def _under(path: Path, folders: Sequence[Path]) -> bool:
    return any(path.resolve().is_relative_to(f.resolve()) for f in folders)


def _call(on_ready: Callable[[list[Path]], None], ready: list[Path]) -> None:
    try:
        on_ready(ready)
    except Exception:  # noqa: BLE001 - a station keeps watching; the files are tried again after a restart
        log.exception("hot folder: scanning %d file(s) failed", len(ready))


def scan_hot_folder(
    folder: Path,
    scan: Callable[[list[Path]], Any],
    *,
    quarantine: Path | None = None,
    **watch: Any,
) -> None:
    """Watch ``folder`` and ``scan`` what arrives (``scan`` returns a ``ScanSummary``); every file the
    summary lists as failed is moved to ``quarantine`` (default ``folder/_quarantine``) with a note."""
    quarantine = quarantine or folder / QUARANTINE_NAME

    def on_ready(files: list[Path]) -> None:
        summary = scan(files)
        for error in summary.failed_files:
            path = Path(error.path)
            if path.is_file():
                set_aside(path, quarantine, reason=error.reason, message=error.message)

    watch_folder(folder, on_ready, exclude=[quarantine], **watch)


def set_aside(path: Path, quarantine: Path, *, reason: str, message: str) -> Path:
    """Move ``path`` into ``quarantine`` (never over another file) and write the note beside it."""
    quarantine.mkdir(parents=True, exist_ok=True)
    target = quarantine / path.name
    n = 1
    while target.exists() or target.with_name(target.name + NOTE_SUFFIX).exists():
        n += 1
        target = quarantine / f"{path.stem}-{n}{path.suffix}"
    shutil.move(str(path), str(target))
    when = datetime.now().astimezone().isoformat(timespec="seconds")
    note = (
        "phieu: tệp này không đọc được nên đã được để riêng / this file could not be read and was set aside\n"
        f"Tệp / file: {path}\n"
        f"Lúc / when: {when}\n"
        f"Lý do / reason: {reason}\n"
        f"{message}\n"
        "Sau khi sửa, chép tệp mới vào thư mục theo dõi; tệp này không được quét lại. "
        "/ Once fixed, drop the new file into the watched folder; this one is not scanned again.\n"
    )
    target.with_name(target.name + NOTE_SUFFIX).write_text(note, encoding="utf-8")
    log.warning("hot folder: %s -> %s (%s)", path, target, reason)
    return target


def _observe(
    path: Path, pending: dict[Path, tuple[int, float, float]], done: dict[Path, tuple[int, float]], now: float
) -> None:
    try:
        stat = path.stat()
    except OSError:  # moved away or deleted before it settled
        pending.pop(path, None)
        return
    key = (stat.st_size, stat.st_mtime)
    if done.get(path) == key:
        return
    previous = pending.get(path)
    if previous is None or previous[:2] != key:
        pending[path] = (*key, now)
