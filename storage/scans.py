"""The single writer of scan results: batches, files, pages, box readings, answers, review items.

Only the pipeline's parent process calls these (workers compute, they never touch the database).
Each function works inside the caller's transaction (``Database.session()``); the pipeline uses one
transaction per page, so an interrupted run leaves whole pages only and a rerun completes the file:
recording the same (file, page index) twice changes nothing.

Rules kept here:
- the original file is copied unchanged into the file store, named by its SHA-256; a file already
  processed completely is not touched again;
- the first copy of a (sheet, page number) counts; any later copy is a ``duplicate`` (a photocopy,
  or a bundle scanned twice) whose answers are not stored;
- machine values are written once and never overwritten; for an accepted answer ``final_value``
  holds the machine value (so ``final_value`` is always the value in force), for an answer sent to
  review it stays empty until a person decides;
- every unidentified page gets a review item of kind ``page``: nothing is dropped. Blank pages
  (duplex backs) are recorded but not queued.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.errors import ConflictError
from core.types import AnswerReading, Identification, PageReading
from core.types import PageOutcome as PageOutcome  # defined apart: workers need no SQLAlchemy
from formgen.identity import PAYLOAD_PREFIX
from storage import audit, sheet_events
from storage.files import FileStore
from storage.models import (
    Answer,
    Edition,
    Page,
    ReviewItem,
    ScanBatch,
    ScanFile,
    Sheet,
    SheetPage,
    Survey,
    unindexed,
    utcnow,
)
from storage.readings import HANDWRITING_KINDS, store_answers, store_boxes

log = logging.getLogger(__name__)

MEDIA_TYPES = {
    ".pdf": "application/pdf",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
}


@dataclass(frozen=True)
class PageRecordResult:
    status: str  # identified | duplicate | unidentified | blank
    sheet_serial: int | None = None
    answers_stored: int = 0
    review_items: int = 0
    already_recorded: bool = False  # the page was stored by an earlier run: nothing changed


def start_batch(session: Session, source: str, user: str, *, owner: str | None = None) -> ScanBatch:
    """Open a scan batch (one ``phieu scan`` run, upload or hot-folder pickup) run by ``owner``
    (``host:pid:start``, see ``pipeline.lifeline``)."""
    batch = ScanBatch(source=source, created_by=user, owner=owner)
    session.add(batch)
    session.flush()
    audit.record(session, actor=user or audit.MACHINE, action="scan.batch_started", entity="scan_batch",
                 entity_id=batch.id, detail={"source": source})
    return batch


def register_file(session: Session, store: FileStore, path: Path, batch: ScanBatch, *,
                  name: str | None = None) -> tuple[ScanFile, bool]:
    """Keep the original unchanged in the store and return its row, plus whether it was already done.

    A file whose every page was recorded earlier (same content, whatever its name) is left exactly
    as it is; a file from an interrupted run is returned for its missing pages to be recorded (its
    ``attempts`` counts the runs that started it: a file that keeps stopping the scan shows).
    ``name`` is the name to remember when ``path`` is a temporary copy (a browser upload).
    """
    path = Path(path)
    shown = Path(name) if name else path
    sha = store.put_file(path, suffix=shown.suffix.lower())
    existing = session.scalar(select(ScanFile).where(ScanFile.sha256 == sha))
    scan_file = ScanFile(
        attempts=1,
        sha256=sha,
        original_name=str(shown),
        size=path.stat().st_size,
        media_type=MEDIA_TYPES.get(shown.suffix.lower(), ""),
        batch_id=batch.id,
    )
    if existing is None:
        try:
            with session.begin_nested():  # another station may register the same file at this moment
                session.add(scan_file)
        except IntegrityError:  # it did: its row is the file's row (pages stored by either count once)
            existing = session.scalar(select(ScanFile).where(ScanFile.sha256 == sha))
            assert existing is not None
    if existing is not None:
        if existing.status == "done":
            return existing, True
        if existing.status == "failed":  # tried again from the start: a failure is not an interruption
            existing.attempts = 0
        existing.status, existing.attempts = "received", existing.attempts + 1
        return existing, False
    audit.record(session, actor=batch.created_by or audit.MACHINE, action="scan.file_received", entity="scan_file",
                 entity_id=scan_file.id, detail={"name": shown.name, "sha256": sha, "batch": batch.id})
    return scan_file, False


def record_page(session: Session, store: FileStore, scan_file: ScanFile, outcome: PageOutcome) -> PageRecordResult:
    """Store one page and everything read from it; a page already stored is left unchanged."""
    existing = _page_at(session, scan_file.id, outcome.index)
    if existing is not None:
        return _result_of(session, existing)
    page = Page(scan_file_id=scan_file.id, index_in_file=outcome.index, status="unidentified")
    _fill_page_facts(page, store, outcome)
    try:
        with session.begin_nested():  # another writer may have stored it a moment ago: keep theirs
            session.add(page)
    except IntegrityError:
        stored = _page_at(session, scan_file.id, outcome.index)
        assert stored is not None
        return _result_of(session, stored)
    return _apply(session, store, page, outcome, place=f"{Path(scan_file.original_name).name} trang {outcome.index + 1}")


def rerecord_page(session: Session, store: FileStore, page: Page, outcome: PageOutcome, *, actor: str) -> PageRecordResult:
    """Record a page again after a person helped (assigned its identity, rotated it) and it was re-read.

    Allowed while no answer has been stored from the page (unidentified, blank, not part of the
    survey, or identified by a person through ``review_queue.assign_page`` and not read yet):
    machine values are never replaced. The page's open "page" review item is closed when the page
    is now identified, or kept (with the new reason) when it still is not.
    """
    if page.status == "duplicate" or _answers_from(session, page.id):
        raise ConflictError(f"Trang #{page.id} đã được ghi nhận ({page.status}); không ghi đè giá trị máy đọc "
                            f"/ page #{page.id} already recorded, machine values are never replaced")
    previous = {"status": page.status, "reason": page.reason, "qr_text": page.qr_text, "decoder": page.decoder,
                "quality": page.quality, "image_sha256": page.image_sha256, "aligned_sha256": page.aligned_sha256,
                "processed_at": page.processed_at.isoformat() if page.processed_at else None}
    _fill_page_facts(page, store, outcome)
    page.processed_at = utcnow()
    scan_file = session.get_one(ScanFile, page.scan_file_id)
    place = f"{Path(scan_file.original_name).name} trang {page.index_in_file + 1}"
    result = _apply(session, store, page, outcome, place=place, refresh=False)
    if result.status != "unidentified":
        _close_page_items(session, page)
    if page.sheet_id is not None and result.status == "identified":  # after the item closed: the counts' lock order
        refresh_sheet_status(session, session.get_one(Sheet, page.sheet_id))
    # the row holds the newest reading; the audit log keeps what it said before (history is never lost)
    audit.record(session, actor=actor, action="scan.page_rerecorded", entity="page", entity_id=page.id,
                 detail={"status": result.status, "serial": result.sheet_serial, "previous": previous})
    return result


def finish_file(session: Session, scan_file: ScanFile, page_count: int, error: str | None = None,
                error_code: str | None = None) -> None:
    """Mark a file done (every page recorded) or failed (with the message naming file and page, and its
    reason code)."""
    scan_file.page_count = page_count
    scan_file.status = "failed" if error else "done"
    scan_file.error = error
    scan_file.error_code = (error_code or "corrupt_file") if error else None
    detail: dict[str, Any] = {"pages": page_count}
    if error:
        detail.update(error=error, reason=scan_file.error_code)
    audit.record(session, actor=audit.MACHINE, action="scan.file_" + scan_file.status, entity="scan_file",
                 entity_id=scan_file.id, detail=detail)


def unfinished_batches(session: Session) -> list[ScanBatch]:
    """Batches never finished: still running somewhere, or left by a run that died."""
    return list(session.scalars(select(ScanBatch).where(ScanBatch.finished_at.is_(None)).order_by(ScanBatch.id)))


def close_interrupted(session: Session, batch: ScanBatch, *, by: str, message: str) -> list[ScanFile]:
    """Finish a batch whose run died: its files still "received" become "interrupted" (pages already
    recorded stay; ``message`` says how to finish them); returns those files."""
    files = list(session.scalars(select(ScanFile).where(ScanFile.batch_id == batch.id,
                                                         ScanFile.status == "received").order_by(ScanFile.id)))
    for scan_file in files:
        scan_file.status, scan_file.error_code = "interrupted", "interrupted"
        scan_file.error = message.format(name=Path(scan_file.original_name).name)
        stored = session.scalar(select(func.count()).select_from(Page).where(Page.scan_file_id == scan_file.id))
        scan_file.page_count = stored
        audit.record(session, actor=audit.MACHINE, action="scan.file_interrupted", entity="scan_file",
                     entity_id=scan_file.id, detail={"batch": batch.id, "pages_stored": stored})
    batch.finished_at = utcnow()
    batch.summary = {**(batch.summary or {}), "interrupted": True, "closed_by": by,
                     "files_interrupted": [f.original_name for f in files]}
    audit.record(session, actor=audit.MACHINE, action="scan.batch_interrupted", entity="scan_batch",
                 entity_id=batch.id, detail={"closed_by": by, "files": len(files)})
    return files


def interrupted_files(session: Session) -> list[ScanFile]:
    """Files whose reading a run left unfinished (for ``phieu scan --resume``)."""
    return list(session.scalars(select(ScanFile).where(ScanFile.status == "interrupted").order_by(ScanFile.id)))


UNKNOWN_SURVEY = "unknown_survey"  # what a new reading can settle once the survey is registered


def pages_to_reread(session: Session, *, survey: str | None = None, every: bool = False,
                    scan_file_id: int | None = None) -> list[Page]:
    """Unidentified pages still waiting for a person that a new reading may settle: those of an
    unregistered survey whose survey is now registered (``survey`` narrows to one), or with ``every``
    all unidentified pages. ``scan_file_id`` narrows to one file."""
    query = (select(Page).join(ReviewItem, ReviewItem.page_id == Page.id)
             .where(Page.status == "unidentified", ReviewItem.kind == "page", ReviewItem.status == "open")
             .order_by(Page.id))
    if scan_file_id is not None:
        query = query.where(Page.scan_file_id == scan_file_id)
    if not every:
        query = query.where(Page.reason.like(f"{UNKNOWN_SURVEY}:%"))
    if survey:
        query = query.where(Page.qr_text.like(f"{PAYLOAD_PREFIX}.{survey}.%"))
    pages = list(session.scalars(query))
    if every:
        return pages
    registered = {f"{PAYLOAD_PREFIX}.{code}." for code in session.scalars(select(Survey.code))}
    return [p for p in pages if p.qr_text and any(p.qr_text.startswith(prefix) for prefix in registered)]



def finish_batch(session: Session, batch: ScanBatch, summary: dict[str, Any]) -> None:
    batch.finished_at = utcnow()
    batch.summary = {**(batch.summary or {}), **summary}  # keeps what closing an interrupted run noted
    audit.record(session, actor=batch.created_by or audit.MACHINE, action="scan.batch_finished", entity="scan_batch",
                 entity_id=batch.id, detail=dict(summary))


def lock_sheet(session: Session, sheet_id: int | None) -> None:
    """Take the sheet's row lock for the transaction (PostgreSQL; nothing on SQLite, one writer anyway).

    Everything that may change a sheet's pages, review items or status takes it first: two stations
    storing pages of one sheet, or a reviewer deciding on it meanwhile, then run one after the other
    (the sheet's status is computed from all its pages and items), and the running counts (``Tally``)
    are always locked after it, never before.
    """
    if sheet_id is not None:
        session.execute(select(Sheet.id).where(Sheet.id == sheet_id).with_for_update())


def refresh_sheet_status(session: Session, sheet: Sheet) -> str:
    """Set the sheet's status from its pages and open review items: scanned → review / complete.

    ``final`` is a person's verdict and is kept. Call after anything that opens or closes an item.
    """
    if sheet.status == "final":
        return sheet.status
    pages_in = session.scalar(select(func.count()).select_from(SheetPage).where(SheetPage.sheet_id == sheet.id)) or 0
    open_items = session.scalar(
        select(func.count())
        .select_from(ReviewItem)
        .join(Answer, ReviewItem.answer_id == Answer.id)
        .where(Answer.sheet_id == sheet.id, unindexed(ReviewItem.status) == "open")
    ) or 0
    page_count = session.scalar(select(Edition.page_count).where(Edition.id == sheet.edition_id)) or 0
    if open_items:
        status = "review"
    elif pages_in >= page_count and pages_in > 0:
        status = "complete"
    elif pages_in > 0:
        status = "scanned"
    else:
        status = sheet.status
    if status != sheet.status:
        audit.record(session, actor=audit.MACHINE, action="sheet.status", entity="sheet", entity_id=sheet.id,
                     detail={"from": sheet.status, "to": status})
        sheet.status = status
    return status


# --- internals -------------------------------------------------------------------------------------


def _page_at(session: Session, scan_file_id: int, index: int) -> Page | None:
    return session.scalar(select(Page).where(Page.scan_file_id == scan_file_id, Page.index_in_file == index))


def _result_of(session: Session, page: Page) -> PageRecordResult:
    serial = session.scalar(select(Sheet.serial).where(Sheet.id == page.sheet_id)) if page.sheet_id else None
    return PageRecordResult(status=page.status, sheet_serial=serial, already_recorded=True)


def _fill_page_facts(page: Page, store: FileStore, outcome: PageOutcome) -> None:
    """What the scanner saw, whatever the page turns out to be."""
    ident, alignment = outcome.identification, outcome.alignment
    page.qr_text = ident.qr_text
    page.decoder = ident.decoder
    page.quality = dict(outcome.quality)  # assembled once, by the worker (pipeline.outcome)
    if alignment is not None:
        page.rotation = alignment.rotation
        page.transform = np.linalg.inv(alignment.mm_to_px).tolist()  # image px → layout mm
    if outcome.page_image:
        page.image_sha256 = store.put_bytes(outcome.page_image, _image_suffix(outcome.page_image), durable=False)
    if outcome.aligned_image:
        page.aligned_sha256 = store.put_bytes(outcome.aligned_image, _image_suffix(outcome.aligned_image),
                                              durable=False)
        page.aligned_dpi = outcome.aligned_dpi or None


def _image_suffix(data: bytes) -> str:
    """The file store suffix of an encoded page image (the workers write PNG or JPEG)."""
    return ".jpg" if data.startswith(b"\xff\xd8") else ".png"


@dataclass(frozen=True)
class _Target:
    """The sheet page an identified page claims to be, once checked against what was printed."""

    survey: Survey
    sheet: Sheet
    page_number: int


def _resolve(session: Session, ident: Identification) -> _Target | tuple[str, str]:
    """The printed sheet page, or (reason code, sentence) why the identity is not one we printed."""
    identity = ident.identity
    assert identity is not None
    survey = session.scalar(select(Survey).where(Survey.code == identity.survey))
    if survey is None:
        return "unknown_survey", f"Khảo sát {identity.survey} chưa được đăng ký / survey not registered"
    sheet = session.scalar(select(Sheet).where(Sheet.survey_id == survey.id, Sheet.serial == identity.serial))
    if sheet is None:
        return "not_printed", (f"Phiếu số {identity.serial} của {identity.survey} chưa từng được in "
                               f"/ serial never printed")
    edition = session.get_one(Edition, sheet.edition_id)
    if edition.code != identity.edition:
        return "edition_mismatch", (f"Phiếu {identity.serial} được in theo mẫu {edition.code}, mã QR ghi "
                                    f"{identity.edition} / edition mismatch")
    if not 1 <= identity.page <= edition.page_count:
        return "bad_page_number", f"Trang {identity.page} không có trong mẫu {edition.code} / no such page"
    return _Target(survey, sheet, identity.page)


def _apply(session: Session, store: FileStore, page: Page, outcome: PageOutcome, *, place: str,
           refresh: bool = True) -> PageRecordResult:
    ident = outcome.identification
    if outcome.error:  # not decoded or not processed: the reason code and the message naming file and page
        return _unidentified(session, page, ident.reason or "corrupt_page", outcome.error, survey_id=None, place=place)
    if ident.identity is None:
        code = ident.reason or "unreadable"
        if code == "blank_page":
            page.status, page.reason = "blank", ident.detail or "Trang trắng / blank page"
            session.flush()
            _audit_page(session, page, place)
            return PageRecordResult(status="blank")
        return _unidentified(session, page, code, ident.detail or code, survey_id=None, place=place)
    target = _resolve(session, ident)
    if isinstance(target, tuple):
        return _unidentified(session, page, target[0], target[1], survey_id=None, place=place)
    lock_sheet(session, target.sheet.id)  # another station storing a page of this sheet waits for us
    page.sheet_id, page.page_number = target.sheet.id, target.page_number
    sheet_events.mark_scanned(session, target.sheet)  # fieldwork: the paper is back
    if outcome.reading is None or outcome.alignment is None:
        detail = ident.detail or "Đọc được mã nhưng không căn chỉnh được trang / identified but not aligned"
        result = _unidentified(session, page, "not_aligned", detail, survey_id=target.survey.id, place=place)
        return PageRecordResult(status=result.status, sheet_serial=target.sheet.serial, review_items=1)
    counted = session.scalar(select(SheetPage).where(SheetPage.sheet_id == target.sheet.id,
                                                     SheetPage.page_number == target.page_number))
    if counted is not None and counted.page_id != page.id:
        return _duplicate(session, page, counted, outcome.reading, target, place=place)
    page.status, page.reason = "identified", None
    session.flush()
    if counted is None:
        _drop_other_claims(session, page)
        session.add(SheetPage(sheet_id=target.sheet.id, page_number=target.page_number, page_id=page.id))
    store_boxes(session, page, outcome.reading)
    stored, queued = store_answers(session, store, page, target.sheet, target.survey.id, outcome.reading.answers)
    session.flush()
    if refresh:
        refresh_sheet_status(session, target.sheet)
    _audit_page(session, page, place, serial=target.sheet.serial, answers=stored, review=queued)
    return PageRecordResult("identified", target.sheet.serial, answers_stored=stored, review_items=queued)


def _unidentified(session: Session, page: Page, code: str, detail: str, *, survey_id: int | None,
                  place: str) -> PageRecordResult:
    page.status, page.reason = "unidentified", f"{code}: {detail}"
    session.flush()
    open_item = session.scalar(select(ReviewItem).where(ReviewItem.page_id == page.id, ReviewItem.kind == "page",
                                                        unindexed(ReviewItem.status) == "open"))
    if open_item is None:
        session.add(ReviewItem(kind="page", survey_id=survey_id, page_id=page.id, reason=code))
    else:  # re-read after a person's help and still not identified: the same item, the new reason
        open_item.reason = code
    _audit_page(session, page, place, reason=code)
    log.info("%s: không nhận dạng được (%s) / unidentified: %s", place, code, detail)
    return PageRecordResult(status="unidentified", review_items=1)


def _answers_from(session: Session, page_id: int) -> int:
    return session.scalar(select(func.count()).select_from(Answer).where(Answer.page_id == page_id)) or 0


def _drop_other_claims(session: Session, page: Page) -> None:
    """A page re-read as another sheet page than a person assigned gives up the old place."""
    for claim in session.scalars(select(SheetPage).where(SheetPage.page_id == page.id)):
        session.delete(claim)
    session.flush()


def _close_page_items(session: Session, page: Page) -> None:
    for item in session.scalars(select(ReviewItem).where(ReviewItem.page_id == page.id, ReviewItem.kind == "page",
                                                         unindexed(ReviewItem.status) == "open")):
        item.status, item.closed_at, item.version = "done", utcnow(), item.version + 1


def _duplicate(session: Session, page: Page, counted: SheetPage, reading: PageReading, target: _Target, *,
               place: str) -> PageRecordResult:
    first = session.get_one(Page, counted.page_id)
    first_file = session.get_one(ScanFile, first.scan_file_id)
    where = ("cùng tệp, trang " if first.scan_file_id == page.scan_file_id else f"tệp {Path(first_file.original_name).name} trang ")
    where += str(first.index_in_file + 1)
    page.status, page.duplicate_of_id = "duplicate", first.id
    conflict = _answers_differ(session, target.sheet.id, reading.answers)
    kind = "bản photo có câu trả lời khác / photocopy with different answers" if conflict else \
        "bản photo hoặc quét hai lần / photocopy or scanned twice"
    page.reason = (f"Phiếu {target.sheet.serial} trang {target.page_number} đã có ({where}): {kind}")
    session.flush()
    items = 0
    if conflict:  # a second respondent on a copied sheet is a person's call; an identical rescan is not
        session.add(ReviewItem(kind="page", survey_id=target.survey.id, page_id=page.id, reason="duplicate_conflict"))
        items = 1
    _audit_page(session, page, place, serial=target.sheet.serial, duplicate_of=first.id, conflict=conflict)
    log.info("%s: %s", place, page.reason)
    return PageRecordResult("duplicate", target.sheet.serial, review_items=items)


def _answers_differ(session: Session, sheet_id: int, answers: list[AnswerReading]) -> bool:
    """True when a confident reading of the copy disagrees with a confident stored machine value."""
    confident = select(Answer.question, Answer.item, Answer.machine_value).where(
        Answer.sheet_id == sheet_id, Answer.machine_state.in_(("answered", "blank")), Answer.kind.not_in(HANDWRITING_KINDS)
    )
    stored = {(question, item): value for question, item, value in session.execute(confident)}
    for reading in answers:
        if reading.needs_review or reading.kind in HANDWRITING_KINDS:
            continue
        key = (reading.question, reading.item)
        if key in stored and stored[key] != reading.value:
            return True
    return False


def _audit_page(session: Session, page: Page, place: str, **detail: Any) -> None:
    audit.record(session, actor=audit.MACHINE, action=f"scan.page_{page.status}", entity="page", entity_id=page.id,
                 detail={"where": place, **{k: v for k, v in detail.items() if v is not None}})

