"""The fieldwork screens in real Chromium (Debian's, through Playwright) against the app served by
waitress: the check-in desk driven by the keyboard as a clerk types serials and as a handheld scanner
types a sheet's QR payload followed by Enter (two sheets in quick succession too), and the operations
page: chart picture, sorting, drill-down to the sheets and a sheet's log, the XLSX download."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from browser_support import SHOTS, login, require_chromium
from fieldwork_helpers import QT_FRAME, SECRET, SIPAS, with_frame
from sqlalchemy import select

from core.settings import Settings
from fieldwork import lifecycle
from fieldwork.printing import print_by_frame
from formgen.identity import SheetIdentity, encode_payload
from review_ui.accounts import create_user
from review_ui.app import BackgroundServer, create_app
from storage.db import Database
from storage.fieldwork_models import SheetEvent
from storage.files import FileStore
from storage.models import Sheet

pytestmark = pytest.mark.browser
PASSWORD = "mat-khau-123"
SURVEY = "SIPAS-2024"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Database]]:
    require_chromium()
    home = tmp_path_factory.mktemp("fieldwork-ui")
    url = f"sqlite:///{home / 'phieu.sqlite3'}"
    db = Database.open(url)
    db.migrate()
    with_frame(db, FileStore(home / "files"), SIPAS, QT_FRAME)
    with db.session() as s:
        print_by_frame(s, SURVEY, "1", only=["DH-P2", "DH-P4"], actor="test")
        lifecycle.mark(s, SURVEY, list(range(1, 109)), "issued", actor="thukho", source="cli")
        lifecycle.mark(s, SURVEY, list(range(28, 50)), "collected", actor="thukho", source="cli")
        create_user(s, "vanthu", PASSWORD, "clerk")
        create_user(s, "giamsat", PASSWORD, "supervisor")
    app = create_app(url, home / "files", settings=Settings(), secret_key="fieldwork-ui", qr_secret=SECRET, migrate=False)
    server = BackgroundServer(app)
    yield server.url, db
    server.stop()
    app.extensions["phieu"].db.dispose()
    db.dispose()


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


def _answered(page: Any, text: str) -> None:
    page.wait_for_function("t => document.getElementById('last').textContent.includes(t)", arg=text)


def test_check_in_by_typed_serial_and_by_handheld_scanner(served: Any, browser: Any) -> None:
    base, db = served
    page = login(browser, base, "vanthu", PASSWORD, locale="vi-VN")
    page.goto(f"{base}/fieldwork/{SURVEY}/checkin")
    page.focus("#code")  # autofocus too, but not yet applied on a busy machine

    page.keyboard.type("12")
    page.keyboard.press("Enter")
    _answered(page, "Đã thu phiếu 12")
    assert "Khu phố 1 (DH-P2-KP1) · hộ DH-P2-KP1-H12 · đã thu 1/27" in page.text_content("#last")
    assert "outcome-collected" in page.get_attribute("#last", "class")

    payload = encode_payload(SheetIdentity(SURVEY, "1", 13, 2), SECRET)
    page.keyboard.type(payload, delay=4)  # a handheld scanner types the code it read, then Enter
    page.keyboard.press("Enter")
    _answered(page, "Đã thu phiếu 13")
    assert page.input_value("#code") == ""  # ready for the next sheet

    forged = encode_payload(SheetIdentity(SURVEY, "1", 14, 1), b"someone else's key")
    page.keyboard.type(forged + "\n", delay=2)
    _answered(page, "sai chữ ký")
    assert "outcome-refused" in page.get_attribute("#last", "class")

    # two sheets scanned one right after the other: both go through, in order
    page.keyboard.type(encode_payload(SheetIdentity(SURVEY, "1", 15, 1), SECRET) + "\n")
    page.keyboard.type(encode_payload(SheetIdentity(SURVEY, "1", 16, 1), SECRET) + "\n")
    _answered(page, "Đã thu phiếu 16")
    page.keyboard.type("12\n")
    _answered(page, "đã ghi nhận từ trước")
    page.wait_for_function("document.querySelectorAll('#results li').length === 6")
    assert page.text_content("#count-collected") == "4" and page.text_content("#count-already") == "1"
    assert page.text_content("#count-refused") == "1"
    _shot(page, "fieldwork-checkin")

    with db.session() as s:
        rows = s.execute(select(Sheet.serial, SheetEvent.to_status, SheetEvent.actor, SheetEvent.source)
                         .join(Sheet, Sheet.id == SheetEvent.sheet_id).where(Sheet.serial.in_([12, 13, 14, 15, 16]),
                                                                             SheetEvent.to_status == "collected")
                         .order_by(SheetEvent.id)).all()
    assert [tuple(r) for r in rows] == [(n, "collected", "vanthu", "checkin") for n in (12, 13, 15, 16)]


def test_operations_page_sorts_draws_and_drills_down(served: Any, browser: Any, tmp_path: Path) -> None:
    base, _db = served
    page = login(browser, base, "giamsat", PASSWORD, height=1000, locale="vi-VN")
    page.goto(f"{base}/fieldwork/{SURVEY}")
    page.wait_for_function("document.getElementById('ops-chart').complete")
    assert page.evaluate("document.getElementById('ops-chart').naturalWidth") > 600
    rows = page.locator("#by-unit tbody tr")
    assert rows.count() == 31
    assert page.text_content("#fig-printed b") == "108"
    assert "tone-reached" not in (rows.nth(0).get_attribute("class") or "")
    assert "tone-behind" in (page.locator('#by-unit tr[data-unit="DH-P4-KP3"]').get_attribute("class") or "")

    header = page.locator('#by-unit th[data-key="collected"]')
    header.click()
    header.click()  # descending: the village with most sheets back first
    assert header.get_attribute("aria-sort") == "descending"
    assert rows.nth(0).get_attribute("data-unit") == "QT"  # 22 back in the province
    assert [rows.nth(i).get_attribute("data-unit") for i in range(1, 3)] == ["DH", "DH-P2"]
    assert page.locator('#by-unit th[data-type="number"]').first.get_attribute("aria-sort") is None
    _shot(page, "fieldwork-operations")

    with page.expect_download() as download:
        page.click("#export-xlsx")
    saved = tmp_path / "ops.xlsx"
    download.value.save_as(saved)
    assert openpyxl.load_workbook(saved)["Theo đơn vị"].max_row == 33

    page.click('#by-unit tr[data-unit="DH-P2-KP2"] a')
    page.wait_for_url("**/sheets?unit=DH-P2-KP2")
    assert page.locator("#sheets tbody tr").count() == 27
    page.select_option('select[name="stage"]', "collected")
    page.wait_for_url("**stage=collected")
    assert page.locator("#sheets tbody tr").count() == 22
    page.click("#sheets tbody tr:first-child a")
    assert page.text_content("h1").startswith(f"{SURVEY} · phiếu 28")
    assert "đã thu" in page.text_content("#sheet-log")
