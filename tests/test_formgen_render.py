"""Rendered sheets, checked on real rasterised pages: text, QR codes, and box positions."""

from __future__ import annotations

import io
import re
import subprocess
import unicodedata
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pytest
import yaml
import zxingcpp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.settings import FormSettings
from formgen.definition import load_definition
from formgen.identity import SheetIdentity, encode_payload, human_digits, parse_payload, verify
from formgen.layout import AnswerBox, HandwritingRegion, Rect
from formgen.questions import MARKING_HELP
from formgen.render import BuiltForm, build_form, stamp_sheets

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NAMES = ["sipas-2024.yaml", "counter-pks05.yaml", "counter-3level.yaml"]
SERIALS = [42, 9876543]


@pytest.fixture(scope="module")
def sipas() -> BuiltForm:
    return build_form(load_definition(EXAMPLES / "sipas-2024.yaml"))


@pytest.fixture(scope="module")
def stamped(sipas: BuiltForm) -> pdfium.PdfDocument:
    out = io.BytesIO()
    stamp_sheets(sipas, SERIALS, bytes(range(32)), out)
    return pdfium.PdfDocument(out.getvalue())


def _grey(pdf: pdfium.PdfDocument, index: int, dpi: int) -> np.ndarray:
    bitmap = pdf[index].render(scale=dpi / 72, grayscale=True)
    return np.asarray(bitmap.to_numpy()).reshape(bitmap.height, bitmap.width, -1)[:, :, 0]


