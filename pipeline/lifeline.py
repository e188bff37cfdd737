"""Processes that die with their parent and stay within their memory; who owns a scan run.

- :func:`die_with` (in every worker process): a thread waits on the parent's pidfd and ends the
  worker the moment the parent is gone, even by ``kill -9``. Workers start from a fork server, so
  their parent in the process tree is that server, which itself only leaves once every worker has
  (it holds on while any of them holds its pipe); watching the scan itself ends the whole tree:
  workers first, then the fork server and the resource tracker, whose pipes then close.
- :func:`limit_memory`: an address-space cap, so a page that needs gigabytes fails alone with
  ``MemoryError`` (its reason ``out_of_memory``) instead of exhausting the machine.
- :func:`owner` / :func:`owner_alive`: the identity of the process running a scan batch, so the
  next run can tell a batch that crashed from one still running.
"""

from __future__ import annotations

import logging
import os
import resource
import select
import socket
import threading
import time

log = logging.getLogger(__name__)

EXIT_PARENT_GONE = 75  # EX_TEMPFAIL: nothing wrong with the work, its requester is gone
_POLL_SECONDS = 0.5


def die_with(parent_pid: int) -> None:
    """End this process as soon as ``parent_pid`` ends (a daemon thread; no cost while it lives)."""
    try:
        fd = os.pidfd_open(parent_pid)
    except ProcessLookupError:  # gone already, before we could watch it
        os._exit(EXIT_PARENT_GONE)
    except (AttributeError, OSError):  # no pidfd (old kernel, not Linux): poll instead
        fd = -1
    threading.Thread(target=_watch, args=(parent_pid, fd), name="phieu-lifeline", daemon=True).start()


def _watch(parent_pid: int, fd: int) -> None:
    if fd >= 0:
        select.select([fd], [], [])  # a pidfd turns readable when its process ends
    else:
        stamp = _start_time(parent_pid)
        while _start_time(parent_pid) == stamp and stamp is not None:
            time.sleep(_POLL_SECONDS)
    os._exit(EXIT_PARENT_GONE)


def limit_memory(megabytes: int) -> None:
    """Cap this process's address space (0: no cap). Allocations past it raise MemoryError."""
    if megabytes <= 0:
        return
    limit = megabytes * 2**20
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (tells a live pid from a reused one)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        return int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def owner() -> str:
    """``host:pid:start`` of this process: stored with a scan batch while it runs."""
    return f"{socket.gethostname()}:{os.getpid()}:{_start_time(os.getpid()) or 0}"


def owner_alive(owner_id: str | None) -> bool | None:
    """Whether the process that ``owner_id`` names still runs: True/False on this host, None on another
    (nothing can be known about it from here). A batch without an owner predates owners: False."""
    if not owner_id:
        return False
    host, _sep, rest = owner_id.partition(":")
    if host != socket.gethostname():
        return None
    pid_text, _sep, start_text = rest.partition(":")
    try:
        pid, start = int(pid_text), int(start_text)
    except ValueError:
        return False
    current = _start_time(pid)
    return current is not None and (start == 0 or current == start)
