"""Issue 12 in real Chromium: supervisors who can find things (sheet search, figures that link to their lists,
reopen with a reason from the sheet's row, the assign form pre-filled and its errors in place), counts
that agree on every screen, and Vietnamese pages without English words (read against the catalogue)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po
from browser_support import SHOTS, login, require_chromium
from review_seed import PASSWORD, SURVEY, seed
from sqlalchemy import func, select

from core.settings import ReviewSettings, Settings
from review_ui.app import BackgroundServer, create_app
from review_ui.words import WORDS
from storage import review_queue as rq
from storage.db import Database
from storage.files import FileStore
from storage.models import Answer, Page, ReviewItem, ScanFile, Sheet, User

pytestmark = pytest.mark.browser
CATALOGUE = Path(__file__).resolve().parent.parent / "review_ui" / "translations" / "en" / "LC_MESSAGES" / "messages.po"
PEOPLE = {"admin", "giamsat", "duyet1", "duyet2", "vanthu", "seed"}  # user names are names, not words
KEYS = {"enter", "esc"}  # printed on the key caps


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Database, Any]]:
    require_chromium()
    url = f"sqlite:///{tmp_path / 'phieu.sqlite3'}"
    app = create_app(url, tmp_path / "files", settings=Settings(review=ReviewSettings(second_review_share=1.0)),
                     secret_key="supervisor")
    db = Database.open(url)
    info = seed(db, FileStore(tmp_path / "files"), sheets=4, two_pages=True)
    _work_in_progress(db, info)
    server = BackgroundServer(app)
    yield server.url, db, info
    server.stop()
    db.dispose()
    app.extensions["phieu"].db.dispose()


def _work_in_progress(db: Database, info: Any) -> None:
    """A queue in the middle of the day: duyet1 decided a few items (each now waiting for a second person),
    duyet2 holds one, the supervisor corrected an answer; one page's QR names a sheet but its signature fails."""
    with db.session() as s:
        one, two, boss = (s.scalar(select(User).where(User.username == n)) for n in ("duyet1", "duyet2", "giamsat"))
        for _ in range(3):
            item = rq.next_item(s, one, lease_seconds=300)
            for it in rq.item_group(s, item, one):
                answer = s.get(Answer, it.answer_id)
                value = "Zalo" if answer.kind == "writein" else "2"
                rq.decide(s, it.id, one, value, it.version, second_review_share=1.0)
        rq.next_item(s, two, lease_seconds=300)
        age = s.scalar(select(Answer).where(Answer.question == "N").limit(1))
        rq.correct(s, age.id, boss, "43", age.version)
        scan = s.scalar(select(ScanFile).limit(1))
        s.add(Page(scan_file_id=scan.id, index_in_file=7, status="unidentified", image_sha256=s.scalar(select(Page.image_sha256)),
                   qr_text="PH1.TEST-2024.1.0001003.1.123456789012",
                   reason="mac_invalid: Mã QR TEST-2024-1 số 0001003 trang 1 có dạng hợp lệ nhưng chữ ký không khớp"))
        s.flush()
        forged = s.scalar(select(Page.id).where(Page.index_in_file == 7))
        s.add(ReviewItem(kind="page", survey_id=info.survey_id, page_id=forged, reason="mac_invalid"))


def _login(browser: Any, base: str, username: str) -> Any:
    return login(browser, base, username, PASSWORD, locale="vi-VN", height=900)


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def _number(page: Any, selector: str) -> int:
    return int(page.inner_text(selector).strip())


