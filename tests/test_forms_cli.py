"""The questionnaire commands on a temporary workspace: form build, survey add/list, print."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pypdfium2 as pdfium
import pytest
import zxingcpp
from click.testing import CliRunner, Result
from sqlalchemy import select

from formgen.identity import parse_payload, verify
from formgen.layout import Layout
from phieu.cli import main
from phieu.workspace import Workspace
from storage.db import Database
from storage.files import FileStore
from storage.models import AuditEvent, PrintBatch, Sheet, Unit
from storage.surveys import blank_pdf, get_layout, list_editions, split_in_blocks

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PKS05 = EXAMPLES / "counter-pks05.yaml"


def _run(home: Path, *args: str) -> Result:
    result = CliRunner().invoke(main, ["--home", str(home), *args], catch_exceptions=False)
    return result


def _manifest(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.read_text(encoding="utf-8").splitlines()))


def test_form_build_writes_blank_and_layout(tmp_path: Path) -> None:
    result = _run(
        tmp_path / "ws", "form", "build", str(EXAMPLES / "sipas-2024.yaml"), "--out", str(tmp_path / "out")
    )
    assert result.exit_code == 0, result.output
    layout = Layout.from_json((tmp_path / "out" / "layout.json").read_text())
    assert layout.survey == "SIPAS-2024" and layout.page_count == len(
        pdfium.PdfDocument(tmp_path / "out" / "blank.pdf")
    )
    assert not (tmp_path / "ws").exists()  # building a form needs no workspace


def test_broken_definition_exits_3_with_its_line(tmp_path: Path) -> None:
    broken = tmp_path / "hong.yaml"
    broken.write_text(
        PKS05.read_text(encoding="utf-8").replace("type: grid", "type: griid"), encoding="utf-8"
    )
    result = CliRunner().invoke(main, ["form", "build", str(broken), "--out", str(tmp_path / "o")])
    assert result.exit_code == 3
    line = next(i for i, t in enumerate(broken.read_text(encoding="utf-8").splitlines(), 1) if "griid" in t)
    assert f"{broken}:{line}: unknown question type 'griid'" in result.output


def test_survey_add_is_idempotent_and_refuses_a_changed_edition(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    assert _run(home, "init").exit_code == 0
    assert _run(home, "survey", "add", str(PKS05)).exit_code == 0
    again = _run(home, "survey", "add", str(PKS05))
    assert again.exit_code == 0 and "unchanged" in again.output
    changed = tmp_path / "pks05.yaml"
    changed.write_text(
        PKS05.read_text(encoding="utf-8").replace("Cấp tỉnh", "Cấp trung ương"), encoding="utf-8"
    )
    refused = CliRunner().invoke(main, ["--home", str(home), "survey", "add", str(changed)])
    assert refused.exit_code == 8 and "new edition" in refused.output
    shutil.copy(PKS05, tmp_path / "same-with-comment.yaml")
    with open(tmp_path / "same-with-comment.yaml", "a", encoding="utf-8") as fh:
        fh.write("# a comment changes nothing\n")
    assert "unchanged" in _run(home, "survey", "add", str(tmp_path / "same-with-comment.yaml")).output
    listing = _run(home, "survey", "list")
    assert "PKS05\t2024\t1 trang" in listing.output
    ws = Workspace.open(home)
    db = Database.for_workspace(ws)
    with db.session() as session:
        assert list_editions(session) == [("PKS05", "2024")]
        layout = get_layout(session, "PKS05", "2024")
        master = blank_pdf(session, FileStore(ws.files_dir), "PKS05", "2024")
    assert layout.page_count == 1 and master.startswith(b"%PDF")
    db.dispose()


def test_print_allocates_fresh_serials_and_writes_a_manifest(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    _run(home, "init")
    _run(home, "survey", "add", str(PKS05))
    first = _run(
        home,
        "print",
        "PKS05",
        "--count",
        "5",
        "--unit",
        "MC-01",
        "--unit",
        "MC-02",
        "--out",
        str(tmp_path / "a.pdf"),
    )
    assert first.exit_code == 0, first.output
    second = _run(home, "print", "PKS05", "--count", "3", "--out", str(tmp_path / "b.pdf"))
    assert second.exit_code == 0, second.output

    rows_a = _manifest(tmp_path / "a.manifest.csv")
    rows_b = _manifest(tmp_path / "b.manifest.csv")
    assert [r["unit"] for r in rows_a] == ["MC-01", "MC-01", "MC-01", "MC-02", "MC-02"]
    assert [(r["first_page"], r["last_page"]) for r in rows_b] == [("1", "1"), ("2", "2"), ("3", "3")]
    serials = [int(r["serial"]) for r in rows_a + rows_b]
    assert len(set(serials)) == 8

    secret = Workspace.open(home).secret()
    pdf = pdfium.PdfDocument(tmp_path / "a.pdf")
    assert len(pdf) == 5
    for index, row in enumerate(rows_a):  # each page's QR carries the manifest's serial
        bitmap = pdf[index].render(scale=200 / 72, grayscale=True)
        found = zxingcpp.read_barcodes(bitmap.to_numpy().reshape(bitmap.height, bitmap.width, -1)[:, :, 0])
        parsed = parse_payload(found[0].text)
        assert parsed is not None and verify(parsed, secret)
        assert parsed.identity.serial == int(row["serial"]) and parsed.identity.page == 1

    db = Database.for_workspace(Workspace.open(home))
    with db.session() as session:
        sheets = session.execute(select(Sheet.serial, Sheet.status, Unit.code).outerjoin(Unit)).all()
        batches = session.scalars(select(PrintBatch).order_by(PrintBatch.id)).all()
        audits = session.scalars(select(AuditEvent.action)).all()
    db.dispose()
    assert sorted(s for s, _, _ in sheets) == sorted(serials)
    assert {status for _, status, _ in sheets} == {"printed"}
    assert {(s, u) for s, _, u in sheets} == {(int(r["serial"]), r["unit"] or None) for r in rows_a + rows_b}
    assert [(b.count, b.first_serial, b.last_serial) for b in batches] == [(5, 1, 5), (3, 6, 8)]
    assert audits.count("sheets.print") == 2


def test_print_of_unknown_survey_is_refused(tmp_path: Path) -> None:
    _run(tmp_path, "init")
    result = CliRunner().invoke(
        main, ["--home", str(tmp_path), "print", "NOPE", "--count", "1", "--out", str(tmp_path / "x.pdf")]
    )
    assert result.exit_code == 7 and "phieu survey add" in result.output
    assert not (tmp_path / "x.pdf").exists()


@pytest.mark.parametrize(
    ("count", "units", "expected"),
    [
        (7, ["A", "B", "C"], list("AAABBCC")),
        (2, ["A", "B", "C"], list("AB")),
        (3, [], [None, None, None]),
    ],
)
def test_split_in_blocks(count: int, units: list[str], expected: list[str | None]) -> None:
    assert split_in_blocks(count, units) == expected


def test_duplex_gives_each_one_page_copy_a_blank_back(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    _run(home, "init")
    _run(home, "survey", "add", str(PKS05))
    result = _run(home, "print", "PKS05", "--count", "3", "--duplex", "--out", str(tmp_path / "d.pdf"))
    assert result.exit_code == 0, result.output
    rows = _manifest(tmp_path / "d.manifest.csv")
    assert [(r["first_page"], r["last_page"]) for r in rows] == [("1", "1"), ("3", "3"), ("5", "5")]
    pdf = pdfium.PdfDocument(tmp_path / "d.pdf")
    assert len(pdf) == 6
    for back in (1, 3, 5):
        bitmap = pdf[back].render(scale=50 / 72, grayscale=True)
        assert bitmap.to_numpy().min() == 255  # nothing printed on the back


def test_a_mistyped_home_is_refused_not_created(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    created = _run(home, "init")
    assert created.exit_code == 0 and "created" in created.output
    secret = (home / "secret.key").read_bytes()
    typo = tmp_path / "wss"
    for args in (["survey", "add", str(PKS05)], ["survey", "list"], ["scan", str(PKS05)], ["user", "list"],
                 ["export", "PKS05", "--out", str(tmp_path / "x.csv")]):
        refused = CliRunner().invoke(main, ["--home", str(typo), *args])
        assert refused.exit_code == 7, (args, refused.output)
        assert "phieu --home" in refused.stderr and "init" in refused.stderr and str(typo) in refused.stderr
    assert not typo.exists()  # nothing made, no second secret
    again = _run(home, "init")
    assert again.exit_code == 0 and "unchanged" in again.output
    assert (home / "secret.key").read_bytes() == secret
