"""The review web app over real HTTP semantics (Flask test client), a real database (SQLite and PostgreSQL)
and real rendered page images: roles on every route, login, CSRF, throttling, the queue, pages, sheets."""

from __future__ import annotations

import re
from typing import Any

import cv2
import numpy as np
import pytest
from review_seed import PASSWORD, SURVEY, seed
from sqlalchemy import select

from core.settings import ReviewSettings, Settings
from review_ui.app import create_app
from storage.models import Answer, Decision, Page, ReviewItem, Sheet, User

ROLE_USERS = {"admin": "admin", "supervisor": "giamsat", "reviewer": "duyet1", "clerk": "vanthu"}
PUBLIC = {"auth.login", "auth.login_api", "auth.logout", "auth.language", "static"}


@pytest.fixture
def env(database, file_store):  # type: ignore[no-untyped-def]
    info = seed(database, file_store, sheets=3)
    url = database.engine.url.render_as_string(hide_password=False)
    settings = Settings(review=ReviewSettings(login_attempts_per_minute=3))
    app = create_app(url, file_store.root, settings=settings, secret_key="test-secret", migrate=False)
    yield app, info, database
    app.extensions["phieu"].close()


def login(app: Any, username: str) -> tuple[Any, str]:
    client = app.test_client()
    token = client.get("/api/login").json["csrf"]
    response = client.post("/api/login", json={"username": username, "password": PASSWORD}, headers={"X-CSRFToken": token})
    assert response.status_code == 200, response.json
    return client, response.json["csrf"]


def take(client: Any, token: str, **body: Any) -> dict[str, Any]:
    """Lease the next item (a POST: a GET only looks) and return its data."""
    response = client.post("/api/review/next", json=body, headers={"X-CSRFToken": token})
    assert response.status_code == 200, response.json
    return response.json  # type: ignore[no-any-return]


def _fill(rule: Any, info: Any) -> str:
    values = {"item_id": info.writein_item_ids[0], "page_id": info.unidentified_page_ids[0], "answer_id": info.answer_ids[0],
              "code": SURVEY, "serial": info.serials[0], "username": "duyet2", "job_id": "nojob"}
    query = {"images.answers": f"?ids={info.answer_ids[0]}"}.get(rule.endpoint, "")
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m.group(1)]), rule.rule) + query


def test_every_route_checks_every_role(env) -> None:  # type: ignore[no-untyped-def]
    app, info, _db = env
    rules = [r for r in app.url_map.iter_rules() if r.endpoint not in PUBLIC]
    guarded = {r.endpoint: getattr(app.view_functions[r.endpoint], "allowed_roles", None) for r in rules}
    assert all(guarded.values()), [e for e, allowed in guarded.items() if not allowed]
    anonymous = app.test_client()
    for rule in rules:
        if "GET" in rule.methods:
            assert anonymous.get(_fill(rule, info), headers={"Accept": "application/json"}).status_code == 401, rule
    for role, username in ROLE_USERS.items():
        client, token = login(app, username)
        for rule in rules:
            path, allowed = _fill(rule, info), role in guarded[rule.endpoint]
            if "GET" in rule.methods:
                status = client.get(path).status_code
                busy = {"upload.job": 404, "review.show": 409}.get(rule.endpoint)  # no such job / leased by another role
                expected_ok = status in (200, 302, busy)
                assert expected_ok if allowed else status == 403, (role, path, status)
            elif not allowed:  # POSTs by allowed roles change state: exercised by the tests below
                assert client.post(path, headers={"X-CSRFToken": token}).status_code == 403, (role, path)
    # the policy itself, spot-checked
    assert "clerk" not in guarded["review.decide"] and guarded["admin.users"] == ("admin",)
    assert "reviewer" not in guarded["sheets.correct"] and "clerk" in guarded["upload.receive"]


