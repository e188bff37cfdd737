"""Hot-folder mode: scan files dropped into a folder once they are complete.

A scanning station writes a file over several seconds; a file is taken only when its size and
modification time have stayed the same for ``settle_seconds``. Files already scanned are skipped by
the pipeline itself (same content hash), so restarting the watcher is harmless.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from scanner.ingest import discover

log = logging.getLogger(__name__)

WATCHDOG_RACE_WARNING = r"Callback with id .* already exists for watch"


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
) -> None:
    """Call ``on_ready(files)`` with each batch of complete new files under ``folder`` until ``stop``.

    Files present when the watch starts are taken too. Ctrl+C (KeyboardInterrupt) ends the watch.
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
    fresh = set(discover([folder]))
    try:
        while not stop.is_set():
            fresh |= collector.take()
            now = time.monotonic()
            for path in fresh | set(pending):
                _observe(path, pending, done, now)
            fresh = set()
            ready = stable_files(pending, now, settle_seconds)
            ready = [p for p in ready if discover([p])] if ready else []
            for path in ready:
                size, mtime, _since = pending.pop(path)
                done[path] = (size, mtime)
            if ready:
                log.info("hot folder: %d file(s) ready", len(ready))
                on_ready(ready)
            stop.wait(poll_seconds)
    except KeyboardInterrupt:
        log.info("hot folder: stopped")
    finally:
        observer.stop()
        observer.join()


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
