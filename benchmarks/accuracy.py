"""Accuracy of the whole pipeline on filled SIPAS sheets, per kind of returned sheet.

For each kind (see ``phieu/provingground/kinds.py``: the profiles office, fax, phone and the kinds of
issue 8: loops, askew-clipped, qr-clipped, phone-table, stray-dots, real-marks, bw-scanner): print N
sheets in a fresh workspace, fill them with the proving ground and degrade them as that kind, scan
them through ``pipeline.run.scan_paths``, and compare what was stored with the ground truth:

- pages, pages identified (the right sheet and page), pages read (identified and aligned);
- wrong auto-accepted answers: count and share of the accepted ones (target <= 0.01 %);
- answers sent to review: share of stored answers, with the reasons (<= 2 % scanners, <= 5 % photos);
- missing answers (their page was not read).

    .venv/bin/python benchmarks/accuracy.py --kinds loops,askew-clipped --sheets 200 --split final
    .venv/bin/python benchmarks/accuracy.py --sheets 10 --kinds loops --split tune --dump /tmp/fails

``--split tune`` (seeds 1000+, one half of the real marks) is for looking at failures; ``final`` (the
default: seeds 9000+, the other half) gives the reported figures. ``--dump DIR`` writes every page
with a wrong or reviewed answer, or not read: the page as scanned, the aligned page when there is
one, and a JSON of truth against what was stored. The real marks are cut from Auto Multiple
Choice's scans (``--amc``, default ``../shared/corpora/amc-scans``), cached in benchmarks/out/cache.

Prints the machine and the figures; writes benchmarks/out/accuracy.json and accuracy.md (the
README's table).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import select

from formgen.definition import load_definition
from formgen.render import build_form
from phieu.demo import EXAMPLE
from phieu.provingground.bundle import PageRecord
from phieu.provingground.kinds import KINDS, Kind, generate
from phieu.provingground.realmarks import MarkBank, Split, load_bank
from phieu.provingground.score import answer_verdicts, score_answers
from phieu.provingground.truth import SheetTruth, chosen_boxes
from phieu.workspace import Workspace
from pipeline.executor import worker_count
from pipeline.run import scan_paths
from storage import surveys
from storage.db import Database
from storage.files import FileStore
from storage.models import Page, ScanFile, Sheet

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "benchmarks" / "out"
TARGET_WRONG = 0.0001


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model or platform.processor(), "cores": worker_count(0), "python": platform.python_version(),
            "platform": platform.platform()}


def amc_root(given: str | None) -> Path:
    """The amc-scans corpus: ``--amc``, ``PHIEU_AMC_SCANS``, or ``shared/corpora/amc-scans`` beside the
    repository (or beside its parent folder, for a worktree)."""
    if given or os.environ.get("PHIEU_AMC_SCANS"):
        return Path(given or os.environ["PHIEU_AMC_SCANS"])
    for base in (REPO.parent, REPO.parent.parent):
        if (base / "shared" / "corpora" / "amc-scans").is_dir():
            return base / "shared" / "corpora" / "amc-scans"
    return REPO.parent / "shared" / "corpora" / "amc-scans"


def run_kind(kind: Kind, sheets: int, jobs: int, root: Path, *, split: Split, ocr: bool, bank: MarkBank | None,
             dump: Path | None) -> dict[str, Any]:
    ws = Workspace.create(root, database_url=f"sqlite:///{root / 'phieu.sqlite3'}")
    db, store = Database.for_workspace(ws), FileStore(ws.files_dir)
    built = build_form(load_definition(EXAMPLE))
    with db.session() as session:
        surveys.register_edition(session, built.definition, yaml_text=EXAMPLE.read_text(encoding="utf-8"),
                                 layout=built.layout, blank_pdf=built.blank_pdf, files=store, actor="bench")
        serials = surveys.allocate_serials(session, built.layout.survey, built.layout.edition, sheets,
                                           actor="bench").serials
    workers = worker_count(jobs)
    started = time.perf_counter()
    truths, records = generate(built, list(serials), ws.secret(), root / "scans", kind=kind, split=split,
                               workers=workers, bank=bank)
    generated = time.perf_counter() - started
    settings = ws.settings.model_copy(update={"scan": ws.settings.scan.model_copy(update={"jobs": jobs})})
    summary = scan_paths(db, store, [root / "scans"], secret=ws.secret(), settings=settings, source="bench", ocr=ocr)
    with db.session() as session:
        score = score_answers(session, built.layout.survey, truths)
        pages = page_facts(session, records)
        if dump is not None:
            verdicts = answer_verdicts(session, built.layout.survey, truths)
            dumped = dump_pages(dump / kind.name, kind, truths, records, pages["rows"], verdicts, built.layout, store)
    db.dispose()
    s = score.as_dict()
    accepted = score.accepted
    result = {
        "kind": kind.name,
        "what": kind.what,
        "profile": kind.profile,
        "mix": kind.mix,
        "split": split,
        "sheets": sheets,
        "pages": len(records),
        "pages_identified": pages["identified"],
        "pages_read": pages["read"],
        "pages_misidentified": pages["misidentified"],
        "not_read_reasons": pages["not_read_reasons"],
        "answers": score.answers,
        "accepted": accepted,
        "wrong": score.wrong,
        "wrong_accepted_share": score.wrong_share,
        "review": score.review,
        "review_share": score.review_share,
        "review_expected": score.review_expected,
        "review_reasons": s["review_reasons"],
        "missing": score.missing,
        "wrong_examples": s["wrong_examples"],
        "targets": {"wrong_accepted_share": TARGET_WRONG, "review_share": 0.05 if kind.photo else 0.02,
                    "pages_read_share": 1.0},
        "generate_seconds": round(generated, 1),
        "generate_seconds_per_page": round(generated / max(len(records), 1), 3),
        "generate_workers": workers,
        "real_mark_sources": sorted(bank.sources()) if (bank is not None and kind.real_marks) else [],
        "scan": summary.as_dict(),
    }
    if dump is not None:
        result["dumped_pages"] = dumped
    return result


def page_facts(session: Any, records: list[PageRecord]) -> dict[str, Any]:
    """Pages identified as the right sheet page, pages read, and why the others were not."""
    rows = session.execute(
        select(ScanFile.original_name, Page.index_in_file, Page.status, Page.reason, Sheet.serial, Page.page_number,
               Page.aligned_sha256)
        .join(ScanFile, Page.scan_file_id == ScanFile.id)
        .outerjoin(Sheet, Page.sheet_id == Sheet.id)
    )
    found = {(str(Path(name)), index): (status, reason, serial, number, aligned)
             for name, index, status, reason, serial, number, aligned in rows}
    identified = read = misidentified = 0
    reasons: Counter[str] = Counter()
    by_record: dict[tuple[str, int], tuple[Any, ...]] = {}
    for r in records:
        row = found.get((str(Path(r.path)), r.index))
        by_record[(r.path, r.index)] = row or ("missing", "page not stored", None, None, None)
        if row is None:
            reasons["not stored"] += 1
            continue
        status, reason, serial, number, _aligned = row
        right = serial == r.serial and number == r.page
        identified += right
        misidentified += serial is not None and not right
        if right and status == "identified":
            read += 1
        else:
            reasons[(reason or status).split(":", 1)[0]] += 1
    return {"identified": identified, "read": read, "misidentified": misidentified,
            "not_read_reasons": dict(reasons), "rows": by_record}


def dump_pages(folder: Path, kind: Kind, truths: list[SheetTruth], records: list[PageRecord],
               rows: dict[tuple[str, int], tuple[Any, ...]], verdicts: dict[tuple[int, str, str], Any],
               layout: Any, store: FileStore) -> int:
    """Every page with a wrong or reviewed answer, or not read: its scan, the aligned page, and a JSON."""
    where: dict[tuple[str, str], int] = {}
    for q in layout.questions:
        for box in layout.all_boxes():
            if box.question == q.id:
                where[(q.id, (box.item or "") if q.kind == "grid" else "")] = box.page
        for region in layout.all_regions():
            if region.question == q.id:
                where.setdefault((q.id, region.id if region.kind == "writein" else ""), region.page)
    by_serial = {t.serial: t for t in truths}
    folder.mkdir(parents=True, exist_ok=True)
    count = 0
    for r in records:
        status, reason, _serial, _number, aligned = rows[(r.path, r.index)]
        truth = by_serial[r.serial]
        answers = []
        for (question, item), expected in truth.answers.items():
            if where.get((question, item)) != r.page:
                continue
            v = verdicts[(r.serial, question, item)]
            answers.append({"question": question, "item": item, "verdict": v.verdict, "truth": expected.value,
                            "expect": expected.expect, "marks": [[m.box_id, m.style] for m in expected.marks],
                            "chosen_boxes": sorted(chosen_boxes(expected)), "stored": v.stored,
                            "status": v.status, "reason": v.reason})
        bad = [a for a in answers if a["verdict"] == "wrong" or (a["verdict"] == "review" and a["expect"] != "review")]
        if status == "identified" and not bad:
            continue
        stem = folder / f"{r.serial:07d}-p{r.page}"
        _save_scan(Path(r.path), r.index, stem)
        if aligned:
            shutil.copyfile(store.path(aligned), stem.with_name(stem.name + "-aligned.jpg"))
        facts = {"kind": kind.name, "file": r.path, "index_in_file": r.index, "serial": r.serial, "page": r.page,
                 "damage": list(r.damage), "lost_marks": list(r.lost_marks), "page_status": status,
                 "page_reason": reason, "problems": bad, "answers": answers}
        stem.with_suffix(".json").write_text(json.dumps(facts, ensure_ascii=False, indent=1), encoding="utf-8")
        count += 1
    return count


def _save_scan(path: Path, index: int, stem: Path) -> None:
    """The page as the scanner or phone wrote it: a JPEG copied, a PDF or TIFF page as PNG."""
    if path.suffix.lower() in (".jpg", ".jpeg"):
        shutil.copyfile(path, stem.with_suffix(path.suffix.lower()))
        return
    if path.suffix.lower() == ".pdf":
        import pypdfium2 as pdfium

        doc = pdfium.PdfDocument(str(path))
        doc[index].render(scale=200 / 72).to_pil().save(stem.with_suffix(".png"))
        return
    from PIL import Image

    with Image.open(path) as im:
        im.seek(index)
        im.save(stem.with_suffix(".png"))


def markdown(report: dict[str, Any]) -> str:
    head = ("| kind | what | sheets | pages | identified | read | answers | wrong auto-accepted | to review | "
            "missing | targets met | generation |\n|---|---|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in report["kinds"]:
        pages = r["pages"] or 1
        met = (r["wrong_accepted_share"] <= TARGET_WRONG and r["review_share"] <= r["targets"]["review_share"]
               and r["pages_read"] == r["pages"])
        lines.append(
            f"| {r['kind']} | {r['what']} | {r['sheets']} | {r['pages']} | {r['pages_identified'] / pages:.1%} | "
            f"{r['pages_read'] / pages:.1%} | {r['answers']:,} | {r['wrong']} ({r['wrong_accepted_share']:.2%}) | "
            f"{r['review_share']:.1%} | {r['missing']} | {'yes' if met else 'no'} | "
            f"{r['generate_seconds_per_page']:.2f} s/page |"
        )
    note = (f"\nSplit `{report['split']}`; targets: wrong ≤ 0.01 % of accepted answers, review ≤ 2 % (scanners) "
            f"or ≤ 5 % (photos), every page identified and read. Generation: wall time per page with "
            f"{report['kinds'][0]['generate_workers'] if report['kinds'] else 0} workers.\n")
    return "\n".join(lines) + "\n" + note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sheets", type=int, default=200, help="filled sheets per kind (issue: at least 200)")
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated, from: {', '.join(KINDS)}")
    parser.add_argument("--profiles", help="the old name of --kinds (office, fax, phone)")
    parser.add_argument("--split", choices=("tune", "final"), default="final",
                        help="tune: seeds and real marks for looking at failures; final (default): reported figures")
    parser.add_argument("--jobs", type=int, default=0, help="worker processes (0 = one per core)")
    parser.add_argument("--ocr", action="store_true", help="also draft handwriting with tesseract (slower)")
    parser.add_argument("--dump", type=Path, help="write every failing page (scan, aligned page, JSON) here")
    parser.add_argument("--amc", help="the amc-scans corpus (real marks); default ../shared/corpora/amc-scans")
    args = parser.parse_args()
    names = [k.strip() for k in (args.profiles or args.kinds).split(",") if k.strip()]
    unknown = [k for k in names if k not in KINDS]
    if unknown:
        sys.exit(f"accuracy.py: unknown kind(s) {', '.join(unknown)}; choose from {', '.join(KINDS)}")
    bank = None
    if any(KINDS[k].real_marks for k in names):
        root = amc_root(args.amc)
        if not root.is_dir():
            sys.exit(f"accuracy.py: {root} not found: the real-marks kind needs the amc-scans corpus; "
                     "give its folder with --amc DIR (or leave out real-marks)")
        bank = load_bank(root, args.split, cache_dir=OUT / "cache")
        print(f"real marks ({args.split} half): {len(bank)} from {len(bank.sources())} scans of {root}")
    report: dict[str, Any] = {"machine": machine(), "split": args.split, "kinds": []}
    print(f"machine: {report['machine']}")
    OUT.mkdir(parents=True, exist_ok=True)
    for name in names:
        with tempfile.TemporaryDirectory(prefix=f"phieu-acc-{name}-") as tmp:
            r = run_kind(KINDS[name], args.sheets, args.jobs, Path(tmp), split=args.split, ocr=args.ocr, bank=bank,
                         dump=args.dump)
        report["kinds"].append(r)
        _print(r)
        # after every kind: a long run interrupted keeps what it measured
        (OUT / "accuracy.json").write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
        (OUT / "accuracy.md").write_text(markdown(report), encoding="utf-8")
    print()
    print(markdown(report))
    print(f"written {OUT / 'accuracy.json'} and {OUT / 'accuracy.md'}")


def _print(r: dict[str, Any]) -> None:
    pages = r["pages"] or 1
    print(
        f"{r['kind']:13s} ({r['generate_seconds']:.0f} s to fill, {r['generate_seconds_per_page']:.2f} s/page with "
        f"{r['generate_workers']} workers; {r['scan']['seconds']:.0f} s to scan) sheets {r['sheets']} pages {r['pages']}: "
        f"identified {r['pages_identified'] / pages:.1%}, read {r['pages_read'] / pages:.1%} "
        f"{r['not_read_reasons'] or ''}; answers {r['answers']}, wrong auto-accepted {r['wrong']} of {r['accepted']} "
        f"({r['wrong_accepted_share']:.3%}), review {r['review_share']:.2%} (target ≤ {r['targets']['review_share']:.0%}; "
        f"{r['review_expected']} asked for by the truth) {r['review_reasons']}, missing {r['missing']}"
    )
    for example in r["wrong_examples"][:5]:
        print(f"    wrong: {example}")


if __name__ == "__main__":
    main()
