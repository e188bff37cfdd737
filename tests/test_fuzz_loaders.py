"""The file loaders under fuzzing: real scans of every format and the hostile corpus, mutated by
hypothesis (tests/fuzz_loaders.py, run in its own process so its peak memory is its own). Nothing may
escape the guard but a file's or a page's error with a reason code, no page may need more memory than
the limits allow (none fails for memory: the limits refuse it first), and the process stays small."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
HERE = Path(__file__).resolve().parent
EXAMPLES = 400
PEAK_MB = 600  # one 200 dpi page decoded at a time, plus the interpreter and the decoders (~150 MB measured)


def test_mutated_scan_files_fail_alone_and_memory_stays_bounded() -> None:
    done = subprocess.run([sys.executable, str(HERE / "fuzz_loaders.py"), "--examples", str(EXAMPLES)],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["examples"] == EXAMPLES
    assert report["escaped"] == []
    reasons = report["reasons"]
    assert "out_of_memory" not in reasons, reasons
    # the mutations reach every stage: files refused whole, pages refused, pages read
    assert reasons.get("page_read", 0) > 0 and reasons.get("corrupt_file", 0) > 0, reasons
    assert reasons.get("pixel_limit", 0) > 0 and reasons.get("corrupt_page", 0) > 0, reasons
    assert report["peak_rss_mb"] < PEAK_MB, report
