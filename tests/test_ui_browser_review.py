"""The review UI in real Chromium (Debian's, through Playwright) against the app served by waitress:
login, a keyboard-only pass through the queue, a write-in transcribed, an unidentified page assigned,
two reviewers on one queue. Screenshots of the main screens go to build/screenshots/ (PHIEU_SCREENSHOTS=docs/screenshots refreshes the README's)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from browser_support import SHOTS, login, require_chromium
from review_seed import PASSWORD, SURVEY, seed
from sqlalchemy import func, select

from core.settings import Settings
from review_ui.app import BackgroundServer, create_app
from storage.db import Database
from storage.files import FileStore
from storage.models import Answer, Decision, Page, ReviewItem, Sheet, User

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Database, Any]]:
    require_chromium()
    home = tmp_path_factory.mktemp("ui")
    url = f"sqlite:///{home / 'phieu.sqlite3'}"
    app = create_app(url, home / "files", settings=Settings(), secret_key="browser-test")
    db = Database.open(url)
    info = seed(db, FileStore(home / "files"), sheets=12, long_codes=True)
    server = BackgroundServer(app)
    yield server.url, db, info
    server.stop()
    db.dispose()
    app.extensions["phieu"].close()


def _login(browser: Any, base: str, username: str) -> Any:
    return login(browser, base, username, PASSWORD, height=820, locale="vi-VN")


def _shot(page: Any, name: str, full: bool = False) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full)


def _item_id(page: Any) -> int:
    return int(page.get_attribute("#item", "data-item-id"))


def _decide_by_keyboard(page: Any, typed: dict[int, str | None]) -> None:
    """Answer the item on screen with keys only; remember what was chosen for each review item."""
    rows = page.query_selector_all("fieldset.row")
    kind = page.get_attribute("#item", "data-kind")
    question = page.get_attribute("#item", "data-question")
    for n, row in enumerate(rows):
        item_id = int(row.get_attribute("data-item-id"))
        if kind in ("writein", "text"):  # the draft is selected on focus: typing replaces it
            page.keyboard.type("Zalo của xã")
            typed[item_id] = "Zalo của xã"
        elif question == "L":  # codes 1-12: "1" then "1" is eleven
            page.keyboard.press("1")
            page.keyboard.press("1")
            typed[item_id] = "11"
        else:
            key = "2" if kind == "single" else str(4 + n % 2)
            page.keyboard.press(key)
            typed[item_id] = key
    before = _item_id(page)
    page.keyboard.press("Enter")
    page.wait_for_function(f"!document.getElementById('item') || document.getElementById('item').dataset.itemId != '{before}'")
    page.wait_for_selector("#item[data-ready], #queue-empty")


def test_keyboard_pass_writein_and_two_reviewers(served: Any, browser: Any) -> None:
    base, db, info = served
    login_page = browser.new_context(viewport={"width": 1280, "height": 820}).new_page()
    login_page.goto(base + "/login")
    _shot(login_page, "login")
    login_page.context.close()

    first = _login(browser, base, "duyet1")
    second = _login(browser, base, "duyet2")
    _shot(first, "queue")
    first.keyboard.press("Enter")  # start reviewing
    first.wait_for_selector("#item[data-ready]")
    second.goto(base + "/review/next")  # a GET only looks: the start page, Enter takes the next item
    second.keyboard.press("Enter")
    second.wait_for_selector("#item[data-ready]")
    shown_1 = {int(r.get_attribute("data-item-id")) for r in first.query_selector_all("fieldset.row")}
    shown_2 = {int(r.get_attribute("data-item-id")) for r in second.query_selector_all("fieldset.row")}
    assert not shown_1 & shown_2  # two reviewers on one queue never see the same item

    typed: dict[int, str | None] = {}
    screens = 0
    seen_kinds: set[str] = set()
    while first.query_selector("#item") and len(typed) < 24:
        kind = first.get_attribute("#item", "data-kind")
        if kind not in seen_kinds:
            first.wait_for_function("[...document.querySelectorAll('img.crop')].every(i => i.complete && i.naturalWidth)")
            _shot(first, f"item-{kind}")
            seen_kinds.add(kind)
        if screens == 0:  # the whole page, on the P key
            first.keyboard.press("p")
            first.wait_for_selector("#page-view img", state="visible")
            first.keyboard.press("p")
        _decide_by_keyboard(first, typed)
        screens += 1
        if screens % 5 == 0:  # the other reviewer works the same queue meanwhile
            _decide_by_keyboard(second, {})
    assert len(typed) >= 20 and {"single", "grid", "writein"} <= seen_kinds
    assert "11" in typed.values()  # a two-key code was typed

    with db.session() as s:
        user_1 = s.scalar(select(User.id).where(User.username == "duyet1"))
        stored = dict(s.execute(select(Decision.review_item_id, Decision.value).where(Decision.user_id == user_1)).all())
        assert stored == typed  # every keyboard decision stored exactly, Vietnamese text included
        per_item = s.execute(select(Decision.review_item_id, func.count()).group_by(Decision.review_item_id)).all()
        assert all(count == 1 for _item, count in per_item)  # no item decided twice
        writeins = s.scalars(select(Answer.final_value).join(ReviewItem, ReviewItem.answer_id == Answer.id)
                             .where(ReviewItem.id.in_(list(typed)), Answer.kind == "writein")).all()
        assert writeins and set(writeins) == {"Zalo của xã"}
    first.context.close()
    second.context.close()


def test_unidentified_page_assigned_in_the_browser(served: Any, browser: Any) -> None:
    base, db, info = served
    page = _login(browser, base, "duyet2")
    page.click("text=Trang chưa nhận dạng")
    page.click("a.button")  # the first waiting page
    page.wait_for_selector("#assign-form")
    target = info.serials[-1] + 1  # printed, never scanned
    page.fill("#serial", str(target))
    page.wait_for_function("document.getElementById('search-results').textContent.length > 0")
    _shot(page, "unidentified-page")
    page.fill("#page-number", "1")
    page.click("#assign")
    page.wait_for_selector("#no-pages")
    with db.session() as s:
        assigned = s.get(Page, info.unidentified_page_ids[0])
        assert assigned.status == "identified" and s.get(Sheet, assigned.sheet_id).serial == target
    page.context.close()


def test_sheet_view_and_progress_screens(served: Any, browser: Any) -> None:
    base, _db, info = served
    page = _login(browser, base, "giamsat")
    page.goto(f"{base}/sheets/{SURVEY}/{info.serials[0]}")
    page.wait_for_function("[...document.images].every(i => i.complete)")
    _shot(page, "sheet")
    page.goto(f"{base}/surveys/{SURVEY}")
    assert page.inner_text("#fig-printed b") == str(len(info.serials) + 2)
    _shot(page, "progress")
    page.context.close()
