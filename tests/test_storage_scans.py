"""The scan writer on real SQLite files and PostgreSQL: idempotence, duplicates, review routing,
machine values never overwritten, originals kept unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from storage_helpers import (
    identified,
    outcome,
    page1_answers,
    page2_answers,
    reading,
    register_tiny_survey,
    unidentified,
)

from core.errors import ConflictError
from storage.db import Database
from storage.files import FileStore, sha256_file
from storage.models import (
    Answer,
    AuditEvent,
    BoxReading,
    Page,
    ReviewItem,
    ScanFile,
    Sheet,
    SheetPage,
)
from storage.scans import (
    PageOutcome,
    finish_batch,
    finish_file,
    record_page,
    refresh_sheet_status,
    register_file,
    rerecord_page,
    start_batch,
)


def _scan_file(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def _count(db: Database, model: type) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def _record(db: Database, store: FileStore, path: Path, outcomes: list[PageOutcome]) -> list:
    """What the pipeline's parent does: register the file, one transaction per page, finish."""
    with db.session() as s:
        batch = start_batch(s, "cli", "lan")
        scan_file, done = register_file(s, store, path, batch)
    if done:
        return []
    results = []
    for o in outcomes:
        with db.session() as s:
            results.append(record_page(s, store, s.get_one(ScanFile, scan_file.id), o))
    with db.session() as s:
        finish_file(s, s.get_one(ScanFile, scan_file.id), len(outcomes))
        finish_batch(s, s.get_one(type(batch), batch.id), {"pages": len(outcomes)})
    return results


@pytest.fixture
def survey(database: Database) -> Database:
    with database.session() as s:
        register_tiny_survey(s)
    return database


def test_a_complete_sheet_is_stored_and_complete(survey: Database, file_store: FileStore, tmp_path: Path) -> None:
    path = _scan_file(tmp_path, "bó 1.pdf", b"%PDF bundle one")
    results = _record(survey, file_store, path, [outcome(0, 1, 1, page1_answers()), outcome(1, 1, 2, page2_answers())])
    assert [r.status for r in results] == ["identified", "identified"]
    assert [r.answers_stored for r in results] == [4, 2]
    assert [r.review_items for r in results] == [0, 0]
    with survey.session() as s:
        sheet = s.scalar(select(Sheet).where(Sheet.serial == 1))
        assert sheet is not None and sheet.status == "complete"
        values = {(a.question, a.item): (a.machine_value, a.status, a.final_value)
                  for a in s.scalars(select(Answer).where(Answer.sheet_id == sheet.id))}
        assert values[("Q1", "")] == ("2", "accepted", "2")
        assert values[("Q3", "")] == ("1;3", "accepted", "1;3")
        assert values[("Q1", "Q1:w9")] == (None, "accepted", None)  # empty write-in: not queued
        page = s.scalar(select(Page).where(Page.index_in_file == 0))
        assert page is not None and page.rotation == 180 and page.decoder == "zxing"
        assert page.quality["residual_mm"] == 0.12 and page.quality["dpi"] == 300
        assert page.transform is not None and abs(page.transform[0][0] - 25.4 / 300) < 1e-9
        assert file_store.read(page.aligned_sha256 or "").startswith(b"aligned")
        assert page.aligned_dpi == 150.0  # the aligned image carries its own resolution
        assert s.scalar(select(func.count()).select_from(BoxReading)) == 5
        scan_file = s.scalar(select(ScanFile))
        assert scan_file is not None and scan_file.status == "done" and scan_file.page_count == 2
        assert file_store.read(scan_file.sha256) == b"%PDF bundle one"
        assert scan_file.sha256 == sha256_file(path) and scan_file.media_type == "application/pdf"


def test_rescanning_a_file_changes_nothing(survey: Database, file_store: FileStore, tmp_path: Path) -> None:
    path = _scan_file(tmp_path, "bó.pdf", b"%PDF same")
    pages = [outcome(0, 1, 1, page1_answers()), outcome(1, 1, 2, page2_answers())]
    _record(survey, file_store, path, pages)
    before = [_count(survey, m) for m in (Page, Answer, ReviewItem, AuditEvent, ScanFile)]
    renamed = _scan_file(tmp_path, "bản sao cùng nội dung.pdf", b"%PDF same")
    assert _record(survey, file_store, renamed, pages) == []
    after = [_count(survey, m) for m in (Page, Answer, ReviewItem, AuditEvent, ScanFile)]
    # the batch itself is logged (started), nothing about the file or its pages
    assert after[:3] == before[:3] and after[4] == before[4]
    assert after[3] == before[3] + 1


