"""Review at national size: the same measures at 100,000, 1 million and 3 million answers, with 2 % and 14 %
of them open, on SQLite and PostgreSQL.

Each round is generated straight into a new database (COPY on PostgreSQL, executemany on SQLite) with the
SIPAS example's layout (79 answers a sheet, 5 pages; 3 million answers are ~38,000 sheets, the national
sample): units (district → commune → village), sheets, scan files, pages pointing at the blank master
rendered at the canonical dpi, answers, the box readings of the open ones, review items. Then
`phieu serve` runs in its own process, as in production, and over real HTTP on loopback:

- next item: POST /api/review/next (lease + item data) and GET of each row's picture, p50 / p95;
- 20 simulated reviewers for ``--seconds``: decisions per second, conflicts, errors;
- queue counts (GET /queue: every survey's counts and the person's throughput) and progress
  (GET /surveys/CODE), p50 / p95;
- sheet search (GET /sheets: a serial typed, a page after, status review, a village, a district), p50 / p95.

CPU seconds of the server (and of PostgreSQL's processes, when the benchmark runs its own cluster)
are printed beside the wall times: this machine's two cores are shared with other jobs, and the load
average is printed too.

    .venv/bin/python benchmarks/national.py [--sizes 100000,1000000,3000000] [--open 0.02,0.14]
        [--databases sqlite,postgresql] [--postgres-url URL] [--seconds 20] [--samples 300]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
from argon2 import PasswordHasher
from review import PASSWORD, Reviewer, latency, load, start_server  # benchmarks/review.py
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from core.settings import Settings
from formgen.definition import load_definition
from formgen.render import build_form
from phieu.workspace import Workspace
from scanner.render import render_pdf_page
from storage import surveys
from storage.db import Database, normalise_url
from storage.files import FileStore

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sipas-2024.yaml"
OUT_DIR = Path(__file__).resolve().parent / "out"
SHEETS_PER_VILLAGE, VILLAGES_PER_COMMUNE, COMMUNES_PER_DISTRICT = 31, 2, 3
SHEETS_PER_FILE = 50  # a bundle scanned as one PDF
SEARCH_SAMPLES = 60  # per page measured: a p95 over fewer is the single slowest request (this machine is shared)


# --- generation ---------------------------------------------------------------------------------------


class Writer:
    """Rows into one table, the fastest way each database offers; explicit ids (a new database)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.raw = db.engine.raw_connection()
        self.postgres = not db.is_sqlite

    def rows(self, table: str, columns: tuple[str, ...], rows: Iterator[tuple[Any, ...]]) -> int:
        count = 0
        cursor = self.raw.cursor()
        if self.postgres:
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in rows:
                    copy.write_row(row)
                    count += 1
        else:
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
            chunk: list[tuple[Any, ...]] = []
            for row in rows:
                chunk.append(row)
                if len(chunk) >= 50_000:
                    cursor.executemany(sql, chunk)
                    count += len(chunk)
                    chunk.clear()
            cursor.executemany(sql, chunk)
            count += len(chunk)
        cursor.close()
        return count

    def commit(self) -> None:
        self.raw.commit()

    def close(self) -> None:
        self.raw.close()


@dataclass
class Round:
    survey: str
    sheets: int
    answers: int
    open_items: int
    box_readings: int
    units: list[str]
    serials: tuple[int, int]
    seconds: float


