"""Stamping speed and size: SIPAS copies per second on one core, and the size of a 500-copy PDF.

Each page's static content is drawn once as a PDF form XObject and reused; a copy page adds only
its QR code (one path of module runs), its digits line and a reference. Targets (issue #2):
≥ 50 pages/s on one core, 500 copies < 5 MB. The process is pinned to one CPU.

    .venv/bin/python benchmarks/stamping.py [COPIES]
"""

from __future__ import annotations

import io
import os
import platform
import sys
import time
from pathlib import Path

from formgen.definition import load_definition
from formgen.render import build_form, stamp_sheets

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sipas-2024.yaml"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(copies: int = 500) -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores (pinned to 1), Python {platform.python_version()}")
    started = time.perf_counter()
    built = build_form(load_definition(EXAMPLE))
    build_s = time.perf_counter() - started
    pages = built.layout.page_count
    print(f"SIPAS-2024: {pages} pages, {sum(1 for _ in built.layout.all_boxes())} boxes; "
          f"compose + blank master {build_s * 1000:.0f} ms ({len(built.blank_pdf) / 1024:.0f} KiB)")
    secret = bytes(range(32))
    best = float("inf")
    for _ in range(3):
        out = io.BytesIO()
        started = time.perf_counter()
        stamp_sheets(built, range(1, copies + 1), secret, out)
        best = min(best, time.perf_counter() - started)
    size = len(out.getvalue())
    total = copies * pages
    print(f"stamping {copies} copies = {total} pages: {best:.2f} s, {total / best:.0f} pages/s (target ≥ 50)")
    print(f"{copies}-copy PDF: {size / 1e6:.2f} MB, {size / total / 1024:.2f} KiB/page (target < 5 MB)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
