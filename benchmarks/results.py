"""Results speed: the index, the report and every export for a round of SIPAS sheets, written straight into
the database. Targets: 10,000 sheets in under 30 s (issue 10); a national round, 36,500 sheets, on
PostgreSQL within a minute (issue 13).

The database is filled in bulk with the SIPAS example (formgen build; answers by COPY on PostgreSQL):
a province of 3 districts × 5 communes × 4 villages, the returned sheets with every page identified
and an answer for every column: satisfaction skewed towards "Hài lòng", some blanks, invalid answers
decided by a person, answers still waiting for review (with their open review items), transcribed
write-ins and comments. An earlier round (the same questionnaire as SIPAS-2023, a fifth as many
sheets) is there to compare with. Then each step runs as its command would, reading the database
afresh: ``phieu results --by all`` (CSV and JSON), ``phieu report``, ``phieu export`` in csv (codes
and labels), xlsx, sav, long and codebook. Each output is checked to be complete. Wall and CPU
seconds (of this process; PostgreSQL's own work shows in the wall time only) and the load average
are printed: the machine is shared.

    .venv/bin/python benchmarks/results.py [--sheets 10000] [--database-url URL | --postgres]
    .venv/bin/python benchmarks/results.py --sheets 36500 --postgres   # a private PostgreSQL server
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would hide the results package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import json
import os
import platform
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select

from core.settings import ResultsSettings
from formgen.definition import load_definition
from formgen.layout import QuestionLayout
from formgen.render import build_form
from results import exports, spss
from results.dataset import load_survey
from results.report import write_report
from results.service import survey_results
from results.tables import results_json, write_json, write_results_csv
from storage import surveys
from storage.db import Database
from storage.export import column_keys, export_rows, pages_by_column, write_csv
from storage.files import FileStore
from storage.models import Answer, Page, ReviewItem, ScanFile, Sheet, SheetPage, Unit

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sipas-2024.yaml"
OUT_DIR = Path(__file__).resolve().parent / "out"
SATISFACTION = [0.03, 0.07, 0.15, 0.45, 0.30]  # shares of codes 1..5
COMMENTS = ["Thủ tục còn rườm rà", "Cán bộ nhiệt tình", "Cần thêm chỗ ngồi chờ", "Trả kết quả đúng hẹn",
            "Nên mở rộng dịch vụ công trực tuyến", "=1+1 thử công thức"]


def units(db: Database) -> list[int]:
    """Province → 3 districts → 5 communes each → 4 villages each; returns the village ids."""
    villages = []
    with db.session() as s:
        province = Unit(code="QT", name="Tỉnh Quảng Trị", kind="province")
        s.add(province)
        s.flush()
        for d in range(3):
            district = Unit(code=f"QT-{d + 1}", name=f"Huyện {d + 1}", kind="district", parent_id=province.id)
            s.add(district)
            s.flush()
            for c in range(5):
                commune = Unit(code=f"QT-{d + 1}-{c + 1}", name=f"Xã {d + 1}.{c + 1}", kind="commune",
                               parent_id=district.id)
                s.add(commune)
                s.flush()
                for v in range(4):
                    village = Unit(code=f"QT-{d + 1}-{c + 1}-{v + 1}", name=f"Thôn {d + 1}.{c + 1}.{v + 1}",
                                   kind="village", parent_id=commune.id)
                    s.add(village)
                    s.flush()
                    villages.append(village.id)
    return villages


def fill(db: Database, store: FileStore, survey: str, sheets: int, villages: list[int], seed: int) -> int:
    """``sheets`` returned sheets of ``survey`` (the SIPAS example under that code); returns answers stored."""
    text = EXAMPLE.read_text(encoding="utf-8").replace("survey: SIPAS-2024", f"survey: {survey}")
    if survey != "SIPAS-2024":
        text = text.replace("index:\n", "index:\n  previous: null\n", 1)
    else:
        text = text.replace("index:\n", "index:\n  previous: SIPAS-2023\n", 1)
    built = build_form(load_definition(text, source_name=f"{survey}.yaml"))
    layout = built.layout
    with db.session() as s:
        edition, _ = surveys.register_edition(s, built.definition, yaml_text=text, layout=layout,
                                              blank_pdf=built.blank_pdf, files=store, actor="bench")
        survey_id, edition_id = edition.survey_id, edition.id
    rng = random.Random(seed)
    with db.session() as s:
        s.execute(insert(Sheet), [{"survey_id": survey_id, "edition_id": edition_id, "serial": i + 1,
                                   "unit_id": villages[i * len(villages) // sheets], "status": "complete"}
                                  for i in range(sheets)])
        sheet_ids = list(s.scalars(select(Sheet.id).where(Sheet.survey_id == survey_id).order_by(Sheet.serial)))
        s.execute(insert(ScanFile), [{"sha256": f"{survey_id:08x}{i:056x}", "original_name": f"{survey}-{i}.pdf",
                                      "size": 1, "status": "done"} for i in range(len(sheet_ids))])
        file_ids = list(s.scalars(select(ScanFile.id).where(ScanFile.original_name.like(f"{survey}-%"))
                                  .order_by(ScanFile.id)))
        s.execute(insert(Page), [{"scan_file_id": f, "index_in_file": p, "status": "identified", "sheet_id": sh,
                                  "page_number": p + 1, "quality": {}}
                                 for sh, f in zip(sheet_ids, file_ids, strict=True) for p in range(layout.page_count)])
        page_of = {(sh, n): pid for pid, sh, n in s.execute(select(Page.id, Page.sheet_id, Page.page_number)
                                                            .join(Sheet, Sheet.id == Page.sheet_id)
                                                            .where(Sheet.survey_id == survey_id))}
        s.execute(insert(SheetPage), [{"sheet_id": sh, "page_number": n, "page_id": pid}
                                      for (sh, n), pid in page_of.items()])
        names, pages = column_keys(layout), pages_by_column(layout)
        columns = [(layout.question(q), item, pages[name]) for (q, item), name in names.items()]
        rows = (_answer(sheet, q, item, page_of[(sheet, page)], rng) for sheet in sheet_ids for q, item, page in columns)
        stored = _bulk_answers(s, rows)
        waiting = s.scalars(select(Answer.id).join(Sheet, Sheet.id == Answer.sheet_id)
                            .where(Answer.status == "review", Sheet.survey_id == survey_id)).all()
        if waiting:
            s.execute(insert(ReviewItem), [{"kind": "answer", "survey_id": survey_id, "answer_id": a,
                                            "reason": "multiple_marks", "status": "open"} for a in waiting])
    return stored


ANSWER_COLUMNS = ("sheet_id", "page_id", "question", "item", "kind", "machine_value", "machine_state", "machine_reason",
                  "confidence", "status", "final_value", "version", "created_at")


def _bulk_answers(session: Any, rows: Iterable[dict[str, Any]]) -> int:
    """Answers straight into the table: COPY on PostgreSQL, one prepared INSERT on SQLite."""
    connection = session.connection()
    raw = connection.connection.driver_connection
    now = datetime.now(UTC)
    values = (tuple(row.get(c, now if c == "created_at" else None) for c in ANSWER_COLUMNS) for row in rows)
    n = 0
    if connection.dialect.name == "postgresql":
        with raw.cursor() as cursor, cursor.copy(f"COPY answers ({', '.join(ANSWER_COLUMNS)}) FROM STDIN") as copy:
            for n, row in enumerate(values, start=1):  # noqa: B007 - counted
                copy.write_row(row)
        return n
    counted = _Counter(values)
    raw.executemany(f"INSERT INTO answers ({', '.join(ANSWER_COLUMNS)}) VALUES ({', '.join('?' * len(ANSWER_COLUMNS))})",
                    counted)
    return counted.n


class _Counter:
    def __init__(self, rows: Iterable[tuple[Any, ...]]) -> None:
        self.rows, self.n = rows, 0

    def __iter__(self) -> Any:
        for row in self.rows:
            self.n += 1
            yield row


def _answer(sheet: int, q: QuestionLayout, item: str, page_id: int, rng: random.Random) -> dict[str, Any]:
    row = {"sheet_id": sheet, "page_id": page_id, "question": q.id, "item": item, "confidence": 1.0, "version": 1}
    roll = rng.random()
    handwriting = ":" in item or q.kind == "text"
    if handwriting:
        written = roll < (0.08 if q.kind == "text" else 0.02)
        kind = "text" if q.kind == "text" else "writein"
        value = rng.choice(COMMENTS) if written else None
        return {**row, "kind": kind, "machine_value": None, "machine_state": "ink" if written else "no_ink",
                "status": "reviewed" if written else "accepted", "final_value": value}
    if roll < 0.005:  # still waiting for a person
        return {**row, "kind": q.kind, "machine_value": None, "machine_state": "multiple", "status": "review",
                "final_value": None, "machine_reason": "multiple_marks"}
    if roll < 0.008:  # several marks, judged invalid
        return {**row, "kind": q.kind, "machine_value": None, "machine_state": "multiple", "status": "reviewed",
                "final_value": "*", "machine_reason": "multiple_marks"}
    if roll < 0.02:
        return {**row, "kind": q.kind, "machine_value": None, "machine_state": "blank", "status": "accepted",
                "final_value": None}
    codes = [o.value for o in q.options]
    if q.kind == "number":
        value = str(rng.randint(18, 85))
    elif q.kind == "multiple":
        value = ";".join(sorted(rng.sample(codes, rng.randint(1, min(3, len(codes)))), key=codes.index))
    elif len(codes) == 5:
        value = rng.choices(codes, weights=SATISFACTION)[0]
    else:
        value = rng.choice(codes)
    return {**row, "kind": q.kind, "machine_value": value, "machine_state": "answered", "status": "accepted",
            "final_value": value}



def _timed(name: str, step: Callable[[], Any], figures: dict[str, float], cpu: dict[str, float]) -> Any:
    """Wall-clock seconds (the target) and CPU seconds of this process (what other work on a shared
    machine does not inflate much)."""
    started, started_cpu = time.perf_counter(), time.process_time()
    value = step()
    figures[name] = round(time.perf_counter() - started, 2)
    cpu[name] = round(time.process_time() - started_cpu, 2)
    print(f"{name:28} {figures[name]:6.2f} s wall {cpu[name]:6.2f} s cpu", flush=True)
    return value


def run(db: Database, out: Path, target_seconds: int) -> tuple[dict[str, float], dict[str, float]]:
    figures: dict[str, float] = {}
    cpu: dict[str, float] = {}
    settings = ResultsSettings()

    def results_files() -> Any:
        with db.session() as s:
            computed = survey_results(s, "SIPAS-2024", by=["all"])
        write_results_csv(computed.results, out / "results.csv")
        write_json(results_json(computed.results), out / "results.json")
        return computed

    def report() -> int:
        with db.session() as s:
            computed = survey_results(s, "SIPAS-2024", by=["all"])
        return write_report(computed, out / "report.pdf", settings=settings)

    def export(fmt: str, labels: bool = False) -> Callable[[], int]:
        def step() -> int:
            if fmt == "csv" and not labels:
                with db.session() as s:
                    header, rows = export_rows(s, "SIPAS-2024")
                write_csv(out / "codes.csv", header, rows)
                return len(rows)
            with db.session() as s:
                data = load_survey(s, "SIPAS-2024", answers=fmt != "codebook")
            target = out / f"export-{fmt}{'-labels' if labels else ''}"
            return {"csv": lambda: exports.write_wide_csv(data, target, labels=True),
                    "xlsx": lambda: exports.write_xlsx(data, target),
                    "sav": lambda: spss.write_sav(data, target),
                    "long": lambda: exports.write_long_csv(data, target),
                    "codebook": lambda: exports.write_codebook_csv(data, target)}[fmt]()
        return step

    computed = _timed("results (csv + json)", results_files, figures, cpu)
    pages = _timed("report (pdf)", report, figures, cpu)
    for fmt, labels in [("csv", False), ("csv", True), ("xlsx", False), ("sav", False), ("long", False),
                        ("codebook", False)]:
        _timed(f"export {fmt}{' --labels' if labels else ''}", export(fmt, labels), figures, cpu)
    figures["total"], cpu["total"] = round(sum(figures.values()), 2), round(sum(cpu.values()), 2)
    overall = computed.results.whole.overall
    print(f"{'total':28} {figures['total']:6.2f} s wall {cpu['total']:6.2f} s cpu  (target < {target_seconds} s wall); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"overall index {overall.rate:.2f} %, change {overall.change:+.2f} points, {overall.tally.n_open} answers open; "
          f"report {pages} pages")
    return figures, cpu


@contextmanager
def private_postgres() -> Iterator[str]:
    """A PostgreSQL cluster of our own in a temporary folder on a free port, as scripts/dev.sh starts
    for the tests (fsync off: the figures are about reading); stopped and removed afterwards."""
    bindir = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: float(p.parent.name))
    if not bindir:
        raise SystemExit("PostgreSQL server binaries not found: bash scripts/dev.sh setup installs them")
    folder = Path(tempfile.mkdtemp(prefix="phieu-bench-pg-"))
    run: list[str] = []
    if os.getuid() == 0:
        shutil.chown(folder, "postgres")
        run = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ctl = [*run, str(bindir[-1] / "pg_ctl"), "-D", str(folder / "data")]
    subprocess.run([*run, str(bindir[-1] / "initdb"), "-D", str(folder / "data"), "-U", "postgres", "-A", "trust",
                    "-E", "UTF8"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([*ctl, "-l", str(folder / "log"), "-w", "-o",
                    f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                   check=True, stdout=subprocess.DEVNULL)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*ctl, "-m", "fast", "stop"], stdout=subprocess.DEVNULL, check=False)
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sheets", type=int, default=10_000)
    parser.add_argument("--database-url", default=None, help="an empty PostgreSQL database; default a temporary SQLite file")
    parser.add_argument("--postgres", action="store_true", help="start a private PostgreSQL server for the run")
    args = parser.parse_args()
    if args.postgres:
        with private_postgres() as url:
            bench(args.sheets, url)
    else:
        bench(args.sheets, args.database_url)


def bench(sheets: int, database_url: str | None) -> None:
    target_seconds = 30 if sheets <= 10_000 else 60  # issue 10: 10,000 sheets; issue 13: a national round
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        db = Database.open(database_url or f"sqlite:///{work / 'phieu.sqlite3'}")
        db.migrate()
        store = FileStore(work / "files")
        print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform()}; "
              f"database {db.engine.dialect.name}")
        started = time.perf_counter()
        villages = units(db)
        answers = fill(db, store, "SIPAS-2024", sheets, villages, seed=2024)
        fill(db, store, "SIPAS-2023", max(sheets // 5, 1), villages, seed=2023)
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")  # as autovacuum would after a round's scanning
        print(f"filled {sheets} sheets, {answers} answers in {time.perf_counter() - started:.0f} s (not timed)")
        out = work / "out"
        out.mkdir()
        figures, cpu = run(db, out, target_seconds)
        sizes = {p.name: p.stat().st_size for p in sorted(out.iterdir())}
        assert all(size > 0 for size in sizes.values()), sizes
        db.dispose()
    result = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
              "database": db.engine.dialect.name, "sheets": sheets, "answers": answers, "seconds": figures,
              "cpu_seconds": cpu, "load_average": os.getloadavg()[0], "bytes": sizes, "target_seconds": target_seconds}
    OUT_DIR.mkdir(exist_ok=True)
    target = OUT_DIR / f"results-{db.engine.dialect.name}-{sheets}.json"
    target.write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(f"written {target}")
    sys.exit(0 if figures["total"] < target_seconds else 1)


if __name__ == "__main__":
    main()
