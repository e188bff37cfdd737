"""`phieu demo --no-serve` end to end on a small number of sheets."""

from __future__ import annotations

import csv
from pathlib import Path

from click.testing import CliRunner
from pipeline_helpers import sipas_form

from phieu.cli import main


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    home = tmp_path / "demo"
    runner = CliRunner()
    result = runner.invoke(main, ["demo", "--home", str(home), "--sheets", "3", "--no-serve", "--jobs", "2"])
    assert result.exit_code == 0, result.output + result.stderr
    out = result.stdout
    table = {line.strip().split("  ")[0]: line.split()[-1] for line in out.splitlines() if "  " in line.strip()}
    pages = sipas_form().layout.page_count
    assert table["trùng lặp / duplicates"] == str(pages)  # the photocopied sheet
    assert table["chưa nhận diện / unidentified"] == str(pages)  # the forged sheet
    assert table["nhận diện / identified"] == str(3 * pages)
    assert "0 sai / wrong" in out
    export = home / "export" / "SIPAS-2024.csv"
    assert str(export) in out
    with export.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert [r[0] for r in rows[1:]] == ["1", "2", "3"]
    # the results step: the overall index printed, the report, the XLSX and the SAV written and readable
    assert "Chỉ số hài lòng về sự phục vụ hành chính (SIPAS): " in out and "tạm tính / provisional" in out
    report, xlsx, sav = (home / "export" / name for name in ("SIPAS-2024-bao-cao.pdf", "SIPAS-2024.xlsx", "SIPAS-2024.sav"))
    assert all(str(p) in out for p in (report, xlsx, sav))
    assert report.read_bytes().startswith(b"%PDF")
    import pyreadstat
    from openpyxl import load_workbook

    assert load_workbook(xlsx).sheetnames == ["Dữ liệu", "Từ điển biến"]
    frame, meta = pyreadstat.read_sav(str(sav))
    assert list(frame["serial"]) == [1, 2, 3] and meta.column_names_to_labels["A1"] == "Giới tính"
    # the operations page has real figures: the Quảng Trị frame printed, a week of fieldwork, the scans
    assert "Thực địa / fieldwork: 486 in / printed" in out
    table = runner.invoke(main, ["--home", str(home), "fieldwork", "SIPAS-2024", "--format", "csv"])
    province = next(r for r in csv.DictReader(table.stdout.splitlines()) if r["unit"] == "QT")
    assert (province["printed"], province["scanned"]) == ("486", "3")
    assert int(province["delivered"]) > int(province["collected"]) > 100 and int(province["refused"]) + int(province["absent"]) == 12


def test_an_earlier_demo_workspace_is_replaced(tmp_path: Path) -> None:
    from phieu.demo import MARKER, _fresh

    home = tmp_path / "demo"
    home.mkdir()
    (home / MARKER).write_text("demo")
    (home / "old.sqlite3").write_bytes(b"old demo")
    assert _fresh(home) == home
    assert sorted(p.name for p in home.iterdir()) == [MARKER]


def test_demo_never_empties_a_real_workspace(tmp_path: Path) -> None:
    home = tmp_path / "real"
    home.mkdir()
    (home / "phieu.sqlite3").write_bytes(b"precious")
    result = CliRunner().invoke(main, ["demo", "--home", str(home), "--sheets", "2", "--no-serve"])
    assert result.exit_code == 8
    assert str(home) in result.stderr
    assert (home / "phieu.sqlite3").read_bytes() == b"precious"
