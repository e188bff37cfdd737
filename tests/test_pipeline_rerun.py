"""A page the machine could not identify, helped by a person, then read again (``rerun_page``);
and the hot folder taking files once they are complete."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from pipeline_helpers import Printed, print_sipas
from sqlalchemy import func, select

from phieu.provingground.bundle import stamp
from phieu.provingground.degrade import degrade
from phieu.provingground.filler import fill_page
from phieu.provingground.truth import random_truth
from phieu.provingground.writers import write_png
from pipeline.rerun import rerun_page
from pipeline.watch import stable_files, watch_folder
from scanner.render import render_pdf_page
from storage import review_queue
from storage.models import Answer, Page, ReviewItem, User

DPI = 300.0


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> Printed:
    return print_sipas(tmp_path_factory.mktemp("ws"), 2)


def _page_without_code(printed: Printed, serial: int, out: Path, *, turn: int = 0) -> Path:
    """Page 1 of a filled sheet whose QR code and printed digits were torn off (whited out)."""
    layout = printed.built.layout
    page = layout.page(1)
    image = render_pdf_page(stamp(printed.built, [serial], printed.secret), 0, dpi=DPI)
    truth = random_truth(layout, np.random.default_rng(serial), serial=serial, mix="clean")
    filled = fill_page(image, page, truth, dpi=DPI, rng=np.random.default_rng(1))
    k = DPI / 25.4
    for rect in (page.qr, page.digits_text):
        x0, y0 = int((rect.x - 2) * k), int((rect.y - 2) * k)
        x1, y1 = int((rect.x + rect.w + 2) * k), int((rect.y + rect.h + 2) * k)
        filled[y0:y1, x0:x1] = 255
    scanned = degrade(filled, "office", np.random.default_rng(serial), dpi=DPI).image
    if turn:
        scanned = np.ascontiguousarray(np.rot90(scanned, k=turn // 90))
    path = out / f"no-code-{serial}.png"
    write_png(scanned, path, dpi=DPI)
    return path


def test_unidentified_page_assigned_by_a_person_is_read(printed: Printed, tmp_path: Path) -> None:
    summary = printed.scan(_page_without_code(printed, 1, tmp_path))
    assert summary.unidentified == 1 and summary.identified == 0
    with printed.db.session() as session:
        page = session.scalars(select(Page).where(Page.status == "unidentified")).one()
        item = session.scalars(select(ReviewItem).where(ReviewItem.page_id == page.id)).one()
        user = User(username="thu", password_hash="-", role="supervisor")
        session.add(user)
        session.flush()
        review_queue.assign_page(session, item.id, user, survey_code=printed.survey, serial=1, page_number=1,
                                 expected_version=item.version)
        page_id = page.id
    result = rerun_page(printed.db, printed.store, page_id, secret=printed.secret, settings=printed.ws.settings,
                        user="thu", ocr=False)
    assert result.status == "identified" and result.answers_stored > 0
    with printed.db.session() as session:
        stored = session.scalar(select(func.count()).select_from(Answer).where(Answer.page_id == page_id))
        page = session.get_one(Page, page_id)
        assert stored == result.answers_stored
        assert page.aligned_sha256 and page.sheet_id is not None


def test_rotated_page_rerun_after_a_turn(printed: Printed, tmp_path: Path) -> None:
    summary = printed.scan(_page_without_code(printed, 2, tmp_path, turn=90))
    assert summary.unidentified == 1
    with printed.db.session() as session:
        page_id = session.scalars(select(Page.id).where(Page.status == "unidentified").order_by(Page.id.desc())).first()
    assert page_id is not None
    # still no code after turning it back: the page stays unidentified, with the new reason, never lost
    result = rerun_page(printed.db, printed.store, page_id, secret=printed.secret, settings=printed.ws.settings,
                        rotation=270, ocr=False)
    assert result.status == "unidentified"
    with printed.db.session() as session:
        page = session.get_one(Page, page_id)
        assert page.reason and page.image_sha256
        open_items = session.scalar(select(func.count()).select_from(ReviewItem)
                                    .where(ReviewItem.page_id == page_id, ReviewItem.status == "open"))
        assert open_items == 1


def test_stable_files_waits_for_the_writer() -> None:
    now = 100.0
    candidates = {Path("done.pdf"): (10, 1.0, 97.0), Path("writing.pdf"): (5, 2.0, 99.5)}
    assert stable_files(candidates, now, 2.0) == [Path("done.pdf")]


def test_hot_folder_takes_complete_files(tmp_path: Path) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "early.png").write_bytes(cv2.imencode(".png", np.full((10, 10), 255, np.uint8))[1].tobytes())
    batches: list[list[Path]] = []
    stop = threading.Event()

    def on_ready(files: list[Path]) -> None:
        batches.append(files)
        if sum(len(b) for b in batches) >= 2:
            stop.set()

    watcher = threading.Thread(target=watch_folder, args=(folder, on_ready),
                               kwargs={"settle_seconds": 1.0, "poll_seconds": 0.05, "stop": stop})
    watcher.start()
    late = folder / "sub" / "late.jpg"
    late.parent.mkdir()
    with late.open("wb") as fh:  # written slowly, like a scanner: must not be taken half-way
        data = cv2.imencode(".jpg", np.full((10, 10), 255, np.uint8))[1].tobytes()
        fh.write(data[:10])
        fh.flush()
        time.sleep(0.3)
        fh.write(data[10:])
    (folder / "notes.txt").write_text("not a scan")
    watcher.join(timeout=20)
    assert not watcher.is_alive()
    taken = [p for batch in batches for p in batch]
    assert sorted(p.name for p in taken) == ["early.png", "late.jpg"]
    assert late.stat().st_size == len(data)
