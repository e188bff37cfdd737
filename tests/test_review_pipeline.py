"""End to end through real components: the SIPAS example built by formgen, sheets stamped, filled and
degraded by the proving ground, uploaded by a clerk through the browser endpoint (the scan pipeline
runs in the background), then reviewed over HTTP until the queue is empty; every decision uses the
ground truth and lands in the database beside the untouched machine reading."""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from pipeline_helpers import sipas_database
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from core.settings import ScanSettings, Settings
from phieu.provingground.bundle import make_bundle
from review_ui.app import create_app
from storage.models import Answer, Decision, Page, ReviewItem

PASSWORD = "mat-khau-123"
SECRET = bytes(range(32))

pytestmark = pytest.mark.slow


def _client(app, username: str):  # type: ignore[no-untyped-def]
    client = app.test_client()
    token = client.get("/api/login").json["csrf"]
    assert client.post("/api/login", json={"username": username, "password": PASSWORD}, headers={"X-CSRFToken": token}).status_code == 200
    return client, {"X-CSRFToken": client.get("/api/login").json["csrf"]}


def test_uploaded_scans_are_reviewed_to_the_truth(tmp_path: Path) -> None:
    sipas = sipas_database(tmp_path, 2, {"vanthu": "clerk", "duyet1": "reviewer"}, PASSWORD)
    url, db, built, serials = sipas.url, sipas.db, sipas.built, sipas.serials
    truths = {t.serial: t for t in make_bundle(built, built.layout, serials, profile="office", rng=np.random.default_rng(5),
                                                out_dir=tmp_path / "scans", secret=SECRET, mix="mixed")}
    settings = Settings(scan=ScanSettings(jobs=1))
    app = create_app(url, tmp_path / "files", settings=settings, secret_key="k", qr_secret=SECRET, upload_dir=tmp_path / "up")

    clerk, headers = _client(app, "vanthu")
    bundle = next((tmp_path / "scans").iterdir())
    with bundle.open("rb") as fh:  # encoded in memory: the test client's temp-file encoder never closes its file
        boundary, body = encode_multipart({"files": FileStorage(fh, filename=bundle.name)})
    started = clerk.post("/api/upload/files", data=body, headers=headers,
                         content_type=f"multipart/form-data; boundary={boundary}")
    assert started.status_code == 202, started.json
    deadline = time.monotonic() + 240
    while (job := clerk.get(started.json["status"]).json["job"])["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.3)
    assert job["state"] == "done", job["error"]
    assert job["summary"]["identified"] == 2 * built.layout.page_count and job["done"] == job["total"] > 0
    assert any(b["summary"].get("pages") == job["summary"]["pages"] for b in clerk.get("/api/upload").json["batches"])
    assert f"{job['summary']['identified']} trang nhận dạng được." in job["lines"]  # what happened, in words
    with bundle.open("rb") as fh:  # the same bundle again: nothing new, and the job says so
        boundary, body = encode_multipart({"files": FileStorage(fh, filename=bundle.name)})
    again = clerk.post("/api/upload/files", data=body, headers=headers, content_type=f"multipart/form-data; boundary={boundary}")
    while (repeat := clerk.get(again.json["status"]).json["job"])["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, repeat
        time.sleep(0.3)
    assert repeat["lines"][0] == "1 tệp đã được quét trước đây: bỏ qua, không có gì thay đổi.", repeat["lines"]

    reviewer, headers = _client(app, "duyet1")
    decided = 0
    while (data := reviewer.post("/api/review/next", json={}, headers=headers).json).get("item"):
        for row in data["rows"]:  # each row its own picture
            crop = reviewer.get(row["crop"])
            assert crop.status_code == 200
            assert cv2.imdecode(np.frombuffer(crop.data, np.uint8), cv2.IMREAD_GRAYSCALE).std() > 10  # printed content
        serial = data["item"]["serial"]
        decisions = []
        for row in data["rows"]:
            truth = truths[serial].answers[(data["question"]["id"], row["row"])]
            decisions.append({"item_id": row["item_id"], "version": row["version"], "value": truth.value})
        response = reviewer.post(f"/api/review/{data['item']['id']}/decide", json={"decisions": decisions}, headers=headers)
        assert response.status_code == 200, response.json
        decided += len(decisions)
    with db.session() as s:
        assert s.scalar(select(ReviewItem.id).where(ReviewItem.status == "open", ReviewItem.kind != "page")) is None
        reviewed = s.scalars(select(Answer).join(Decision, Decision.answer_id == Answer.id)).all()
        assert len(reviewed) == decided > 0
        for answer in reviewed:
            assert answer.final_value == truths[answer.sheet.serial].answers[(answer.question, answer.item)].value
    app.extensions["phieu"].close()
    db.dispose()


def test_an_upload_interrupted_by_a_restart_is_finished_by_the_next_server(tmp_path: Path) -> None:
    sipas = sipas_database(tmp_path, 2, {"vanthu": "clerk"}, PASSWORD)
    url, db, built, serials = sipas.url, sipas.db, sipas.built, sipas.serials
    # what a server stopped mid-scan leaves: the uploaded files and the job's record, still "running";
    # one more upload finished earlier and must simply be shown again
    running, finished = tmp_path / "up" / "a1b2c3d4e5f6", tmp_path / "up" / "0123456789ab"
    make_bundle(built, built.layout, serials, profile="office", rng=np.random.default_rng(8), out_dir=running,
                secret=SECRET, mix="mixed")
    finished.mkdir()
    for folder, state in [(running, "running"), (finished, "done")]:
        record = {"id": folder.name, "files": ["bo.pdf"], "state": state, "done": 3, "total": 10,
                  "summary": {"pages": 0} if state == "done" else None, "error": None, "user": "vanthu"}
        (folder / "job.json").write_text(json.dumps(record), encoding="utf-8")
    settings = Settings(scan=ScanSettings(jobs=1))
    app = create_app(url, tmp_path / "files", settings=settings, secret_key="k", qr_secret=SECRET, upload_dir=tmp_path / "up")

    clerk, _ = _client(app, "vanthu")
    deadline = time.monotonic() + 240
    while (job := clerk.get(f"/api/upload/jobs/{running.name}").json["job"])["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.3)
    assert job["state"] == "done", job["error"]
    assert job["summary"]["identified"] == 2 * built.layout.page_count
    assert json.loads((running / "job.json").read_text(encoding="utf-8"))["state"] == "done"  # the record follows
    assert clerk.get(f"/api/upload/jobs/{finished.name}").json["job"]["state"] == "done"
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Page).where(Page.status == "identified")) == 2 * built.layout.page_count
    app.extensions["phieu"].close()
    db.dispose()
