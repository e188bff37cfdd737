"""One `phieu scan` of a folder of hostile files beside a good sheet (issue #9's check).

The folder holds a PDF with a user password, a PNG and a JPEG whose headers claim 30,000 × 30,000
pixels, a TIFF whose tags claim 60,000 × 60,000, a 541-byte PDF whose page is 14,400 pt square, a
PDF page scaled by /UserUnit, and one good SIPAS sheet (5 pages, office scanner). The real command
runs in its own process (both cores) while this script samples the proportional memory (PSS) of its
whole process tree. Targets: the good sheet is read (5 pages identified), no traceback is printed,
the exit code is 4 (files unreadable, named), and the tree peaks under 1.5 GB.

Prints the machine and the figures, writes benchmarks/out/hostile.json.

    .venv/bin/python benchmarks/hostile.py [--jobs 0]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from accuracy import machine
from throughput import tree_usage

from formgen.definition import load_definition
from formgen.render import build_form
from phieu.demo import EXAMPLE
from phieu.provingground import hostile
from phieu.provingground.bundle import make_bundle
from phieu.workspace import Workspace
from pipeline.executor import worker_count
from storage import surveys
from storage.db import Database
from storage.files import FileStore

OUT = Path(__file__).resolve().parent / "out"
PEAK_TARGET_MB = 1536


def prepare(root: Path) -> tuple[Workspace, Path, int]:
    """A workspace with SIPAS printed, and the hostile folder with one good sheet; returns its page count."""
    ws = Workspace.create(root / "ws", database_url=f"sqlite:///{root / 'ws' / 'phieu.sqlite3'}")
    db, store = Database.for_workspace(ws), FileStore(ws.files_dir)
    built = build_form(load_definition(EXAMPLE))
    with db.session() as session:
        surveys.register_edition(session, built.definition, yaml_text=EXAMPLE.read_text(encoding="utf-8"),
                                 layout=built.layout, blank_pdf=built.blank_pdf, files=store, actor="bench")
        serials = surveys.allocate_serials(session, built.layout.survey, built.layout.edition, 1, actor="bench").serials
    db.dispose()
    folder = root / "drop"
    make_bundle(built, built.layout, serials, profile="office", rng=np.random.default_rng(9), out_dir=folder,
                secret=ws.secret(), name="phieu-tot")
    hostile.password_pdf(folder / "mat-khau.pdf")
    hostile.pixel_bomb_png(folder / "bom-30000.png")
    hostile.pixel_bomb_jpeg(folder / "bom-30000.jpg")
    hostile.huge_tiff(folder / "the-60000.tif")
    hostile.mediabox_bomb_pdf(folder / "mediabox-14400pt.pdf")
    hostile.user_unit_pdf(folder / "userunit.pdf")
    return ws, folder, built.layout.page_count


def run(ws: Workspace, folder: Path, jobs: int) -> dict[str, Any]:
    env = {**os.environ, "PHIEU_HOME": str(ws.home), "PHIEU_DATABASE_URL": ws.database_url}
    cmd = [str(Path(sys.executable).parent / "phieu"), "scan", "--jobs", str(jobs), str(folder)]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_usage(proc.pid)[0])
        time.sleep(0.05)
    out, err = (stream.read().decode() if stream else "" for stream in (proc.stdout, proc.stderr))
    return {"exit_code": proc.returncode, "wall_seconds": round(time.perf_counter() - started, 2),
            "peak_pss_mb": round(peak / 2**20, 1), "stdout": out, "stderr": err}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=0)
    args = parser.parse_args()
    report: dict[str, Any] = {"machine": machine(), "jobs": worker_count(args.jobs)}
    print(f"machine: {report['machine']}, workers {report['jobs']}")
    with tempfile.TemporaryDirectory(prefix="phieu-hostile-") as tmp:
        ws, folder, pages = prepare(Path(tmp))
        report["files"] = sorted(p.name for p in folder.iterdir())
        result = run(ws, folder, args.jobs)
        table = {line.strip().rsplit("  ", 1)[0].strip(): line.split()[-1]
                 for line in result["stdout"].splitlines() if "  " in line.strip()}
        identified = int(table.get("nhận diện / identified", "0"))
        report.update(
            exit_code=result["exit_code"], wall_seconds=result["wall_seconds"], peak_pss_mb=result["peak_pss_mb"],
            good_pages=pages, identified=identified, traceback="Traceback" in result["stdout"] + result["stderr"],
            messages=[line for line in result["stderr"].splitlines() if line.startswith("Lỗi")],
            targets_met=bool(identified == pages and result["exit_code"] == 4 and "Traceback" not in result["stderr"]
                             and result["peak_pss_mb"] < PEAK_TARGET_MB),
        )
    for key in ("exit_code", "wall_seconds", "peak_pss_mb", "good_pages", "identified", "traceback", "targets_met"):
        print(f"{key}: {report[key]}")
    for line in report["messages"]:
        print(f"  {line[:160]}")
    OUT.mkdir(exist_ok=True)
    (OUT / "hostile.json").write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
    print(f"written {OUT / 'hostile.json'}")
    if not report["targets_met"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
