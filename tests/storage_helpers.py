"""Builders for storage tests: a tiny two-page questionnaire layout registered in a real database,
and readings as the recognition stage hands them over (the scan pipeline's own tests feed real pages)."""

from __future__ import annotations

import hashlib

import numpy as np
from sqlalchemy.orm import Session

from core.types import Alignment, AnswerReading, BoxMeasure, Identification, PageReading
from formgen.identity import SheetIdentity
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
from storage.models import Edition, Sheet, Survey, Unit
from storage.scans import PageOutcome

SURVEY = "SIPAS-T"
EDITION = "A"


def _page(number: int, boxes: list[AnswerBox], regions: list[HandwritingRegion]) -> PageLayout:
    marks = standard_marks(210, 297, inset=10, size=6)
    return PageLayout(number=number, marks=marks, qr=Rect(x=180, y=20, w=18, h=18),
                      digits_text=Rect(x=150, y=40, w=48, h=4), boxes=boxes, regions=regions)


def _box(page: int, question: str, item: str | None, value: str, y: float) -> AnswerBox:
    return AnswerBox(id=f"{question}:{item or ''}:{value}", page=page, question=question, item=item, value=value,
                     x=20 + 10 * int(value), y=y, w=5.5, h=5.5)


def tiny_layout() -> Layout:
    """Page 1: Q1 single (codes 1-3, 9 = other with write-in), G grid rows a/b (scale 1-4).
    Page 2: Q3 multiple (1-3), T free text."""
    q1 = QuestionLayout(id="Q1", kind="single", text="Ông/bà đến làm thủ tục bằng cách nào?",
                        options=[OptionLayout(value=v, label=v, writein=v == "9") for v in ("1", "2", "3", "9")],
                        items=[ItemLayout(id="Q1", text="", page=1, area=Rect(x=15, y=50, w=180, h=10))], pages=[1])
    grid = QuestionLayout(id="G", kind="grid", text="Mức độ hài lòng",
                          options=[OptionLayout(value=str(v), label=str(v)) for v in range(1, 5)],
                          items=[ItemLayout(id=i, text=f"Hàng {i}", page=1, area=Rect(x=15, y=70 + 10 * n, w=180, h=8))
                                 for n, i in enumerate(("a", "b"))], pages=[1])
    q3 = QuestionLayout(id="Q3", kind="multiple", text="Ông/bà biết thông tin qua đâu?",
                        options=[OptionLayout(value=v, label=v) for v in ("1", "2", "3")],
                        items=[ItemLayout(id="Q3", text="", page=2, area=Rect(x=15, y=50, w=180, h=10))], pages=[2])
    text = QuestionLayout(id="T", kind="text", text="Ý kiến khác",
                          items=[ItemLayout(id="T", text="", page=2, area=Rect(x=15, y=80, w=180, h=40))], pages=[2])
    boxes1 = [_box(1, "Q1", None, v, 50) for v in ("1", "2", "3", "9")]
    boxes1 += [_box(1, "G", i, str(v), 70 + 10 * n) for n, i in enumerate(("a", "b")) for v in range(1, 5)]
    regions1 = [HandwritingRegion(id="Q1:w9", page=1, question="Q1", option_value="9", kind="writein",
                                  x=120, y=50, w=70, h=6)]
    boxes2 = [_box(2, "Q3", None, v, 50) for v in ("1", "2", "3")]
    regions2 = [HandwritingRegion(id="T:t", page=2, question="T", kind="text", x=15, y=80, w=180, h=40)]
    return Layout(survey=SURVEY, edition=EDITION, title="Khảo sát thử", page_count=2,
                  pages=[_page(1, boxes1, regions1), _page(2, boxes2, regions2)], questions=[q1, grid, q3, text])


