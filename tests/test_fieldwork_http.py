"""The fieldwork pages over real HTTP semantics (Flask test client) on real SQLite and PostgreSQL: who may
use which page, the JSON twins, the check-in answers (typed serial, a scanner's QR payload, a forged
code), editing the frame, visitor counts, phúc tra, the chart picture and the XLSX download; each
change read back from the database."""

from __future__ import annotations

import io
from typing import Any

import openpyxl
import pytest
from fieldwork_helpers import QT_FRAME, SECRET, SIPAS, with_frame
from PIL import Image
from sqlalchemy import select

from core.settings import Settings
from fieldwork.printing import print_by_frame
from formgen.identity import SheetIdentity, encode_payload
from review_ui.accounts import create_user, set_password
from review_ui.app import create_app
from storage.audit import history
from storage.fieldwork_models import VisitorCount
from storage.models import Sheet, Unit

PASSWORD = "mat-khau-123"
SURVEY = "SIPAS-2024"
USERS = {"quantri": "admin", "giamsat": "supervisor", "vanthu": "clerk", "duyet1": "reviewer"}


@pytest.fixture
def app(database, file_store):  # type: ignore[no-untyped-def]
    with_frame(database, file_store, SIPAS, QT_FRAME)
    with database.session() as s:
        print_by_frame(s, SURVEY, "1", only=["DH-P2"], actor="test")
        for name, role in USERS.items():
            create_user(s, name, PASSWORD, role)
        set_password(s, "dtv01", PASSWORD)
    url = database.engine.url.render_as_string(hide_password=False)
    flask_app = create_app(url, file_store.root, settings=Settings(), secret_key="test", qr_secret=SECRET, migrate=False)
    yield flask_app
    flask_app.extensions["phieu"].db.dispose()


def _login(app: Any, username: str) -> tuple[Any, dict[str, str]]:
    client = app.test_client()
    token = client.get("/api/login").json["csrf"]
    response = client.post("/api/login", json={"username": username, "password": PASSWORD}, headers={"X-CSRFToken": token})
    assert response.status_code == 200, response.json
    return client, {"X-CSRFToken": response.json["csrf"]}


def test_who_may_use_which_page(app) -> None:  # type: ignore[no-untyped-def]
    pages = {"/api/fieldwork/SIPAS-2024": ("quantri", "giamsat", "vanthu", "duyet1"),
             "/api/fieldwork/SIPAS-2024/checkin": ("quantri", "giamsat", "vanthu"),
             "/api/fieldwork/SIPAS-2024/frame": ("quantri", "giamsat"),
             "/api/fieldwork/SIPAS-2024/verification": ("quantri", "giamsat"),
             "/api/fieldwork/mine": ("dtv01",),
             "/fieldwork/SIPAS-2024/manifests/dtv01.pdf": ("quantri", "giamsat", "dtv01"),
             "/fieldwork/SIPAS-2024/manifests/dtv02.pdf": ("quantri", "giamsat")}
    for user in [*USERS, "dtv01"]:
        client, _ = _login(app, user)
        for path, allowed in pages.items():
            status = client.get(path).status_code
            assert status == (200 if user in allowed else 403), (user, path, status)
    assert app.test_client().get("/api/fieldwork/SIPAS-2024").status_code == 401
    client, _ = _login(app, "dtv01")
    mine = client.get("/api/fieldwork/mine").json
    assert [v["unit"] for v in mine["surveys"][0]["villages"]] == ["DH-P2-KP1", "DH-P2-KP2"]
    assert mine["surveys"][0]["villages"][0]["sheets"][0] == {"serial": 1, "household": "DH-P2-KP1-H01",
                                                              "stage": "printed", "stage_label": "đã in"}
    assert client.get("/fieldwork/SIPAS-2024/manifests/dtv01.pdf").data.startswith(b"%PDF")


