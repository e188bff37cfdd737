"""A dataset built for the results tests, written through the real storage writers (scan writer, review
decisions), on a real questionnaire built by formgen. Every expected figure in the tests is worked
out by hand from the tables below.

Units, three levels: province P → districts D1, D2 → communes C11, C12 (in D1), C21 (in D2).
Questionnaire KQ-2024 (two pages): A1 single, A2 multiple with a write-in on option 3, A3 number,
B1 satisfaction grid (5 levels) rows a1 a2 (aspect access), p1 (procedures: a group with one item),
o1 o2 (openness); areas: service = access + procedures, policy = openness; weights: access 2 in
its area, item a1 3 in its group; B2 free text on page 2. The earlier round KQ-2023 has the same
questions.

KQ-2024 sheets (R = sent to review; → value a person decided; open = still waiting):

| serial | unit | A1 | A2 | A2.3 | A3 | a1 | a2 | p1 | o1 | o2 | B2 (page 2) |
|---|---|---|---|---|---|---|---|---|---|---|---|
| 1 | C11 | 1 | 1;3 | ink → =HYPERLINK | 35 | 5 | 4 | 3 | 4 | 2 | ink → Thủ tục nhanh |
| 2 | C11 | 2 | 2 | | | 4 | | 5 | 1 | R → * | |
| 3 | C11 | 2 | | | 61 | 2 | 5 | 4 | R open | 5 | ink → Cần thêm chỗ ngồi |
| 4 | C12 | 1 | 1;2 | | R open | 5 | 5 | 2 | 4 | 4 | |
| 5 | C12 | | 3 | ink → Zalo | 44 | 3 | 4 | | 5 | 3 | |
| 6 | C21 | R → 2 | 1 | | 28 | 4 | 1 | 4 | R → 3 | 4 | ink, open |
| 7 | C21 | 1 | 2;3 | | 50 | 1 | 2 | 5 | 2 | | page 2 never scanned |
| 8 | C21 | page 1 back but not aligned (unidentified) | | | | | | | | | (blank) |
| 9 | C21 | printed, not returned | | | | | | | | | |

KQ-2023 (earlier round), B1 only (A1 1, A2 1, A3 40, nothing written): serial 1 C11 4 4 4 4 4;
2 C11 2 2 2 2 2; 3 C21 5 1 1 1 5; 4 C21 1 1 1 5 5.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy import select
from storage_helpers import alignment, ans, reading

from core.types import AnswerReading, Identification
from formgen.definition import load_definition
from formgen.identity import SheetIdentity
from formgen.render import build_form
from storage import review_queue as rq
from storage import surveys
from storage.db import Database
from storage.files import FileStore
from storage.models import Answer, ReviewItem, ScanFile, Sheet, Survey, Unit, User
from storage.scans import PageOutcome, record_page, register_file, start_batch

QUESTIONNAIRE = """\
survey: {survey}
edition: "1"
title: "PHIẾU THỬ KẾT QUẢ"
sections:
  - title: "PHẦN A. NGƯỜI TRẢ LỜI"
    tags: {{part: A}}
    questions:
      - id: A1
        type: single
        text: "Giới tính"
        options: [{{code: 1, label: "Nam"}}, {{code: 2, label: "Nữ"}}]
      - id: A2
        type: multiple
        text: "Kênh thông tin"
        options: [{{code: 1, label: "Truyền hình"}}, {{code: 2, label: "Báo"}}, {{code: 3, label: "Khác (ghi rõ)", other: true}}]
      - id: A3
        type: number
        text: "Tuổi"
        digits: 2
  - title: "PHẦN B. HÀI LÒNG"
    tags: {{part: B}}
    questions:
      - id: B1
        type: grid
        text: "Mức độ hài lòng"
        scale:
          - {{code: 1, label: "Rất không hài lòng"}}
          - {{code: 2, label: "Không hài lòng"}}
          - {{code: 3, label: "Bình thường"}}
          - {{code: 4, label: "Hài lòng"}}
          - {{code: 5, label: "Rất hài lòng"}}
        rows:
          - {{id: a1, text: "Nơi chờ đủ chỗ ngồi", tags: {{area: service, aspect: access}}}}
          - {{id: a2, text: "Trang thiết bị đầy đủ", tags: {{area: service, aspect: access}}}}
          - {{id: p1, text: "Thủ tục niêm yết đầy đủ", tags: {{area: service, aspect: procedures}}}}
          - {{id: o1, text: "Chính quyền công khai thông tin", tags: {{area: policy, aspect: openness}}}}
          - {{id: o2, text: "Chính quyền giải thích rõ", tags: {{area: policy, aspect: openness}}}}
      - id: B2
        type: text
        text: "Ý kiến khác"
        lines: 15