def generate(db: Database, store: FileStore, *, answers: int, open_share: float, reviewers: int, dpi: int) -> Round:
    started = time.perf_counter()
    built = build_form(load_definition(EXAMPLE))
    layout = built.layout
    with db.session() as s:
        edition, _ = surveys.register_edition(s, built.definition, yaml_text=EXAMPLE.read_text(encoding="utf-8"),
                                              layout=layout, blank_pdf=built.blank_pdf, files=store, actor="bench")
        survey_id, edition_id, code = edition.survey_id, edition.id, built.definition.survey
    images = [store.put_bytes(cv2.imencode(".png", render_pdf_page(built.blank_pdf, n, dpi=dpi))[1].tobytes(), ".png")
              for n in range(layout.page_count)]
    slots = [(q, it) for q in layout.questions for it in q.items]
    boxes: dict[tuple[str, str], list[str]] = {}
    for b in layout.all_boxes():
        boxes.setdefault((b.question, b.item or ""), []).append(b.id)
    per_sheet, pages_per_sheet = len(slots), layout.page_count
    sheets = -(-answers // per_sheet)
    now = datetime.now(UTC)
    stamp = now if not db.is_sqlite else now.strftime("%Y-%m-%d %H:%M:%S.%f")
    rng = random.Random(2026)
    doubtful = set(rng.sample(range(sheets * per_sheet), int(answers * open_share)))
    w = Writer(db)
    pw = PasswordHasher().hash(PASSWORD)
    w.rows("users", ("id", "username", "full_name", "password_hash", "role", "active", "language", "session_generation",
                     "created_at"),
           ((i + 1, f"bench{i}", "", pw, "reviewer", True, "vi", 0, stamp) for i in range(reviewers + 1)))
    # units: districts → communes → villages of SHEETS_PER_VILLAGE sheets each
    villages = -(-sheets // SHEETS_PER_VILLAGE)
    communes = -(-villages // VILLAGES_PER_COMMUNE)
    districts = -(-communes // COMMUNES_PER_DISTRICT)
    unit_rows, village_ids, village_codes = [], [], []
    uid = 0
    for d in range(districts):
        uid += 1
        district_id, dcode = uid, f"H{d + 1:03d}"
        unit_rows.append((uid, dcode, f"Huyện {d + 1}", "district", None, survey_id, 0, uid, "{}"))
        for c in range(COMMUNES_PER_DISTRICT):
            uid += 1
            commune_id, ccode = uid, f"{dcode}-X{c + 1}"
            unit_rows.append((uid, ccode, f"Xã {c + 1}", "commune", district_id, survey_id, 1, uid, "{}"))
            for v in range(VILLAGES_PER_COMMUNE):
                uid += 1
                unit_rows.append((uid, f"{ccode}-T{v + 1}", f"Thôn {v + 1}", "village", commune_id, survey_id, 2, uid, "{}"))
                village_ids.append(uid)
                village_codes.append(f"{ccode}-T{v + 1}")
    w.rows("units", ("id", "code", "name", "kind", "parent_id", "survey_id", "level", "rank", "field_quotas"), iter(unit_rows))
    first_serial = 100001
    open_sheets = {n // per_sheet for n in doubtful}
    w.rows("sheets", ("id", "survey_id", "edition_id", "serial", "unit_id", "status", "field_status", "created_at", "updated_at"),
           ((i + 1, survey_id, edition_id, first_serial + i, village_ids[i // SHEETS_PER_VILLAGE],
             "review" if i in open_sheets else "complete", "scanned", stamp, stamp) for i in range(sheets)))
    files = -(-sheets // SHEETS_PER_FILE)
    w.rows("scan_files", ("id", "sha256", "original_name", "size", "media_type", "status", "attempts", "received_at",
                          "page_count"),
           ((f + 1, f"{f + 1:064x}", f"bo-{f + 1:05d}.pdf", 1, "application/pdf", "done", 1, stamp,
             SHEETS_PER_FILE * pages_per_sheet) for f in range(files)))

    def page_id(sheet: int, page: int) -> int:  # sheet 0-based, page 1-based
        return sheet * pages_per_sheet + page

    w.rows("pages", ("id", "scan_file_id", "index_in_file", "status", "sheet_id", "page_number", "rotation", "quality",
                     "aligned_sha256", "aligned_dpi", "processed_at"),
           ((page_id(i, p), i // SHEETS_PER_FILE + 1, (i % SHEETS_PER_FILE) * pages_per_sheet + p - 1, "identified",
             i + 1, p, 0, "{}", images[p - 1], float(dpi), stamp) for i in range(sheets) for p in range(1, pages_per_sheet + 1)))
    w.rows("sheet_pages", ("id", "sheet_id", "page_number", "page_id"),
           ((page_id(i, p), i + 1, p, page_id(i, p)) for i in range(sheets) for p in range(1, pages_per_sheet + 1)))

    def answer_rows() -> Iterator[tuple[Any, ...]]:
        for n in range(answers):
            q, it = slots[n % per_sheet]
            sheet = n // per_sheet
            review = n in doubtful
            value = None if review else (q.options[0].value if q.options else "1")
            yield (n + 1, sheet + 1, page_id(sheet, it.page), q.id, it.id if q.kind == "grid" else "", q.kind, value,
                   "multiple" if review else "answered", "multiple_marks" if review else None, 1.0,
                   "review" if review else "accepted", value, 1, stamp)

    w.rows("answers", ("id", "sheet_id", "page_id", "question", "item", "kind", "machine_value", "machine_state",
                       "machine_reason", "confidence", "status", "final_value", "version", "created_at"), answer_rows())
    opened = sorted(n for n in doubtful if n < answers)

    def item_rows() -> Iterator[tuple[Any, ...]]:
        for k, n in enumerate(opened):
            q, it = slots[n % per_sheet]
            kind = "writein" if q.kind in ("text", "writein") else "answer"
            yield (k + 1, kind, survey_id, n + 1, page_id(n // per_sheet, it.page), "multiple_marks", "open", 1, stamp)

    w.rows("review_items", ("id", "kind", "survey_id", "answer_id", "page_id", "reason", "status", "version", "created_at"),
           item_rows())

    def box_rows() -> Iterator[tuple[Any, ...]]:
        for n in opened:
            q, it = slots[n % per_sheet]
            for k, box_id in enumerate(boxes.get((q.id, it.id if q.kind == "grid" else ""), [])):
                yield (page_id(n // per_sheet, it.page), box_id, 0.3, 0.0, 0.8, "marked" if k < 2 else "empty")

    readings = w.rows("box_readings", ("page_id", "box_id", "inner_ink", "ring_ink", "darkness", "state"), box_rows())
    if w.postgres:  # explicit ids: move the sequences past them
        cursor = w.raw.cursor()
        for table in ("users", "units", "sheets", "scan_files", "pages", "sheet_pages", "answers", "review_items"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        cursor.close()
    w.commit()
    w.close()
    if not db.is_sqlite:  # what autovacuum does within minutes of a bulk load
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    return Round(code, sheets, answers, len(opened), readings,
                 [village_codes[len(village_codes) // 2], village_codes[len(village_codes) // 2].split("-")[0]],
                 (first_serial, first_serial + sheets - 1), time.perf_counter() - started)


# --- measuring ----------------------------------------------------------------------------------------


def cpu_seconds(pid: int, *, children: bool = False) -> float:
    """CPU time of a process (user + system), with ``children`` also of its live and reaped children."""
    tick = os.sysconf("SC_CLK_TCK")

    def own(p: int, reaped: bool) -> float:
        try:
            with open(f"/proc/{p}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except OSError:
            return 0.0
        total = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if reaped else 0)
        return total / tick

    total = own(pid, children)
    if children:
        try:
            kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            kids = []
        total += sum(own(int(k), False) for k in kids)
    return total


def timed(samples: int, call: Callable[[], Any]) -> dict[str, float]:
    call()  # a running server has served this page before (templates, translations loaded)
    ms = []
    for _ in range(samples):
        t0 = time.perf_counter()
        call()
        ms.append((time.perf_counter() - t0) * 1000)
    return {"p50_ms": round(statistics.median(ms), 1), "p95_ms": round(statistics.quantiles(ms, n=20)[18], 1),
            "samples": samples}


def searches(person: Reviewer, r: Round) -> dict[str, dict[str, float]]:
    middle = (r.serials[0] + r.serials[1]) // 2
    cases = {
        "serial": f"/sheets?survey={r.survey}&q={middle}",
        "page_after": f"/sheets?survey={r.survey}&after={middle}",
        "status_review": f"/sheets?survey={r.survey}&status=review&after={middle}",
        "village": f"/sheets?survey={r.survey}&unit={r.units[0]}",
        "district": f"/sheets?survey={r.survey}&unit={r.units[1]}&after={middle}",
    }

    def get(path: str) -> None:
        status, data = person.request("GET", path)
        assert status == 200 and "rows" in data, (status, path)

    return {name: timed(SEARCH_SAMPLES, lambda p=path: get(p)) for name, path in cases.items()}  # type: ignore[misc]


def measure(home: Path, url: str, r: Round, args: argparse.Namespace, pg_pid: int | None) -> dict[str, Any]:
    server = start_server(home, url)
    try:
        port = int(server.url.rstrip("/").rsplit(":", 1)[1])
        cpu0 = cpu_seconds(server.process.pid), cpu_seconds(pg_pid, children=True) if pg_pid else 0.0
        lat = latency(port, args.samples)
        person = Reviewer(port, "bench0")
        counts = timed(SEARCH_SAMPLES, lambda: person.request("GET", "/queue"))
        progress = timed(SEARCH_SAMPLES, lambda: person.request("GET", f"/surveys/{r.survey}"))
        search = searches(person, r)
        cpu1 = cpu_seconds(server.process.pid), cpu_seconds(pg_pid, children=True) if pg_pid else 0.0
        rate = load(port, args.reviewers, args.seconds)
        cpu2 = cpu_seconds(server.process.pid), cpu_seconds(pg_pid, children=True) if pg_pid else 0.0
    finally:
        server.process.terminate()
        server.process.wait(10)
    decisions = max(rate["decisions"], 1)
    return {
        "next_item": lat, "queue_counts": counts, "progress": progress, "sheet_search": search,
        "search_p95_ms": max(v["p95_ms"] for v in search.values()),
        "reviewers": rate,
        "cpu_s": {"server_reading": round(cpu1[0] - cpu0[0], 1), "database_reading": round(cpu1[1] - cpu0[1], 1),
                  "server_reviewers": round(cpu2[0] - cpu1[0], 1), "database_reviewers": round(cpu2[1] - cpu1[1], 1),
                  "ms_per_decision": round((cpu2[0] - cpu1[0] + cpu2[1] - cpu1[1]) * 1000 / decisions, 1)},
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


# --- a private PostgreSQL (when no --postgres-url) -------------------------------------------------------


class PrivatePostgres:
    """A cluster of Debian's PostgreSQL in a temporary folder on a free port, stopped at the end."""

    def __init__(self) -> None:
        bindir = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
        self.bin, self.dir = bindir, Path(tempfile.mkdtemp(prefix="phieu-national-pg-"))
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.run = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
        if os.getuid() == 0:
            shutil.chown(self.dir, "postgres")
        subprocess.run([*self.run, str(bindir / "initdb"), "-D", str(self.dir / "data"), "-U", "postgres", "-A", "trust",
                        "-E", "UTF8"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([*self.run, str(bindir / "pg_ctl"), "-D", str(self.dir / "data"), "-l", str(self.dir / "log"), "-w",
                        "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                              "-c shared_buffers=512MB -c max_connections=100", "start"], check=True, stdout=subprocess.DEVNULL)
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def pid(self) -> int:
        return int((self.dir / "data" / "postmaster.pid").read_text().split()[0])

    def stop(self) -> None:
        subprocess.run([*self.run, str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast", "stop"],
                       stdout=subprocess.DEVNULL, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


def fresh_postgres(server_url: str, name: str) -> str:
    server = make_url(normalise_url(server_url))
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}" ENCODING \'UTF8\' TEMPLATE template0'))
    admin.dispose()
    return server.set(database=name).render_as_string(hide_password=False)


def drop_postgres(server_url: str, name: str) -> None:
    admin = create_engine(make_url(normalise_url(server_url)), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


# --- the whole run ------------------------------------------------------------------------------------


def one(kind: str, answers: int, share: float, args: argparse.Namespace, pg: PrivatePostgres | None) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="phieu-national-"))
    Workspace.create(home)
    name = f"phieu_national_{answers}_{int(share * 100)}"
    server_url = args.postgres_url or (pg.url if pg else "")
    url = fresh_postgres(server_url, name) if kind == "postgresql" else f"sqlite:///{home / 'phieu.sqlite3'}"
    try:
        db, store = Database.open(url), FileStore(home / "files")
        db.migrate()
        r = generate(db, store, answers=answers, open_share=share, reviewers=args.reviewers,
                     dpi=Settings().recognition.canonical_dpi)
        db.dispose()
        print(f"  generated {r.sheets:,} sheets, {r.answers:,} answers, {r.open_items:,} open, "
              f"{r.box_readings:,} box readings in {r.seconds:.1f} s", flush=True)
        result = measure(home, url, r, args, pg.pid if (pg and kind == "postgresql") else None)
        result.update(database=kind, answers=answers, open_share=share, open_items=r.open_items, sheets=r.sheets,
                      generate_s=round(r.seconds, 1))
        return result
    finally:
        if kind == "postgresql":
            drop_postgres(server_url, name)
        shutil.rmtree(home, ignore_errors=True)


def line(res: dict[str, Any]) -> str:
    n, rv, cpu = res["next_item"], res["reviewers"], res["cpu_s"]
    return (f"{res['database']:>10} {res['answers']:>9,} {res['open_share']:>4.0%} {res['open_items']:>8,} | next "
            f"p50 {n['next_item_p50_ms']:>5.1f} p95 {n['next_item_p95_ms']:>5.1f} ms | {rv['decisions_per_s']:>5.1f} dec/s "
            f"err {rv['errors']} conf {rv['conflicts']} | counts p95 {res['queue_counts']['p95_ms']:>5.1f} progress p95 "
            f"{res['progress']['p95_ms']:>5.1f} search p95 {res['search_p95_ms']:>5.1f} ms | cpu/decision "
            f"{cpu['ms_per_decision']} ms | load {res['load_average'][0]}")


def summary(results: list[dict[str, Any]], kinds: list[str], shares: list[float]) -> None:
    """Against the targets: next item p95 < 50 ms and no reviewer errors at every size; decisions per second
    within 20 % from the smallest round to the largest (at the same share open: a round with more open
    items has more grid rows decided per request)."""
    for kind in kinds:
        mine = [r for r in results if r["database"] == kind]
        if not mine:
            continue
        worst = max(r["next_item"]["next_item_p95_ms"] for r in mine)
        errors = sum(r["reviewers"]["errors"] for r in mine)
        print(f"{kind}: next item p95 at most {worst} ms (target < 50); reviewer errors {errors} (target 0)")
        for share in shares:
            rates = [r["reviewers"]["decisions_per_s"] for r in mine if r["open_share"] == share]
            if rates:
                spread = (max(rates) - min(rates)) / max(rates) if max(rates) else 0.0
                print(f"  {share:.0%} open: decisions/s {' / '.join(map(str, rates))} by size, spread {spread:.0%} "
                      "(target within 20 %)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000,3000000")
    parser.add_argument("--open", default="0.02,0.14")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--postgres-url", default=None, help="a server to create the databases on (default: a private cluster)")
    parser.add_argument("--reviewers", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    shares = [float(x) for x in args.open.split(",")]
    kinds = args.databases.split(",")
    pg = PrivatePostgres() if "postgresql" in kinds and not args.postgres_url else None
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
               "processor": platform.processor() or platform.machine()}
    print("machine:", machine, "load average:", os.getloadavg(), flush=True)
    results = []
    started = time.perf_counter()
    try:
        for kind in kinds:
            for answers in sizes:
                for share in shares:
                    print(f"{kind}: {answers:,} answers, {share:.0%} open", flush=True)
                    res = one(kind, answers, share, args, pg)
                    results.append(res)
                    print(line(res), flush=True)
    finally:
        if pg is not None:
            pg.stop()
    summary(results, kinds, shares)
    print(f"total {time.perf_counter() - started:.0f} s wall, {sum(os.times()[:2]):.0f} s CPU in this process")
    out = OUT_DIR / "national.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"machine": machine, "results": results}, indent=1), encoding="utf-8")
    print(f"written {out}")


if __name__ == "__main__":
    main()
