"""Fuzzing the scan file loaders (run by tests/test_fuzz_loaders.py in a process of its own, so that its
peak memory is its own): real scan files of every format the proving ground writes, and the hostile
corpus, mutated by hypothesis (bytes flipped, cut, inserted, header fields set huge), each read page
by page through ``scanner.ingest.ScanReader``.

Prints one JSON line: examples run, exceptions that escaped the guard, reason codes seen, peak RSS.

    python tests/fuzz_loaders.py --examples 300
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import traceback
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import InputFileError
from core.settings import ScanSettings
from phieu.provingground import hostile
from phieu.provingground.writers import write_jpeg, write_pdf, write_png, write_tiff_g4
from scanner.ingest import ScanReader
from scanner.types import PageError

DERANDOMIZE = True
SAFETY_NET_BYTES = 3 * 2**30  # a runaway allocation fails here instead of taking the machine


def seed_files(folder: Path) -> list[Path]:
    """Small real scans in every format (a page with text-like strokes and boxes), and the hostile corpus."""
    page = np.full((1170, 827), 255, np.uint8)  # A4 at 100 dpi... doubled below to 200 dpi
    for row in range(80, 1100, 40):
        cv2.rectangle(page, (60, row), (90, row + 25), 0, 2)
        cv2.putText(page, "Phieu khao sat 123", (110, row + 22), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 0, 2)
    page = cv2.resize(page, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
    files = [folder / n for n in ("scan.pdf", "fax.pdf", "fax.tif", "page.png", "page.jpg")]
    write_pdf([page, page[::-1]], files[0], dpi=200.0)
    write_pdf([page], files[1], dpi=200.0, g4=True)
    write_tiff_g4([page < 128, page < 128], files[2], dpi=200.0)
    write_png(page, files[3], dpi=200.0)
    write_jpeg(page, files[4], dpi=200.0)
    files += [hostile.password_pdf(folder / "pw.pdf"), hostile.mediabox_bomb_pdf(folder / "mb.pdf"),
              hostile.pixel_bomb_png(folder / "bomb.png"), hostile.pixel_bomb_jpeg(folder / "bomb.jpg"),
              hostile.huge_tiff(folder / "huge.tif")]
    return files


def mutate(data: bytes, edits: list[tuple[str, int, bytes]]) -> bytes:
    out = bytearray(data)
    for kind, where, payload in edits:
        # half the edits land in the first 1 KB, where the headers and their size fields are
        at = (where % min(len(out), 1024)) if where % 2 else where % max(len(out), 1)
        if kind == "flip" and out:
            out[at % len(out)] ^= payload[0] or 0xFF
        elif kind == "cut":
            del out[max(1, at):]
        elif kind == "insert":
            out[at:at] = payload
        elif kind == "huge":  # a size field set to a huge value, as a bomb's header would
            out[at:at + 4] = b"\x00\x00\xff\xff" if payload[0] % 2 else b"\xff\xff\x00\x00"
        elif kind == "overwrite":
            out[at:at + len(payload)] = payload
    return bytes(out)


EDITS = st.lists(st.tuples(st.sampled_from(["flip", "cut", "insert", "huge", "overwrite"]),
                           st.integers(0, 2**31), st.binary(min_size=1, max_size=16)), min_size=1, max_size=4)


def run(examples: int) -> dict[str, object]:
    resource.setrlimit(resource.RLIMIT_AS, (SAFETY_NET_BYTES, SAFETY_NET_BYTES))
    escaped: list[str] = []
    reasons: Counter[str] = Counter()
    count = 0
    with tempfile.TemporaryDirectory(prefix="phieu-fuzz-") as tmp:
        folder = Path(tmp)
        seeds = seed_files(folder)
        blobs = [(p.suffix, p.read_bytes()) for p in seeds]
        target = folder / "case"
        reader = ScanReader(ScanSettings())

        @settings(max_examples=examples, deadline=None, database=None, derandomize=DERANDOMIZE,
                  suppress_health_check=list(HealthCheck))
        @given(st.integers(0, len(blobs) - 1), EDITS)
        def one(which: int, edits: list[tuple[str, int, bytes]]) -> None:
            nonlocal count
            count += 1
            suffix, data = blobs[which]
            path = target.with_suffix(suffix)
            path.write_bytes(mutate(data, edits))
            try:
                for page in reader.pages(path):
                    if isinstance(page, PageError):
                        reasons[page.reason] += 1
                    else:
                        reasons["page_read"] += 1
            except InputFileError as exc:
                reasons[exc.reason] += 1
            except BaseException as exc:  # noqa: BLE001 - what this fuzzing looks for
                escaped.append(f"{path.name} {edits!r}: {traceback.format_exception_only(exc)[-1].strip()}")
            finally:
                reader.close()

        one()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"examples": count, "escaped": escaped[:20], "reasons": dict(reasons), "peak_rss_mb": round(peak_mb, 1)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=300)
    print(json.dumps(run(parser.parse_args().examples)))
    sys.stdout.flush()