def test_every_count_agrees_on_the_queue_the_start_page_and_progress(served: Any, browser: Any) -> None:
    base, db, _info = served
    page = _login(browser, base, "duyet1")
    with db.session() as s:
        me = s.scalar(select(User.id).where(User.username == "duyet1"))
        open_items = s.scalars(select(ReviewItem).where(ReviewItem.status == "open", ReviewItem.kind != "page")).all()
        now = rq.now_utc()
        others = [i for i in open_items if i.leased_by not in (None, me) and rq.aware(i.lease_expires) > now]
        barred = [i for i in open_items if me in (i.excluded_user_id, i.excluded_user2_id)]
        pages = s.scalar(select(func.count(ReviewItem.id)).where(ReviewItem.status == "open", ReviewItem.kind == "page"))
    expected = {"open": len(open_items), "for_user": len(open_items) - len(others) - len(barred), "pages": pages}
    assert barred and others  # the day's state: some items are someone else's
    page.goto(base + "/queue")
    row = f"#survey-{SURVEY}"
    queue = {k: _number(page, f"{row} [data-count={k}]") for k in ("open", "for_user", "pages")}
    _shot(page, "queue")
    page.goto(f"{base}/review/next?survey={SURVEY}")
    start = {"open": _number(page, "#count-open"), "for_user": _number(page, "#count-for-user"),
             "pages": _number(page, "#count-pages")}
    assert _number(page, "#count-not-for-user") == len(barred) and _number(page, "#count-others") == len(others)
    page.goto(f"{base}/surveys/{SURVEY}")
    progress = {"open": _number(page, "#fig-answers b"), "for_user": _number(page, "#count-for-user"),
                "pages": _number(page, "#fig-pages b")}
    assert _number(page, "#count-open") == progress["open"]
    _shot(page, "progress")
    assert queue == start == progress == expected
    page.keyboard.press("Escape")
    page.goto(f"{base}/review/next?survey={SURVEY}")
    taken = 0
    page.keyboard.press("Enter")  # "review all" hands out exactly what was counted as mine
    page.wait_for_selector("#item[data-ready], #queue-empty")
    seen: set[str] = set()
    while page.query_selector("#item") and page.get_attribute("#item", "data-item-id") not in seen:
        seen.add(page.get_attribute("#item", "data-item-id"))
        taken += len(page.query_selector_all("fieldset.row"))
        before = page.get_attribute("#item", "data-item-id")
        page.keyboard.press("Escape")
        page.keyboard.press("s")
        page.wait_for_function(f"!document.getElementById('item') || document.getElementById('item').dataset.itemId != '{before}'")
        page.wait_for_selector("#item[data-ready], #queue-empty, #queue-start")  # start: only skipped ones are left
    assert taken == expected["for_user"]
    page.context.close()


def test_sheet_search_finds_a_serial_and_figures_open_their_lists(served: Any, browser: Any) -> None:
    base, db, info = served
    page = _login(browser, base, "giamsat")
    page.click("nav a:text-is('Phiếu')")
    page.fill("#q", str(info.serials[2]))
    page.keyboard.press("Enter")
    page.wait_for_selector("#sheet-list tr.found")
    assert page.inner_text("#sheet-list tr.found td:first-child") == str(info.serials[2])
    _shot(page, "sheets")
    page.click("#sheet-list tr.found a")
    page.wait_for_selector("h1")
    assert f"phiếu {info.serials[2]}" in page.inner_text("h1")
    page.goto(f"{base}/surveys/{SURVEY}")
    figure = _number(page, "#fig-review b")
    page.click("#fig-review")
    page.wait_for_selector("#sheet-list, #no-sheets")
    listed = page.query_selector_all("#sheet-list tbody tr")
    with db.session() as s:
        in_review = s.scalar(select(func.count(Sheet.id)).where(Sheet.status == "review"))
    assert figure == len(listed) == in_review and all("chờ duyệt" in r.inner_text() for r in listed)
    page.goto(f"{base}/surveys/{SURVEY}")
    page.click("#fig-pages")
    assert len(page.query_selector_all("#page-list tbody tr")) == _number_of_open_pages(db)
    page.context.close()


def _number_of_open_pages(db: Database) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count(ReviewItem.id)).where(ReviewItem.status == "open", ReviewItem.kind == "page")))


def test_reopen_from_the_sheet_row_needs_a_reason(served: Any, browser: Any) -> None:
    base, db, info = served
    page = _login(browser, base, "giamsat")
    with db.session() as s:
        accepted = s.scalar(select(Answer).join(Sheet).where(Sheet.serial == info.serials[1], Answer.question == "W",
                                                              Answer.item == ""))
    page.goto(f"{base}/sheets/{SURVEY}/{info.serials[1]}")
    row = f"#a{accepted.id}"
    page.click(f"{row} details.reopen summary")
    page.click(f"{row} details.reopen button")  # no reason: the browser refuses to send the form
    assert page.url.endswith(f"/sheets/{SURVEY}/{info.serials[1]}")
    page.fill(f"{row} input[name=reason]", "Người trả lời gạch bỏ ô 3")
    page.click(f"{row} details.reopen button")
    page.wait_for_selector(".flash")
    with db.session() as s:
        item = s.scalar(select(ReviewItem).where(ReviewItem.answer_id == accepted.id, ReviewItem.status == "open"))
        assert item is not None and item.reason == "reopened: Người trả lời gạch bỏ ô 3"
    assert "chờ duyệt" in page.inner_text(row)
    page.context.close()