def test_an_interrupted_file_is_completed_by_a_rerun(survey: Database, file_store: FileStore, tmp_path: Path) -> None:
    path = _scan_file(tmp_path, "ngắt.pdf", b"%PDF interrupted")
    first = outcome(0, 2, 1, page1_answers())
    with survey.session() as s:  # run 1 stops after page 1, before finish_file
        scan_file, done = register_file(s, file_store, path, start_batch(s, "cli", ""))
        record_page(s, file_store, scan_file, first)
    with survey.session() as s:
        scan_file, done = register_file(s, file_store, path, start_batch(s, "cli", ""))
        assert not done
        again = record_page(s, file_store, scan_file, first)
        assert again.already_recorded and again.status == "identified" and again.answers_stored == 0
        assert record_page(s, file_store, scan_file, outcome(1, 2, 2, page2_answers())).answers_stored == 2
        finish_file(s, scan_file, 2)
    assert _count(survey, Page) == 2 and _count(survey, Answer) == 6
    with survey.session() as s:
        assert s.scalar(select(Sheet.status).where(Sheet.serial == 2)) == "complete"


def test_a_failed_transaction_leaves_no_half_page(survey: Database, file_store: FileStore, tmp_path: Path) -> None:
    path = _scan_file(tmp_path, "x.pdf", b"%PDF x")
    with survey.session() as s:
        scan_file, _ = register_file(s, file_store, path, start_batch(s, "cli", ""))
    with pytest.raises(RuntimeError), survey.session() as s:
        record_page(s, file_store, s.get_one(ScanFile, scan_file.id), outcome(0, 3, 1, page1_answers()))
        raise RuntimeError("killed")
    assert _count(survey, Page) == 0 and _count(survey, Answer) == 0 and _count(survey, SheetPage) == 0


def test_same_sheet_page_from_another_file_is_a_duplicate(survey: Database, file_store: FileStore,
                                                          tmp_path: Path) -> None:
    _record(survey, file_store, _scan_file(tmp_path, "a.pdf", b"A"), [outcome(0, 1, 1, page1_answers())])
    photocopy = _record(survey, file_store, _scan_file(tmp_path, "b.pdf", b"B"),
                        [outcome(0, 1, 1, page1_answers())])[0]
    assert photocopy.status == "duplicate" and photocopy.sheet_serial == 1 and photocopy.answers_stored == 0
    assert photocopy.review_items == 0  # identical answers: a bundle scanned twice needs nobody
    other = _record(survey, file_store, _scan_file(tmp_path, "c.pdf", b"C"),
                    [outcome(0, 1, 1, page1_answers(q1="3"))])[0]
    assert other.status == "duplicate" and other.review_items == 1  # a copy filled differently: a person looks
    with survey.session() as s:
        dups = s.scalars(select(Page).where(Page.status == "duplicate").order_by(Page.id)).all()
        first = s.scalar(select(Page).where(Page.status == "identified"))
        assert first is not None and [d.duplicate_of_id for d in dups] == [first.id, first.id]
        assert "a.pdf" in (dups[0].reason or "") and "photo" in (dups[0].reason or "")
        assert s.scalar(select(Answer.machine_value).where(Answer.question == "Q1", Answer.item == "")) == "2"
        assert s.scalar(select(ReviewItem.reason).where(ReviewItem.kind == "page")) == "duplicate_conflict"
        assert s.scalar(select(func.count()).select_from(SheetPage)) == 1


