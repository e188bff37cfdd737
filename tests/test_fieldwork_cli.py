"""The fieldwork commands as the survey office runs them, on a real workspace: frame import, print by
frame, marking, manifests (PDF read back: Vietnamese text, fonts embedded) and a filled manifest,
the operations table as CSV and XLSX, phúc tra, transmittal, counter posters (QR codes decoded) and
the quota check's exit code."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import openpyxl
import pikepdf
import pypdfium2 as pdfium
import pytest
import zxingcpp
from click.testing import CliRunner, Result
from fieldwork_helpers import COUNTER_FRAME, PKS05, QT_FRAME, SIPAS

from fieldwork.operations import CSV_COLUMNS
from fieldwork.posters import parse_counter_payload
from formgen.identity import parse_payload, verify
from phieu.cli import main
from phieu.workspace import Workspace

SURVEY = "SIPAS-2024"


def _run(home: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--home", str(home), *args])


def _ok(home: Path, *args: str) -> str:
    result = _run(home, *args)
    assert result.exit_code == 0, (args, result.output, result.stderr)
    return result.stdout


def _text(pdf: Path) -> str:
    """The PDF's text, white space (and table cells' line breaks) as single spaces."""
    document = pdfium.PdfDocument(pdf)
    return " ".join(" ".join(page.get_textpage().get_text_range() for page in document).split())


def _fonts_embedded(pdf: Path) -> set[str]:
    """Base font names of the PDF, each checked to carry its font file."""
    names = set()
    with pikepdf.open(pdf) as document:
        for page in document.pages:
            for font in (page.resources.get("/Font") or {}).values():
                assert "/FontFile2" in font.FontDescriptor or "/FontFile" in font.FontDescriptor, font.BaseFont
                names.add(str(font.BaseFont).split("+")[-1])
    return names


def _qr_texts(pdf: Path) -> list[str]:
    document = pdfium.PdfDocument(pdf)
    texts = []
    for page in document:
        image = page.render(scale=2).to_pil()
        texts.append(next(r.text for r in zxingcpp.read_barcodes(image)))
    return texts


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("office")
    _ok(home, "init")
    _ok(home, "survey", "add", str(SIPAS))
    return home


def test_frame_print_mark_manifest_and_tables(office: Path, tmp_path: Path) -> None:
    home = office
    bad = tmp_path / "khung.csv"
    bad.write_text("mã,tên,cấp,mã cấp trên,chỉ tiêu\nQT,Tỉnh Quảng Trị,tỉnh,,x\nDH,Đông Hà,huyện,QQ,1\n", encoding="utf-8")
    failed = _run(home, "frame", "import", SURVEY, str(bad))
    assert failed.exit_code == 4 and "khung.csv" in failed.stderr and "dòng 2:" in failed.stderr and "dòng 3:" in failed.stderr
    assert "dtv01" in _ok(home, "frame", "import", SURVEY, str(QT_FRAME), "--add-enumerators")
    assert "Thôn Như Lệ" in _ok(home, "frame", "show", SURVEY)

    # print the two villages of Phường 2 (Đông Hà) by frame
    printed = _ok(home, "print", SURVEY, "--by-frame", "--unit", "DH-P2", "--out", str(tmp_path / "p2.pdf"))
    assert "dtv01\tDH-P2-KP1\t1-27" in printed and "dtv01\tDH-P2-KP2\t28-54" in printed
    assert len(pdfium.PdfDocument(tmp_path / "p2.pdf")) == 54 * 5
    first = parse_payload(_qr_texts_first(tmp_path / "p2.pdf"))
    assert first is not None and first.identity.serial == 1 and verify(first, Workspace.open(home).secret())
    rows = list(csv.DictReader((tmp_path / "p2.manifest.csv").read_text(encoding="utf-8").splitlines()))
    assert (rows[0]["unit"], rows[27]["unit"], rows[27]["first_page"]) == ("DH-P2-KP1", "DH-P2-KP2", str(27 * 5 + 1))
    again = _run(home, "print", SURVEY, "--by-frame", "--unit", "DH-P2", "--out", str(tmp_path / "again.pdf"))
    assert again.exit_code == 8 and "đã in đủ" in again.stderr and not (tmp_path / "again.pdf").exists()
    assert _run(home, "print", SURVEY, "--out", str(tmp_path / "x.pdf")).exit_code == 2  # --count or --by-frame

    _ok(home, "sheets", "mark", SURVEY, "issued", "1-54", "--date", "20/11/2024", "--as", "thukho")
    _ok(home, "sheets", "mark", SURVEY, "delivered", "1-27", "--date", "21/11/2024", "--as", "dtv01")
    backwards = _run(home, "sheets", "mark", SURVEY, "lost", "1", "2", "--as", "dtv01")
    assert backwards.exit_code == 0
    refused = _run(home, "sheets", "mark", SURVEY, "replaced", "1", "3", "--as", "dtv01")
    assert refused.exit_code == 8 and "nothing recorded" in refused.stderr
    log = _ok(home, "sheets", "history", SURVEY, "1")
    assert "thukho\tcli\tprinted → issued" in log and "2024-11-21\tdtv01\tcli\tissued → delivered\tDH-P2-KP1-H01" in log

    # manifests: one PDF and one CSV per enumerator with sheets; Vietnamese text with embedded DejaVu
    listed = _ok(home, "manifest", SURVEY, "--out", str(tmp_path / "manifests")).split()
    assert [Path(p).name for p in listed] == ["manifest-dtv01.pdf", "manifest-dtv01.csv"]
    text = _text(tmp_path / "manifests" / "manifest-dtv01.pdf")
    for words in ("DANH SÁCH PHÁT VÀ THU PHIẾU KHẢO SÁT", "Nguyễn Thị Hương", "Khu phố 1, Phường 2, Thành phố Đông Hà",
                  "DH-P2-KP1-H27", "Vắng nhà", "Thay bằng hộ dự phòng (mã)", "DANH SÁCH NGƯỜI TRẢ LỜI NHẬN TIỀN HỖ TRỢ", "Điều tra viên"):
        assert words in text, words
    assert _fonts_embedded(tmp_path / "manifests" / "manifest-dtv01.pdf") == {"DejaVuSans", "DejaVuSans-Bold"}

    # the enumerator's CSV, filled and imported back
    template = list(csv.DictReader(io.StringIO((tmp_path / "manifests" / "manifest-dtv01.csv").read_text(encoding="utf-8-sig"))))
    with (tmp_path / "filled.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(template[0]))
        writer.writeheader()
        for row in template:
            writer.writerow({**row, "đã thu": "x", "ngày thu": "23/11/2024"} if row["số phiếu"] in ("3", "4", "5") else row)
    assert "collected 3" in _ok(home, "sheets", "import", SURVEY, str(tmp_path / "filled.csv"), "--as", "thukho")

    table = _ok(home, "fieldwork", SURVEY, "--format", "csv", "--today", "2024-11-30")
    data = list(csv.DictReader(io.StringIO(table)))
    assert tuple(data[0]) == CSV_COLUMNS and len(data) == 31
    kp1 = next(r for r in data if r["unit"] == "DH-P2-KP1")
    assert {k: kp1[k] for k in ("level", "quota", "printed", "delivered", "collected", "lost", "overdue")} == {
        "level": "3", "quota": "27", "printed": "27", "delivered": "25", "collected": "3", "lost": "2", "overdue": "22"}
    assert next(r for r in data if r["unit"] == "QT")["printed"] == "54"
    _ok(home, "fieldwork", SURVEY, "--format", "xlsx", "--out", str(tmp_path / "ops.xlsx"))
    book = openpyxl.load_workbook(tmp_path / "ops.xlsx")
    assert book.sheetnames == ["Theo đơn vị", "Theo điều tra viên", "Biểu đồ"]
    units = book["Theo đơn vị"]
    assert units.cell(1, 1).value == "Mã" and units.max_row == 1 + 31 + 1 and units.cell(2, 2).value == "Tỉnh Quảng Trị"
    assert len(book["Biểu đồ"]._images) == 1

    # phúc tra list and a transmittal batch
    drawn = _ok(home, "verify", "draw", SURVEY, "--seed", "2024", "--per-village", "2", "--out", str(tmp_path / "pt.pdf"))
    assert "2 hộ mới được chọn" in drawn and "DANH SÁCH HỘ PHÚC TRA" in _text(tmp_path / "pt.pdf")
    batch = _ok(home, "transmittal", "add", SURVEY, "BD-01", "3", "4", "6", "--count", "2", "--enumerator", "dtv01",
                "--date", "27/11/2024")
    assert "BD-01 (2024-11-27): 3 phiếu" in batch and "không khớp" in batch and "chưa quét" in batch


def _qr_texts_first(pdf: Path) -> str:
    page = pdfium.PdfDocument(pdf)[0]
    return next(r.text for r in zxingcpp.read_barcodes(page.render(scale=2).to_pil()))


def test_counter_posters_and_the_quota_check(tmp_path: Path) -> None:
    home = tmp_path / "pks05"
    _ok(home, "init")
    _ok(home, "survey", "add", str(PKS05))
    assert "231 mới" in _ok(home, "frame", "import", "PKS05", str(COUNTER_FRAME))
    out = tmp_path / "posters.pdf"
    assert "2 áp phích" in _ok(home, "counters", "posters", "PKS05", "--unit", "BG-TTHCC", "--unit", "TY-02", "--out", str(out))
    secret = Workspace.open(home).secret()
    codes = [parse_counter_payload(text, secret) for text in _qr_texts(out)]
    assert [(c.survey, c.unit) for c in codes if c] == [("PKS05", "BG-TTHCC"), ("PKS05", "TY-02")]
    assert "Trung tâm Phục vụ hành chính công tỉnh" in _text(out) and "Mã quầy: TY-02" in _text(out)
    _ok(home, "frame", "rules", "PKS05", "--poster-url", "https://khaosat.example.vn/{survey}/{unit}", "--busy-min", "25")
    _ok(home, "counters", "posters", "PKS05", "--unit", "TY-02", "--out", str(out))
    assert _qr_texts(out) == ["https://khaosat.example.vn/PKS05/TY-02"]
    assert '"busy_min_responses": 25' in _ok(home, "frame", "rules", "PKS05")

    _ok(home, "print", "PKS05", "--by-frame", "--unit", "TY-01", "--out", str(tmp_path / "ty01.pdf"))
    _ok(home, "sheets", "mark", "PKS05", "collected", "1-18", "--date", "10/07/2024")
    _ok(home, "counters", "add", "PKS05", "TY-01", "10/07/2024", "20")
    assert "0 ngày-quầy sai quy tắc" in _ok(home, "counters", "check", "PKS05")
    _ok(home, "counters", "add", "PKS05", "TY-01", "10/07/2024", "40")  # a correction: 40 came (busy: 25 needed)
    broken = _run(home, "counters", "check", "PKS05")
    assert broken.exit_code == 8 and "TY-01\t2024-07-10\t\t40\t18\t25-60\tthiếu" in broken.stdout
