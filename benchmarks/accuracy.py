"""Accuracy of the whole pipeline on filled SIPAS sheets, per degradation profile.

For each profile: print N sheets in a fresh workspace, fill them with the proving ground (random
answers, human-like marks) and degrade them, scan them through ``pipeline.run.scan_paths``, and
compare what was stored with the ground truth. Figures (issue #3 targets):

- wrong auto-accepted share: auto-accepted answers that differ from the truth (≤ 0.01 %);
- review share: stored answers sent to a person (≤ 2 % office, ≤ 5 % phone);
- identified share: pages identified (100 % on the scanner profiles office and fax).

    .venv/bin/python benchmarks/accuracy.py --sheets 200 [--profiles office,fax,phone] [--jobs 0]

Prints the machine and the figures, writes benchmarks/out/accuracy.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from formgen.definition import load_definition
from formgen.render import build_form
from phieu.demo import EXAMPLE, fill_in_parallel
from phieu.provingground.score import score_answers
from phieu.workspace import Workspace
from pipeline.executor import worker_count
from pipeline.run import scan_paths
from storage import surveys
from storage.db import Database
from storage.files import FileStore

OUT = Path(__file__).resolve().parent / "out"
FORMATS = {"office": "pdf", "fax": "tiff", "phone": "jpeg"}
TARGET_REVIEW = {"office": 0.02, "fax": 0.02, "phone": 0.05}


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


def run_profile(profile: str, sheets: int, jobs: int, root: Path, *, seed: int, ocr: bool) -> dict[str, Any]:
    ws = Workspace.create(root, database_url=f"sqlite:///{root / 'phieu.sqlite3'}")
    db, store = Database.for_workspace(ws), FileStore(ws.files_dir)
    built = build_form(load_definition(EXAMPLE))
    with db.session() as session:
        surveys.register_edition(session, built.definition, yaml_text=EXAMPLE.read_text(encoding="utf-8"),
                                 layout=built.layout, blank_pdf=built.blank_pdf, files=store, actor="bench")
        serials = surveys.allocate_serials(session, built.layout.survey, built.layout.edition, sheets,
                                           actor="bench").serials
    started = time.perf_counter()
    truths = fill_in_parallel(built, serials, ws.secret(), root / "scans", profile=profile, fmt=FORMATS[profile],
                              seed=seed, workers=worker_count(jobs))
    generated = time.perf_counter() - started
    settings = ws.settings.model_copy(update={"scan": ws.settings.scan.model_copy(update={"jobs": jobs})})
    summary = scan_paths(db, store, [root / "scans"], secret=ws.secret(), settings=settings, source="bench", ocr=ocr)
    with db.session() as session:
        score = score_answers(session, built.layout.survey, truths)
    db.dispose()
    result = {
        "profile": profile,
        "sheets": sheets,
        "pages": summary.pages,
        "identified_share": summary.identified / summary.pages if summary.pages else 0.0,
        "wrong_accepted_share": score.wrong_share,
        "review_share": score.review_share,
        "targets": {"wrong_accepted_share": 0.0001, "review_share": TARGET_REVIEW[profile],
                    "identified_share": 1.0 if profile != "phone" else None},
        "score": score.as_dict(),
        "scan": summary.as_dict(),
        "generate_seconds": round(generated, 1),
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sheets", type=int, default=200, help="filled sheets per profile (issue: at least 200)")
    parser.add_argument("--profiles", default="office,fax,phone")
    parser.add_argument("--jobs", type=int, default=0, help="worker processes (0 = one per core)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--ocr", action="store_true", help="also draft handwriting with tesseract (slower)")
    args = parser.parse_args()
    report: dict[str, Any] = {"machine": machine(), "profiles": []}
    print(f"machine: {report['machine']}")
    for profile in args.profiles.split(","):
        with tempfile.TemporaryDirectory(prefix=f"phieu-acc-{profile}-") as tmp:
            r = run_profile(profile, args.sheets, args.jobs, Path(tmp), seed=args.seed, ocr=args.ocr)
        report["profiles"].append(r)
        s = r["score"]
        print(
            f"{profile:6s} ({r['generate_seconds']:.0f} s to fill, {r['scan']['seconds']:.0f} s to scan) "
            f" sheets {r['sheets']} pages {r['pages']}: identified {r['identified_share']:.2%}, "
            f"answers {s['answers']}, wrong auto-accepted {s['wrong']} ({r['wrong_accepted_share']:.4%}), "
            f"review {r['review_share']:.2%} (target ≤ {TARGET_REVIEW[profile]:.0%}), missing {s['missing']}; "
            f"review reasons {s['review_reasons']}"
        )
        for example in s["wrong_examples"][:5]:
            print(f"    wrong: {example}")
        OUT.mkdir(exist_ok=True)  # after every profile: a long run interrupted keeps what it measured
        (OUT / "accuracy.json").write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
    print(f"written {OUT / 'accuracy.json'}")


if __name__ == "__main__":
    main()
