"""Review-UI test data: a small real layout, aligned page images drawn at the canonical dpi, and the rows
the scan pipeline would write for them (answers, box readings, review items, an unidentified page).

The images are real renderings (PIL, DejaVu font) of the layout's boxes, labels and the respondents'
marks, so crops, overlays and the browser tests look at genuine pixels.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from formgen.layout import (
    AnswerBox,
    HandwritingRegion,
    ItemLayout,
    Layout,
    OptionLayout,
    PageLayout,
    QuestionLayout,
    Rect,
    standard_marks,
)
from review_ui.accounts import create_user
from storage.db import Database
from storage.files import FileStore
from storage.models import (
    Answer,
    BoxReading,
    Edition,
    Page,
    ReviewItem,
    ScanBatch,
    ScanFile,
    Sheet,
    SheetPage,
    Survey,
)

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
SURVEY = "TEST-2024"
PASSWORD = "mat-khau-123"
SCALE = ["Rất không hài lòng", "Không hài lòng", "Bình thường", "Hài lòng", "Rất hài lòng"]
GRID_ROWS = ["Thủ tục đơn giản", "Thời gian giải quyết", "Thái độ công chức", "Phí, lệ phí"]


def _box(qid: str, item: str | None, value: str, x: float, y: float, label: str = "") -> AnswerBox:
    return AnswerBox(id=f"{qid}:{item or ''}:{value}", page=1, question=qid, item=item, value=value, x=x, y=y, w=5.5, h=5.5, label=label)


FIELDS = ["Đất đai", "Xây dựng", "Hộ tịch", "Tư pháp", "Đầu tư", "Lao động", "Giáo dục", "Y tế", "Giao thông",
          "Tài nguyên", "Thuế", "Khác"]  # codes 1-12: two-key codes in the review UI


SPLIT_ROWS = ["Đường giao thông", "Điện chiếu sáng", "Nước sạch", "Thu gom rác"]  # grid H: two rows a page


def build_layout(*, long_codes: bool = False, two_pages: bool = False) -> Layout:
    """One A4 page: Q1 single choice, G grid (4 rows × 5 levels), N age in two digits, W channel + write-in;
    with ``long_codes`` also L, the field of the procedure, twelve options coded 1-12; with ``two_pages``
    also grid H, whose rows h1-h2 end page 1 and h3-h4 begin page 2 (a grid that runs over a page)."""
    boxes: list[AnswerBox] = []
    q1 = [_box("Q1", None, v, 30 + 40 * i, 45, lbl) for i, (v, lbl) in enumerate([("1", "Nam"), ("2", "Nữ")])]
    boxes += q1
    for r, _row in enumerate(GRID_ROWS):
        boxes += [_box("G", f"r{r + 1}", str(v + 1), 110 + 16 * v, 80 + 10 * r) for v in range(5)]
    for col in range(2):
        boxes += [
            AnswerBox(id=f"N:c{col}:{d}", page=1, question="N", column=col, value=str(d), kind="digit",
                      x=30 + 8 * col, y=140 + 7 * d, w=5.5, h=5.5)
            for d in range(10)
        ]
    w_opts = [("1", "Trực tiếp"), ("2", "Qua mạng"), ("3", "Khác")]
    boxes += [_box("W", None, v, 80, 140 + 10 * i, lbl) for i, (v, lbl) in enumerate(w_opts)]
    if long_codes:
        boxes += [_box("L", None, str(i + 1), 30 + 30 * (i % 6), 235 + 10 * (i // 6), lbl) for i, lbl in enumerate(FIELDS)]
    split = [(f"h{r + 1}", t, 1 if r < 2 else 2, 262 + 10 * r if r < 2 else 40 + 10 * (r - 2)) for r, t in enumerate(SPLIT_ROWS)]
    page_two: list[AnswerBox] = []
    if two_pages:
        for row, _text, number, y in split:
            made = [_box("H", row, str(v + 1), 110 + 16 * v, y + 1.5) for v in range(5)]
            for b in made:
                (boxes if number == 1 else page_two).append(b.model_copy(update={"page": number}))
    region = HandwritingRegion(id="W:other", page=1, question="W", option_value="3", kind="writein", x=95, y=168, w=90, h=12)
    marks = standard_marks(210, 297, inset=10, size=6)
    page = PageLayout(number=1, marks=marks, qr=Rect(x=170, y=20, w=18, h=18), digits_text=Rect(x=130, y=40, w=60, h=5),
                      boxes=boxes, regions=[region])
    pages = [page]
    if two_pages:
        pages.append(PageLayout(number=2, marks=marks, qr=Rect(x=170, y=20, w=18, h=18),
                                digits_text=Rect(x=130, y=40, w=60, h=5), boxes=page_two))

    def question(qid: str, kind: str, text: str, area: Rect, **kw: object) -> QuestionLayout:
        return QuestionLayout(id=qid, kind=kind, text=text, pages=[1], area=[(1, area)], **kw)  # type: ignore[arg-type]

    questions = [
        question("Q1", "single", "Giới tính", Rect(x=20, y=35, w=120, h=18),
                 options=[OptionLayout(value="1", label="Nam"), OptionLayout(value="2", label="Nữ")],
                 items=[ItemLayout(id="Q1", text="Giới tính", page=1, area=Rect(x=20, y=35, w=120, h=18))]),
        question("G", "grid", "Mức độ hài lòng", Rect(x=20, y=66, w=180, h=52),
                 options=[OptionLayout(value=str(i + 1), label=s) for i, s in enumerate(SCALE)],
                 items=[ItemLayout(id=f"r{i + 1}", text=t, page=1, area=Rect(x=20, y=78 + 10 * i, w=180, h=9.5))
                        for i, t in enumerate(GRID_ROWS)]),
        question("N", "number", "Tuổi", Rect(x=20, y=128, w=30, h=90), digits=2, min_value=18, max_value=99,
                 items=[ItemLayout(id="N", text="Tuổi", page=1, area=Rect(x=20, y=128, w=30, h=90))]),
        question("W", "single", "Kênh tiếp nhận", Rect(x=70, y=128, w=130, h=56),
                 options=[OptionLayout(value=v, label=lbl, writein=v == "3") for v, lbl in w_opts],
                 items=[ItemLayout(id="W", text="Kênh tiếp nhận", page=1, area=Rect(x=70, y=128, w=130, h=56))]),
    ]
    if long_codes:
        questions.append(question("L", "single", "Lĩnh vực thủ tục", Rect(x=20, y=225, w=185, h=32),
                                  options=[OptionLayout(value=str(i + 1), label=f) for i, f in enumerate(FIELDS)],
                                  items=[ItemLayout(id="L", text="Lĩnh vực thủ tục", page=1,
                                                    area=Rect(x=20, y=225, w=185, h=32))]))
    if two_pages:
        questions.append(QuestionLayout(
            id="H", kind="grid", text="Hài lòng với hạ tầng", pages=[1, 2],
            area=[(1, Rect(x=20, y=255, w=180, h=27)), (2, Rect(x=20, y=38, w=180, h=22))],
            options=[OptionLayout(value=str(i + 1), label=lbl) for i, lbl in enumerate(SCALE)],
            items=[ItemLayout(id=row, text=text, page=number, area=Rect(x=20, y=y, w=180, h=9.5)) for row, text, number, y in split]))
    return Layout(survey=SURVEY, edition="1", title="Khảo sát thử nghiệm", page_count=len(pages), pages=pages,
                  questions=questions)


def render_page(layout: Layout, marked: set[str], *, dpi: int = 150, writein: str = "", number: int = 1) -> bytes:
    """The aligned page as PNG: frames, labels, question texts and X marks in ``marked`` boxes."""
    px = dpi / 25.4
    img = Image.new("L", (round(210 * px), round(297 * px)), 255)
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, round(3.2 * px))
    page = layout.page(number)
    for q in layout.questions:
        for on, area in q.area:
            if on == number and (q.kind != "grid" or on == q.pages[0]):
                draw.text((area.x * px, area.y * px), f"{q.id}. {q.text}", fill=0, font=font)
        for it in q.items:
            if q.kind == "grid" and it.page == number:
                draw.text((it.area.x * px, (it.area.y + 2) * px), it.text, fill=0, font=font)
    for m in page.marks:
        r = m.size / 2 * px
        shape = draw.ellipse if m.shape == "circle" else draw.rectangle
        shape((m.cx * px - r, m.cy * px - r, m.cx * px + r, m.cy * px + r), fill=0)
    for b in page.boxes:
        x0, y0, x1, y1 = b.x * px, b.y * px, (b.x + b.w) * px, (b.y + b.h) * px
        draw.rectangle((x0, y0, x1, y1), outline=0, width=2)
        draw.text((x1 + 1.5 * px, y0), b.value + (f" {b.label}" if b.label else ""), fill=0, font=font)
        if b.id in marked:
            draw.line((x0 + 3, y0 + 3, x1 - 3, y1 - 3), fill=20, width=4)
            draw.line((x0 + 3, y1 - 3, x1 - 3, y0 + 3), fill=20, width=4)
    if writein and page.regions:
        region = page.regions[0]
        draw.rectangle((region.x * px, region.y * px, (region.x + region.w) * px, (region.y + region.h) * px), outline=160)
        draw.text(((region.x + 2) * px, (region.y + 3) * px), writein, fill=30, font=font)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


@dataclass
class Seeded:
    survey_id: int
    serials: list[int]
    queue_items: int  # answer + write-in items
    writein_item_ids: list[int] = field(default_factory=list)
    page_item_ids: list[int] = field(default_factory=list)
    answer_ids: list[int] = field(default_factory=list)
    unidentified_page_ids: list[int] = field(default_factory=list)


def _sheet_marks(layout: Layout, rng: np.random.Generator) -> dict[str, str]:
    """Per box id: the reading state the machine reports (marked / uncertain / empty)."""
    states = {b.id: "empty" for b in layout.all_boxes()}
    states["Q1::1"] = states["Q1::2"] = "marked"  # two marks: review
    for r in range(1, 5):
        states[f"G:r{r}:{int(rng.integers(1, 6))}"] = "marked"
    states["G:r1:1"] = "uncertain"
    states["G:r2:5"] = "uncertain"
    states["N:c0:4"] = states["N:c1:2"] = "marked"
    states["W::3"] = "marked"
    if "L::1" in states:
        states["L::1"] = states["L::11"] = "marked"  # two marks: review
    if "H:h1:1" in states:  # the grid over two pages: h2 (page 1) and h3 (page 2) are doubtful
        states.update({"H:h1:4": "marked", "H:h2:2": "marked", "H:h2:3": "uncertain", "H:h3:1": "uncertain",
                       "H:h3:5": "marked", "H:h4:3": "marked"})
    return states


OCR_CONFIDENCE = 91.0  # the seeded write-in drafts: above the default bar, so they are offered


def seed(db: Database, store: FileStore, *, sheets: int = 8, unidentified: int = 1, seed_value: int = 7,
         long_codes: bool = False, two_pages: bool = False, ocr_confidence: float | None = OCR_CONFIDENCE) -> Seeded:
    """Users (one per role + a second reviewer), a survey with ``sheets`` scanned sheets and their review items
    (``long_codes``: also question L, coded 1-12, doubtful on every sheet; ``two_pages``: a second page and
    grid H running over both, rows h2 and h3 doubtful)."""
    rng = np.random.default_rng(seed_value)
    layout = build_layout(long_codes=long_codes, two_pages=two_pages)
    with db.session() as s:
        for name, role in [("admin", "admin"), ("giamsat", "supervisor"), ("duyet1", "reviewer"),
                           ("duyet2", "reviewer"), ("vanthu", "clerk")]:
            create_user(s, name, PASSWORD, role, full_name=name.title(), actor="seed")
        survey = Survey(code=SURVEY, title="Khảo sát thử nghiệm hài lòng")
        s.add(survey)
        s.flush()
        edition = Edition(survey_id=survey.id, code="1", definition_yaml="", definition_sha256="0" * 64,
                          layout_json=layout.to_json(), page_count=layout.page_count)
        s.add(edition)
        batch = ScanBatch(source="cli", created_by="seed", summary={"pages": sheets + unidentified})
        s.add(batch)
        s.flush()
        info = Seeded(survey_id=survey.id, serials=[], queue_items=0)
        for n in range(sheets + 2):  # two extra sheets stay printed, not scanned: targets for assignment
            s.add(Sheet(survey_id=survey.id, edition_id=edition.id, serial=1001 + n, status="printed"))
        s.flush()
        for n in range(sheets):
            serial = 1001 + n
            sheet = s.query(Sheet).filter_by(survey_id=survey.id, serial=serial).one()
            sheet.status = "review"
            info.serials.append(serial)
            states = _sheet_marks(layout, rng)
            marked = {k for k, v in states.items() if v != "empty"}
            aligned = store.put_bytes(render_page(layout, marked, writein="Zalo của xã"), ".png")
            on_page_one = {b.id for b in layout.page(1).boxes}
            scan = ScanFile(sha256=f"{n:064x}", original_name=f"bo-{n}.pdf", size=1, batch_id=batch.id, page_count=1, status="done")
            s.add(scan)
            s.flush()
            page = Page(scan_file_id=scan.id, index_in_file=0, status="identified", sheet_id=sheet.id, page_number=1,
                        decoder="zxing", image_sha256=aligned, aligned_sha256=aligned, transform=[[1, 0, 0], [0, 1, 0], [0, 0, 1]])
            s.add(page)
            s.flush()
            s.add(SheetPage(sheet_id=sheet.id, page_number=1, page_id=page.id))
            second = _second_page(s, store, layout, marked, scan, sheet) if two_pages else None
            for box_id, state in states.items():
                ink = {"empty": 0.01, "marked": 0.3, "uncertain": 0.1}[state]
                on = page.id if box_id in on_page_one else second.id if second else page.id
                s.add(BoxReading(page_id=on, box_id=box_id, inner_ink=ink, ring_ink=0.0, darkness=0.8, state=state))
            answers = [
                Answer(sheet_id=sheet.id, page_id=page.id, question="Q1", item="", kind="single", machine_value=None,
                       machine_state="multiple", machine_reason="multiple_marks", confidence=0.2, status="review"),
                Answer(sheet_id=sheet.id, page_id=page.id, question="N", item="", kind="number", machine_value="42",
                       machine_state="answered", status="accepted", final_value="42"),
                Answer(sheet_id=sheet.id, page_id=page.id, question="W", item="", kind="single", machine_value="3",
                       machine_state="answered", status="accepted", final_value="3"),
                Answer(sheet_id=sheet.id, page_id=page.id, question="W", item="other", kind="writein", machine_value=None,
                       machine_state="ink", machine_reason="writein_ink", ocr_draft="Zalo cua xa", confidence=0.5,
                       ocr_confidence=ocr_confidence, crop_sha256=aligned, status="review"),
            ]
            if second is not None:
                for r, row in enumerate(["h1", "h2", "h3", "h4"]):
                    doubtful = row in ("h2", "h3")
                    value = {"h1": "4", "h4": "3"}.get(row)
                    answers.append(Answer(sheet_id=sheet.id, page_id=page.id if r < 2 else second.id, question="H", item=row,
                                          kind="grid", machine_value=value, machine_state="uncertain" if doubtful else "answered",
                                          machine_reason="uncertain_box" if doubtful else None,
                                          status="review" if doubtful else "accepted", final_value=value))
            if long_codes:
                answers.append(Answer(sheet_id=sheet.id, page_id=page.id, question="L", item="", kind="single",
                                      machine_value=None, machine_state="multiple", machine_reason="multiple_marks",
                                      confidence=0.2, status="review"))
            for r in range(1, 5):
                doubtful = r <= 2
                value = next((k.split(":")[2] for k, v in states.items() if k.startswith(f"G:r{r}:") and v == "marked"), None)
                answers.append(Answer(sheet_id=sheet.id, page_id=page.id, question="G", item=f"r{r}", kind="grid",
                                      machine_value=None if doubtful else value,
                                      machine_state="uncertain" if doubtful else "answered",
                                      machine_reason="uncertain_box" if doubtful else None,
                                      status="review" if doubtful else "accepted",
                                      final_value=None if doubtful else value))
            s.add_all(answers)
            s.flush()
            info.answer_ids += [a.id for a in answers]
            for a in answers:
                if a.status == "review":
                    item = ReviewItem(kind="writein" if a.kind == "writein" else "answer", survey_id=survey.id,
                                      answer_id=a.id, reason=a.machine_reason or "review")
                    s.add(item)
                    s.flush()
                    info.queue_items += 1
                    if a.kind == "writein":
                        info.writein_item_ids.append(item.id)
        for n in range(unidentified):
            raw = store.put_bytes(render_page(layout, {"Q1::2"}), ".png")
            scan = ScanFile(sha256=f"{n + 500:064x}", original_name=f"la-{n}.jpg", size=1, batch_id=batch.id, page_count=1, status="done")
            s.add(scan)
            s.flush()
            page = Page(scan_file_id=scan.id, index_in_file=0, status="unidentified", reason="qr_unreadable: không đọc được mã QR",
                        image_sha256=raw)
            s.add(page)
            s.flush()
            item = ReviewItem(kind="page", survey_id=survey.id, page_id=page.id, reason="qr_unreadable")
            s.add(item)
            s.flush()
            info.page_item_ids.append(item.id)
            info.unidentified_page_ids.append(page.id)
    return info


def _second_page(s, store: FileStore, layout: Layout, marked: set[str], scan: ScanFile, sheet: Sheet) -> Page:  # type: ignore[no-untyped-def]
    image = store.put_bytes(render_page(layout, marked, number=2), ".png")
    page = Page(scan_file_id=scan.id, index_in_file=1, status="identified", sheet_id=sheet.id, page_number=2,
                decoder="zxing", image_sha256=image, aligned_sha256=image, transform=[[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    s.add(page)
    s.flush()
    s.add(SheetPage(sheet_id=sheet.id, page_number=2, page_id=page.id))
    return page
