"""`phieu scan` and `phieu export` as a clerk runs them: real workspace, real printed and filled sheets."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from pipeline_helpers import SIPAS, sipas_form

from phieu.cli import main
from phieu.provingground.bundle import make_bundle, stamp_forged


@pytest.fixture(scope="module")
def clerk(tmp_path_factory: pytest.TempPathFactory) -> tuple[CliRunner, Path, Path]:
    """A workspace where `phieu survey add` and `phieu print` ran, and the returned scans of sheet 1."""
    home = tmp_path_factory.mktemp("home")
    runner = CliRunner()
    for args in (["init"], ["survey", "add", str(SIPAS)], ["print", "SIPAS-2024", "--count", "2", "--out", str(home / "in.pdf")]):
        result = runner.invoke(main, ["--home", str(home), *args])
        assert result.exit_code == 0, result.output
    layout = sipas_form().layout
    scans = home / "returned"
    # the printed PDF holds serials 1 and 2: fill both, bring back both
    make_bundle(home / "in.pdf", layout, [1, 2], profile="office", rng=np.random.default_rng(1), out_dir=scans)
    return runner, home, scans


def _scan(runner: CliRunner, home: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(main, ["--home", str(home), "scan", "--jobs", "1", *args])
    return result.exit_code, result.stdout, result.stderr


def _table(out: str) -> dict[str, str]:
    """The summary table: label -> value."""
    return {line.strip().split("  ")[0]: line.split()[-1] for line in out.splitlines() if "  " in line.strip()}


def test_scan_prints_the_summary_and_exports(clerk: tuple[CliRunner, Path, Path], tmp_path: Path) -> None:
    runner, home, scans = clerk
    code, out, err = _scan(runner, home, str(scans))
    assert code == 0, out + err
    pages = 2 * sipas_form().layout.page_count
    lines = _table(out)
    assert lines["Trang / pages"] == str(pages)
    assert lines["nhận diện / identified"] == str(pages)
    assert lines["chưa nhận diện / unidentified"] == "0"

    # the same files again: exit 0, nothing new
    code, out, _ = _scan(runner, home, str(scans))
    assert code == 0
    assert _table(out)["Trang / pages"] == "0"

    target = tmp_path / "kết quả.csv"
    result = runner.invoke(main, ["--home", str(home), "export", "SIPAS-2024", "--format", "csv", "--out", str(target)])
    assert result.exit_code == 0, result.output
    with target.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    assert header[:3] == ["serial", "unit", "status"]
    assert [row[0] for row in body] == ["1", "2"]
    layout = sipas_form().layout
    assert all(q.id in header or any(h.startswith(q.id + ".") for h in header) for q in layout.questions)
    assert all(value in {"", "?REVIEW"} or value[0].isdigit() or ";" in value or value.isalnum()
               for row in body for value in row[3:])


def test_exit_code_10_when_a_page_is_unidentified(clerk: tuple[CliRunner, Path, Path], tmp_path: Path) -> None:
    runner, home, _ = clerk
    built = sipas_form()
    make_bundle(stamp_forged(built, [2]), built.layout, [2], profile="office", rng=np.random.default_rng(2),
                out_dir=tmp_path, name="forged")
    code, out, err = _scan(runner, home, str(tmp_path / "forged.pdf"))
    assert code == 10, out + err
    assert _table(out)["chưa nhận diện / unidentified"] == str(built.layout.page_count)


def test_exit_code_4_names_the_unreadable_file(clerk: tuple[CliRunner, Path, Path], tmp_path: Path) -> None:
    runner, home, _ = clerk
    broken = tmp_path / "bó-phiếu-hỏng.tif"
    broken.write_bytes(b"II*\x00" + b"\x00" * 64)
    code, out, err = _scan(runner, home, str(broken))
    assert code == 4
    assert "bó-phiếu-hỏng.tif" in err


def test_usage_errors(clerk: tuple[CliRunner, Path, Path]) -> None:
    runner, home, _ = clerk
    assert runner.invoke(main, ["--home", str(home), "scan"]).exit_code == 2
    result = runner.invoke(main, ["--home", str(home), "export", "NO-SUCH", "--out", str(home / "x.csv")])
    assert result.exit_code == 7 and "NO-SUCH" in result.stderr
