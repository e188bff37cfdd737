"""Browser upload of scan files (clerks): saved, then handed to the background runner as a scan job
(``pipeline.jobs``; the pipeline never runs in a request thread); the page polls the job's progress;
finished batches show their summaries.

Each job's folder keeps its record (``job.json``: files, who, state, summary), so a restarted server
still shows the job, and finishes a scan it was interrupted in (scanning is idempotent: the pages
already stored are skipped)."""

from __future__ import annotations

import json
import logging
import os
import uuid
from pathlib import Path
from typing import Any

from flask import Blueprint, redirect, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.utils import secure_filename

from core.errors import ConflictError, NotFoundError
from pipeline.jobs import Job, JobStatus
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
    runner = state().runner
    jobs = [record(s) for s in runner.jobs() if s.kind == "scan" and "folder" in s.params] if runner else []
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
    if app.runner is None:
        raise ConflictError(_("Máy chủ này không quét tệp tải lên.") + " / This server does not scan uploads.")
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
    status = app.runner.submit(_scan_job(job_id, folder, names, me().username))
    job = record(status)
    if wants_json():
        return {"job": job, "status": url_for("upload.job", job_id=job_id, format="json")}, 202
    return redirect(url_for("upload.job", job_id=job_id))


@route(bp, "/upload/jobs/<job_id>", allowed=UPLOADERS)
def job(job_id: str) -> Any:
    runner = state().runner
    found = runner.status(job_id) if runner is not None else None
    if found is None or found.kind != "scan":
        raise NotFoundError(f"Không có lượt tải lên {job_id} / no upload {job_id}")
    data = record(found)
    data.update(state_words=word("job_state", data.get("state")), lines=[str(x) for x in summary_lines(data.get("summary"))])
    return respond("job.html", {"job": data})


JOB_RECORD = "job.json"


def _scan_job(job_id: str, folder: Path, names: list[Any], user: str) -> Job:
    params = {"paths": [str(folder)], "source": "upload", "folder": str(folder), "files": names}
    return Job("scan", params, user=user, id=job_id)


def record(status: JobStatus) -> dict[str, Any]:
    """What the upload pages show of a scan job (and what its record keeps)."""
    return {"id": status.id, "files": status.params.get("files", []), "state": status.state, "done": status.done,
            "total": status.total, "summary": status.result, "error": status.error, "user": status.user}


def save_record(app: AppState, status: JobStatus) -> None:
    """The runner's hook on every change of a job's state: an upload's record follows it, beside its files."""
    folder = status.params.get("folder")
    if status.kind == "scan" and folder and Path(folder).is_dir():
        _save(Path(folder), record(status))


def _save(folder: Path, job: dict[str, Any]) -> None:
    """Write the job's record beside its files, whole or not at all."""
    tmp = folder / f".{JOB_RECORD}.tmp"
    tmp.write_text(json.dumps(job, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, folder / JOB_RECORD)


def resume_jobs(app: AppState) -> int:
    """Load every upload job recorded under the upload folder; hand again to the runner the ones a stopped
    server left queued or running. Returns how many were handed again."""
    root = Path(app.upload_dir)
    if not root.is_dir() or app.runner is None:
        return 0
    restarted = 0
    for path in sorted(root.glob(f"*/{JOB_RECORD}")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("upload record %s unreadable (%s); its files stay in %s", path, exc, path.parent)
            continue
        job_id = str(data.get("id") or path.parent.name)
        job = _scan_job(job_id, path.parent, list(data.get("files") or []), str(data.get("user") or ""))
        if data.get("state") in ("queued", "running"):
            log.info("upload %s was interrupted: scanning it again (pages already stored are skipped)", job_id)
            app.runner.submit(job)
            restarted += 1
        else:
            app.runner.remember(JobStatus(job_id, "scan", str(data.get("state") or "done"), int(data.get("done") or 0),
                                          int(data.get("total") or 0), data.get("summary"), data.get("error"),
                                          job.user, job.params))
    return restarted
