"""Runs that died: their batch is closed, their unfinished files are marked, or read to the end.

A run killed (``kill -9``, a power cut, the machine out of memory) leaves its batch without an end
and the file it was reading "received", with the pages recorded so far (each page is its own
transaction, so they are whole). The next run on this machine finds such batches (their owner
process is gone, see ``pipeline.lifeline``), closes them as interrupted and marks their unfinished
files ``interrupted``; ``phieu scan --resume`` reads those files to the end from the stored
originals. A batch whose owner still runs, or runs on another machine, is left alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from pipeline import lifeline
from scanner.problems import explain
from storage import scans
from storage.db import Database
from storage.files import FileStore

log = logging.getLogger(__name__)


@dataclass
class Recovery:
    """What the start of a run found of runs that died."""

    batches: list[int] = field(default_factory=list)  # batches closed as interrupted
    files_interrupted: list[str] = field(default_factory=list)  # their files marked interrupted
    resumed: list[tuple[Path, str]] = field(default_factory=list)  # (stored original, name) read to the end now

    def as_dict(self) -> dict[str, object]:
        return {"batches": self.batches, "files_interrupted": self.files_interrupted,
                "files_resumed": [name for _path, name in self.resumed]}

    def __bool__(self) -> bool:
        return bool(self.batches or self.resumed)


def recover(db: Database, store: FileStore, *, resume: bool) -> Recovery:
    """Close the batches of runs that died; with ``resume``, hand back every interrupted file to read."""
    found = Recovery()
    me = lifeline.owner()
    with db.session(immediate=True) as session:
        for batch in scans.unfinished_batches(session):
            if lifeline.owner_alive(batch.owner) is not False:
                continue  # still running here, or on another machine: not ours to judge
            files = scans.close_interrupted(session, batch, by=me, message=explain("{name}", None, "interrupted"))
            found.batches.append(batch.id)
            found.files_interrupted += [f.original_name for f in files]
            log.warning("lần quét #%d đã bị dừng; %d tệp chưa đọc xong / run #%d had died; %d file(s) unfinished",
                        batch.id, len(files), batch.id, len(files))
        if resume:
            found.resumed = [(store.path(f.sha256), f.original_name) for f in scans.interrupted_files(session)]
    return found
