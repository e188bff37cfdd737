"""Browser upload of scan files (clerks): saved, then scanned by the same pipeline as `phieu scan` in a
background thread; the page polls the job's progress; finished batches show their summaries.

Each job's folder keeps its record (``job.json``: files, who, state, summary), so a restarted server
still shows the job, and finishes a scan it was interrupted in (scanning is idempotent: the pages
already stored are skipped)."""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from pathlib import Path
from typing import Any

from flask import Blueprint, redirect, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.utils import secure_filename

from core.errors import ConflictError, NotFoundError
from review_ui.web import AppState, me, respond, route, state, wants_json
from review_ui.web import session as db_session
from review_ui.words import summary_lines, word
from storage.models import ScanBatch

bp = Blueprint("upload", __name__)
log = logging.getLogger(__name__)
UPLOADERS = ("admin", "supervisor", "clerk")
ACCEPTED = (".pdf", ".tif", ".tiff", ".png", ".jpg", ".jpeg")


@route(bp, "/upload", allowed=UPLOADERS)
def index() -> Any:
    with db_session() as s:
        batches = [
            {"id": b.id, "source": b.source, "by": b.created_by, "started": b.started_at.isoformat(timespec="seconds"),
             "finished": b.finished_at.isoformat(timespec="seconds") if b.finished_at else None, "summary": b.summary}
            for b in s.scalars(select(ScanBatch).order_by(ScanBatch.id.desc()).limit(20))
        ]
    app = state()
    with app.jobs_lock:
        jobs = [dict(j) for j in app.jobs.values()]
    return respond("upload.html", {"batches": batches, "jobs": jobs, "accepted": ACCEPTED})


@route(bp, "/upload/files", allowed=UPLOADERS, methods=("POST",))
def receive() -> Any:
    files = [f for f in request.files.getlist("files") if f.filename]
    if not files:
        raise ConflictError(_("Hãy chọn ít nhất một tệp.") + " / Choose at least one file.")
    bad = [f.filename for f in files if Path(f.filename or "").suffix.lower() not in ACCEPTED]
    if bad:
        raise ConflictError(_("Loại tệp không nhận:") + f" {', '.join(map(str, bad))} / accepted: {' '.join(ACCEPTED)}")
    app = state()
    job_id = uuid.uuid4().hex[:12]
    folder = Path(app.upload_dir) / job_id
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for n, f in enumerate(files):
        name = f"{n:03d}-{secure_filename(f.filename or 'scan') or 'scan'}"
        try:
            f.save(folder / name)
        finally:
            f.close()
        names.append(f.filename)
    job = {"id": job_id, "files": names, "state": "queued", "done": 0, "total": 0, "summary": None, "error": None,
           "user": me().username}
    with app.jobs_lock:
        app.jobs[job_id] = job
    _save(folder, job)
    _start(app, job_id, folder)
    if wants_json():
        return {"job": job, "status": url_for("upload.job", job_id=job_id, format="json")}, 202
    return redirect(url_for("upload.job", job_id=job_id))


@route(bp, "/upload/jobs/<job_id>", allowed=UPLOADERS)
def job(job_id: str) -> Any:
    app = state()
    with app.jobs_lock:
        found = app.jobs.get(job_id)
        data = dict(found) if found else None
    if data is None:
        raise NotFoundError(f"Không có lượt tải lên {job_id} / no upload {job_id}")
    data.update(state_words=word("job_state", data.get("state")), lines=[str(x) for x in summary_lines(data.get("summary"))])
    return respond("job.html", {"job": data})


def _run(app: AppState, job_id: str, folder: Path) -> None:
    """Scan the uploaded folder with the pipeline; progress and the summary go into the job record."""

    def update(**fields: Any) -> None:
        with app.jobs_lock:
            app.jobs[job_id].update(fields)
            record = dict(app.jobs[job_id])
        if "state" in fields:  # not on every page: the record says where the job stands, not how far
            _save(folder, record)

    def progress(done: int, total: int) -> None:
        with app.jobs_lock:
            app.jobs[job_id].update(done=done, total=total)

    update(state="running")
    try:
        from phieu.pipeline import scan_paths

        if app.qr_secret is None:
            raise RuntimeError("workspace secret not configured for uploads")
        user = app.jobs[job_id]["user"]
        summary = scan_paths(app.db, app.store, [folder], secret=app.qr_secret, settings=app.settings,
                             source="upload", user=user, progress=progress)
        update(state="done", summary=summary.as_dict())
    except Exception as exc:  # noqa: BLE001 - reported on the job page; the uploaded files stay in the folder
        log.exception("upload %s failed", job_id)
        update(state="failed", error=f"{type(exc).__name__}: {exc}")


JOB_RECORD = "job.json"


def _start(app: AppState, job_id: str, folder: Path) -> None:
    threading.Thread(target=_run, args=(app, job_id, folder), name=f"upload-{job_id}", daemon=True).start()


def _save(folder: Path, job: dict[str, Any]) -> None:
    """Write the job's record beside its files, whole or not at all."""
    tmp = folder / f".{JOB_RECORD}.tmp"
    tmp.write_text(json.dumps(job, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, folder / JOB_RECORD)


def resume_jobs(app: AppState) -> int:
    """Load every upload job recorded under the upload folder; start again the ones a stopped server
    left queued or running. Returns how many were started."""
    root = Path(app.upload_dir)
    if not root.is_dir():
        return 0
    restarted = 0
    for record in sorted(root.glob(f"*/{JOB_RECORD}")):
        try:
            job = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("upload record %s unreadable (%s); its files stay in %s", record, exc, record.parent)
            continue
        job_id = str(job.get("id") or record.parent.name)
        unfinished = job.get("state") in ("queued", "running")
        if unfinished:
            job.update(state="queued", done=0, total=0)
        with app.jobs_lock:
            if job_id in app.jobs:
                continue
            app.jobs[job_id] = job
        if unfinished and app.qr_secret is not None:
            log.info("upload %s was interrupted: scanning it again (pages already stored are skipped)", job_id)
            _start(app, job_id, record.parent)
            restarted += 1
    return restarted