def test_check_in_answers_at_once(app, database) -> None:  # type: ignore[no-untyped-def]
    client, headers = _login(app, "vanthu")
    page = client.get("/fieldwork/SIPAS-2024/checkin")
    assert page.status_code == 200 and "Quét mã QR trên phiếu hoặc gõ số phiếu".encode() in page.data

    def check(typed: str, **extra: str) -> dict[str, Any]:
        response = client.post("/api/fieldwork/SIPAS-2024/checkin", json={"code": typed, **extra}, headers=headers)
        assert response.status_code == 200, response.json
        return response.json["result"]  # type: ignore[no-any-return]

    typed = check("7", day="2024-11-24")
    assert (typed["outcome"], typed["serial"], typed["unit"], typed["household"], typed["collected"], typed["quota"]) == (
        "collected", 7, "DH-P2-KP1", "DH-P2-KP1-H07", 1, 27)
    assert typed["message"] == "Đã thu phiếu 7 / sheet 7 collected"
    scanned = check(encode_payload(SheetIdentity(SURVEY, "1", 30, 4), SECRET))
    assert (scanned["outcome"], scanned["serial"], scanned["unit"]) == ("collected", 30, "DH-P2-KP2")
    assert check("0000030-4-" + encode_payload(SheetIdentity(SURVEY, "1", 30, 4), SECRET)[-12:])["outcome"] == "already"
    forged = check(encode_payload(SheetIdentity(SURVEY, "1", 31, 1), b"another key"))
    assert forged["outcome"] == "refused" and "sai chữ ký" in forged["message"]
    # a scanner typing through a Vietnamese input method left on (Telex: "SIPAS" becomes "SÍPA"): the signed end counts
    telex = check(encode_payload(SheetIdentity(SURVEY, "1", 32, 2), SECRET).replace("SIPAS", "SÍPA"))
    assert (telex["outcome"], telex["serial"]) == ("collected", 32)
    tampered = encode_payload(SheetIdentity(SURVEY, "1", 33, 2), SECRET).replace("SIPAS", "SÍPA").replace(".0000033.", ".0000034.")
    assert check(tampered)["outcome"] == "refused"
    assert check("600")["message"].startswith("Không có phiếu số 600")
    assert check("xin chào")["outcome"] == "refused"
    with database.session() as s:
        states = dict(s.execute(select(Sheet.serial, Sheet.field_status).where(Sheet.serial.in_([7, 30, 31, 32, 34]))).all())
    assert states == {7: "collected", 30: "collected", 31: "printed", 32: "collected", 34: "printed"}
    # the HTML form works without JavaScript too
    response = client.post("/fieldwork/SIPAS-2024/checkin", data={"code": "8", "csrf_token": headers["X-CSRFToken"]})
    assert response.status_code == 200 and "Đã thu phiếu 8".encode() in response.data


