"""The web application's background runner (pipeline.jobs / pipeline.runner): scans and re-reads run in one
process of their own, never in the web server's threads. Two re-reads and an upload sent at once all
land whole in the database; a cancelled scan stops cleanly and is finished later; a re-read of the
pages of a survey registered since, from the unidentified pages screen."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hostile_corpus import PKS05, other_survey, page_without_code
from pipeline_helpers import Printed, print_sipas, with_jobs
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from formgen.definition import load_definition
from formgen.render import build_form
from phieu.provingground import hostile
from pipeline.jobs import Job
from pipeline.runner import LocalRunner
from review_ui.accounts import create_user
from review_ui.app import create_app
from storage import surveys
from storage.models import Answer, AuditEvent, Page, ReviewItem, ScanBatch, ScanFile

pytestmark = pytest.mark.slow
PASSWORD = "mat-khau-123"


def _app(printed: Printed) -> Any:
    with printed.db.session() as s:
        create_user(s, "giamsat", PASSWORD, "supervisor")
        create_user(s, "vanthu", PASSWORD, "clerk")
    return create_app(printed.ws.database_url, printed.ws.files_dir, settings=with_jobs(printed.ws.settings, 1),
                      secret_key="k", qr_secret=printed.secret, upload_dir=printed.ws.home / "uploads")


def _client(app: Any, username: str) -> tuple[Any, dict[str, str]]:
    client = app.test_client()
    token = client.get("/api/login").json["csrf"]
    assert client.post("/api/login", json={"username": username, "password": PASSWORD},
                       headers={"X-CSRFToken": token}).status_code == 200
    return client, {"X-CSRFToken": client.get("/api/login").json["csrf"]}


def test_two_rereads_and_an_upload_at_once(tmp_path: Path) -> None:
    printed = print_sipas(tmp_path / "ws", 4)
    summary = printed.scan(page_without_code(printed, 1, tmp_path), page_without_code(printed, 2, tmp_path))
    assert summary.unidentified == 2
    printed.bundle([3, 4], tmp_path / "upload", profile="office", seed=9)
    with printed.db.session() as s:
        waiting = {p.id: s.scalars(select(ReviewItem).where(ReviewItem.page_id == p.id)).one().version
                   for p in s.scalars(select(Page).order_by(Page.id))}
    app = _app(printed)
    try:
        answers: dict[str, Any] = {}
        start = threading.Barrier(3)

        def assign(serial: int, page_id: int, version: int) -> None:
            client, headers = _client(app, "giamsat")
            start.wait()
            body = {"survey": printed.survey, "serial": serial, "page_number": 1, "version": version}
            answers[f"page-{serial}"] = client.post(f"/api/pages/{page_id}/assign", json=body, headers=headers)

        def upload() -> None:
            client, headers = _client(app, "vanthu")
            with (tmp_path / "upload" / "bundle.pdf").open("rb") as fh:
                boundary, data = encode_multipart({"files": FileStorage(fh, filename="bó phiếu 3-4.pdf")})
            start.wait()
            response = client.post("/api/upload/files", data=data, headers=headers,
                                   content_type=f"multipart/form-data; boundary={boundary}")
            assert response.status_code == 202, response.json
            deadline = time.monotonic() + 300
            while (job := client.get(response.json["status"]).json["job"])["state"] in ("queued", "running"):
                assert time.monotonic() < deadline, job
                time.sleep(0.2)
            answers["upload"] = job

        (first, v1), (second, v2) = waiting.items()
        threads = [threading.Thread(target=assign, args=(1, first, v1)), threading.Thread(target=assign, args=(2, second, v2)),
                   threading.Thread(target=upload)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(360)
        for serial in (1, 2):
            response = answers[f"page-{serial}"]
            assert response.status_code == 200 and response.json["reread"] is True, response.json
        assert answers["upload"]["state"] == "done", answers["upload"]
        pages = 2 * printed.built.layout.page_count
        assert answers["upload"]["summary"]["identified"] == pages
    finally:
        app.extensions["phieu"].close()
    with printed.db.session() as s:
        for page_id in (first, second):
            page = s.get_one(Page, page_id)
            assert page.status == "identified" and page.aligned_sha256 and page.aligned_dpi == 150.0
            assert s.scalar(select(func.count()).select_from(Answer).where(Answer.page_id == page_id)) > 0
        assert s.scalar(select(func.count()).select_from(Page).where(Page.status == "identified")) == pages + 2
        assert s.scalar(select(func.count()).select_from(ReviewItem).where(ReviewItem.kind == "page",
                                                                           ReviewItem.status == "open")) == 0
        assert s.scalar(select(func.count()).select_from(AuditEvent)
                        .where(AuditEvent.action == "scan.page_rerecorded")) == 2
        assert all(b.finished_at is not None for b in s.scalars(select(ScanBatch)))


def test_a_cancelled_scan_stops_cleanly_and_resumes(tmp_path: Path) -> None:
    printed = print_sipas(tmp_path / "ws", 6)
    printed.bundle(printed.serials, tmp_path / "in", profile="office", seed=4)
    runner = LocalRunner(printed.ws.database_url, printed.ws.files_dir, with_jobs(printed.ws.settings, 1), printed.secret)
    try:
        job = runner.submit(Job("scan", {"paths": [str(tmp_path / "in")], "source": "upload"}, user="vanthu"))
        deadline = time.monotonic() + 120
        while (status := runner.status(job.id)) is not None and status.done < 3:
            assert not status.finished and time.monotonic() < deadline, status
            time.sleep(0.05)
        assert runner.cancel(job.id)
        status = runner.wait(job.id, 60)
        assert status is not None and status.state == "cancelled", status
        with printed.db.session() as s:
            batch = s.scalars(select(ScanBatch)).one()
            assert batch.finished_at is not None and batch.summary["interrupted"] is True
            assert s.scalars(select(ScanFile.status)).one() == "interrupted"
            stored = s.scalar(select(func.count()).select_from(Page)) or 0
        total = len(printed.serials) * printed.built.layout.page_count
        assert 3 <= stored < total
        again = runner.submit(Job("scan", {"paths": [], "resume": True}, user="vanthu"))
        finished = runner.wait(again.id, 300)
        assert finished is not None and finished.state == "done", finished
        assert finished.result and finished.result["identified"] == total - stored
    finally:
        runner.close()
    with printed.db.session() as s:
        assert s.scalars(select(ScanFile.status)).one() == "done"


def test_reread_button_reads_pages_of_a_survey_registered_since(tmp_path: Path) -> None:
    printed = print_sipas(tmp_path / "ws", 1)
    assert printed.scan(other_survey(printed, tmp_path)).unidentified == 1
    app = _app(printed)
    try:
        client, headers = _client(app, "giamsat")
        assert client.get("/api/pages/unidentified").json["rereadable"] == 0
        built = build_form(load_definition(PKS05))
        with printed.db.session() as s:
            surveys.register_edition(s, built.definition, yaml_text=PKS05.read_text(encoding="utf-8"),
                                     layout=built.layout, blank_pdf=built.blank_pdf, files=printed.store, actor="test")
            surveys.allocate_serials(s, "PKS05", built.layout.edition, 1, actor="test")
        assert client.get("/api/pages/unidentified").json["rereadable"] == 1
        page = client.get("/pages/unidentified")
        assert b'id="reread"' in page.data
        done = client.post("/api/pages/reread", json={}, headers=headers)
        assert done.status_code == 200 and done.json["job"]["state"] == "done", done.json
        assert done.json["job"]["result"]["identified"] == 1
        assert client.get("/api/pages/unidentified").json["pages"] == []
    finally:
        app.extensions["phieu"].close()


def test_an_upload_with_hostile_files_reads_the_good_one(tmp_path: Path) -> None:
    printed = print_sipas(tmp_path / "ws", 1)
    printed.bundle([1], tmp_path / "good", profile="office", seed=2)
    bad = [hostile.password_pdf(tmp_path / "mat-khau.pdf"), hostile.pixel_bomb_png(tmp_path / "bom.png"),
           hostile.huge_tiff(tmp_path / "the.tif"), hostile.mediabox_bomb_pdf(tmp_path / "mediabox.pdf")]
    app = _app(printed)
    try:
        client, headers = _client(app, "vanthu")
        handles = [p.open("rb") for p in [tmp_path / "good" / "bundle.pdf", *bad]]
        try:
            boundary, data = encode_multipart({"files": [FileStorage(fh, filename=Path(fh.name).name) for fh in handles]})
        finally:
            for fh in handles:
                fh.close()
        started = client.post("/api/upload/files", data=data, headers=headers,
                              content_type=f"multipart/form-data; boundary={boundary}")
        assert started.status_code == 202, started.json
        job = client.get(started.json["status"]).json["job"]
        deadline = time.monotonic() + 240
        while job["state"] in ("queued", "running"):
            assert time.monotonic() < deadline, job
            time.sleep(0.2)
            job = client.get(started.json["status"]).json["job"]
        assert job["state"] == "done", job
        summary = job["summary"]
        assert summary["identified"] == printed.built.layout.page_count
        reasons = sorted(e["reason"] for e in summary["errors"])
        assert reasons == ["page_size_limit", "password_protected", "pixel_limit", "pixel_limit"]
        assert all(any(p.name in e["message"] for p in bad) for e in summary["errors"])
        page = client.get(f"/upload/jobs/{job['id']}")
        assert "mat-khau.pdf" in page.get_data(as_text=True)  # the clerk sees each file named
    finally:
        app.extensions["phieu"].close()


def test_a_runner_that_dies_fails_its_job_and_the_next_job_starts_a_new_one(tmp_path: Path) -> None:
    printed = print_sipas(tmp_path / "ws", 6)
    printed.bundle(printed.serials, tmp_path / "in", profile="office", seed=4)
    runner = LocalRunner(printed.ws.database_url, printed.ws.files_dir, with_jobs(printed.ws.settings, 1), printed.secret)
    try:
        job = runner.submit(Job("scan", {"paths": [str(tmp_path / "in")]}, user="vanthu"))
        deadline = time.monotonic() + 120
        while (status := runner.status(job.id)) is not None and status.done < 2:
            assert not status.finished and time.monotonic() < deadline, status
            time.sleep(0.05)
        first = runner.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        failed = runner.wait(job.id, 30)
        assert failed is not None and failed.state == "failed" and "submit again" in (failed.error or ""), failed
        again = runner.submit(Job("scan", {"paths": [str(tmp_path / "in")]}, user="vanthu"))
        done = runner.wait(again.id, 300)
        assert done is not None and done.state == "done", done
        assert runner.pid not in (None, first)
        assert done.result and done.result["recovered"]["batches"]  # the dead runner's batch was closed
    finally:
        runner.close()
    with printed.db.session() as s:
        assert s.scalars(select(ScanFile.status)).one() == "done"
        assert s.scalar(select(func.count()).select_from(Page).where(Page.status == "identified")) == 30