def test_login_is_hashed_throttled_and_csrf_protected(env) -> None:  # type: ignore[no-untyped-def]
    app, _info, database = env
    with database.session() as s:
        assert s.scalar(select(User.password_hash).where(User.username == "duyet1")).startswith("$argon2id$")
    # session cookie: HttpOnly, SameSite, expiring after ReviewSettings.session_hours (before throttling: same address)
    fresh = app.test_client()
    tok = fresh.get("/api/login").json["csrf"]
    ok = fresh.post("/api/login", json={"username": "duyet2", "password": PASSWORD}, headers={"X-CSRFToken": tok})
    cookie = ok.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Expires=" in cookie
    client = app.test_client()
    token = client.get("/api/login").json["csrf"]
    assert client.post("/api/login", json={"username": "duyet1", "password": "x"}).json["error"]["code"] == "csrf"
    for _ in range(3):
        bad = client.post("/api/login", json={"username": "duyet1", "password": "sai-mat-khau"}, headers={"X-CSRFToken": token})
        assert bad.status_code == 401 and bad.json["error"]["code"] == "login_failed"
    throttled = client.post("/api/login", json={"username": "duyet1", "password": PASSWORD}, headers={"X-CSRFToken": token})
    assert throttled.status_code == 429 and set(throttled.json["error"]) == {"code", "message"}


def test_disabled_user_is_logged_out_at_once(env) -> None:  # type: ignore[no-untyped-def]
    app, _info, _db = env
    reviewer, _ = login(app, "duyet2")
    assert reviewer.get("/api/queue").status_code == 200
    admin, token = login(app, "admin")
    assert admin.post("/api/users/duyet2/update", json={"active": "0"}, headers={"X-CSRFToken": token}).status_code == 200
    assert reviewer.get("/api/queue").status_code == 401


def test_review_through_json_and_refused_stale_decision(env) -> None:  # type: ignore[no-untyped-def]
    app, _info, database = env
    a, token_a = login(app, "duyet1")
    b, token_b = login(app, "duyet2")
    first, second = take(a, token_a), take(b, token_b)
    ids_a = {r["item_id"] for r in first["rows"]}
    ids_b = {r["item_id"] for r in second["rows"]}
    assert ids_a and ids_b and not ids_a & ids_b
    decisions = [{"item_id": r["item_id"], "version": r["version"], "value": "2"} for r in first["rows"]]
    ok = a.post(f"/api/review/{first['item']['id']}/decide", json={"decisions": decisions}, headers={"X-CSRFToken": token_a})
    assert ok.status_code == 200, ok.json
    again = a.post(f"/api/review/{first['item']['id']}/decide", json={"decisions": decisions}, headers={"X-CSRFToken": token_a})
    assert again.status_code == 409 and "duyet1" in again.json["error"]["message"]
    with database.session() as s:
        for row in first["rows"]:
            answer = s.get(Answer, row["answer_id"])
            assert (answer.final_value, answer.status) == ("2", "reviewed")
            assert answer.machine_value == row["machine_value"]
            assert s.scalar(select(Decision.user_id).where(Decision.answer_id == answer.id)) is not None


