"""Pages read by `phieu worker` processes over a real Redis (Debian's redis-server), stored by the scanning
process: the database equals a local run's; `kill -9` of a worker in the middle of a page ends with the
broker handing the page out again, no page stored twice and none lost; a worker with another secret is
refused by name; the web application's uploads go through `phieu worker --writer`."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from pipeline_helpers import Printed, print_sipas
from queue_helpers import PHIEU, Workers, env_for, picture, redis_server, stored_once, wait_for_nodes

from core.settings import Settings
from pipeline.queue import celery_app

pytestmark = pytest.mark.slow
SHEETS = 6
AGAIN = "page handed out again"


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Printed, Path, dict[str, Any]]:
    """A local run (worker processes on this machine, no broker): the figures to compare with. The scans
    hold the sheets and, in a second file, the first sheet scanned again (its pages are duplicates)."""
    root = tmp_path_factory.mktemp("reference")
    printed = print_sipas(root / "ws", SHEETS)
    scans = root / "scans"
    printed.bundle(printed.serials, scans, profile="office", seed=5, name="bundle")
    printed.bundle(printed.serials[:1], scans, profile="office", seed=9, name="again")
    printed.scan(scans, jobs=1)
    shot = picture(printed.db)
    printed.db.dispose()
    return printed, scans, shot


def queued_workspace(reference: tuple[Printed, Path, dict[str, Any]], home: Path, **queue: int) -> Path:
    """A new workspace with the reference's secret and the same sheets printed (same serials)."""
    home.mkdir(parents=True)
    shutil.copyfile(reference[0].ws.home / "secret.key", home / "secret.key")
    if queue:
        (home / "settings.yaml").write_text("queue:\n" + "".join(f"  {k}: {v}\n" for k, v in queue.items()), encoding="utf-8")
    print_sipas(home, SHEETS).db.dispose()
    return home


