"""`phieu scan`, `phieu reread` and `phieu demo`: a thin shell over the pipeline and phieu.demo.

Exit codes of `phieu scan` (see docs/scanning.md): 0 every page identified and stored; 10 the scan
finished but some pages need attention (unidentified or duplicate); 4 a file or a page could not be
read (recorded with its reason; the other files and pages are scanned anyway).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click

from core.errors import PhieuError
from phieu.workspace import Workspace

SCAN_EPILOG = (
    "Exit codes: 0 all pages identified; 10 some pages unidentified or duplicate (see the review UI); "
    "4 a file or page could not be read (the others were scanned)."
)


def _open(ctx: click.Context) -> tuple[Workspace, Any, Any]:
    from storage.db import Database
    from storage.files import FileStore

    ws: Workspace = ctx.obj.workspace()
    return ws, Database.for_workspace(ws), FileStore(ws.files_dir)


def _bar(total_hint: int = 0) -> Any:
    from tqdm import tqdm

    return tqdm(total=total_hint or None, unit="trang", desc="Quét / scan", file=sys.stderr, leave=False)


def run_scan(ws: Workspace, db: Any, store: Any, paths: list[Path], *, jobs: int | None, source: str,
             resume: bool = False, queue: bool = False) -> Any:
    """Scan ``paths`` with a progress bar and print the summary table; returns the ScanSummary."""
    from pipeline.run import scan_paths

    bar = _bar()

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        summary = scan_paths(db, store, paths, secret=ws.secret(), settings=_with_jobs(ws, jobs), source=source,
                             progress=progress, resume=resume, broker_url=ws.broker_url if queue else None)
    finally:
        bar.close()
    print_summary(summary)
    return summary


def _with_jobs(ws: Workspace, jobs: int | None) -> Any:
    settings = ws.settings
    if jobs is not None:
        settings = settings.model_copy(update={"scan": settings.scan.model_copy(update={"jobs": jobs})})
    return settings


def print_summary(summary: Any) -> None:
    rows = [
        ("Tệp / files", summary.files),
        ("  đã quét trước đó / already scanned", summary.files_already_done),
        ("  không đọc được / unreadable", len(summary.failed_files)),
        ("Trang / pages", summary.pages),
        ("  nhận diện / identified", summary.identified),
        ("  trùng lặp / duplicates", summary.duplicates),
        ("  chưa nhận diện / unidentified", summary.unidentified),
        ("  không đọc được / unreadable", summary.unreadable),
        ("  trang trắng / blank", summary.blank),
        ("  đọc lại / read again", summary.reread),
        ("  trạm khác đã lưu / stored by another station", summary.stored_elsewhere),
        ("Câu trả lời lưu / answers stored", summary.answers_stored),
        ("  cần duyệt / sent to review", summary.answers_to_review),
        ("Thời gian / time (s)", f"{summary.seconds:.1f}"),
        ("Trang/giây / pages per second", f"{summary.pages_per_second:.1f}"),
    ]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        click.echo(f"{label.ljust(width)}  {value}")
    recovered = summary.recovered or {}
    if recovered.get("batches"):
        names = ", ".join(Path(n).name for n in recovered.get("files_interrupted", [])) or "-"
        click.secho(f"Lần quét trước bị dừng giữa chừng / earlier run(s) interrupted: #"
                    f"{', #'.join(map(str, recovered['batches']))}; tệp chưa đọc xong / unfinished files: {names}. "
                    "Chạy `phieu scan --resume` để đọc nốt / run `phieu scan --resume` to finish them.",
                    fg="yellow", err=True)
    if recovered.get("files_resumed"):
        click.echo(f"Đã đọc nốt / resumed: {', '.join(Path(n).name for n in recovered['files_resumed'])}")
    if summary.cancelled:
        click.secho("Đã dừng theo yêu cầu / cancelled: các trang đã lưu được giữ / pages stored are kept.", err=True)
    for error in summary.errors:
        label = "Lỗi tệp / file error" if error.page is None else "Lỗi trang / page error"
        click.secho(f"{label} [{error.reason}]: {error.message}", fg="red", err=True)


@click.command("scan", epilog=SCAN_EPILOG)
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--jobs", "-j", type=click.IntRange(min=0), default=None, help="Worker processes (0 = one per core).")
@click.option("--watch", "watch_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Hot folder: keep scanning files dropped into DIR (Ctrl+C to stop).")
@click.option("--settle", type=float, default=2.0, show_default=True,
              help="With --watch: seconds a file's size must stay unchanged before it is scanned.")
@click.option("--quarantine", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="With --watch: where unreadable files are moved, each with a note (default DIR/_quarantine).")
@click.option("--resume", is_flag=True,
              help="Also read to the end the files a run that died (kill, power cut) left unfinished.")
@click.option("--queue", "queue", is_flag=True,
              help="Pages are read by `phieu worker` processes through the broker (PHIEU_BROKER_URL); this process stores them.")
@click.pass_context
def scan(ctx: click.Context, paths: tuple[Path, ...], jobs: int | None, watch_dir: Path | None, settle: float,
         quarantine: Path | None, resume: bool, queue: bool) -> None:
    """Quét các tệp và thư mục / scan files and folders (PDF, TIFF, PNG, JPEG) into the workspace."""
    if not paths and watch_dir is None and not resume:
        raise click.UsageError("give at least one PATH, --watch DIR or --resume")
    from pipeline.forkserver import start_early

    ws: Workspace = ctx.obj.workspace()  # refused at once when there is none: no fork server for nothing
    if queue and not ws.broker_url:
        raise click.UsageError("--queue needs PHIEU_BROKER_URL (redis://host:6379/0), see docs/deploy.md")
    if not queue:
        start_early(jobs)  # the workers' imports overlap opening the database
    ws, db, store = _open(ctx)
    code = 0
    if paths or resume:
        code = run_scan(ws, db, store, list(paths), jobs=jobs, source="cli", resume=resume, queue=queue).exit_code
    if watch_dir is not None:
        from pipeline.watch import scan_hot_folder

        def scan_files(files: list[Path]) -> Any:
            try:
                return run_scan(ws, db, store, files, jobs=jobs, source="watch", queue=queue)
            except PhieuError as exc:  # the station keeps watching; restarting the watch retries these files
                click.secho(f"Lỗi / Error: {exc}", fg="red", err=True)
                raise

        click.echo(f"Đang theo dõi / watching {watch_dir.resolve()} (Ctrl+C để dừng / to stop)")
        scan_hot_folder(watch_dir, scan_files, quarantine=quarantine, settle_seconds=settle)
    sys.exit(code)


@click.command("reread")
@click.argument("survey", required=False)
@click.option("--all-unidentified", "every", is_flag=True,
              help="Every unidentified page waiting for a person, not only those of a survey registered since.")
@click.option("--jobs", "-j", type=click.IntRange(min=0), default=None, help="Worker processes (0 = one per core).")
@click.pass_context
def reread(ctx: click.Context, survey: str | None, every: bool, jobs: int | None) -> None:
    """Đọc lại trang đã lưu / read stored pages again: after `survey add`, the pages of that survey
    that were not identified (unknown survey) are read from the stored originals. Machine readings
    already stored are never replaced."""
    from pipeline.rerun import reread_pages

    ws, db, store = _open(ctx)
    bar = _bar()

    def progress(done: int, total: int) -> None:
        bar.total, bar.n = total, done
        bar.refresh()

    try:
        summary = reread_pages(db, store, secret=ws.secret(), settings=_with_jobs(ws, jobs), survey=survey,
                               every=every, progress=progress, user="cli")
    finally:
        bar.close()
    click.echo(f"Đọc lại / read again: {summary.pages} trang / pages; nhận diện / identified {summary.identified}, "
               f"trùng lặp / duplicates {summary.duplicates}, vẫn chưa nhận diện / still unidentified "
               f"{summary.still_unidentified}; câu trả lời lưu / answers stored {summary.answers_stored} "
               f"({summary.answers_to_review} cần duyệt / to review)")
    for error in summary.errors:
        click.secho(f"Lỗi / error: {error}", fg="red", err=True)
    if summary.pages == 0:
        click.echo("Không có trang nào cần đọc lại / no pages to read again "
                   "(đăng ký khảo sát trước: phieu survey add FILE.yaml).")


@click.command("demo")
@click.option("--home", "demo_home", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Demo workspace (default: <workspace>/demo, i.e. ./phieu-data/demo). Replaced if it is one.")
@click.option("--sheets", type=click.IntRange(min=2), default=50, show_default=True, help="Sheets to print and fill.")
@click.option("--no-serve", is_flag=True, help="Stop after the scan and export; do not start the review UI.")
@click.option("--port", type=int, default=8080, show_default=True, help="Port of the review UI.")
@click.option("--jobs", "-j", type=click.IntRange(min=0), default=None, help="Worker processes (0 = one per core).")
@click.pass_context
def demo(ctx: click.Context, demo_home: Path | None, sheets: int, no_serve: bool, port: int, jobs: int | None) -> None:
    """Chạy thử toàn bộ / the whole job on a fresh workspace: print, fill, scan, export, review."""
    from phieu.demo import DEMO_PASSWORD, DEMO_USER, run_demo

    started = time.perf_counter()
    home = demo_home or (Path(ctx.obj.home) / "demo" if ctx.obj.home else None)
    result = run_demo(home, sheets=sheets, jobs=jobs, say=click.echo)
    print_summary(result.summary)
    score = result.score
    click.echo(
        f"So với đáp án thật / against the ground truth: {score.correct} đúng / correct, {score.wrong} sai / wrong, "
        f"{score.review} cần duyệt / to review ({score.review_share:.1%})"
    )
    click.echo(f"CSV: {result.export_path}")
    if result.results is not None:
        r = result.results
        value = "—" if r.overall is None else f"{r.overall:.2f}".replace(".", ",") + " %"
        note = f" (tạm tính / provisional: {r.open_answers} câu trả lời chưa xong / answers open)" if r.provisional else ""
        click.echo(f"{r.title}: {value}{note}")
        click.echo(f"Báo cáo / report: {r.report_path}\nXLSX: {r.xlsx_path}\nSPSS: {r.sav_path}")
    click.echo(f"Xong sau / done in {time.perf_counter() - started:.0f} s. Không gian làm việc / workspace: {result.home}")
    if no_serve:
        return
    _serve_demo(result.workspace, port, DEMO_USER, DEMO_PASSWORD)


def _serve_demo(ws: Workspace, port: int, username: str, password: str) -> None:
    from review_ui.accounts import create_user
    from review_ui.app import serve
    from storage.db import Database

    db = Database.for_workspace(ws)
    with db.session() as session:
        create_user(session, username, password, "supervisor", full_name="Người duyệt thử / demo reviewer",
                    actor="demo")
    db.dispose()

    def ready(url: str) -> None:
        click.echo(f"Giao diện duyệt / review UI: {url}  đăng nhập / login: {username} / {password}  "
                   "(Ctrl+C để dừng / to stop)")

    serve(ws, "127.0.0.1", port, ready_callback=ready)


COMMANDS: list[click.Command] = [scan, reread, demo]  # `phieu export` lives in commands/results.py
