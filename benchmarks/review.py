"""Review UI speed: next-item latency with 100,000 answers and 5,000 open items, and requests per second
with 20 simulated reviewers, all over real HTTP on loopback against the app served by waitress.

The server is `phieu serve` in its own process (as in production; the load generator does not share
its interpreter). The database is filled in bulk with the SIPAS example's layout (formgen build): sheets, pages pointing
at the blank master rendered at the canonical dpi, answers, box readings for the doubtful ones and
review items. One "next item" = POST /api/review/next (lease + item data) + GET of each row's picture, the
requests the browser makes before the item can be shown.

    .venv/bin/python benchmarks/review.py [--answers 100000] [--open 5000] [--reviewers 20] [--seconds 20]
                                         [--database-url URL]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import cv2
from argon2 import PasswordHasher
from sqlalchemy import insert, select

from core.settings import Settings
from formgen.definition import load_definition
from formgen.render import build_form
from scanner.render import render_pdf_page
from storage import surveys
from storage.db import Database
from storage.files import FileStore
from storage.models import Answer, BoxReading, Page, ReviewItem, ScanFile, Sheet, User

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sipas-2024.yaml"
OUT_DIR = Path(__file__).resolve().parent / "out"
PASSWORD = "benchmark-123"


def fill(db: Database, store: FileStore, *, answers: int, open_items: int, reviewers: int, dpi: int) -> dict[str, int]:
    """Bulk rows: sheets of the SIPAS layout until ``answers`` answers exist, ``open_items`` of them doubtful."""
    built = build_form(load_definition(EXAMPLE))
    layout = built.layout
    with db.session() as s:
        edition, _ = surveys.register_edition(s, built.definition, yaml_text=EXAMPLE.read_text(encoding="utf-8"),
                                              layout=layout, blank_pdf=built.blank_pdf, files=store, actor="bench")
        survey_id, edition_id = edition.survey_id, edition.id
        pw = PasswordHasher().hash(PASSWORD)  # what review_ui.accounts stores
        s.execute(insert(User), [{"username": f"bench{i}", "password_hash": pw, "role": "reviewer"} for i in range(reviewers + 1)])
    images = []
    for n in range(layout.page_count):
        grey = render_pdf_page(built.blank_pdf, n, dpi=dpi)
        images.append(store.put_bytes(cv2.imencode(".png", grey)[1].tobytes(), ".png"))
    slots = [(q, it) for q in layout.questions for it in q.items]  # one answer per (question, item)
    per_sheet = len(slots)
    sheets = -(-answers // per_sheet)
    rng = random.Random(7)
    with db.session() as s:
        s.execute(insert(Sheet), [{"survey_id": survey_id, "edition_id": edition_id, "serial": 100000 + i, "status": "review"}
                                  for i in range(sheets)])
        sheet_ids = list(s.scalars(select(Sheet.id).order_by(Sheet.id)))
        s.execute(insert(ScanFile), [{"sha256": f"{i:064x}", "original_name": f"bundle-{i}.pdf", "size": 1, "status": "done"}
                                     for i in range(sheets)])
        file_ids = list(s.scalars(select(ScanFile.id).order_by(ScanFile.id)))
        s.execute(insert(Page), [{"scan_file_id": f, "index_in_file": p, "status": "identified", "sheet_id": sh,
                                  "page_number": p + 1, "aligned_sha256": images[p], "quality": {}}
                                 for sh, f in zip(sheet_ids, file_ids, strict=True) for p in range(layout.page_count)])
        page_of = {(sh, num): pid for pid, sh, num in s.execute(select(Page.id, Page.sheet_id, Page.page_number))}
        doubtful = set(rng.sample(range(sheets * per_sheet), open_items))
        rows = []
        for n in range(sheets * per_sheet):
            q, it = slots[n % per_sheet]
            sheet = sheet_ids[n // per_sheet]
            review = n in doubtful
            rows.append({"sheet_id": sheet, "page_id": page_of[(sheet, it.page)], "question": q.id,
                         "item": it.id if q.kind == "grid" else "", "kind": q.kind,
                         "machine_value": None if review else (q.options[0].value if q.options else "1"),
                         "machine_state": "multiple" if review else "answered", "machine_reason": "multiple_marks" if review else None,
                         "status": "review" if review else "accepted", "confidence": 1.0, "version": 1})
        s.execute(insert(Answer), rows[:answers])
        open_answers = s.execute(select(Answer.id, Answer.page_id, Answer.question, Answer.item, Answer.kind)
                                 .where(Answer.status == "review")).all()
        s.execute(insert(ReviewItem), [{"kind": "answer", "survey_id": survey_id, "answer_id": a.id, "reason": "multiple_marks",
                                        "status": "open", "version": 1} for a in open_answers])
        boxes: dict[tuple[str, str], list[str]] = {}
        for b in layout.all_boxes():
            boxes.setdefault((b.question, b.item or ""), []).append(b.id)
        readings = {(a.page_id, box_id): {"page_id": a.page_id, "box_id": box_id, "inner_ink": 0.3, "ring_ink": 0.0,
                                          "darkness": 0.8, "state": "marked" if k < 2 else "empty"}
                    for a in open_answers for k, box_id in enumerate(boxes.get((a.question, a.item), []))}
        s.execute(insert(BoxReading), list(readings.values()))
    return {"sheets": sheets, "answers": min(answers, sheets * per_sheet), "open_items": len(open_answers),
            "box_readings": len(readings)}


class Reviewer:
    """One person's browser, reduced to http.client with the session cookie and the CSRF token."""

    def __init__(self, port: int, username: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookie = ""
        self.csrf = self.request("GET", "/api/login")[1]["csrf"]
        status, body = self.request("POST", "/api/login", {"username": username, "password": PASSWORD})
        assert status == 200, body
        self.csrf = body["csrf"]

    def request(self, method: str, path: str, body: dict[str, Any] | None = None, raw: bool = False) -> tuple[int, Any]:
        headers = {"Accept": "application/json", "Cookie": self.cookie, "X-CSRFToken": getattr(self, "csrf", "")}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.conn.request(method, path, body=data, headers=headers)
        response = self.conn.getresponse()
        payload = response.read()
        cookie = response.getheader("Set-Cookie")
        if cookie:
            self.cookie = cookie.split(";", 1)[0]
        return response.status, payload if raw else json.loads(payload or b"{}")

    def next_item(self) -> dict[str, Any] | None:
        status, data = self.request("POST", "/api/review/next", {})  # leasing is a POST
        assert status == 200, data
        if not data.get("item"):
            return None
        for row in data["rows"]:
            status, image = self.request("GET", row["crop"], raw=True)
            assert status == 200 and image[:4] == b"\x89PNG"
        return data  # type: ignore[no-any-return]

    def decide(self, data: dict[str, Any]) -> int:
        choices, question = data["question"]["choices"], data["question"]
        value = choices[0]["value"] if choices else str(question.get("min") or 1)
        decisions = [{"item_id": r["item_id"], "version": r["version"], "value": value} for r in data["rows"]]
        status, _ = self.request("POST", f"/api/review/{data['item']['id']}/decide", {"decisions": decisions})
        return status


def latency(port: int, count: int) -> dict[str, float]:
    person = Reviewer(port, "bench0")
    json_ms, item_ms = [], []
    for _ in range(count):
        t0 = time.perf_counter()
        status, data = person.request("POST", "/api/review/next", {})
        t1 = time.perf_counter()
        for row in data["rows"]:
            person.request("GET", row["crop"], raw=True)
        t2 = time.perf_counter()
        json_ms.append((t1 - t0) * 1000)
        item_ms.append((t2 - t0) * 1000)
        person.decide(data)
    q = statistics.quantiles
    return {"next_json_p50_ms": round(statistics.median(json_ms), 1), "next_json_p95_ms": round(q(json_ms, n=20)[18], 1),
            "next_item_p50_ms": round(statistics.median(item_ms), 1), "next_item_p95_ms": round(q(item_ms, n=20)[18], 1),
            "samples": count}


def load(port: int, reviewers: int, seconds: float) -> dict[str, float]:
    counts = {"requests": 0, "decisions": 0, "conflicts": 0, "errors": 0}
    lock = threading.Lock()
    people = [Reviewer(port, f"bench{i + 1}") for i in range(reviewers)]
    stop = time.perf_counter() + seconds

    def work(person: Reviewer) -> None:
        done = {"requests": 0, "decisions": 0, "conflicts": 0, "errors": 0}
        while time.perf_counter() < stop:
            try:
                data = person.next_item()
                done["requests"] += 1 + (len(data["rows"]) if data else 0)
                if data is None:
                    break
                status = person.decide(data)
                done["requests"] += 1
                done["decisions" if status == 200 else "conflicts" if status == 409 else "errors"] += 1
            except (AssertionError, OSError, http.client.HTTPException):
                done["errors"] += 1
        with lock:
            for k, v in done.items():
                counts[k] += v

    threads = [threading.Thread(target=work, args=(p,)) for p in people]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return {**counts, "seconds": round(elapsed, 1), "requests_per_s": round(counts["requests"] / elapsed, 1),
            "decisions_per_s": round(counts["decisions"] / elapsed, 1), "reviewers": reviewers}


class Server:
    def __init__(self, process: subprocess.Popen[str], url: str) -> None:
        self.process, self.url = process, url


def start_server(home: Path, database_url: str | None) -> Server:
    """`phieu --home HOME serve --port 0` in a child process; returns once it prints its address."""
    env = dict(os.environ)
    if database_url:
        env["PHIEU_DATABASE_URL"] = database_url
    phieu = Path(sys.executable).with_name("phieu")
    process = subprocess.Popen([str(phieu), "--home", str(home), "serve", "--port", "0"], env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    for line in process.stdout:
        if "http://" in line:
            return Server(process, line[line.index("http://"):].split()[0])
    raise RuntimeError("phieu serve ended before printing its address")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=100_000)
    parser.add_argument("--open", type=int, default=5_000)
    parser.add_argument("--reviewers", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (an empty database); default a temporary SQLite file")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="phieu-bench-review-"))
    url = args.database_url or f"sqlite:///{home / 'phieu.sqlite3'}"
    settings = Settings()
    db, store = Database.open(url), FileStore(home / "files")
    db.migrate()
    t0 = time.perf_counter()
    sizes = fill(db, store, answers=args.answers, open_items=args.open, reviewers=args.reviewers,
                 dpi=settings.recognition.canonical_dpi)
    print(f"filled {sizes} in {time.perf_counter() - t0:.1f} s ({db.engine.dialect.name})")
    server = start_server(home, args.database_url)
    try:
        port = int(server.url.rstrip("/").rsplit(":", 1)[1])
        lat = latency(port, args.samples)
        print("next item (lease + data + crop):", lat)
        rate = load(port, args.reviewers, args.seconds)
        print(f"{args.reviewers} reviewers:", rate)
    finally:
        server.process.terminate()
        server.process.wait(10)
    result = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
              "database": db.engine.dialect.name, "data": sizes, "latency": lat, "load": rate}
    out = OUT_DIR / f"review-{db.engine.dialect.name}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(f"written {out}")


if __name__ == "__main__":
    main()