def test_unidentified_pages_are_queued_with_their_reason(survey: Database, file_store: FileStore,
                                                         tmp_path: Path) -> None:
    pages = [
        PageOutcome(index=0, identification=unidentified("forged", "Mã QR bị sửa"), page_image=b"forged-img"),
        PageOutcome(index=1, identification=unidentified("blank_page")),
        PageOutcome(index=2, identification=identified(999, 1), reading=reading(page1_answers())),  # never printed
        PageOutcome(index=3, identification=unidentified("corrupt_page"), error="x.tif trang 4: ảnh hỏng"),
        PageOutcome(index=4, identification=identified(4, 1)),  # identified but could not be aligned
    ]
    results = _record(survey, file_store, _scan_file(tmp_path, "x.tif", b"II*"), pages)
    assert [r.status for r in results] == ["unidentified", "blank", "unidentified", "unidentified", "unidentified"]
    assert results[4].sheet_serial == 4
    with survey.session() as s:
        items = s.scalars(select(ReviewItem).order_by(ReviewItem.id)).all()
        assert [(i.kind, i.reason) for i in items] == [("page", "forged"), ("page", "not_printed"),
                                                       ("page", "corrupt_page"), ("page", "not_aligned")]
        assert all(i.page_id is not None and i.status == "open" for i in items)
        pages_by_index = {p.index_in_file: p for p in s.scalars(select(Page))}
        assert "Mã QR bị sửa" in (pages_by_index[0].reason or "")
        assert file_store.read(pages_by_index[0].image_sha256 or "") == b"forged-img"
        assert "999" in (pages_by_index[2].reason or "")
        assert s.scalar(select(func.count()).select_from(Answer)) == 0


def test_doubtful_answers_go_to_review_and_machine_values_are_never_overwritten(
        survey: Database, file_store: FileStore, tmp_path: Path) -> None:
    results = _record(survey, file_store, _scan_file(tmp_path, "r.pdf", b"R"),
                      [outcome(0, 5, 1, page1_answers(b_review=True, writein="Qua Zalo"))])
    assert results[0].review_items == 2
    with survey.session() as s:
        kinds = sorted((i.kind, i.reason) for i in s.scalars(select(ReviewItem)))
        assert kinds == [("answer", "multiple_marks"), ("writein", "writein")]
        sheet = s.scalar(select(Sheet).where(Sheet.serial == 5))
        assert sheet is not None and sheet.status == "review"
        w = s.scalar(select(Answer).where(Answer.item == "Q1:w9"))
        assert w is not None and w.status == "review" and w.final_value is None and w.ocr_draft == "Qua Zalo"
        assert w.ocr_confidence == 88.0  # kept, so the bar for offering drafts can be re-tuned without a rescan
        assert file_store.read(w.crop_sha256 or "") == b"PNG-crop-Qua Zalo"
        blank_page = s.scalar(select(Page))
        assert blank_page is not None
    # the same sheet page read again with other values (e.g. a person re-ran a rotated page): kept as is
    with survey.session() as s:
        scan_file = s.scalar(select(ScanFile))
        assert scan_file is not None
        r = record_page(s, file_store, scan_file, outcome(1, 5, 1, page1_answers(q1="1", a="1")))
        assert r.status == "duplicate"
    with survey.session() as s:
        assert s.scalar(select(Answer.machine_value).where(Answer.question == "Q1", Answer.item == "")) == "2"
        assert s.scalar(select(Answer.machine_value).where(Answer.item == "a")) == "4"


def test_rerecording_an_assigned_page_stores_its_answers_once(survey: Database, file_store: FileStore,
                                                              tmp_path: Path) -> None:
    _record(survey, file_store, _scan_file(tmp_path, "u.pdf", b"U"),
            [PageOutcome(index=0, identification=unidentified("unreadable"))])
    with survey.session() as s:
        page = s.scalar(select(Page))
        assert page is not None
        result = rerecord_page(s, file_store, page, outcome(0, 3, 1, page1_answers()), actor="lan")
        assert result.status == "identified" and result.answers_stored == 4
        with pytest.raises(ConflictError):
            rerecord_page(s, file_store, page, outcome(0, 3, 1, page1_answers()), actor="lan")
        sheet = s.scalar(select(Sheet).where(Sheet.serial == 3))
        assert sheet is not None and refresh_sheet_status(s, sheet) == "scanned"  # page 2 still missing