def scan(env: dict[str, str], scans: Path, *, wait: bool = True) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([PHIEU, "scan", "--queue", str(scans)], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    if wait:
        out, _ = process.communicate(timeout=600)
        assert process.returncode in (0, 10), out.decode(errors="replace")
    return process


def _database(home: Path):  # type: ignore[no-untyped-def]
    from phieu.workspace import Workspace
    from storage.db import Database

    return Database.for_workspace(Workspace.open(home))


def test_two_queue_workers_store_what_a_local_run_stores(reference, broker: str, tmp_path: Path) -> None:
    printed, scans, expected = reference
    home = queued_workspace(reference, tmp_path / "ws")
    env = env_for(home, broker)
    workers = Workers(tmp_path)
    try:
        workers.start(env)
        workers.start(env)
        wait_for_nodes(broker, 2)
        scan(env, scans)
    finally:
        workers.stop()
    db = _database(home)
    assert picture(db) == expected
    stored_once(db)
    db.dispose()
    for n in (0, 1):  # both workers read pages
        assert "phieu.page" in workers.log(n) and "succeeded" in workers.log(n), workers.log(n)


def _active(app: Any, node: str) -> list[dict[str, Any]]:
    return (app.control.inspect(destination=[node], timeout=1.0).active() or {}).get(node, [])


def _redelivered(workers: Workers) -> int:
    return sum(workers.log(n).count(AGAIN) for n in range(len(workers.processes)))


def test_kill_9_of_workers_mid_page_ends_with_redelivery_no_page_twice_none_lost(reference, broker: str,
                                                                                tmp_path: Path) -> None:
    """Worker B is killed as a whole, its page process with it (the broker hands its task out again after
    the visibility timeout), then worker A's page process mid-page (its task is handed back at once)."""
    printed, scans, expected = reference
    home = queued_workspace(reference, tmp_path / "ws", visibility_timeout_seconds=5, restore_interval_seconds=1)
    env = env_for(home, broker)
    workers = Workers(tmp_path)
    app = celery_app(broker, Settings())
    try:
        a, b = workers.start(env), workers.start(env)
        nodes = wait_for_nodes(broker, 2)
        node_of = {int(n.rsplit("-", 1)[1]): n for n in nodes}
        station = scan(env, scans, wait=False)
        while not _active(app, node_of[b.pid]):
            assert station.poll() is None, "the scan ended before B could be killed"
        os.kill(b.pid, signal.SIGKILL)  # the worker itself: its page process dies with it (lifeline)
        for _attempt in range(5):  # then A's page process, until a kill lands in the middle of a page
            while not (tasks := _active(app, node_of[a.pid])):
                assert station.poll() is None, "the scan ended before a page could be killed"
            os.kill(int(tasks[0]["worker_pid"]), signal.SIGKILL)
            deadline = time.monotonic() + 3  # handed back at once; B's page comes back only after 5 s
            while not _redelivered(workers) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _redelivered(workers):
                break
        assert _redelivered(workers) == 1, "no page was handed out again after killing A's page process"
        out, _ = station.communicate(timeout=600)
        assert station.returncode in (0, 10), out.decode(errors="replace")
    finally:
        app.close()
        workers.stop()
    assert _redelivered(workers) >= 2, workers.log(0)  # B's page came back after the visibility timeout
    assert b.returncode == -signal.SIGKILL
    db = _database(home)
    assert picture(db) == expected  # none lost: every page stored, read as the local run read it
    stored_once(db)  # none stored twice
    db.dispose()


def test_a_worker_with_another_secret_is_refused_by_name(reference, broker: str, tmp_path: Path) -> None:
    printed, scans, _expected = reference
    home = queued_workspace(reference, tmp_path / "ws")
    stranger = tmp_path / "stranger"
    subprocess.run([PHIEU, "--home", str(stranger), "init"], check=True, capture_output=True)
    workers = Workers(tmp_path)
    try:
        workers.start(env_for(stranger, broker))
        wait_for_nodes(broker, 1)
        process = scan(env_for(home, broker), scans, wait=False)
        out, _ = process.communicate(timeout=300)
    finally:
        workers.stop()
    text = out.decode(errors="replace")
    assert process.returncode == 6, text
    assert "secret.key" in text and "khóa bí mật khác" in text



def test_web_uploads_and_rereads_go_through_the_writer(broker: str, tmp_path: Path) -> None:
    """With a broker the web application runs no scan itself: its upload and a page re-read after a person
    assigned it go to `phieu worker --writer`, whose scan hands the pages to a page worker."""
    from hostile_corpus import page_without_code
    from sqlalchemy import func, select
    from werkzeug.datastructures import FileStorage
    from werkzeug.test import encode_multipart

    from pipeline.queue_jobs import CeleryRunner
    from review_ui.accounts import create_user
    from review_ui.app import create_app
    from storage.models import Page, ReviewItem

    printed = print_sipas(tmp_path / "ws", 3)
    assert printed.scan(page_without_code(printed, 1, tmp_path)).unidentified == 1
    printed.bundle([2, 3], tmp_path / "upload", profile="office", seed=9)
    with printed.db.session() as s:
        create_user(s, "vanthu", "mat-khau-123", "clerk")
        create_user(s, "giamsat", "mat-khau-123", "supervisor")
        page_id, version = s.execute(select(ReviewItem.page_id, ReviewItem.version)).one()
    env = env_for(printed.ws.home, broker)
    workers = Workers(tmp_path)
    app = create_app(printed.ws.database_url, printed.ws.files_dir, settings=printed.ws.settings, secret_key="k",
                     qr_secret=printed.secret, upload_dir=printed.ws.home / "uploads", broker_url=broker)
    try:
        assert isinstance(app.extensions["phieu"].runner, CeleryRunner)
        workers.start(env, "--writer")
        workers.start(env)
        wait_for_nodes(broker, 2)
        client = app.test_client()

        def login(name: str) -> dict[str, str]:
            token = client.get("/api/login").json["csrf"]
            assert client.post("/api/login", json={"username": name, "password": "mat-khau-123"},
                               headers={"X-CSRFToken": token}).status_code == 200
            return {"X-CSRFToken": client.get("/api/login").json["csrf"]}

        headers = login("vanthu")
        with (tmp_path / "upload" / "bundle.pdf").open("rb") as fh:
            boundary, data = encode_multipart({"files": FileStorage(fh, filename="bó phiếu 2-3.pdf")})
        response = client.post("/api/upload/files", data=data, headers=headers,
                               content_type=f"multipart/form-data; boundary={boundary}")
        assert response.status_code == 202, response.json
        deadline = time.monotonic() + 300
        while (job := client.get(response.json["status"]).json["job"])["state"] in ("queued", "running"):
            assert time.monotonic() < deadline, job
            time.sleep(0.2)
        assert job["state"] == "done" and job["summary"]["identified"] == 10, job
        headers = login("giamsat")
        body = {"survey": printed.survey, "serial": 1, "page_number": 1, "version": version}
        assigned = client.post(f"/api/pages/{page_id}/assign", json=body, headers=headers)
        assert assigned.status_code == 200 and assigned.json["reread"] is True, assigned.json
    finally:
        app.extensions["phieu"].close()
        workers.stop()
    assert "phieu.job" in workers.log(0) and "phieu.page" in workers.log(1)
    with printed.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Page).where(Page.status == "identified")) == 11
    printed.db.dispose()
