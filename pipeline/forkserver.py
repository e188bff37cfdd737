"""The fork server the scan workers start from, started as early as a command knows it will scan.

Workers are forked from a server process that has imported the worker code once (OpenCV, numpy,
the recognizer: about a second of CPU). Started first thing, that import runs on the second core
while this process imports the rest and opens the database, instead of after it.
"""

from __future__ import annotations

import multiprocessing
import os
from multiprocessing import forkserver
from multiprocessing.context import BaseContext

PRELOAD = ["pipeline.worker"]


def worker_context() -> BaseContext:
    """The multiprocessing context of the scan workers (fork server with the worker code preloaded, running)."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    _ensure_server()
    return ctx


def start_early(jobs: int | None) -> None:
    """Start the fork server now if this run will use worker processes (``jobs`` as ``--jobs``)."""
    if jobs == 1 or (os.cpu_count() or 1) < 2:
        return
    worker_context()


def _ensure_server() -> None:
    """Start the fork server (once) without the current folder on its import path.

    Python 3.11's fork server does not take the parent's ``sys.path``: it starts with the current
    folder first, so run from a checkout of another version of phieu it would preload that
    version's modules into every worker. ``PYTHONSAFEPATH`` keeps the current folder out.
    """
    previous = os.environ.get("PYTHONSAFEPATH")
    os.environ["PYTHONSAFEPATH"] = "1"
    try:
        forkserver.ensure_running()
    finally:
        if previous is None:
            del os.environ["PYTHONSAFEPATH"]
        else:
            os.environ["PYTHONSAFEPATH"] = previous
