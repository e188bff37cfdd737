"""The results page of the web app on the hand-made dataset (results_helpers): the JSON twin carries the same
figures as `phieu results` (worked out by hand there), charts are real PNG pictures, the unit filter and the
links down to units and sheets work; in real Chromium too (screenshot in build/screenshots)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import results_helpers as h
from PIL import Image
from pytest import approx

from core.settings import Settings
from review_ui.accounts import create_user
from review_ui.app import create_app
from storage.db import Database
from storage.files import FileStore

PASSWORD = "mat-khau-thu-2024"


def _app(db: Database, files: Path) -> Any:
    with db.session() as s:
        create_user(s, "giamsat", PASSWORD, "supervisor", actor="test")
        create_user(s, "duyet", PASSWORD, "reviewer", actor="test")
    url = db.engine.url.render_as_string(hide_password=False)
    return create_app(url, files, settings=Settings(), secret_key="test", migrate=False)


def _login(app: Any, username: str) -> Any:
    client = app.test_client()
    token = client.get("/api/login").json["csrf"]
    response = client.post("/api/login", json={"username": username, "password": PASSWORD}, headers={"X-CSRFToken": token})
    assert response.status_code == 200, response.json
    return client


@pytest.fixture
def app(database: Database, file_store: FileStore, tmp_path: Path) -> Iterator[Any]:
    h.build(database, file_store, tmp_path)
    made = _app(database, file_store.root)
    yield made
    made.extensions["phieu"].db.dispose()


def test_json_twin_has_the_index_units_questions_and_sheet_links(app: Any) -> None:
    client = _login(app, "giamsat")
    body = client.get(f"/api/results/{h.SURVEY}").json
    index = body["index"]
    assert index["overall"]["rate"] == approx(2455 / 42, abs=1e-9) and index["provisional"] is True
    assert index["overall"]["change"] == approx(2455 / 42 - 50, abs=1e-9) and index["overall"]["n_open"] == 6
    assert [r["node"] for r in index["levels"]] == ["service", "policy", "access", "procedures", "openness"]
    assert [b["kind"] for b in index["units"]] == ["tỉnh", "huyện", "xã"]
    communes = index["units"][2]["rows"]
    assert [(r["code"], r["rank"]) for r in communes] == [("C11", 1), ("C12", 2), ("C21", 3)]
    assert communes[0]["rate"] == approx(550 / 9, abs=1e-9) and communes[0]["url"].endswith("unit=C11")
    assert body["sheets"] == {"printed": 9, "returned": 8, "unknown_pages": 0} and body["reconciles"] is True
    assert [s["serial"] for s in body["sheet_links"]] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert body["sheet_links"][0]["url"] == f"/sheets/{h.SURVEY}/1"
    grid = next(q for q in body["questions"] if q["question"] == "B1")
    assert [c["item"] for c in grid["columns"]] == list(h.ROWS) and grid["columns"][4]["n_invalid"] == 1
    assert client.get(f"/sheets/{h.SURVEY}/1").status_code == 200  # the link down works


def test_unit_filter_and_charts_are_pictures(app: Any) -> None:
    client = _login(app, "giamsat")
    body = client.get(f"/api/results/{h.SURVEY}?unit=D1").json
    assert body["scope"] == {"code": "D1", "name": "Huyện Một"}
    assert body["index"]["overall"]["rate"] == approx(755 / 12, abs=1e-9)
    assert [b["kind"] for b in body["index"]["units"]] == ["xã"] and len(body["sheet_links"]) == 5
    charts = [body["index"]["chart"], body["index"]["units"][0]["chart"],
              *[q["chart"] for q in body["questions"] if q["chart"]]]
    assert len(charts) == 2 + 4  # levels, communes, A1 A2 A3 B1
    for url in charts:
        response = client.get(url)
        assert response.status_code == 200 and response.mimetype == "image/png", url
        picture = Image.open(io.BytesIO(response.data))
        assert picture.width > 300 and picture.height > 80
    assert client.get(f"/results/{h.SURVEY}/chart?name=q:NOPE").status_code == 404


def test_html_page_and_roles(app: Any) -> None:
    page = _login(app, "giamsat").get(f"/results/{h.SURVEY}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "58,45 %" in html and 'id="provisional"' in html and "Xã Một Một" in html
    reviewer = _login(app, "duyet")
    assert reviewer.get(f"/api/results/{h.SURVEY}").status_code == 403
    assert app.test_client().get(f"/api/results/{h.SURVEY}").status_code == 401


def test_totals_that_do_not_reconcile_show_where_instead_of_an_index(database: Database, file_store: FileStore,
                                                                    tmp_path: Path) -> None:
    home = h.workspace(tmp_path)
    h.corrupt(home)
    app = _app(Database.open(f"sqlite:///{home / 'phieu.sqlite3'}"), home / "files")
    body = _login(app, "giamsat").get(f"/api/results/{h.SURVEY}").json
    assert body["index"] is None and body["reconciles"] is False
    assert body["breaks"][0]["column"] == "B1.o1" and "phiếu 8" in body["breaks"][0]["detail"]
    app.extensions["phieu"].db.dispose()


@pytest.mark.browser
def test_results_page_in_chromium(tmp_path: Path, browser: Any) -> None:
    from browser_support import SHOTS, login

    from review_ui.app import BackgroundServer

    home = h.workspace(tmp_path)
    db = Database.open(f"sqlite:///{home / 'phieu.sqlite3'}")
    app = _app(db, home / "files")
    server = BackgroundServer(app)
    try:
        page = login(browser, server.url, "giamsat", PASSWORD, height=900, locale="vi-VN")
        page.click("text=Kết quả")
        page.click(f"text={h.SURVEY}")
        page.wait_for_selector("#overall")
        assert "58,45 %" in page.inner_text("#overall")
        page.wait_for_function("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "results.png"), full_page=True)
        page.select_option("select[name=unit]", "C12")
        page.wait_for_url(lambda url: "unit=C12" in url)
        assert "58,33 %" in page.inner_text("#overall")  # 175/3
        page.click("#sheets a >> nth=0")
        page.wait_for_url(lambda url: "/sheets/" in url)
        assert f"{h.SURVEY} · phiếu 4" in page.inner_text("h1")  # C12's first sheet
    finally:
        server.stop()
        db.dispose()
        app.extensions["phieu"].db.dispose()
