"""`phieu demo`: the whole job on a fresh workspace, with the proving ground as respondents.

Registers the SIPAS example with the Quảng Trị 2024 sample frame, prints every village's sheets by
frame, plays a week of fieldwork (``demo_fieldwork``), fills and degrades the first sheets (office
scanner, a few phone photos, one sheet with a forged code, one sheet photocopied and scanned twice),
scans them through the real pipeline, writes the CSV export, compares what was stored with the
ground truth, and ends with the results: the report PDF, the XLSX and the SPSS file, and the overall
index, per unit of the frame (province, districts, communes, villages). Serving the review UI
afterwards is the CLI's part (only the CLI imports ``review_ui``).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import ConflictError, NotFoundError
from formgen.definition import load_definition
from formgen.layout import Layout
from formgen.render import BuiltForm, build_form, stamp_sheets
from phieu import demo_fieldwork
from phieu.provingground.bundle import make_bundle, make_photocopy, stamp, stamp_forged
from phieu.provingground.kinds import bundle_in_parallel
from phieu.provingground.score import Score, score_answers
from phieu.provingground.truth import SheetTruth
from phieu.workspace import DEFAULT_HOME, Workspace
from pipeline.executor import worker_count
from pipeline.run import ScanSummary, scan_paths
from storage import surveys
from storage.db import Database
from storage.export import export_rows, write_csv
from storage.files import FileStore

log = logging.getLogger(__name__)

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sipas-2024.yaml"
DEMO_USER = "demo"
DEMO_PASSWORD = "demo-phieu-2024"
MARKER = ".phieu-demo"  # only a folder holding this file is ever emptied by the demo
PHONE_SHEETS = 3  # sheets photographed with a phone instead of scanned


@dataclass
class DemoResult:
    workspace: Workspace
    home: Path
    summary: ScanSummary
    export_path: Path
    score: Score
    print_path: Path
    results: DemoResults | None = None


@dataclass
class DemoResults:
    """What the demo's results step wrote and found."""

    report_path: Path
    xlsx_path: Path
    sav_path: Path
    title: str
    overall: float | None
    provisional: bool
    open_answers: int


def demo_home(home: str | Path | None) -> Path:
    """``--home`` if given, else ``./phieu-data/demo``."""
    return Path(home).resolve() if home else (Path(DEFAULT_HOME) / "demo").resolve()


def run_demo(
    home: str | Path | None,
    *,
    sheets: int = 50,
    jobs: int | None = None,
    seed: int = 2024,
    say: Callable[[str], object] = print,
) -> DemoResult:
    """Run the demo in a fresh workspace (an earlier demo workspace there is replaced)."""
    root = _fresh(demo_home(home))
    ws = open_demo_workspace(root)
    settings = ws.settings
    if jobs is not None:
        settings = settings.model_copy(update={"scan": settings.scan.model_copy(update={"jobs": jobs})})
    say(f"Không gian làm việc thử / demo workspace: {root}")
    db, store = Database.for_workspace(ws), FileStore(ws.files_dir)

    built, printed, print_path = _register_and_print(ws, db, store)
    say(f"Đã in theo khung mẫu Quảng Trị / printed by the Quảng Trị frame: {len(printed)} phiếu / sheets "
        f"({built.layout.page_count} trang mỗi phiếu): {print_path}")
    serials = printed[:sheets]
    demo_fieldwork.simulate(db, built.layout.survey, printed, serials, seed=seed)

    scans = root / "scans"
    truths = _returned_sheets(built, serials, ws.secret(), scans, seed, worker_count(settings.scan.jobs))
    say(f"Đã điền và quét giả lập / filled and degraded: {scans}")

    summary = scan_paths(db, store, [scans], secret=ws.secret(), settings=settings, source="demo", user=DEMO_USER)
    demo_fieldwork.verify(db, built.layout.survey, seed=seed)
    total = demo_fieldwork.figures(db, built.layout.survey).total.counts
    say(f"Thực địa / fieldwork: {total.printed} in / printed, {total.delivered} phát / delivered, {total.collected} thu / "
        f"collected, {total.refused + total.absent} từ chối hoặc vắng / refused or absent, {total.scanned} quét / scanned")
    export_path = root / "export" / f"{built.layout.survey}.csv"
    export_path.parent.mkdir(exist_ok=True)
    with db.session() as session:
        header, rows = export_rows(session, built.layout.survey)
        score = score_answers(session, built.layout.survey, truths)
    write_csv(export_path, header, rows)
    results = write_results(db, built.layout.survey, export_path.parent, ws)
    db.dispose()
    return DemoResult(ws, root, summary, export_path, score, print_path, results)