def _normal(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


@pytest.mark.parametrize("name", NAMES)
def test_every_vietnamese_string_is_printed_exactly(name: str, tmp_path: Path) -> None:
    built = build_form(load_definition(EXAMPLES / name))
    pdf = tmp_path / "blank.pdf"
    pdf.write_bytes(built.blank_pdf)
    extracted = _normal(
        subprocess.run(
            ["pdftotext", "-raw", "-enc", "UTF-8", str(pdf), "-"], check=True, capture_output=True, text=True
        ).stdout
    )
    missing = [t for t in built.definition.texts() if _normal(t) not in extracted]
    assert not missing
    assert "ạ" in extracted or "ệ" in extracted  # the embedded font carries Vietnamese letters
    assert f"Trang 1/{built.layout.page_count}" in extracted
    assert _normal(MARKING_HELP) in extracted  # how to mark and how to correct


def test_pages_fit_and_are_consistent(sipas: BuiltForm) -> None:
    layout = sipas.layout
    assert 4 <= layout.page_count <= 7
    assert len(pdfium.PdfDocument(sipas.blank_pdf)) == layout.page_count
    s = FormSettings()
    for page in layout.pages:
        keep_out = [Rect(x=page.qr.x - 3, y=page.qr.y - 3, w=page.qr.w + 6, h=page.qr.h + 6)]
        keep_out += [
            Rect(
                x=m.cx - m.size / 2 - s.clear_mm,
                y=m.cy - m.size / 2 - s.clear_mm,
                w=m.size + 2 * s.clear_mm,
                h=m.size + 2 * s.clear_mm,
            )
            for m in page.marks
        ]
        rects: list[AnswerBox | HandwritingRegion] = [*page.boxes, *page.regions]
        for r in rects:
            assert r.x > 0 and r.x + r.w < page.width and r.y > 0 and r.y + r.h < page.digits_text.y, r.id
            assert not any(_overlap(r, k) for k in keep_out), r.id
        for i, a in enumerate(rects):
            assert not any(_overlap(a, b) for b in rects[i + 1 :]), a.id
        assert all(b.w >= 5.0 and b.h >= 5.0 for b in page.boxes)
    ids = [b.id for b in layout.all_boxes()] + [r.id for r in layout.all_regions()]
    assert len(ids) == len(set(ids))
    for q in layout.questions:  # the review UI crops areas: each must hold its boxes
        for box in (b for b in layout.all_boxes() if b.question == q.id):
            area = dict(q.area)[box.page]
            assert area.x <= box.x and box.x + box.w <= area.x + area.w
            assert area.y <= box.y and box.y + box.h <= area.y + area.h
            if box.item:
                item = next(i for i in q.items if i.id == box.item)
                assert (
                    item.page == box.page
                    and item.area.y <= box.y
                    and box.y + box.h <= item.area.y + item.area.h
                )


def _overlap(a: Rect, b: Rect) -> bool:
    return a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h


@pytest.mark.parametrize("dpi", [200, 300])
def test_every_page_qr_decodes_and_verifies(sipas: BuiltForm, stamped: pdfium.PdfDocument, dpi: int) -> None:
    secret = bytes(range(32))
    pages = sipas.layout.page_count
    assert len(stamped) == pages * len(SERIALS)
    for index in range(len(stamped)):
        serial, page = SERIALS[index // pages], index % pages + 1
        found = zxingcpp.read_barcodes(
            _grey(stamped, index, dpi), formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
        )
        assert len(found) == 1, (index, dpi)
        expected = SheetIdentity(sipas.layout.survey, sipas.layout.edition, serial, page)
        assert found[0].text == encode_payload(expected, secret)
        parsed = parse_payload(found[0].text)
        assert parsed is not None and parsed.identity == expected and verify(parsed, secret)
        assert not verify(parsed, bytes(32))


def test_changed_payload_fails_verification(secret: bytes) -> None:
    payload = encode_payload(SheetIdentity("SIPAS-2024", "1", 42, 1), secret)
    parsed = parse_payload(payload)
    assert parsed is not None and verify(parsed, secret)
    for forged in (payload.replace(".0000042.", ".0000043."), payload.replace(".1.", ".2.", 1)[:-1] + "0"):
        other = parse_payload(forged)
        assert other is not None and not verify(other, secret)


def test_digits_line_is_printed_on_every_page(sipas: BuiltForm, stamped: pdfium.PdfDocument) -> None:
    pages = sipas.layout.page_count
    for index in (0, pages - 1, pages):
        identity = SheetIdentity("SIPAS-2024", "1", SERIALS[index // pages], index % pages + 1)
        text = stamped[index].get_textpage().get_text_range()
        assert human_digits(identity, bytes(range(32))) in text
        assert re.search(rf"Trang {index % pages + 1}/{pages}", text)


def _first_dark(profile: np.ndarray) -> int | None:
    dark = np.flatnonzero(profile < 128)
    return int(dark[0]) if dark.size else None


def _frame_error_mm(page: np.ndarray, r: Rect, dpi: int) -> float:
    """Largest distance between an expected outer edge and the printed frame's outermost ink (mm)."""
    px = dpi / 25.4
    x0, y0, x1, y1 = r.x * px, r.y * px, (r.x + r.w) * px, (r.y + r.h) * px
    win = int(0.8 * px)
    rows = slice(int((y0 + y1) / 2 - 0.2 * (y1 - y0)), int((y0 + y1) / 2 + 0.2 * (y1 - y0)) + 1)
    cols = slice(int((x0 + x1) / 2 - 0.2 * (x1 - x0)), int((x0 + x1) / 2 + 0.2 * (x1 - x0)) + 1)
    horizontal = page[rows].min(axis=0)
    vertical = page[:, cols].min(axis=1)
    found = {
        "left": _first_dark(horizontal[int(x0) - win : int(x0) + win]),
        "right": _first_dark(horizontal[int(x1) + win : int(x1) - win : -1]),
        "top": _first_dark(vertical[int(y0) - win : int(y0) + win]),
        "bottom": _first_dark(vertical[int(y1) + win : int(y1) - win : -1]),
    }
    if None in found.values():
        return float("inf")
    offsets = {k: v or 0 for k, v in found.items()}
    edges = {"left": int(x0) - win, "right": int(x1) + win, "top": int(y0) - win, "bottom": int(y1) + win}
    measured = {
        "left": edges["left"] + offsets["left"],
        "right": edges["right"] - offsets["right"] + 1,
        "top": edges["top"] + offsets["top"],
        "bottom": edges["bottom"] - offsets["bottom"] + 1,
    }
    expected = {"left": x0, "right": x1, "top": y0, "bottom": y1}
    return max(abs(measured[k] - expected[k]) for k in expected) / px


@pytest.mark.parametrize("large_print", [False, True])
def test_every_box_lies_on_its_printed_frame(large_print: bool) -> None:
    built = build_form(load_definition(EXAMPLES / "sipas-2024.yaml"), large_print=large_print)
    pdf = pdfium.PdfDocument(built.blank_pdf)
    dpi, worst = 300, 0.0
    for page in built.layout.pages:
        image = _grey(pdf, page.number - 1, dpi)
        shapes: list[AnswerBox | HandwritingRegion] = [*page.boxes, *page.regions]
        for r in shapes:
            error = _frame_error_mm(image, r, dpi)
            worst = max(worst, error)
            assert error <= 0.3, (r.id, error)
            inner = image[
                int((r.y + 1) * dpi / 25.4) : int((r.y + r.h - 1) * dpi / 25.4),
                int((r.x + 1) * dpi / 25.4) : int((r.x + r.w - 1) * dpi / 25.4),
            ]
            assert inner.min() > 100, r.id  # nothing printed inside a box (guide rules are light grey)
    assert worst < 0.3


def test_frame_check_can_fail(sipas: BuiltForm) -> None:
    """The measurement itself: a rectangle shifted by 0.5 mm is reported as off."""
    image = _grey(pdfium.PdfDocument(sipas.blank_pdf), 0, 300)
    box = sipas.layout.pages[0].boxes[0]
    assert _frame_error_mm(image, box, 300) <= 0.3
    assert _frame_error_mm(image, box.model_copy(update={"x": box.x + 0.5}), 300) > 0.3


def test_large_print_is_larger(sipas: BuiltForm) -> None:
    large = build_form(sipas.definition, large_print=True)
    assert large.layout.page_count > sipas.layout.page_count
    assert min(b.w for b in large.layout.all_boxes()) >= FormSettings().large_print_box_mm
    assert [q.id for q in large.layout.questions] == [q.id for q in sipas.layout.questions]


def test_a_grid_continues_with_its_header_repeated(sipas: BuiltForm) -> None:
    grid = max((q for q in sipas.layout.questions if q.kind == "grid"), key=lambda q: len(q.items))
    assert len(grid.pages) >= 2
    pdf = pdfium.PdfDocument(sipas.blank_pdf)
    for page in grid.pages[1:]:
        text = _normal(pdf[page - 1].get_textpage().get_text_range())
        assert f"{grid.id} (tiếp theo)" in text
        assert all(_normal(o.label).split()[0] in text for o in grid.options)
    rows_per_page = [sum(1 for i in grid.items if i.page == p) for p in grid.pages]
    assert all(n >= 1 for n in rows_per_page) and sum(rows_per_page) == len(grid.items)


_label = st.text(alphabet="aăâbcdđeêghiklmnoôơpqrstuưvxyàảãáạằẳẵắặầẩẫấậ ", min_size=1, max_size=90).filter(
    str.strip
)


@st.composite
def _definitions(draw: st.DrawFn) -> str:
    questions = []
    for n in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["single", "multiple", "grid", "number", "text"]))
        q: dict[str, object] = {"id": f"Q{n}", "type": kind, "text": draw(_label)}
        if kind in ("single", "multiple"):
            count = draw(st.integers(2, 9))
            q["options"] = [
                {"code": i, "label": draw(_label), "other": draw(st.booleans()) and i == count}
                for i in range(1, count + 1)
            ]
        elif kind == "grid":
            q["scale"] = [{"code": i, "label": draw(_label)} for i in range(1, draw(st.integers(2, 7)) + 1)]
            q["rows"] = [{"id": f"r{i}", "text": draw(_label)} for i in range(draw(st.integers(1, 30)))]
        elif kind == "number":
            q["digits"] = draw(st.integers(1, 6))
        else:
            q["lines"] = draw(st.integers(1, 15))
        questions.append(q)
    return yaml.safe_dump(
        {
            "survey": "RANDOM",
            "edition": "1",
            "title": draw(_label),
            "sections": [{"title": draw(_label), "questions": questions}],
        },
        allow_unicode=True,
    )


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_definitions())
def test_any_valid_definition_composes_without_overflow(text: str) -> None:
    layout = build_form(load_definition(text)).layout
    s = FormSettings()
    for page in layout.pages:
        shapes: list[AnswerBox | HandwritingRegion] = [*page.boxes, *page.regions]
        for i, a in enumerate(shapes):
            assert s.margin_mm - 1e-6 <= a.x and a.x + a.w <= page.width - s.margin_mm + 1e-6, a.id
            assert page.qr.y + page.qr.h < a.y and a.y + a.h < page.digits_text.y, a.id
            assert not any(_overlap(a, b) for b in shapes[i + 1 :]), a.id


def test_every_font_is_embedded(sipas: BuiltForm, tmp_path: Path) -> None:
    pdf = tmp_path / "stamped.pdf"
    stamp_sheets(sipas, [1], bytes(32), pdf)
    listing = subprocess.run(["pdffonts", str(pdf)], check=True, capture_output=True, text=True).stdout
    fonts = [line.split() for line in listing.splitlines()[2:]]
    assert {f[0].split("+")[-1] for f in fonts} == {"DejaVuSans", "DejaVuSans-Bold", "DejaVuSansMono"}
    assert all(f[-5] == "yes" for f in fonts)  # the "emb" column


@pytest.mark.parametrize("name", NAMES)
def test_clear_paper_around_marks_and_qr(name: str) -> None:
    """On the stamped page nothing but the mark itself lies within clear_mm of a mark, and the QR
    square holds only its code (quiet zone white)."""
    built = build_form(load_definition(EXAMPLES / name), large_print=name == NAMES[0])
    out = io.BytesIO()
    stamp_sheets(built, [1234567], bytes(32), out)
    pdf, s, dpi = pdfium.PdfDocument(out.getvalue()), FormSettings(), 100
    px = dpi / 25.4
    for page in built.layout.pages:
        image = _grey(pdf, page.number - 1, dpi)
        for m in page.marks:
            half, clear = m.size / 2 + 0.3, m.size / 2 + s.clear_mm
            zone = image.copy()
            rows = slice(int((m.cy - half) * px) - 1, int((m.cy + half) * px) + 2)
            zone[rows, int((m.cx - half) * px) - 1 : int((m.cx + half) * px) + 2] = 255  # the mark itself
            top, left = max(0, int((m.cy - clear) * px)), max(0, int((m.cx - clear) * px))
            zone = zone[top : int((m.cy + clear) * px), left : int((m.cx + clear) * px)]
            assert zone.size and zone.min() > 200, (name, page.number, m.name)
        qr = page.qr
        quiet = image[
            int(qr.y * px) - 2 : int((qr.y + qr.h) * px) + 2, int(qr.x * px) - 2 : int((qr.x + qr.w) * px) + 2
        ]
        band = int(1.5 * px)  # the 4-module quiet zone is about 2.2 mm wide
        for edge in (quiet[:band], quiet[-band:], quiet[:, :band], quiet[:, -band:]):
            assert edge.min() > 200, (name, page.number, "qr quiet zone")


@pytest.mark.parametrize(
    ("name", "pages"),
    [("sipas-2024.yaml", (4, 5)), ("counter-pks05.yaml", (1, 1)), ("counter-3level.yaml", (1, 1))],
)
def test_examples_have_their_intended_length(name: str, pages: tuple[int, int]) -> None:
    layout = build_form(load_definition(EXAMPLES / name)).layout
    assert pages[0] <= layout.page_count <= pages[1]