def test_frame_editing_visitors_and_verification(app, database) -> None:  # type: ignore[no-untyped-def]
    client, headers = _login(app, "giamsat")
    saved = client.post("/api/fieldwork/SIPAS-2024/frame/unit", headers=headers,
                        json={"unit": "DH-P2-KP2", "quota": "25", "enumerator": "dtv02", "name": "Khu phố 2 (mới)"})
    assert saved.status_code == 200, saved.json
    wrong = client.post("/api/fieldwork/SIPAS-2024/frame/unit", headers=headers, json={"unit": "DH-P2-KP2", "quota": "-3"})
    assert wrong.status_code == 409 and set(wrong.json["error"]) == {"code", "message"}
    added = client.post("/api/fieldwork/SIPAS-2024/frame/add", headers=headers,
                        json={"code": "DH-P2-KP9", "name": "Khu phố 9", "kind": "khu phố", "parent": "DH-P2", "quota": "5"})
    assert added.status_code == 200, added.json
    with database.session() as s:
        unit = s.scalar(select(Unit).where(Unit.code == "DH-P2-KP2"))
        assert (unit.quota, unit.name) == (25, "Khu phố 2 (mới)")
        assert history(s, "unit", unit.id)[-1].detail["before"]["quota"] == 27
        assert s.scalar(select(Unit.level).where(Unit.code == "DH-P2-KP9")) == 3
    bad = io.BytesIO("mã,tên,cấp\nX,,tỉnh\n".encode())
    uploaded = client.post("/api/fieldwork/SIPAS-2024/frame/import", headers=headers, content_type="multipart/form-data",
                           data={"file": (bad, "khung.csv")})
    assert uploaded.status_code == 400 and "khung.csv" in uploaded.json["error"]["message"]
    assert "dòng 2" in uploaded.json["error"]["message"]

    clerk, clerk_headers = _login(app, "vanthu")
    entered = clerk.post("/api/fieldwork/SIPAS-2024/counters/visitors", headers=clerk_headers,
                         json={"unit": "DH-P2-KP1", "day": "2024-11-24", "visitors": "40"})
    assert entered.status_code == 200
    with database.session() as s:
        assert s.scalar(select(VisitorCount.visitors)) == 40
    days = client.get("/api/fieldwork/SIPAS-2024/counters").json["days"]
    assert (days[0]["unit"], days[0]["visitors"], days[0]["responses"], days[0]["ok"]) == ("DH-P2-KP1", 40, 0, False)
    ops = client.get("/api/fieldwork/SIPAS-2024").json  # the operations page flags it, up the frame
    flagged = {u["unit"]: (u["rule_breaks"], u["tone"]) for u in ops["units"] if u["rule_breaks"]}
    assert ops["show_counters"] and flagged == {"QT": (1, "overdue"), "DH": (1, "overdue"), "DH-P2": (1, "overdue"),
                                                "DH-P2-KP1": (1, "overdue")}

    for serial in range(1, 11):
        clerk.post("/api/fieldwork/SIPAS-2024/checkin", json={"code": str(serial)}, headers=clerk_headers)
    drawn = client.post("/api/fieldwork/SIPAS-2024/verification/draw", headers=headers, json={"seed": "x", "per_village": "3"})
    serials = [d["serial"] for d in drawn.json["drawn"]]
    assert len(serials) == 3 and set(serials) <= set(range(1, 11))
    recorded = client.post("/api/fieldwork/SIPAS-2024/verification/record", headers=headers,
                           json={"serial": serials[0], "outcome": "not_visited"})
    assert recorded.json["verification"]["outcome"] == "not_visited"
    report = client.get("/api/fieldwork/SIPAS-2024/verification").json["enumerators"]
    assert report == [{"enumerator": "dtv01", "drawn": 3, "checked": 1, "confirmed": 0, "not_visited": 1, "other_person": 0,
                       "problems": [serials[0]], "discrepancy_rate": 1.0}]


def test_operations_json_chart_and_workbook(app) -> None:  # type: ignore[no-untyped-def]
    client, headers = _login(app, "vanthu")
    for serial in (1, 2, 3):
        client.post("/api/fieldwork/SIPAS-2024/checkin", json={"code": str(serial)}, headers=headers)
    ops = client.get("/api/fieldwork/SIPAS-2024").json
    assert [u["unit"] for u in ops["units"]][:4] == ["QT", "DH", "DH-P2", "DH-P2-KP1"] and len(ops["units"]) == 31
    kp1 = next(u for u in ops["units"] if u["unit"] == "DH-P2-KP1")
    assert (kp1["printed"], kp1["collected"], kp1["quota"], kp1["enumerator"], kp1["tone"]) == (27, 3, 27, "dtv01", "behind")
    assert ops["total"]["printed"] == 54 and ops["enumerators"][0]["unit"] == "dtv01"
    html = client.get("/fieldwork/SIPAS-2024").data.decode()
    assert 'id="by-unit"' in html and "Khu phố 1" in html and 'src="/fieldwork/SIPAS-2024/chart.png"' in html
    picture = client.get("/fieldwork/SIPAS-2024/chart.png")
    assert picture.mimetype == "image/png" and Image.open(io.BytesIO(picture.data)).size[0] > 600
    workbook = client.get("/fieldwork/SIPAS-2024/export.xlsx")
    assert "attachment" in workbook.headers["Content-Disposition"]
    book = openpyxl.load_workbook(io.BytesIO(workbook.data))
    assert book["Theo đơn vị"].cell(5, 1).value == "DH-P2-KP1" and book["Theo đơn vị"].cell(5, 9).value == 3
    listed = client.get("/api/fieldwork/SIPAS-2024/sheets?unit=DH-P2&stage=collected").json["sheets"]
    assert [s["serial"] for s in listed] == [1, 2, 3]
    log = client.get("/api/fieldwork/SIPAS-2024/sheets/2").json
    assert [(e["from"], e["to"], e["actor"], e["source"]) for e in log["events"]] == [("printed", "collected", "vanthu", "checkin")]