def test_a_page_assigned_by_a_person_is_read_once_and_its_item_closed(survey: Database, file_store: FileStore,
                                                                     tmp_path: Path) -> None:
    _record(survey, file_store, _scan_file(tmp_path, "v.pdf", b"V"),
            [PageOutcome(index=0, identification=unidentified("unreadable"))])
    with survey.session() as s:  # rotated and re-read, still no code: the same item stays open
        page = s.scalar(select(Page))
        assert page is not None
        again = rerecord_page(s, file_store, page, PageOutcome(index=0, identification=unidentified("no_marks")),
                              actor="lan")
        assert again.status == "unidentified"
        items = s.scalars(select(ReviewItem)).all()
        assert [(i.reason, i.status) for i in items] == [("no_marks", "open")]
    with survey.session() as s:  # what review_queue.assign_page leaves: identified + counted, nothing read
        page = s.get_one(Page, page.id)
        sheet = s.scalar(select(Sheet).where(Sheet.serial == 4))
        assert sheet is not None
        page.status, page.sheet_id, page.page_number = "identified", sheet.id, 2
        s.add(SheetPage(sheet_id=sheet.id, page_number=2, page_id=page.id))
    with survey.session() as s:
        page = s.get_one(Page, page.id)
        result = rerecord_page(s, file_store, page, outcome(0, 4, 2, page2_answers(text="Cán bộ nhiệt tình")),
                               actor="lan")
        assert result.status == "identified" and result.answers_stored == 2 and result.review_items == 1
        assert s.scalar(select(func.count()).select_from(SheetPage)) == 1
        assert s.scalar(select(ReviewItem.status).where(ReviewItem.kind == "page")) == "done"
        sheet = s.scalar(select(Sheet).where(Sheet.serial == 4))
        assert sheet is not None and sheet.status == "review"


def test_two_writers_recording_the_same_page_store_it_once(survey: Database, file_store: FileStore,
                                                           tmp_path: Path) -> None:
    """The unique (file, index) constraint is the backstop when a second writer races the first."""
    import threading
    import time

    with survey.session() as s:
        scan_file, _ = register_file(s, file_store, _scan_file(tmp_path, "race.pdf", b"race"), start_batch(s, "cli", ""))
    started = threading.Event()
    second: list = []

    def other_writer() -> None:
        started.set()
        with survey.session(immediate=True) as s:
            second.append(record_page(s, file_store, s.get_one(ScanFile, scan_file.id), outcome(0, 1, 1, page1_answers())))

    with survey.session() as s:
        first = record_page(s, file_store, s.get_one(ScanFile, scan_file.id), outcome(0, 1, 1, page1_answers()))
        thread = threading.Thread(target=other_writer)
        thread.start()
        started.wait()
        time.sleep(0.5)  # let the other writer reach its INSERT (PostgreSQL) or its lock (SQLite) while we hold ours
    thread.join()
    assert first.status == "identified" and not first.already_recorded
    assert second[0].already_recorded and second[0].status == "identified"
    assert _count(survey, Page) == 1 and _count(survey, Answer) == 4 and _count(survey, SheetPage) == 1


def test_a_copy_is_only_compared_with_confident_machine_readings(survey: Database, file_store: FileStore,
                                                                 tmp_path: Path) -> None:
    _record(survey, file_store, _scan_file(tmp_path, "a.pdf", b"A"), [outcome(0, 2, 1, page1_answers(b_review=True))])
    with survey.session() as s:  # a reviewer settled the doubtful row
        answer = s.scalars(select(Answer).where(Answer.item == "b")).one()
        answer.final_value, answer.status = "1", "reviewed"
    copy = _record(survey, file_store, _scan_file(tmp_path, "b.pdf", b"B"), [outcome(0, 2, 1, page1_answers(b="3"))])[0]
    assert copy.status == "duplicate" and copy.review_items == 0


def test_an_upload_keeps_the_name_the_browser_sent(survey: Database, file_store: FileStore, tmp_path: Path) -> None:
    temporary = _scan_file(tmp_path, "tmpa1b2c3", b"\xff\xd8\xff phone photo")
    with survey.session() as s:
        scan_file, done = register_file(s, file_store, temporary, start_batch(s, "upload", "lan"), name="Ảnh phiếu 7.JPG")
        assert not done
        assert (scan_file.original_name, scan_file.media_type) == ("Ảnh phiếu 7.JPG", "image/jpeg")
        assert file_store.path(scan_file.sha256).suffix == ".jpg"