index:
  title: "Chỉ số hài lòng thử"
  questions: [B1]
  satisfied: [4, 5]
  item_weights: {{B1.a1: 3}}
  {previous}
  levels:
    - id: group
      tag: aspect
      title: "Khía cạnh"
      labels: {{access: "Tiếp cận", procedures: "Thủ tục", openness: "Công khai"}}
      weights: {{access: 2}}
    - id: part
      tag: area
      title: "Lĩnh vực"
      labels: {{service: "Dịch vụ công", policy: "Chính sách"}}
"""

SURVEY, EARLIER = "KQ-2024", "KQ-2023"
ROWS = ("a1", "a2", "p1", "o1", "o2")
R = "R"  # sent to review
INK = "INK"  # handwriting to transcribe
# serial: (unit, A1, A2, A2.3, A3, (a1, a2, p1, o1, o2), B2 or "page 2 missing")
SHEETS: dict[int, tuple[str, str | None, str | None, str | None, str | None, tuple[str | None, ...], str | None]] = {
    1: ("C11", "1", "1;3", INK, "35", ("5", "4", "3", "4", "2"), INK),
    2: ("C11", "2", "2", None, None, ("4", None, "5", "1", R), None),
    3: ("C11", "2", None, None, "61", ("2", "5", "4", R, "5"), INK),
    4: ("C12", "1", "1;2", None, R, ("5", "5", "2", "4", "4"), None),
    5: ("C12", None, "3", INK, "44", ("3", "4", None, "5", "3"), None),
    6: ("C21", R, "1", None, "28", ("4", "1", "4", R, "4"), INK),
    7: ("C21", "1", "2;3", None, "50", ("1", "2", "5", "2", None), "missing"),
}
ATTACK = '=HYPERLINK("http://x.example/","Bấm")'
# (serial, question, item, value a person decided); the other review items stay open
DECISIONS = [
    (1, "A2", "A2:w3", ATTACK), (1, "B2", "", "Thủ tục nhanh"), (2, "B1", "o2", "*"),
    (3, "B2", "", "Cần thêm chỗ ngồi"), (5, "A2", "A2:w3", "Zalo"), (6, "A1", "", "2"), (6, "B1", "o1", "3"),
]
EARLIER_SHEETS = {1: ("C11", "44444"), 2: ("C11", "22222"), 3: ("C21", "51115"), 4: ("C21", "11155")}
UNITS = [("P", "Tỉnh Thử", "province", None), ("D1", "Huyện Một", "district", "P"), ("D2", "Huyện Hai", "district", "P"),
         ("C11", "Xã Một Một", "commune", "D1"), ("C12", "Xã Một Hai", "commune", "D1"),
         ("C21", "Xã Hai Một", "commune", "D2")]


def questionnaire(survey: str = SURVEY) -> str:
    previous = f"previous: {EARLIER}" if survey == SURVEY else ""
    return QUESTIONNAIRE.format(survey=survey, previous=previous)


def choice(question: str, value: str | None, *, item: str = "", kind: str = "single") -> AnswerReading:
    if value == R:
        return ans(question, None, item=item, kind=kind, state="multiple", review=True, reason="multiple_marks")
    return ans(question, value, item=item, kind=kind, state="answered" if value else "blank")


def hand(question: str, value: str | None, *, item: str = "", kind: str = "writein") -> AnswerReading:
    if value == INK:
        return ans(question, None, item=item, kind=kind, state="ink", review=True, reason="writein", ocr="?")
    return ans(question, None, item=item, kind=kind, state="no_ink")


def page1(a1: str | None, a2: str | None, w3: str | None, a3: str | None, grid: tuple[str | None, ...]) -> list[AnswerReading]:
    number = (ans("A3", None, kind="number", state="unreadable", review=True, reason="unreadable_digit") if a3 == R
              else ans("A3", a3, kind="number", state="answered" if a3 else "blank"))
    return [choice("A1", a1), choice("A2", a2, kind="multiple"), hand("A2", w3, item="A2:w3"), number,
            hand("A3", None, item="A3:write"),
            *[choice("B1", v, item=row, kind="grid") for row, v in zip(ROWS, grid, strict=True)]]


def outcome(survey: str, index: int, serial: int, page: int, answers: list[AnswerReading] | None,
             edition: str = "1") -> PageOutcome:
    ident = Identification(identity=SheetIdentity(survey, edition, serial, page), qr_text=f"{survey}-{serial}-{page}",
                           decoder="zxing")
    png = hashlib.sha256(f"{survey}-{serial}-{page}".encode()).digest()
    if answers is None:  # identified by its code, but the page could not be aligned
        return PageOutcome(index=index, identification=ident, page_image=b"page" + png)
    return PageOutcome(index=index, identification=ident, alignment=alignment(), reading=reading(answers),
                       page_image=b"page" + png, aligned_image=b"aligned" + png, aligned_dpi=150.0, quality={"dpi": 300})


def _register(db: Database, store: FileStore, survey: str, blocks: list[tuple[str, int]]) -> None:
    built = build_form(load_definition(questionnaire(survey), source_name=f"{survey}.yaml"))
    with db.session() as s:
        surveys.register_edition(s, built.definition, yaml_text=questionnaire(survey), layout=built.layout,
                                 blank_pdf=built.blank_pdf, files=store, actor="test")
        for unit, count in blocks:
            surveys.allocate_serials(s, survey, "1", count, units=[unit], actor="test")


def scan(db: Database, store: FileStore, path: Path, outcomes: list[PageOutcome]) -> None:
    path.write_bytes(path.name.encode())
    with db.session() as s:
        scan_file, _ = register_file(s, store, path, start_batch(s, "cli", "test"))
        for o in outcomes:
            record_page(s, store, s.get_one(ScanFile, scan_file.id), o)


def build_units(db: Database) -> None:
    with db.session() as s:
        ids: dict[str, int] = {}
        for code, name, kind, parent in UNITS:
            unit = Unit(code=code, name=name, kind=kind, parent_id=ids.get(parent) if parent else None)
            s.add(unit)
            s.flush()
            ids[code] = unit.id


def build(db: Database, store: FileStore, tmp_path: Path) -> None:
    """Both rounds, scanned and partly reviewed, as the tables above say."""
    build_units(db)
    _register(db, store, SURVEY, [("C11", 3), ("C12", 2), ("C21", 4)])
    _register(db, store, EARLIER, [("C11", 2), ("C21", 2)])
    outcomes: list[PageOutcome] = []
    for serial, (_unit, a1, a2, w3, a3, grid, b2) in SHEETS.items():
        outcomes.append(outcome(SURVEY, len(outcomes), serial, 1, page1(a1, a2, w3, a3, grid)))
        if b2 != "missing":
            outcomes.append(outcome(SURVEY, len(outcomes), serial, 2, [hand("B2", b2, kind="text")]))
    outcomes.append(outcome(SURVEY, len(outcomes), 8, 1, None))
    outcomes.append(outcome(SURVEY, len(outcomes), 8, 2, [hand("B2", None, kind="text")]))
    scan(db, store, tmp_path / "kq-2024.pdf", outcomes)
    earlier = []
    for serial, (_unit, grid) in EARLIER_SHEETS.items():
        earlier.append(outcome(EARLIER, len(earlier), serial, 1, page1("1", "1", None, "40", tuple(grid))))
        earlier.append(outcome(EARLIER, len(earlier), serial, 2, [hand("B2", None, kind="text")]))
    scan(db, store, tmp_path / "kq-2023.pdf", earlier)
    decide(db, DECISIONS)


def decide(db: Database, decisions: list[tuple[int, str, str, str | None]], survey: str = SURVEY) -> None:
    with db.session() as s:
        user = s.scalar(select(User).where(User.username == "lan"))
        if user is None:
            user = User(username="lan", full_name="Lan", password_hash="x" * 40, role="reviewer")
            s.add(user)
            s.flush()
        for serial, question, item, value in decisions:
            answer = s.scalar(select(Answer).join(Sheet).join(Survey).where(
                Survey.code == survey, Sheet.serial == serial, Answer.question == question, Answer.item == item))
            assert answer is not None, (serial, question, item)
            open_item = s.scalar(select(ReviewItem).where(ReviewItem.answer_id == answer.id, ReviewItem.status == "open"))
            assert open_item is not None, (serial, question, item)
            rq.decide(s, open_item.id, user, value, open_item.version)


def workspace(tmp_path: Path) -> Path:
    """A workspace folder (its own SQLite file) holding the dataset; for the command-line tests."""
    from phieu.workspace import Workspace

    ws = Workspace.create(tmp_path / "ws", database_url=f"sqlite:///{tmp_path / 'ws' / 'phieu.sqlite3'}")
    db = Database.for_workspace(ws)
    build(db, FileStore(ws.files_dir), tmp_path)
    db.dispose()
    return ws.home


def corrupt(home: Path) -> None:
    """Store an answer whose code is not on the scale (sheet 8, B1.o1): totals stop reconciling."""
    db = Database.open(f"sqlite:///{home / 'phieu.sqlite3'}")
    with db.session() as s:
        sheet = s.scalar(select(Sheet).join(Survey).where(Survey.code == SURVEY, Sheet.serial == 8))
        assert sheet is not None
        s.add(Answer(sheet_id=sheet.id, question="B1", item="o1", kind="grid", machine_value="4;5",
                     machine_state="answered", status="accepted", final_value="4;5"))
    db.dispose()