def test_item_crop_shows_the_question_with_states_coloured(env) -> None:  # type: ignore[no-untyped-def]
    app, info, database = env
    client, _ = login(app, "duyet1")
    with database.session() as s:
        grid = s.scalars(select(Answer.id).where(Answer.question == "G", Answer.status == "review").order_by(Answer.id)).all()[:2]
    png = client.get(f"/img/answers.png?ids={grid[0]}")
    assert png.status_code == 200 and png.mimetype == "image/png"
    image = cv2.imdecode(np.frombuffer(png.data, np.uint8), cv2.IMREAD_COLOR)
    # one grid row of the seed layout: x 20..200 mm, y 78..87.5 mm, plus 1.5 mm margins: its own picture
    dpi = 150 / 25.4
    assert abs(image.shape[1] - 183 * dpi) < 3 and abs(image.shape[0] - 12.5 * dpi) < 3
    orange = (image[:, :, 2] > 200) & (image[:, :, 1] > 100) & (image[:, :, 1] < 180) & (image[:, :, 0] < 60)
    assert orange.sum() > 50  # the uncertain box is framed in orange
    magenta = (image[:, :, 2] > 150) & (image[:, :, 0] > 150) & (image[:, :, 1] < 60)
    assert magenta.sum() > 50  # ... and singled out: it is why the row is in the queue
    both = cv2.imdecode(np.frombuffer(client.get(f"/img/answers.png?ids={grid[0]},{grid[1]}").data, np.uint8), cv2.IMREAD_COLOR)
    assert abs(both.shape[0] - 22.5 * dpi) < 3  # two rows: both whole, nothing more
    page = client.get(f"/img/page/{info.unidentified_page_ids[0]}.jpg?raw=1&rotate=90")
    rotated = cv2.imdecode(np.frombuffer(page.data, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert rotated.shape[1] > rotated.shape[0]  # a portrait page turned on its side


def test_unidentified_page_assigned_by_serial(env) -> None:  # type: ignore[no-untyped-def]
    app, info, database = env
    client, token = login(app, "duyet1")
    page_id = info.unidentified_page_ids[0]
    view = client.get(f"/api/pages/{page_id}").json
    found = client.get(f"/api/sheets/search?survey={SURVEY}&q={info.serials[-1] + 1}").json["results"]
    assert found[0]["serial"] == info.serials[-1] + 1 and found[0]["pages_in"] == []  # nearest serials upward
    taken = client.post(f"/api/pages/{page_id}/assign", headers={"X-CSRFToken": token},
                        json={"survey": SURVEY, "serial": info.serials[0], "page_number": 1, "version": view["item"]["version"]})
    assert taken.status_code == 409 and str(info.serials[0]) in taken.json["error"]["message"]
    done = client.post(f"/api/pages/{page_id}/assign", headers={"X-CSRFToken": token},
                       json={"survey": SURVEY, "serial": found[0]["serial"], "page_number": 1, "version": view["item"]["version"]})
    assert done.status_code == 200, done.json
    with database.session() as s:
        page = s.get(Page, page_id)
        assert page.status == "identified" and s.get(Sheet, page.sheet_id).serial == found[0]["serial"]
        assert s.scalar(select(ReviewItem.status).where(ReviewItem.page_id == page_id)) == "done"
    assert client.get("/api/pages/unidentified").json["pages"] == []


def test_supervisor_corrects_reopens_and_history_keeps_everything(env) -> None:  # type: ignore[no-untyped-def]
    app, info, database = env
    boss, token = login(app, "giamsat")
    sheet = boss.get(f"/api/sheets/{SURVEY}/{info.serials[0]}").json
    age = next(a for a in sheet["answers"] if a["question"] == "N")
    assert len(sheet["pages"]) == 1 and age["final_value"] == "42"
    fixed = boss.post(f"/api/answers/{age['id']}/correct", json={"value": "24", "version": age["version"]}, headers={"X-CSRFToken": token})
    assert fixed.json["answer"]["final_value"] == "24" and fixed.json["answer"]["machine_value"] == "42"
    stale = boss.post(f"/api/answers/{age['id']}/correct", json={"value": "25", "version": age["version"]}, headers={"X-CSRFToken": token})
    assert stale.status_code == 409
    refused = boss.post(f"/api/answers/{age['id']}/reopen", json={"reason": "  "}, headers={"X-CSRFToken": token})
    assert refused.status_code == 400 and "lý do" in refused.json["error"]["message"]
    reopened = boss.post(f"/api/answers/{age['id']}/reopen", json={"reason": "Chữ số mờ, xem lại"}, headers={"X-CSRFToken": token})
    assert reopened.status_code == 200
    history = boss.get(f"/api/answers/{age['id']}/history").json
    assert [d["kind"] for d in history["decisions"]] == ["correction", "reopen"]
    assert [e["action"] for e in history["events"]] == ["correct", "reopen"]
    with database.session() as s:
        assert s.scalar(select(ReviewItem.reason).where(ReviewItem.answer_id == age["id"], ReviewItem.status == "open")) == \
            "reopened: Chữ số mờ, xem lại"


def test_progress_figures_match_the_database(env) -> None:  # type: ignore[no-untyped-def]
    app, info, database = env
    clerk, _ = login(app, "vanthu")
    data = clerk.get(f"/api/surveys/{SURVEY}").json
    with database.session() as s:
        sheets = s.scalars(select(Sheet.status)).all()
    assert data["figures"]["printed"] == len(sheets) == len(info.serials) + 2
    assert data["figures"]["review"] == sheets.count("review") == len(info.serials)
    assert data["figures"]["pages"] == 1
    assert data["figures"]["answers"] == data["figures"]["queue"]["answers_open"] == info.queue_items


def test_html_pages_render_in_vietnamese_and_english(env) -> None:  # type: ignore[no-untyped-def]
    app, _info, _db = env
    client, token = login(app, "duyet1")
    page = client.post("/review/next", data={"csrf_token": token}, follow_redirects=True)
    assert page.status_code == 200 and "Xác nhận" in page.text and 'lang="vi"' in page.text
    client.post("/lang/en", data={"csrf_token": token, "next": "/queue"})
    english = client.get("/queue").text
    assert 'lang="en"' in english and "Review queue" in english


def test_supervisor_reassigns_held_items_and_signs_off_a_finished_sheet(env) -> None:  # type: ignore[no-untyped-def]
    app, info, database = env
    a, token_a = login(app, "duyet1")
    held = {r["item_id"] for r in take(a, token_a)["rows"]}
    boss, token = login(app, "giamsat")
    assert boss.get(f"/api/surveys/{SURVEY}").json["leases"] == {"duyet1": len(held)}
    released = boss.post("/api/users/duyet1/release", headers={"X-CSRFToken": token}).json
    assert released["released"] == len(held)
    b, token_b = login(app, "duyet2")
    assert {r["item_id"] for r in take(b, token_b)["rows"]} == held  # the queue's head again

    serial = info.serials[-1]
    refused = boss.post(f"/api/sheets/{SURVEY}/{serial}/sign-off", headers={"X-CSRFToken": token})
    assert refused.status_code == 409 and str(serial) in refused.json["error"]["message"]
    for answer in boss.get(f"/api/sheets/{SURVEY}/{serial}").json["answers"]:
        if answer["status"] == "review":
            fixed = boss.post(f"/api/answers/{answer['id']}/correct", json={"value": "1", "version": answer["version"]},
                              headers={"X-CSRFToken": token})
            assert fixed.status_code == 200
    signed = boss.post(f"/api/sheets/{SURVEY}/{serial}/sign-off", headers={"X-CSRFToken": token})
    assert signed.status_code == 200 and signed.json["status"] == "final"
    with database.session() as s:
        assert s.scalar(select(Sheet.status).where(Sheet.serial == serial)) == "final"


def test_unidentified_page_rotated_then_marked_not_part_of_the_survey(env) -> None:  # type: ignore[no-untyped-def]
    app, info, database = env
    client, token = login(app, "duyet1")
    page_id = info.unidentified_page_ids[0]
    turned = client.post(f"/api/pages/{page_id}/rotate", json={"rotation": 90}, headers={"X-CSRFToken": token})
    # the seeded page has no original scan file to read again: the rotation is kept, the page waits
    assert turned.status_code == 200 and turned.json == {**turned.json, "rotation": 90, "reread": False}
    bad = client.post(f"/api/pages/{page_id}/rotate", json={"rotation": 45}, headers={"X-CSRFToken": token})
    assert bad.status_code == 409 and set(bad.json["error"]) == {"code", "message"}
    version = client.get(f"/api/pages/{page_id}").json["item"]["version"]
    done = client.post(f"/api/pages/{page_id}/not-survey", json={"version": version}, headers={"X-CSRFToken": token})
    assert done.status_code == 200
    with database.session() as s:
        page = s.get(Page, page_id)
        assert (page.status, page.rotation, page.sheet_id) == ("not_survey", 90, None)
    again = client.post(f"/api/pages/{page_id}/not-survey", json={"version": version}, headers={"X-CSRFToken": token})
    assert again.status_code == 409


def test_html_form_decides_every_row_or_none(env) -> None:  # type: ignore[no-untyped-def]
    app, _info, database = env
    client, token = login(app, "duyet1")
    data = take(client, token)
    while len(data["rows"]) < 2:  # find a grid row set
        client.post(f"/api/review/{data['item']['id']}/skip", headers={"X-CSRFToken": token})
        data = take(client, token)
    first, second = data["rows"][:2]
    form = {"csrf_token": token, f"version_{first['item_id']}": first["version"], f"value_{first['item_id']}": "3",
            f"version_{second['item_id']}": second["version"]}
    partial = client.post(f"/review/{data['item']['id']}/decide", data=form)
    assert partial.status_code == 400 and "Chưa chọn" in partial.text
    form[f"value_{second['item_id']}"] = ""  # the "0 = blank" choice
    done = client.post(f"/review/{data['item']['id']}/decide", data=form)
    assert done.status_code == 303 and "/review/" in done.location  # straight on to the next item
    with database.session() as s:
        assert s.get(Answer, first["answer_id"]).final_value == "3"
        assert (s.get(Answer, second["answer_id"]).final_value, s.get(Answer, second["answer_id"]).status) == (None, "reviewed")


def test_second_review_share_set_by_a_supervisor_sends_decisions_to_another_person(env) -> None:  # type: ignore[no-untyped-def]
    app, _info, database = env
    boss, boss_token = login(app, "giamsat")
    assert boss.post(f"/api/surveys/{SURVEY}/second-review", json={"share": "100%"},
                     headers={"X-CSRFToken": boss_token}).json["second_review_share"] == 1.0
    a, token_a = login(app, "duyet1")
    data = take(a, token_a)
    decisions = [{"item_id": r["item_id"], "version": r["version"], "value": "1"} for r in data["rows"]]
    assert a.post(f"/api/review/{data['item']['id']}/decide", json={"decisions": decisions}, headers={"X-CSRFToken": token_a}).status_code == 200
    answer_ids = {r["answer_id"] for r in data["rows"]}
    with database.session() as s:
        seconds = s.scalars(select(ReviewItem).where(ReviewItem.kind == "second")).all()
        assert {i.answer_id for i in seconds} == answer_ids
    assert take(a, token_a)["item"]["kind"] != "second"  # never the first reviewer's own decisions
    b, token_b = login(app, "duyet2")
    seen = []
    while (item := take(b, token_b)).get("item") and item["item"]["kind"] != "second":
        seen.append(item["item"]["id"])
        b.post(f"/api/review/{item['item']['id']}/skip", headers={"X-CSRFToken": token_b})
        assert len(seen) < 50
    assert item["item"]["kind"] == "second" and {r["answer_id"] for r in item["rows"]} <= answer_ids
    # blind: nothing of the first decision reaches the second person, in the data or on the page
    assert all("previous" not in r and r["preselect"] == [] or r["kind"] == "grid" for r in item["rows"])
    page = b.get(f"/review/{item['item']['id']}").text
    assert "duyet1" not in page and "Người duyệt thứ nhất" not in page


def test_a_draft_below_the_confidence_bar_is_not_offered(database, file_store) -> None:  # type: ignore[no-untyped-def]
    info = seed(database, file_store, sheets=1, ocr_confidence=40.0)  # garbage reads with low confidence
    url = database.engine.url.render_as_string(hide_password=False)
    app = create_app(url, file_store.root, settings=Settings(), secret_key="t", migrate=False)
    client, _token = login(app, "duyet1")
    data = client.get(f"/api/review/{info.writein_item_ids[0]}").json
    assert data["rows"][0]["draft"] == "" and data["rows"][0]["draft_hidden"] is True
    page = client.get(f"/review/{info.writein_item_ids[0]}").text
    assert "Zalo cua xa" not in page and "không đủ tin cậy" in page
    app.extensions["phieu"].db.dispose()