def write_results(db: Database, survey: str, out: Path, ws: Workspace) -> DemoResults:
    """The report PDF, the XLSX and the SAV of ``survey`` in ``out``, and the overall index."""
    from results import exports, spss
    from results.report import write_report
    from results.service import survey_results

    with db.session() as session:
        computed = survey_results(session, survey, by=["all"])
    paths = (out / f"{survey}-bao-cao.pdf", out / f"{survey}.xlsx", out / f"{survey}.sav")
    write_report(computed, paths[0], settings=ws.settings.results)
    exports.write_xlsx(computed.data, paths[1])
    spss.write_sav(computed.data, paths[2])
    overall = computed.results.whole.overall
    return DemoResults(*paths, title=computed.results.index.title, overall=overall.rate,
                       provisional=computed.results.provisional, open_answers=overall.tally.n_open)


def open_demo_workspace(root: Path) -> Workspace:
    """The demo's workspace: always its own SQLite file, whatever PHIEU_DATABASE_URL says."""
    return Workspace.create(root, database_url=f"sqlite:///{root / 'phieu.sqlite3'}")


def _fresh(root: Path) -> Path:
    if root.exists() and any(root.iterdir()):
        if not (root / MARKER).exists():
            raise ConflictError(
                f"{root} đã có dữ liệu và không phải thư mục thử / holds data and is not a demo workspace; "
                "chọn thư mục khác với --home / choose another folder with --home"
            )
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text("phieu demo workspace: `phieu demo` may replace this folder\n", encoding="utf-8")
    return root


def _register_and_print(ws: Workspace, db: Database, store: FileStore) -> tuple[BuiltForm, list[int], Path]:
    """Register SIPAS-2024 and print every village of the Quảng Trị frame (486 sheets)."""
    if not EXAMPLE.exists():
        raise NotFoundError(f"{EXAMPLE}: thiếu bảng hỏi mẫu / the example questionnaire is missing")
    built = build_form(load_definition(EXAMPLE))
    with db.session() as session:
        surveys.register_edition(session, built.definition, yaml_text=EXAMPLE.read_text(encoding="utf-8"),
                                 layout=built.layout, blank_pdf=built.blank_pdf, files=store, actor="demo")
    serials = demo_fieldwork.print_frame(db, built.layout.survey, built.layout.edition)
    print_path = ws.home / "print" / "sheets.pdf"
    print_path.parent.mkdir(exist_ok=True)
    stamp_sheets(built, serials, ws.secret(), print_path)
    return built, serials, print_path


def _returned_sheets(
    built: BuiltForm, serials: list[int], secret: bytes, out: Path, seed: int, workers: int
) -> list[SheetTruth]:
    """Write the scan files the clerk would bring back; returns the truth of every genuine sheet."""
    photos = min(PHONE_SHEETS, max(1, len(serials) // 4))
    office, phone = serials[:-photos], serials[-photos:]
    truths = fill_in_parallel(built, office, secret, out, profile="office", fmt="pdf", seed=seed, workers=workers)
    truths += fill_in_parallel(built, phone, secret, out / "phone", profile="phone", fmt="jpeg", seed=seed + 100,
                               workers=1, name="photo")
    layout = built.layout
    copied = truths[0]
    make_photocopy(stamp(built, [copied.serial], secret), layout, [copied.serial], copied, profile="office",
                   rng=np.random.default_rng(seed + 200), out_dir=out, name="photocopy")
    forged_serial = serials[-1] + 1  # looks like the next sheet; its code is signed with another key
    _forged(built, layout, forged_serial, out, seed)
    return truths


def fill_in_parallel(
    built: BuiltForm,
    serials: list[int],
    secret: bytes,
    out: Path,
    *,
    profile: str,
    fmt: str,
    seed: int,
    workers: int,
    name: str | None = None,
    mix: str = "mixed",
) -> list[SheetTruth]:
    """``make_bundle`` split over ``workers`` processes: one scan file per worker (``NAME-k``).

    Returns the truths in the order of ``serials``. Used by the demo (the benchmarks use the
    proving ground's kinds, which also say where every page went).
    """
    truths, _pages = bundle_in_parallel(built, serials, secret, out, profile=profile, formats=(fmt,),  # type: ignore[arg-type]
                                        seed=seed, workers=workers, name=name or profile, mix=mix)
    return truths


def _forged(built: BuiltForm, layout: Layout, serial: int, out: Path, seed: int) -> None:
    make_bundle(stamp_forged(built, [serial]), layout, [serial], profile="office",
                rng=np.random.default_rng(seed + 300), out_dir=out, name="forged")
