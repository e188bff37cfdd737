"""Real sheets in real Chromium: SIPAS sheets built by formgen, filled and degraded by the proving ground,
scanned by the pipeline; a reviewer settles the whole queue with the keyboard, typing what the
respondent meant (the ground truth), and every decision is stored as typed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from browser_support import SHOTS, login, require_chromium
from pipeline_helpers import sipas_database
from sqlalchemy import select

from core.settings import ScanSettings, Settings
from phieu.provingground.bundle import make_bundle
from phieu.provingground.truth import MarkMix
from pipeline.run import scan_paths
from review_ui.app import BackgroundServer, create_app
from storage.db import Database
from storage.models import Answer, ReviewItem, Sheet, Survey

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "mat-khau-123"
# everyday marks, but more double marks and every write-in and free text used: a queue worth working
DOUBTFUL = MarkMix(styles={"tick": 0.4, "cross": 0.3, "circle": 0.15, "pencil": 0.15}, ambiguous_share=0.06,
                   writein_share=1.0, text_share=1.0)
SECRET = bytes(range(32))


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Database, dict[int, Any]]]:
    require_chromium()
    home = tmp_path_factory.mktemp("real")
    sipas = sipas_database(home, 3, {"duyet1": "reviewer", "giamsat": "supervisor"}, PASSWORD)
    url, db, store, built, serials = sipas.url, sipas.db, sipas.store, sipas.built, sipas.serials
    truths = make_bundle(built, built.layout, serials, profile="office", rng=np.random.default_rng(11),
                         out_dir=home / "scans", secret=SECRET, mix=DOUBTFUL)
    settings = Settings(scan=ScanSettings(jobs=1))
    summary = scan_paths(db, store, [home / "scans"], secret=SECRET, settings=settings)
    assert summary.identified == 3 * built.layout.page_count
    app = create_app(url, home / "files", settings=settings, secret_key="real", qr_secret=SECRET, migrate=False)
    server = BackgroundServer(app)
    yield server.url, db, {t.serial: t for t in truths}
    server.stop()
    app.extensions["phieu"].close()
    db.dispose()


def _login(browser: Any, base: str, username: str) -> Any:
    return login(browser, base, username, PASSWORD, height=860)


def _type_truth(page: Any, row: Any, kind: str, value: str | None) -> None:
    """Enter ``value`` in the row on screen with keys only (the row is the current one)."""
    if kind in ("writein", "text", "number"):
        page.keyboard.press("Control+A")
        if value:
            page.keyboard.type(value)
        else:
            page.keyboard.press("Delete")
        return
    if value is None:
        page.keyboard.press("0")
        return
    if kind == "multiple":
        wanted = set(value.split(";"))
        for box in row.query_selector_all("input[type=checkbox]"):
            if box.is_checked() != (box.get_attribute("value") in wanted):
                page.keyboard.press(box.get_attribute("value"))
        return
    page.keyboard.press(value)


def test_reviewer_settles_real_scans_by_keyboard(scanned: Any, browser: Any) -> None:
    base, db, truths = scanned
    page = _login(browser, base, "duyet1")
    page.keyboard.press("Enter")
    page.wait_for_selector("#item[data-ready], #queue-empty")
    expected: dict[int, str | None] = {}
    shots: set[str] = set()
    while page.query_selector("#item"):
        kind = page.get_attribute("#item", "data-kind")
        rows = page.query_selector_all("fieldset.row")
        for n, row in enumerate(rows):
            item_id = int(row.get_attribute("data-item-id"))
            with db.session() as s:
                answer = s.get(Answer, s.get(ReviewItem, item_id).answer_id)
                truth = truths[s.get(Sheet, answer.sheet_id).serial].answers[(answer.question, answer.item)]
                answer_kind = answer.kind
            _type_truth(page, row, answer_kind, truth.value)
            expected[item_id] = truth.value
            if kind in ("writein", "text", "number") and n + 1 < len(rows):
                page.keyboard.press("Escape")
                page.keyboard.press("ArrowDown")
        if kind not in shots:
            page.wait_for_function("[...document.querySelectorAll('img.crop')].every(i => i.complete && i.naturalWidth)")
            _shot(page, f"real-item-{kind}")
            shots.add(kind)
        before = page.get_attribute("#item", "data-item-id")
        page.keyboard.press("Enter")
        page.wait_for_function(f"!document.getElementById('item') || document.getElementById('item').dataset.itemId != '{before}'")
        page.wait_for_load_state()
        page.wait_for_selector("#item[data-ready], #queue-empty")
    assert page.query_selector("#queue-empty") and expected
    with db.session() as s:
        stored = {i.id: s.get(Answer, i.answer_id).final_value
                  for i in s.scalars(select(ReviewItem).where(ReviewItem.id.in_(list(expected))))}
        assert stored == {k: (v or None) for k, v in expected.items()}
        assert s.scalar(select(ReviewItem.id).where(ReviewItem.status == "open", ReviewItem.kind != "page")) is None
    page.context.close()

    boss = _login(browser, base, "giamsat")
    boss.set_viewport_size({"width": 1100, "height": 700})  # keeps the screenshot small
    serial = next(iter(truths))
    with db.session() as s:
        code = s.scalar(select(Survey.code))
    boss.goto(f"{base}/sheets/{code}/{serial}")
    boss.wait_for_function("[...document.images].every(i => i.complete)")
    _shot(boss, "real-sheet")
    boss.context.close()


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))