def register_tiny_survey(session: Session, serials: range = range(1, 6)) -> Survey:
    """Survey + edition + printed sheets (units U1/U2 alternating), as helper A's print command leaves them."""
    layout = tiny_layout()
    survey = Survey(code=SURVEY, title=layout.title)
    session.add(survey)
    session.flush()
    edition = Edition(survey_id=survey.id, code=EDITION, definition_yaml="", definition_sha256="0" * 64,
                      layout_json=layout.to_json(), page_count=layout.page_count)
    units = [Unit(code="U1", name="Xã Tân Phú"), Unit(code="U2", name="Phường Bến Nghé")]
    session.add_all([edition, *units])
    session.flush()
    for n, serial in enumerate(serials):
        session.add(Sheet(survey_id=survey.id, edition_id=edition.id, serial=serial, unit_id=units[n % 2].id))
    session.flush()
    return survey


def identified(serial: int, page: int) -> Identification:
    identity = SheetIdentity(SURVEY, EDITION, serial, page)
    return Identification(identity=identity, qr_text=f"PH1.{SURVEY}.{EDITION}.{serial:07d}.{page}.000000000000",
                          decoder="zxing", timings_ms={"qr": 1.5})


def unidentified(reason: str, detail: str = "") -> Identification:
    return Identification(identity=None, reason=reason, detail=detail or f"không đọc được ({reason})")


def alignment() -> Alignment:
    return Alignment(mm_to_px=np.diag([300 / 25.4, 300 / 25.4, 1.0]), rotation=180, residual_mm=0.12, marks_found=4)


def ans(question: str, value: str | None, *, item: str = "", kind: str = "single", state: str = "answered",
        review: bool = False, reason: str | None = None, ocr: str | None = None, crop: bytes | None = None) -> AnswerReading:
    return AnswerReading(question=question, item=item, kind=kind, value=value, state=state,  # type: ignore[arg-type]
                         needs_review=review, reason=reason, confidence=0.5 if review else 0.98,
                         ocr_draft=ocr, ocr_confidence=88.0 if ocr else None, crop_png=crop)


def page1_answers(q1: str = "2", a: str = "4", b: str | None = "3", *, b_review: bool = False,
                  writein: str | None = None) -> list[AnswerReading]:
    out = [ans("Q1", q1), ans("G", a, item="a", kind="grid"),
           ans("G", None if b_review else b, item="b", kind="grid", state="multiple" if b_review else "answered",
               review=b_review, reason="multiple_marks" if b_review else None)]
    if writein is None:
        out.append(ans("Q1", None, item="Q1:w9", kind="writein", state="no_ink"))
    else:
        out.append(ans("Q1", None, item="Q1:w9", kind="writein", state="ink", review=True, reason="writein",
                       ocr=writein, crop=b"PNG-crop-" + writein.encode()))
    return out


def page2_answers(q3: str | None = "1;3", text: str | None = None) -> list[AnswerReading]:
    out = [ans("Q3", q3, kind="multiple", state="answered" if q3 else "blank")]
    if text is None:
        out.append(ans("T", None, kind="text", state="no_ink"))
    else:
        out.append(ans("T", None, kind="text", state="ink", review=True, reason="writein", ocr=text))
    return out


def reading(answers: list[AnswerReading]) -> PageReading:
    boxes = [BoxMeasure(box_id=f"{a.question}:{a.item}:{code}", inner_ink=0.3, ring_ink=0.01, darkness=0.7,
                        state="marked")
             for a in answers if a.value and a.kind not in ("writein", "text") for code in a.value.split(";")]
    return PageReading(boxes=boxes, answers=answers, thresholds={"empty_below": 0.05, "marked_above": 0.12})


def outcome(index: int, serial: int, page: int, answers: list[AnswerReading]) -> PageOutcome:
    png = hashlib.sha256(f"{serial}-{page}-{index}".encode()).digest()
    return PageOutcome(index=index, identification=identified(serial, page), alignment=alignment(),
                       reading=reading(answers), page_image=b"page" + png, aligned_image=b"aligned" + png,
                       aligned_dpi=150.0, quality={"dpi": 300, "residual_mm": 0.12})
