"""The hostile corpus through `phieu scan`, file by file: each ends as its expected outcome says (exit code,
the file's and its pages' records with their reason codes, the review queue, a message naming the file
and the page), prints no traceback, and changes nothing stored before it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hostile_corpus import CASES, PKS05, Case, good_sheet, other_survey
from pipeline_helpers import Printed, print_sipas
from sqlalchemy import func, select

from phieu.cli import main
from storage.models import Answer, AuditEvent, BoxReading, Page, ReviewItem, ScanFile

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def station(tmp_path_factory: pytest.TempPathFactory) -> Printed:
    """A workspace with three SIPAS sheets printed and sheet 1 scanned (what later files must not disturb)."""
    printed = print_sipas(tmp_path_factory.mktemp("ws"), 3)
    code, out, err = _scan(printed, good_sheet(printed, tmp_path_factory.mktemp("good")))
    assert code == 0, out + err
    return printed


def _scan(printed: Printed, *paths: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--home", str(printed.ws.home), "scan", "--jobs", "1", *map(str, paths)])
    return result.exit_code, result.stdout, result.stderr


def _snapshot(printed: Printed) -> dict[str, dict[int, tuple[Any, ...]]]:
    """Every stored reading, page and file, by id."""
    with printed.db.session() as s:
        return {
            "answers": {a.id: (a.machine_value, a.machine_state, a.status, a.final_value, a.page_id)
                        for a in s.scalars(select(Answer))},
            "pages": {p.id: (p.status, p.reason, p.sheet_id, p.page_number, p.aligned_sha256)
                      for p in s.scalars(select(Page))},
            "files": {f.id: (f.status, f.error, f.sha256) for f in s.scalars(select(ScanFile))},
            "boxes": {b.id: (b.box_id, b.inner_ink, b.state) for b in s.scalars(select(BoxReading))},
            "items": {i.id: (i.kind, i.reason, i.status) for i in s.scalars(select(ReviewItem))},
        }


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_file(station: Printed, case: Case, tmp_path: Path) -> None:
    path = case.make(station, tmp_path)
    assert path.name == case.name
    before = _snapshot(station)
    code, out, err = _scan(station, path)
    expected = case.expected
    assert code == expected.exit_code, out + err
    assert "Traceback" not in out + err
    if expected.words or expected.exit_code == 4:  # the clerk's message names the file, and the page
        assert case.name in err, err
        for word in expected.words:
            assert word in err, (word, err)

    after = _snapshot(station)
    for table, rows in before.items():  # nothing stored before has changed
        assert {k: after[table][k] for k in rows} == rows, table
    with station.db.session() as s:
        scan_file = s.scalars(select(ScanFile).order_by(ScanFile.id.desc())).first()
        assert scan_file is not None and Path(scan_file.original_name).name == case.name
        assert (scan_file.status, scan_file.error_code) == (expected.file_status, expected.file_reason)
        if expected.file_reason:
            assert case.name in (scan_file.error or "")
        pages = s.scalars(select(Page).where(Page.scan_file_id == scan_file.id).order_by(Page.index_in_file)).all()
        assert tuple(p.status for p in pages) == expected.pages
        queued = s.scalars(select(ReviewItem.reason).join(Page, Page.id == ReviewItem.page_id)
                           .where(Page.scan_file_id == scan_file.id, ReviewItem.status == "open")).all()
        assert tuple(queued) == expected.queue
        for page, reason in zip([p for p in pages if p.status == "unidentified"], expected.queue, strict=False):
            assert (page.reason or "").startswith(reason + ":")  # the code, then the clerk's sentence
        new_answers = s.scalar(select(func.count()).select_from(Answer)
                               .where(Answer.page_id.in_([p.id for p in pages]))) if pages else 0
        assert bool(new_answers) == expected.new_answers


def test_register_the_template_then_rescan(tmp_path: Path) -> None:
    """A sheet of a survey not registered yet is kept as unknown; once `survey add` registered it, scanning
    the same file again reads that page (it was "already scanned" before), and nothing is overwritten."""
    printed = print_sipas(tmp_path / "ws", 1)
    path = other_survey(printed, tmp_path)
    assert _scan(printed, path)[0] == 10
    with printed.db.session() as s:
        page = s.scalars(select(Page)).one()
        assert page.status == "unidentified" and (page.reason or "").startswith("unknown_survey:")
        first_reason = page.reason
    _register_pks05(printed, tmp_path)
    code, out, err = _scan(printed, path)
    assert code == 0, out + err
    assert "đọc lại / read again" in out and out.split("đọc lại / read again")[1].split()[0] == "1"
    with printed.db.session() as s:
        page = s.scalars(select(Page)).one()
        assert page.status == "identified" and page.sheet_id is not None
        assert s.scalar(select(func.count()).select_from(Answer).where(Answer.page_id == page.id)) > 0
        assert s.scalar(select(func.count()).select_from(ReviewItem).where(ReviewItem.page_id == page.id,
                                                                            ReviewItem.status == "open")) == 0
        history = s.scalars(select(AuditEvent).where(AuditEvent.action == "scan.page_rerecorded")).one()
        assert history.detail["previous"]["reason"] == first_reason  # what it said before is kept
    assert _scan(printed, path)[0] == 0  # and once read, a third scan changes nothing


def test_reread_command_reads_stored_pages_of_a_survey_registered_since(tmp_path: Path) -> None:
    printed = print_sipas(tmp_path / "ws", 1)
    path = other_survey(printed, tmp_path)
    assert _scan(printed, path)[0] == 10
    path.unlink()  # the original is gone from the scanner folder: the stored copy is read
    home = ["--home", str(printed.ws.home)]
    nothing = CliRunner().invoke(main, [*home, "reread"])
    assert nothing.exit_code == 0 and "0 trang" in nothing.output  # its survey is still unknown
    _register_pks05(printed, tmp_path)
    result = CliRunner().invoke(main, [*home, "reread", "PKS05", "--jobs", "1"])
    assert result.exit_code == 0, result.output
    assert "1 trang / pages; nhận diện / identified 1" in result.output
    with printed.db.session() as s:
        assert s.scalars(select(Page.status)).one() == "identified"


def _register_pks05(printed: Printed, tmp_path: Path) -> None:
    """`survey add` and `print` of the counter survey (its sheet 1 is the one scanned before)."""
    home = ["--home", str(printed.ws.home)]
    assert CliRunner().invoke(main, [*home, "survey", "add", str(PKS05)]).exit_code == 0
    printed_out = CliRunner().invoke(main, [*home, "print", "PKS05", "--count", "1", "--out", str(tmp_path / "p.pdf")])
    assert printed_out.exit_code == 0, printed_out.output