def test_the_assign_form_is_prefilled_and_shows_its_error_in_place(served: Any, browser: Any) -> None:
    base, db, info = served
    page = _login(browser, base, "giamsat")
    with db.session() as s:
        forged = s.scalar(select(Page.id).where(Page.index_in_file == 7))
    page.goto(f"{base}/pages/{forged}")
    assert page.input_value("#serial") == "1003" and page.input_value("#page-number") == "1"  # what its QR names
    page.fill("#serial", str(info.serials[0]))  # a sheet page already scanned
    page.click("#assign")
    page.wait_for_selector("#assign-error")
    assert str(info.serials[0]) in page.inner_text("#assign-error")
    assert page.input_value("#serial") == str(info.serials[0]) and page.url.endswith(f"/pages/{forged}/assign")
    _shot(page, "unidentified-page")
    page.context.close()


def _english_vocabulary() -> set[str]:
    """English words of the catalogue's translations and of the codes the database keeps, less every word
    the Vietnamese source strings use (and names: people, keys)."""
    with CATALOGUE.open("rb") as fh:
        messages = [m for m in read_po(fh) if m.id]
    english = {w.lower() for m in messages for w in re.findall(r"[A-Za-z]{3,}", str(m.string))}
    codes = {part for words in WORDS.values() for code in words for part in re.split(r"[._]", code) if len(part) >= 3}
    codes |= {"review", "writein", "second", "third", "multiple", "answered", "marked", "running", "queued", "files",
              "pages", "identified", "duplicates", "unidentified", "answers", "stored"}
    vietnamese = {w.lower() for m in messages for w in re.findall(r"\w+", re.sub(r"%\(\w+\)s", "", str(m.id)))}
    return (english | codes) - vietnamese - PEOPLE - KEYS


def _english_on(page: Any, vocabulary: set[str]) -> set[str]:
    text = page.inner_text("body")
    return {w for w in re.findall(r"\w+", text) if w.isascii() and w.isalpha() and w.lower() in vocabulary}


def test_no_english_word_on_the_vietnamese_screens(served: Any, browser: Any) -> None:
    base, db, info = served
    vocabulary = _english_vocabulary()
    assert {"marked", "multiple", "final", "complete", "review", "supervisor", "running", "done"} <= vocabulary
    with db.session() as s:
        decided = s.scalar(select(Answer.id).where(Answer.status == "reviewed").limit(1))
        unidentified = info.unidentified_page_ids[0]
    found: dict[str, set[str]] = {}
    anonymous = browser.new_context(locale="vi-VN").new_page()
    anonymous.goto(base + "/login")
    found["/login"] = _english_on(anonymous, vocabulary)
    anonymous.context.close()
    page = _login(browser, base, "giamsat")
    screens = ["/queue", f"/review/next?survey={SURVEY}", "/sheets", f"/sheets?survey={SURVEY}&status=review",
               f"/sheets/{SURVEY}/{info.serials[0]}", f"/answers/{decided}/history", "/surveys", f"/surveys/{SURVEY}",
               "/pages/unidentified", f"/pages/{unidentified}", "/pages?status=duplicate", "/upload"]
    for path in screens:
        page.goto(base + path)
        assert page.query_selector("h1"), path  # every screen has its heading
        found[path] = _english_on(page, vocabulary)
    page.goto(base + "/review/next")
    page.keyboard.press("Enter")
    kinds: set[str] = set()
    page.wait_for_selector("#item[data-ready], #queue-empty")
    for _ in range(12):  # the item screen of every kind
        if not page.query_selector("#item"):
            break
        kind = page.get_attribute("#item", "data-kind")
        if kind not in kinds:
            kinds.add(kind)
            found[f"item {kind}"] = _english_on(page, vocabulary)
        before = page.get_attribute("#item", "data-item-id")
        page.keyboard.press("Escape")
        page.keyboard.press("s")
        page.wait_for_function(f"!document.getElementById('item') || document.getElementById('item').dataset.itemId != '{before}'")
        page.wait_for_selector("#item[data-ready], #queue-empty")
    assert {"single", "grid", "writein"} <= kinds
    assert {k: v for k, v in found.items() if v} == {}
    page.context.close()
