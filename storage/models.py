"""Database models (SQLAlchemy 2.x). SQLite by default, PostgreSQL by URL.

Rules the schema keeps:
- originals are referenced by content hash and never modified;
- machine readings (``Answer.machine_*``, ``BoxReading``) are never overwritten by people:
  decisions are rows of ``Decision`` and the answer's ``final_value`` points at the latest;
- ``AuditEvent`` is append-only.
Fieldwork (units, sheet life), results and other channels hang off ``Survey``/``Sheet``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ColumnElement,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql.functions import FunctionElement


def utcnow() -> datetime:
    return datetime.now(UTC)


# Named constraints, so Alembic migrations can alter them later (SQLite batch mode needs names).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class _Unindexed(FunctionElement[Any]):
    inherit_cache = True
    name = "unindexed"


@compiles(_Unindexed)
def _plain(element: _Unindexed, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


@compiles(_Unindexed, "sqlite")
def _sqlite_plus(element: _Unindexed, compiler: Any, **kw: Any) -> str:
    return "+" + str(compiler.process(element.clauses, **kw))  # SQLite's documented no-op that uses no index


def unindexed(column: Any) -> ColumnElement[Any]:
    """``column`` for a status filter that must not choose the plan.

    "The open items of this sheet" must start from the sheet's answers (dozens of rows), never from every
    open item (hundreds of thousands). SQLite plans by sampled statistics that can rate the status index
    better: there the column is written ``+column``, which no index serves. PostgreSQL plans by its own
    statistics (an expression would hide them and make it read the whole table): the column as it is.
    """
    return _Unindexed(column)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, datetime: DateTime(timezone=True)}


class Survey(Base):
    __tablename__ = "surveys"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(24), unique=True)  # e.g. "SIPAS-2024"
    title: Mapped[str] = mapped_column(String(300))
    language: Mapped[str] = mapped_column(String(8), default="vi")
    second_review_share: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    editions: Mapped[list[Edition]] = relationship(back_populates="survey", order_by="Edition.id")


class Edition(Base):
    """One printed version of a questionnaire: definition + layout, frozen once registered."""

    __tablename__ = "editions"
    __table_args__ = (UniqueConstraint("survey_id", "code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id"))
    code: Mapped[str] = mapped_column(String(8))
    definition_yaml: Mapped[str] = mapped_column(Text)
    definition_sha256: Mapped[str] = mapped_column(String(64))
    layout_json: Mapped[str] = mapped_column(Text)
    blank_pdf_sha256: Mapped[str | None] = mapped_column(String(64))  # master in the file store
    page_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    survey: Mapped[Survey] = relationship(back_populates="editions")


class Unit(Base):
    """An administrative or service unit (province → district → commune → village, or a counter).

    A sample frame's units belong to their survey (codes are unique within it); ``quota`` is the
    sheets planned for the unit, ``field_quotas`` the same per field of procedure (Hộ tịch: 50 ...).
    """

    __tablename__ = "units"
    __table_args__ = (UniqueConstraint("survey_id", "code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[str] = mapped_column(String(20), default="unit")  # province|district|commune|village|counter
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    survey_id: Mapped[int | None] = mapped_column(ForeignKey("surveys.id"), index=True)  # None: made by `print --unit`
    level: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # depth in the frame, 0 = top
    rank: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # order in the frame file
    quota: Mapped[int | None] = mapped_column(Integer)
    field_quotas: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")
    enumerator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class PrintBatch(Base):
    __tablename__ = "print_batches"
    id: Mapped[int] = mapped_column(primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id"))
    count: Mapped[int] = mapped_column(Integer)
    first_serial: Mapped[int] = mapped_column(Integer)
    last_serial: Mapped[int] = mapped_column(Integer)
    output_name: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Sheet(Base):
    """One printed copy. Status: printed → scanned (some pages) → complete / review → final."""

    __tablename__ = "sheets"
    __table_args__ = (
        UniqueConstraint("survey_id", "serial"),
        # the supervisors' sheet list: keyset pages by serial, filtered by status or unit (see storage/sheets.py)
        Index("ix_sheets_survey_status_serial", "survey_id", "status", "serial"),
        Index("ix_sheets_survey_unit_serial", "survey_id", "unit_id", "serial"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id"), index=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id"))
    serial: Mapped[int] = mapped_column(Integer)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    print_batch_id: Mapped[int | None] = mapped_column(ForeignKey("print_batches.id"))
    status: Mapped[str] = mapped_column(String(20), default="printed", index=True)
    # fieldwork: where the paper is (printed|issued|delivered|collected|scanned|refused|absent|lost|replaced);
    # every change is a SheetEvent (storage/fieldwork_models.py)
    field_status: Mapped[str] = mapped_column(String(20), default="printed", server_default="printed", index=True)
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"))
    field: Mapped[str | None] = mapped_column(String(60))  # field of procedure of a counter's sheet stock
    enumerator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    unit: Mapped[Unit | None] = relationship()
    edition: Mapped[Edition] = relationship()


class ScanBatch(Base):
    """One run of ``phieu scan``, one browser upload or one hot-folder pickup."""

    __tablename__ = "scan_batches"
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(20), default="cli")  # cli|upload|watch|demo
    created_by: Mapped[str] = mapped_column(String(80), default="")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    owner: Mapped[str | None] = mapped_column(String(200))  # host:pid:start of the process running it


class ScanFile(Base):
    """An original file exactly as received, kept unchanged in the content-addressed store."""

    __tablename__ = "scan_files"
    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    original_name: Mapped[str] = mapped_column(String(1000))
    size: Mapped[int] = mapped_column(Integer)
    media_type: Mapped[str] = mapped_column(String(60), default="")
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("scan_batches.id"))
    page_count: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="received")  # received|done|failed|interrupted
    error: Mapped[str | None] = mapped_column(Text)  # the message a clerk reads (file and page, what to do)
    error_code: Mapped[str | None] = mapped_column(String(40))  # its reason code (scanner.problems.REASONS)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # runs that started reading it
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class Page(Base):
    """One page image of a scan file and what the scanner made of it."""

    __tablename__ = "pages"
    __table_args__ = (UniqueConstraint("scan_file_id", "index_in_file"), Index("ix_pages_status_id", "status", "id"))
    id: Mapped[int] = mapped_column(primary_key=True)
    scan_file_id: Mapped[int] = mapped_column(ForeignKey("scan_files.id"), index=True)
    index_in_file: Mapped[int] = mapped_column(Integer)  # 0-based
    # identified | duplicate | unidentified | blank | not_survey
    status: Mapped[str] = mapped_column(String(20), index=True)
    reason: Mapped[str | None] = mapped_column(Text)  # why unidentified/duplicate, in words
    sheet_id: Mapped[int | None] = mapped_column(ForeignKey("sheets.id"), index=True)
    page_number: Mapped[int | None] = mapped_column(Integer)
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("pages.id"))
    qr_text: Mapped[str | None] = mapped_column(String(200))
    decoder: Mapped[str | None] = mapped_column(String(20))  # zxing|wechat|zbar|ocr
    rotation: Mapped[int] = mapped_column(Integer, default=0)
    transform: Mapped[list[list[float]] | None] = mapped_column(JSON)  # 3x3 homography image px → layout mm
    quality: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    image_sha256: Mapped[str | None] = mapped_column(String(64))  # page image as read (file store)
    aligned_sha256: Mapped[str | None] = mapped_column(String(64))  # aligned canonical image (file store)
    aligned_dpi: Mapped[float | None] = mapped_column(Float)  # its resolution (None: stored before it was kept)
    processed_at: Mapped[datetime] = mapped_column(default=utcnow)
    sheet: Mapped[Sheet | None] = relationship()
    scan_file: Mapped[ScanFile] = relationship()


class SheetPage(Base):
    """The page counted for (sheet, page number); a second copy becomes a duplicate instead."""

    __tablename__ = "sheet_pages"
    __table_args__ = (UniqueConstraint("sheet_id", "page_number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    sheet_id: Mapped[int] = mapped_column(ForeignKey("sheets.id"))
    page_number: Mapped[int] = mapped_column(Integer)
    page_id: Mapped[int] = mapped_column(ForeignKey("pages.id"), unique=True)


class BoxReading(Base):
    """Raw measurement of one printed box on one page, kept so thresholds can be re-tuned."""

    __tablename__ = "box_readings"
    __table_args__ = (UniqueConstraint("page_id", "box_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    page_id: Mapped[int] = mapped_column(ForeignKey("pages.id"), index=True)
    box_id: Mapped[str] = mapped_column(String(60))
    inner_ink: Mapped[float] = mapped_column(Float)  # share of new ink inside the frame
    ring_ink: Mapped[float] = mapped_column(Float)  # share of new ink in the band around the frame
    darkness: Mapped[float] = mapped_column(Float)  # mean darkness of new ink (pencil vs pen)
    state: Mapped[str] = mapped_column(String(12))  # empty|marked|cancelled|uncertain


class Answer(Base):
    """The answer to one question (or grid row) of one sheet.

    ``machine_*`` is what recognition read and is never changed afterwards; people's decisions
    are ``Decision`` rows and ``final_value`` mirrors the latest valid one.
    status: accepted (machine, confident) | review (waiting) | reviewed | final
    """

    __tablename__ = "answers"
    __table_args__ = (UniqueConstraint("sheet_id", "question", "item"), Index("ix_answers_status", "status"))
    id: Mapped[int] = mapped_column(primary_key=True)
    sheet_id: Mapped[int] = mapped_column(ForeignKey("sheets.id"), index=True)
    page_id: Mapped[int | None] = mapped_column(ForeignKey("pages.id"))
    question: Mapped[str] = mapped_column(String(40))
    item: Mapped[str] = mapped_column(String(40), default="")  # grid row id; "" for plain questions
    kind: Mapped[str] = mapped_column(String(10))  # single|multiple|grid|number|text|writein
    machine_value: Mapped[str | None] = mapped_column(Text)  # code(s) joined by ";" for multiple; None = blank
    machine_state: Mapped[str] = mapped_column(String(12))  # answered|blank|multiple|uncertain|unreadable|ink|no_ink
    machine_reason: Mapped[str | None] = mapped_column(Text)
    confidence: Mapped[float] = mapped_column(Float, default=1.0)
    ocr_draft: Mapped[str | None] = mapped_column(Text)
    ocr_confidence: Mapped[float | None] = mapped_column(Float)  # tesseract's mean word confidence (0-100) of the draft
    crop_sha256: Mapped[str | None] = mapped_column(String(64))  # handwriting crop in the file store
    status: Mapped[str] = mapped_column(String(12))
    final_value: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)  # bumped on every change; stale decisions refused
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sheet: Mapped[Sheet] = relationship()


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(12))  # admin|supervisor|reviewer|clerk
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    language: Mapped[str] = mapped_column(String(8), default="vi")
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # bumped: sessions end
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReviewItem(Base):
    """Something a person must settle: an answer (or a grid's doubtful rows) or an unidentified page."""

    __tablename__ = "review_items"
    # Each query of the queue has its index (storage.progress, storage.review_queue): the head of one
    # survey's queue, the head of every survey's, a person's own leases, the live leases, and the items
    # a person may not take (a second look at their own decision). None reads all open items.
    __table_args__ = (
        Index("ix_review_open", "status", "survey_id", "id"),
        Index("ix_review_open_id", "status", "id"),
        Index("ix_review_leased_by", "leased_by", "status", "id"),
        Index("ix_review_lease_expires", "status", "lease_expires"),
        Index("ix_review_excluded", "excluded_user_id", "status"),
        Index("ix_review_excluded2", "excluded_user2_id", "status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))  # answer|writein|page|second|third
    survey_id: Mapped[int | None] = mapped_column(ForeignKey("surveys.id"))
    answer_id: Mapped[int | None] = mapped_column(ForeignKey("answers.id"), index=True)
    page_id: Mapped[int | None] = mapped_column(ForeignKey("pages.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)  # machine reason code, e.g. "multiple_marks"
    status: Mapped[str] = mapped_column(String(10), default="open")  # open|done|cancelled
    leased_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    lease_expires: Mapped[datetime | None] = mapped_column()
    excluded_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # second review: not the first reviewer
    excluded_user2_id: Mapped[int | None] = mapped_column(Integer)  # a disagreement: not the second reviewer either
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column()


class Decision(Base):
    """A person's decision on an answer. Append-only: reopening adds rows, never edits them."""

    __tablename__ = "decisions"
    __table_args__ = (Index("ix_decisions_decided_at", "decided_at"),)  # throughput: the last hours' decisions
    id: Mapped[int] = mapped_column(primary_key=True)
    answer_id: Mapped[int] = mapped_column(ForeignKey("answers.id"), index=True)
    review_item_id: Mapped[int | None] = mapped_column(ForeignKey("review_items.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    value: Mapped[str | None] = mapped_column(Text)  # None = blank; "*" = invalid/multiple
    kind: Mapped[str] = mapped_column(String(12), default="review")  # review|second|third|correction|reopen
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)
    user: Mapped[User] = relationship()


class Tally(Base):
    """Running counts kept by the database itself: triggers on review_items, sheets and pages add and
    subtract in the very transaction that changes a row (migration 0006), so the queue and progress
    figures are read, never recounted, however large the round.

    subject "item": open review items by kind; "sheet": sheets by status; "page": pages of the survey's
    sheets by status. ``survey_id`` 0 holds review items of no survey (pages nobody could identify).
    """

    __tablename__ = "tallies"
    survey_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(8), primary_key=True)
    key: Mapped[str] = mapped_column(String(20), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)


class AuditEvent(Base):
    """Append-only history of everything that changed stored state."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_entity", "entity", "entity_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(80))  # username, or "machine"
    action: Mapped[str] = mapped_column(String(40))
    entity: Mapped[str] = mapped_column(String(20))
    entity_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


from storage import fieldwork_models as fieldwork_models  # noqa: E402  (its tables join Base.metadata)
