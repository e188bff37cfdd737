"""The Vietnamese PDF report through the real command line: fonts embedded (pdffonts), headings and
figures read back exactly (pdftotext), charts present (pdfimages), refused when totals do not reconcile."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import results_helpers as h
from click.testing import CliRunner

from phieu.cli import main
from results.report import HEADINGS, PROVISIONAL, TITLE


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return h.workspace(tmp_path)


def _report(home: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--home", str(home), "report", h.SURVEY, *args])
    return result.exit_code, result.output


def _text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True).stdout


def test_report_has_every_section_with_the_hand_worked_figures(home: Path) -> None:
    pdf = home / "bao-cao.pdf"
    code, output = _report(home, "--out", str(pdf))
    assert code == 0, output
    assert "58,45 %" in output and "trang / pages" in output
    text = _text(pdf)
    for heading in [TITLE, *HEADINGS.values(), PROVISIONAL]:
        assert heading in text, heading
    assert "58,45 %" in text  # 2455/42
    assert "So với KQ-2023: 50,00 % → thay đổi +8,45 điểm phần trăm." in text
    assert "59,52" in text and "66,67" in text  # access 1250/21, procedures 200/3
    assert "Huyện Một (D1)" in text and "62,92" in text and "Xã Một Hai (C12)" in text  # D1 755/12
    assert "Cao nhất: 1. Xã Một Một (C11): 61,11 %" in text  # 550/9
    assert "Phiếu 1: Thủ tục nhanh" in text and "Phiếu 3: Cần thêm chỗ ngồi" in text  # comments, by unit
    assert "còn 6 câu trả lời chưa xong" in text
    assert "Đã in 9 phiếu; thu về 8 phiếu" in text
    assert "Zalo (1)" in text  # the "other" write-ins listed under their question


def test_report_embeds_every_font_and_has_chart_pictures(home: Path) -> None:
    pdf = home / "bao-cao.pdf"
    assert _report(home, "--out", str(pdf))[0] == 0
    fonts = subprocess.run(["pdffonts", str(pdf)], check=True, capture_output=True, text=True).stdout.splitlines()[2:]
    assert fonts and all(line.split()[-5] == "yes" for line in fonts), fonts  # the "emb" column
    assert {line.split()[0].split("+")[-1] for line in fonts} == {"DejaVuSans", "DejaVuSans-Bold"}
    images = subprocess.run(["pdfimages", "-list", str(pdf)], check=True, capture_output=True, text=True).stdout
    assert len(images.splitlines()) - 2 >= 8  # index, rankings, every question's distribution


def test_report_for_one_unit(home: Path) -> None:
    pdf = home / "d1.pdf"
    code, output = _report(home, "--out", str(pdf), "--unit", "D1")
    assert code == 0, output
    text = _text(pdf)
    assert "Phạm vi: Huyện Một (D1)" in text and "62,92 %" in text  # 755/12
    assert "Xã Một Một (C11)" in text and "Xã Hai Một" not in text
    assert "So với KQ-2023: 50,00 %" in text  # D1 in 2023: all five items at 50


def test_report_refuses_totals_that_do_not_reconcile(home: Path) -> None:
    h.corrupt(home)
    pdf = home / "bao-cao.pdf"
    code, output = _report(home, "--out", str(pdf))
    assert code == 11 and not pdf.exists()
    assert "B1.o1" in output and "phiếu 8: mã '4;5' không có trong câu hỏi" in output
