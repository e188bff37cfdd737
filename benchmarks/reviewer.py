"""A scripted reviewer in Chromium: keys per decision and time per decision over a real, mixed queue.

SIPAS sheets are printed, filled by the proving ground with many doubtful answers (two marks, faint
marks, lone fills, every write-in and free-text line used), degraded as an office scanner would, and
scanned by the pipeline with OCR, until the queue holds at least ``--items`` rows to decide. Then a
reviewer works the queue in Debian's Chromium (Playwright) with the keyboard only, entering what the
respondent meant (the proving ground's truth) the way a person would: nothing where the pre-selection or
the OCR draft is already right, the option's code, the digits, the transcription typed over the
selected draft, Esc + arrow to leave a text row, Enter to confirm.

Figures: keys per decision (all, and by kind of answer), time from Enter to the next item ready on
screen (the swap of the prefetched item), and the scripted reviewer's time per decision (keys sent at
machine speed: what the interface costs, not what a person needs). Every decision is checked against
the truth afterwards.

    .venv/bin/python benchmarks/reviewer.py [--items 100] [--seed 3]

Prints the machine and the figures, writes benchmarks/out/reviewer.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from argon2 import PasswordHasher
from sqlalchemy import func, insert, select

from core.settings import ScanSettings, Settings
from formgen.definition import load_definition
from formgen.render import build_form
from phieu.provingground.bundle import make_bundle
from phieu.provingground.truth import MarkMix
from pipeline.run import scan_paths
from storage import surveys
from storage.db import Database
from storage.files import FileStore
from storage.models import Answer, ReviewItem, Sheet, User

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sipas-2024.yaml"
OUT = Path(__file__).resolve().parent / "out"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
PASSWORD = "reviewer-123"
SECRET = bytes(range(32))
MIX = MarkMix(styles={"tick": 0.35, "cross": 0.3, "fill": 0.05, "circle": 0.15, "pencil": 0.15}, ambiguous_share=0.05,
              cancel_share=0.03, writein_share=1.0, text_share=1.0)
SHEETS_PER_ROUND = 4


def prepare(home: Path, items: int, seed: int) -> tuple[Database, dict[int, Any]]:
    """A workspace at ``home`` whose queue holds at least ``items`` rows, and the truth of every sheet by serial."""
    (home / "files").mkdir(parents=True)
    (home / "secret.key").write_text(SECRET.hex())
    db, store = Database.open(f"sqlite:///{home / 'phieu.sqlite3'}"), FileStore(home / "files")
    db.migrate()
    built = build_form(load_definition(EXAMPLE))
    with db.session() as s:
        surveys.register_edition(s, built.definition, yaml_text=EXAMPLE.read_text(encoding="utf-8"), layout=built.layout,
                                 blank_pdf=built.blank_pdf, files=store, actor="bench")
        s.execute(insert(User), [{"username": "duyet1", "password_hash": PasswordHasher().hash(PASSWORD), "role": "reviewer"}])
    truths: dict[int, Any] = {}
    rng = np.random.default_rng(seed)
    settings = Settings(scan=ScanSettings(jobs=2))
    for round_ in range(50):
        with db.session() as s:
            waiting = s.scalar(select(func.count(ReviewItem.id)).where(ReviewItem.status == "open", ReviewItem.kind != "page"))
        if waiting >= items:
            break
        with db.session() as s:
            serials = surveys.allocate_serials(s, built.layout.survey, built.layout.edition, SHEETS_PER_ROUND, actor="bench").serials
        folder = home / f"scans-{round_}"
        for truth in make_bundle(built, built.layout, serials, profile="office", rng=rng, out_dir=folder, secret=SECRET, mix=MIX):
            truths[truth.serial] = truth
        scan_paths(db, store, [folder], secret=SECRET, settings=settings, ocr=True)
    return db, truths


def serve(home: Path) -> tuple[subprocess.Popen[str], str]:
    """`phieu --home HOME serve --port 0` in its own process, as in production; returns it and its address."""
    phieu = Path(sys.executable).with_name("phieu")
    process = subprocess.Popen([str(phieu), "--home", str(home), "serve", "--port", "0"], text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    for line in process.stdout:
        if "http://" in line:
            return process, line[line.index("http://"):].split()[0].rstrip("/")
    raise RuntimeError("phieu serve ended before printing its address")


def keys_for(page: Any, row: Any, kind: str, truth: str | None, *, last: bool) -> list[str]:
    """The keys a person presses to enter ``truth`` in ``row`` (the current row), and to move on."""
    if kind in ("writein", "text", "number"):
        field = row.query_selector(".text-answer")
        shown = field.input_value() if field else ""
        keys = [] if shown == (truth or "") else (["Delete"] if not truth else [f"type:{c}" for c in truth])
        return keys + ([] if last else ["Escape", "ArrowDown"])
    checked = {i.get_attribute("value") for i in row.query_selector_all("input:checked")}
    codes = [i.get_attribute("value") for i in row.query_selector_all("input[type=radio], input[type=checkbox]")]
    if kind == "multiple":
        wanted = set((truth or "").split(";")) - {""}
        keys = [c for code in codes if code and (code in checked) != (code in wanted) for c in code]
        if not wanted and checked:
            keys = ["0"]
        return keys + ([] if last else ["ArrowDown"])
    if truth is None:
        return [] if "" in checked else ["0"]
    if truth in checked:
        return [] if last else ["ArrowDown"]
    longer = any(c and c != truth and c.startswith(truth) for c in codes)
    return list(truth) + (["ArrowDown"] if longer and not last else [])


def review(base: str, db: Database, truths: dict[int, Any], items: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    keys_by_kind: dict[str, list[int]] = defaultdict(list)
    swap_ms: list[float] = []
    screen_ms: list[float] = []
    expected: dict[int, str | None] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_context(viewport={"width": 1366, "height": 768}, locale="vi-VN").new_page()
        page.goto(base + "/login")
        page.fill("input[name=username]", "duyet1")
        page.fill("input[name=password]", PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(lambda url: "/login" not in url)
        page.keyboard.press("Enter")  # "review all"
        page.wait_for_selector("#item[data-ready], #queue-empty")
        while page.query_selector("#item") and len(expected) < items:
            started = time.perf_counter()
            rows = page.query_selector_all("fieldset.row")
            for n, row in enumerate(rows):
                item_id = int(row.get_attribute("data-item-id"))
                with db.session() as s:
                    answer = s.get_one(Answer, s.get_one(ReviewItem, item_id).answer_id)
                    serial = s.get_one(Sheet, answer.sheet_id).serial
                    kind, key = answer.kind, (answer.question, answer.item)
                truth = truths[serial].answers[key].value
                pressed = keys_for(page, row, kind, truth, last=n == len(rows) - 1)
                for k in pressed:
                    if k.startswith("type:"):
                        page.keyboard.type(k[5:])  # one character of Vietnamese text: one key with the input method
                    else:
                        page.keyboard.press(k)
                keys_by_kind[kind].append(len(pressed) + (1 if n == len(rows) - 1 else 0))  # + Enter, once a screen
                expected[item_id] = truth or None
            before = page.get_attribute("#item", "data-item-id")
            pressed_at = time.perf_counter()
            page.keyboard.press("Enter")
            page.wait_for_function(f"!document.getElementById('item') || "
                                   f"(document.getElementById('item').dataset.itemId != '{before}' && "
                                   "document.getElementById('item').dataset.ready)")
            done = time.perf_counter()
            swap_ms.append((done - pressed_at) * 1000)
            screen_ms.append((done - started) * 1000 / len(rows))
        browser.close()
    with db.session() as s:
        stored = {i.id: s.get_one(Answer, i.answer_id).final_value
                  for i in s.scalars(select(ReviewItem).where(ReviewItem.id.in_(list(expected))))}
    wrong = {k: (v, stored.get(k)) for k, v in expected.items() if stored.get(k) != v}
    keys = [k for ks in keys_by_kind.values() for k in ks]
    q = statistics.quantiles
    return {
        "decisions": len(expected), "screens": len(swap_ms), "wrong": len(wrong), "wrong_examples": list(wrong.items())[:5],
        "keys_per_decision": round(sum(keys) / len(keys), 2),
        "keys_per_decision_by_kind": {k: {"decisions": len(v), "keys": round(sum(v) / len(v), 2)} for k, v in keys_by_kind.items()},
        "enter_to_next_ready_ms": {"p50": round(statistics.median(swap_ms), 1), "p95": round(q(swap_ms, n=20)[18], 1)},
        "scripted_ms_per_decision": {"p50": round(statistics.median(screen_ms), 1), "p95": round(q(screen_ms, n=20)[18], 1)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100, help="rows to decide (the queue is filled to at least this)")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    machine = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "python": platform.python_version(),
               "platform": platform.platform()}
    print("machine:", machine)
    with tempfile.TemporaryDirectory(prefix="phieu-reviewer-") as tmp:
        home = Path(tmp)
        started = time.perf_counter()
        db, truths = prepare(home, args.items, args.seed)
        print(f"queue of {args.items}+ rows from {len(truths)} scanned sheets in {time.perf_counter() - started:.0f} s")
        server, url = serve(home)
        try:
            result = review(url, db, truths, args.items)
        finally:
            server.terminate()
            server.wait(10)
            db.dispose()
    result["machine"] = machine
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, ensure_ascii=False, indent=1))
    OUT.mkdir(exist_ok=True)
    (OUT / "reviewer.json").write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    print("written", OUT / "reviewer.json")


if __name__ == "__main__":
    main()
