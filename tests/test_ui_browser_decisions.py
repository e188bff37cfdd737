"""Issue 12 in real Chromium (Debian's, through Playwright) against the app served by waitress: every row decided
is in view, drafts typed over, blind second review, a third person for disagreements, the layout at
1366x768 and 800 px, the language switch keeping the item. The supervisors' screens and the words on
every screen are in tests/test_ui_browser_supervisor.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import SHOTS, login, require_chromium
from review_seed import PASSWORD, seed
from sqlalchemy import select

from core.settings import ReviewSettings, Settings
from review_ui.app import BackgroundServer, create_app
from storage.db import Database
from storage.files import FileStore
from storage.models import Answer, Page, ReviewItem

pytestmark = pytest.mark.browser
ALL_PICTURES = "[...document.querySelectorAll('img.crop')].every(i => i.complete && i.naturalWidth > 0)"


def serve(home: Path, *, sheets: int = 3, share: float = 0.0, **options: Any) -> tuple[BackgroundServer, Database, Any, Any]:
    url = f"sqlite:///{home / 'phieu.sqlite3'}"
    app = create_app(url, home / "files", settings=Settings(review=ReviewSettings(second_review_share=share)),
                     secret_key="decisions")
    db = Database.open(url)
    info = seed(db, FileStore(home / "files"), sheets=sheets, **options)
    return BackgroundServer(app), db, info, app


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Database, Any]]:
    require_chromium()
    server, db, info, app = serve(tmp_path, two_pages=True)
    yield server.url, db, info
    server.stop()
    db.dispose()
    app.extensions["phieu"].db.dispose()


def _login(browser: Any, base: str, username: str, **options: Any) -> Any:
    return login(browser, base, username, PASSWORD, locale="vi-VN", **options)


def _start(page: Any) -> None:
    page.goto(page.url.split("/", 3)[0] + "//" + page.url.split("/", 3)[2] + "/review/next")
    if page.query_selector("#queue-start"):
        page.keyboard.press("Enter")
    page.wait_for_selector("#item[data-ready], #queue-empty")


def _next_screen(page: Any, before: str) -> None:
    page.wait_for_function(f"!document.getElementById('item') || document.getElementById('item').dataset.itemId != '{before}'")
    page.wait_for_selector("#item[data-ready], #queue-empty, #queue-start")  # start: only skipped ones are left


def _answer_ids(page: Any) -> list[int]:
    return [int(src.split("ids=")[1]) for src in page.eval_on_selector_all("img.crop", "els => els.map(e => e.getAttribute('src'))")]


def test_a_grid_over_two_pages_shows_every_row_it_decides(served: Any, browser: Any) -> None:
    base, db, info = served
    page = _login(browser, base, "duyet1", height=768)
    page.set_viewport_size({"width": 1366, "height": 768})
    _start(page)
    decided_rows: list[str] = []
    while page.query_selector("#item"):
        question = page.get_attribute("#item", "data-question")
        page.wait_for_function(ALL_PICTURES)
        rows = page.query_selector_all("fieldset.row")
        ids = _answer_ids(page)
        assert len(ids) == len(rows)  # one picture per row decided, each of that row
        with db.session() as s:
            answers = [s.get(Answer, i) for i in ids]
            held = {s.get(Answer, s.get(ReviewItem, int(r.get_attribute("data-item-id"))).answer_id).id for r in rows}
            pages = {a.page_id for a in answers}
        assert set(ids) == held and len(pages) == 1  # every row on screen is in its picture, all from one page
        if question == "H":
            decided_rows += [a.item for a in answers]
            _shot_once(page, "item-grid-two-pages")
            page.keyboard.press("p")  # the whole page, at the question
            page.wait_for_function("document.querySelector('#page-view img').complete && "
                                   "document.querySelector('#page-view img').naturalWidth > 0")
            page.wait_for_timeout(100)
            view = page.evaluate("""() => { const v = document.getElementById('page-view'), i = v.querySelector('img');
                const r = document.getElementById('item'); return {top: +r.dataset.focusTop, scroll: v.scrollTop,
                height: i.offsetHeight, shown: v.clientHeight, src: i.getAttribute('src')}; }""")
            assert f"/img/page/{answers[0].page_id}.jpg" in view["src"]  # the rows' own page
            focus_px = view["top"] * view["height"]
            assert view["scroll"] <= focus_px <= view["scroll"] + view["shown"], view  # scrolled to the question
            page.keyboard.press("Escape")
            assert page.is_hidden("#page-view")
        # the decision and its buttons stay in view at 1366x768
        box = page.query_selector("#confirm").bounding_box()
        assert box and box["y"] + box["height"] <= 768
        before = page.get_attribute("#item", "data-item-id")
        page.keyboard.press("Escape")
        page.keyboard.press("s")
        _next_screen(page, before)
        if len(decided_rows) >= 2 * len(info.serials):
            break
    assert sorted(decided_rows) == sorted(["h2", "h3"] * len(info.serials))  # each doubtful row, each on its own page
    page.context.close()


_SHOTS_TAKEN: set[str] = set()


def _shot_once(page: Any, name: str) -> None:
    if name not in _SHOTS_TAKEN:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"))
        _SHOTS_TAKEN.add(name)


def _to_kind(page: Any, kind: str) -> None:
    """Skip (S) until an item of ``kind`` is on screen."""
    for _ in range(60):
        if page.get_attribute("#item", "data-kind") == kind:
            return
        before = page.get_attribute("#item", "data-item-id")
        page.keyboard.press("Escape")
        page.keyboard.press("s")
        _next_screen(page, before)
    raise AssertionError(f"no {kind} item")


def test_typing_over_an_ocr_draft_replaces_it(served: Any, browser: Any) -> None:
    base, db, _info = served
    page = _login(browser, base, "duyet1")
    _start(page)
    _to_kind(page, "writein")
    field = page.query_selector("textarea.text-answer")
    assert field.input_value() == "Zalo cua xa"  # the seeded draft's confidence clears the bar
    assert page.evaluate("document.activeElement.selectionStart === 0 && "
                         "document.activeElement.selectionEnd === document.activeElement.value.length")
    _shot_once(page, "item-writein")
    item_id = int(page.get_attribute("fieldset.row", "data-item-id"))
    before = page.get_attribute("#item", "data-item-id")
    page.keyboard.type("Người Mường")  # no Ctrl+A: the draft was selected when the field got the focus
    page.keyboard.press("Enter")
    _next_screen(page, before)
    with db.session() as s:
        assert s.get(Answer, s.get(ReviewItem, item_id).answer_id).final_value == "Người Mường"
    page.context.close()


def test_second_review_is_blind_and_a_disagreement_reaches_a_third_person(tmp_path: Path, browser: Any) -> None:
    require_chromium()
    server, db, _info, app = serve(tmp_path, sheets=1, share=1.0)
    try:
        first = _login(browser, server.url, "duyet1")
        _start(first)
        assert first.get_attribute("#item", "data-question") == "Q1"  # two marks: 1 and 2
        item_id = int(first.get_attribute("fieldset.row", "data-item-id"))
        first.keyboard.press("2")
        first.keyboard.press("Enter")
        _next_screen(first, str(item_id))
        first.context.close()

        second = _login(browser, server.url, "duyet2")
        _start(second)
        for _ in range(20):
            if second.get_attribute("#item", "data-question") == "Q1" and "lần hai" in second.inner_text("#item"):
                break
            before = second.get_attribute("#item", "data-item-id")
            second.keyboard.press("Escape")
            second.keyboard.press("s")
            _next_screen(second, before)
        text = second.inner_text("#main")
        assert "duyet1" not in text and "Nữ" in text  # the choices, not who chose what
        assert second.eval_on_selector_all("fieldset.row input:checked", "els => els.length") == 0  # nothing pre-chosen
        _shot_once(second, "item-second-review")
        second.keyboard.press("1")  # disagrees
        before = second.get_attribute("#item", "data-item-id")
        second.keyboard.press("Enter")
        _next_screen(second, before)
        second.context.close()

        with db.session() as s:
            third = s.scalar(select(ReviewItem).where(ReviewItem.kind == "third"))
            assert third is not None and third.status == "open"
        for name in ("duyet1", "duyet2"):  # neither of the two is handed it
            again = _login(browser, server.url, name)
            _start(again)
            while again.query_selector("#item"):
                assert int(again.get_attribute("#item", "data-item-id")) != third.id
                before = again.get_attribute("#item", "data-item-id")
                again.keyboard.press("Escape")
                again.keyboard.press("s")
                _next_screen(again, before)
                if again.query_selector("#item") and int(again.get_attribute("#item", "data-item-id")) < int(before):
                    break  # round the queue once
            again.context.close()
        boss = _login(browser, server.url, "giamsat")
        boss.goto(server.url + "/queue")
        assert boss.inner_text(f"#survey-{'TEST-2024'} td:nth-child(6)") == "1"  # one disagreement
        _start(boss)
        for _ in range(20):
            if int(boss.get_attribute("#item", "data-item-id")) == third.id:
                break
            before = boss.get_attribute("#item", "data-item-id")
            boss.keyboard.press("Escape")
            boss.keyboard.press("s")
            _next_screen(boss, before)
        reason = boss.inner_text("#reason")
        assert "không thống nhất" in reason and "2 (Nữ)" in reason and "1 (Nam)" in reason
        _shot_once(boss, "item-third-person")
        boss.keyboard.press("2")
        boss.keyboard.press("Enter")
        _next_screen(boss, str(third.id))
        boss.context.close()
        with db.session() as s:
            answer = s.get(Answer, third.answer_id)
            assert (answer.status, answer.final_value) == ("final", "2")
    finally:
        server.stop()
        db.dispose()
        app.extensions["phieu"].db.dispose()


def test_layout_at_800_px_focus_ring_and_the_language_switch_keeps_the_item(served: Any, browser: Any) -> None:
    base, _db, _info = served
    page = _login(browser, base, "duyet1", height=700)
    page.set_viewport_size({"width": 800, "height": 700})
    _start(page)
    for _ in range(3):  # items swapped in place, without page loads
        before = page.get_attribute("#item", "data-item-id")
        page.keyboard.press("Escape")
        page.keyboard.press("s")
        _next_screen(page, before)
    _to_kind(page, "grid")
    first_choice = page.query_selector("fieldset.row .choice").bounding_box()
    confirm = page.query_selector("#confirm").bounding_box()
    assert first_choice["y"] + first_choice["height"] <= 700 and confirm["y"] + confirm["height"] <= 700
    assert page.evaluate("document.documentElement.scrollWidth") <= 800  # no sideways scrolling
    _shot_once(page, "item-800px")
    page.keyboard.press("Escape")
    page.focus("#confirm")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")  # focus by keyboard: the ring shows
    ring = page.evaluate("""() => { const s = getComputedStyle(document.activeElement);
        return {width: parseFloat(s.outlineWidth), style: s.outlineStyle, shadow: s.boxShadow}; }""")
    assert ring["width"] >= 3 and ring["style"] == "solid" and ring["shadow"] != "none", ring
    assert page.query_selector("h1") is not None
    current = page.get_attribute("#item", "data-item-id")
    page.click("text=English")
    page.wait_for_load_state()
    assert page.get_attribute("#item", "data-item-id") == current  # the same item, now in English
    assert "Confirm" in page.inner_text("#confirm")
    page.context.close()


def test_a_lone_fill_is_drawn_as_doubtful_not_as_a_cancellation(served: Any, browser: Any) -> None:
    """The rule (recognition.rules) and the pictures agree: a digit column whose only mark is a solid fill is
    framed as doubtful (brown), never red "cancelled"; a fill beside a mark stays red."""
    import cv2
    import numpy as np

    from storage.models import BoxReading

    base, db, _info = served
    with db.session() as s:  # readings are insert-only: a copy of a page, read with a lone fill in the tens column
        original = s.scalar(select(Page).where(Page.page_number == 1).limit(1))
        copy = Page(scan_file_id=original.scan_file_id, index_in_file=9, status="identified", sheet_id=original.sheet_id,
                    page_number=1, image_sha256=original.image_sha256, aligned_sha256=original.aligned_sha256)
        s.add(copy)
        s.flush()
        for box_id, state in {"N:c0:4": "cancelled", "N:c1:2": "marked", "Q1::1": "cancelled", "Q1::2": "marked"}.items():
            s.add(BoxReading(page_id=copy.id, box_id=box_id, inner_ink=0.9, ring_ink=0.0, darkness=0.9, state=state))
        page_id = copy.id
    page = _login(browser, base, "giamsat")
    data = page.request.get(f"{base}/img/page/{page_id}.jpg").body()
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).astype(int)
    k = image.shape[1] / 210  # px per mm of the page picture

    def colours(x_mm: float, y_mm: float) -> tuple[int, int]:
        x0, y0, side = round(x_mm * k), round(y_mm * k), round(5.5 * k)
        part = image[y0 - 6: y0 + side + 6, x0 - 6: x0 + side + 6].reshape(-1, 3)
        red = ((part[:, 2] > 180) & (part[:, 1] < 80) & (part[:, 0] < 80)).sum()
        brown = ((part[:, 2] > 150) & (part[:, 1] > 60) & (part[:, 1] < 120) & (part[:, 0] < 40)).sum()
        return int(red), int(brown)

    lone_red, lone_brown = colours(30, 140 + 7 * 4)  # N, tens column, digit 4: alone in its column
    beside_red, beside_brown = colours(30, 45)  # Q1 box 1: filled beside a marked box 2, a cancellation
    assert lone_brown > 20 and lone_red == 0, (lone_red, lone_brown)
    assert beside_red > 20 and beside_brown == 0, (beside_red, beside_brown)
    page.context.close()
