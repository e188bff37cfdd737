"""Fieldwork at national scale: a SIPAS-sized frame (65 provinces × 3 districts × 3 communes × 2 villages
= 1,170 villages, 31 households + 5 reserves each: 36,270 sheets, about the 2024 national sample) imported,
printed by frame (serials only), issued, two thirds collected, and the operations table, its chart and
its workbook computed; then check-in latency, one sheet per transaction as the web desk does it.

    .venv/bin/python benchmarks/fieldwork_scale.py [--provinces 65] [--checkins 300] [--database-url URL]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.settings import FieldworkSettings
from fieldwork import checkin, lifecycle
from fieldwork.chart import chart_png, pick_rows
from fieldwork.frame import import_frame
from fieldwork.operations import check_reconciles, operations
from fieldwork.printing import print_by_frame
from fieldwork.workbook import operations_xlsx
from formgen.definition import load_definition
from formgen.render import build_form
from storage import surveys
from storage.db import Database
from storage.files import FileStore

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sipas-2024.yaml"
OUT_DIR = Path(__file__).resolve().parent / "out"
HOUSEHOLDS, RESERVES = 31, 5


def frame_file(path: Path, provinces: int) -> int:
    """Write the frame; returns the number of villages."""
    villages = 0
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["mã", "tên", "cấp", "mã cấp trên", "chỉ tiêu", "điều tra viên"])
        for p in range(1, provinces + 1):
            out.writerow([f"T{p:02d}", f"Tỉnh số {p}", "tỉnh", "", "", ""])
            for d in range(1, 4):
                district = f"T{p:02d}-H{d}"
                out.writerow([district, f"Huyện số {d}", "huyện", f"T{p:02d}", "", ""])
                for c in range(1, 4):
                    commune = f"{district}-X{c}"
                    out.writerow([commune, f"Xã số {c}", "xã", district, "", ""])
                    for v in range(1, 3):
                        village = f"{commune}-T{v}"
                        out.writerow([village, f"Thôn số {v}", "thôn", commune, HOUSEHOLDS, f"dtv{p:02d}{d}{c}"])
                        out.writerows([f"{village}-H{h:02d}", "", "hộ", village, "", ""] for h in range(1, HOUSEHOLDS + 1))
                        out.writerows([f"{village}-D{h}", "", "hộ dự phòng", village, "", ""] for h in range(1, RESERVES + 1))
                        villages += 1
    return villages


def timed(label: str, figures: dict[str, Any], work: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    result = work()
    figures[label] = round(time.perf_counter() - started, 3)
    print(f"{label:38} {figures[label]:8.2f} s", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--provinces", type=int, default=65)
    parser.add_argument("--checkins", type=int, default=300)
    parser.add_argument("--database-url", default=None, help="default: a SQLite file in a temporary folder")
    args = parser.parse_args()
    print(f"machine: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
          f"{platform.platform()}")
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        db = Database.open(args.database_url or f"sqlite:///{home / 'phieu.sqlite3'}")
        db.migrate()
        store = FileStore(home / "files")
        built = build_form(load_definition(EXAMPLE))
        with db.session() as s:
            surveys.register_edition(s, built.definition, yaml_text=EXAMPLE.read_text(encoding="utf-8"), layout=built.layout,
                                     blank_pdf=built.blank_pdf, files=store, actor="bench")
        villages = frame_file(home / "frame.csv", args.provinces)
        figures: dict[str, Any] = {"villages": villages, "database": db.engine.dialect.name}

        def session_run(work: Callable[[Any], Any]) -> Callable[[], Any]:
            def run() -> Any:
                with db.session(immediate=True) as s:
                    return work(s)
            return run

        timed("frame import", figures, session_run(lambda s: import_frame(s, "SIPAS-2024", home / "frame.csv", actor="bench",
                                                                         add_enumerators=True)))
        serials = timed("print by frame (serials)", figures, session_run(
            lambda s: print_by_frame(s, "SIPAS-2024", "1", actor="bench").run.serials))
        figures["sheets"] = len(serials)
        timed("mark all issued", figures, session_run(
            lambda s: lifecycle.mark(s, "SIPAS-2024", serials, "issued", actor="bench", source="bench")))
        back = [n for n in serials if n % 3]
        timed("mark two thirds collected", figures, session_run(
            lambda s: lifecycle.mark(s, "SIPAS-2024", back, "collected", actor="bench", source="bench")))
        ops = timed("operations table", figures, session_run(lambda s: operations(s, "SIPAS-2024", FieldworkSettings())))
        assert check_reconciles(ops) == [] and ops.total.counts.collected == len(back)
        picture = timed("chart picture", figures, lambda: chart_png(pick_rows(ops.units), "SIPAS-2024"))
        timed("XLSX workbook", figures, lambda: operations_xlsx(ops, picture))
        waiting = [n for n in serials if not n % 3][: args.checkins]
        latencies = []
        for serial in waiting:
            started = time.perf_counter()
            with db.session(immediate=True) as s:
                answer = checkin.check_in(s, "SIPAS-2024", str(serial), secret=b"bench", actor="bench")
            latencies.append((time.perf_counter() - started) * 1000)
            assert answer.outcome == "collected"
        latencies.sort()
        figures["checkin_ms_p50"] = round(statistics.median(latencies), 1)
        figures["checkin_ms_p95"] = round(latencies[int(len(latencies) * 0.95) - 1], 1)
        print(f"check-in, one sheet a transaction       p50 {figures['checkin_ms_p50']} ms, p95 {figures['checkin_ms_p95']} ms")
        db.dispose()
    OUT_DIR.mkdir(exist_ok=True)
    (OUT_DIR / "fieldwork_scale.json").write_text(json.dumps(figures, indent=1), encoding="utf-8")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
