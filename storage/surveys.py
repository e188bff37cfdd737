"""Surveys, editions and printed sheets: what ``phieu survey add`` and ``phieu print`` store.

Each function works inside the caller's transaction (``Database.session()``). Rules kept here:
- an edition is frozen once registered: re-adding the same definition is a no-op, a different
  definition under an existing (survey, edition) is refused - give it a new edition code;
- serials are allocated after the survey's highest serial ever recorded, under a lock on the
  survey row, so they never repeat within a survey, across runs and across editions;
- sheets of one print run go to the given units in consecutive blocks (see ``split_in_blocks``).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.errors import ConflictError, NotFoundError
from formgen.definition import Definition
from formgen.identity import SERIAL_DIGITS
from formgen.layout import Layout
from storage import audit
from storage.files import FileStore
from storage.models import Edition, PrintBatch, Sheet, Survey, Unit

log = logging.getLogger(__name__)
MAX_SERIAL = 10**SERIAL_DIGITS - 1


def definition_fingerprint(definition: Definition) -> str:
    """SHA-256 of the definition's content (comments and YAML formatting do not count).

    A definition without an ``index:`` hashes as it did before the index existed (editions
    registered then still match their file)."""
    exclude = {"index"} if definition.index is None else None
    return hashlib.sha256(definition.model_dump_json(exclude=exclude).encode()).hexdigest()


def register_edition(
    session: Session,
    definition: Definition,
    *,
    yaml_text: str,
    layout: Layout,
    blank_pdf: bytes,
    files: FileStore,
    actor: str = "cli",
) -> tuple[Edition, bool]:
    """Store survey + edition + layout + blank master; returns (edition, created)."""
    fingerprint = definition_fingerprint(definition)
    survey = session.scalar(select(Survey).where(Survey.code == definition.survey))
    if survey is None:
        survey = Survey(code=definition.survey, title=definition.title, language=definition.language)
        session.add(survey)
        session.flush()
    existing = session.scalar(
        select(Edition).where(Edition.survey_id == survey.id, Edition.code == definition.edition)
    )
    if existing is not None:
        if existing.definition_sha256 == fingerprint and existing.layout_json == layout.to_json():
            return existing, False
        raise ConflictError(
            f"{definition.source_name}: khảo sát {definition.survey} ấn bản {definition.edition} đã được đăng ký "
            f"với nội dung khác / survey {definition.survey} edition {definition.edition} is already registered "
            "with a different definition or layout. Sheets may already be printed from it: give the changed "
            "questionnaire a new edition code (edition: ...) and add it again."
        )
    edition = Edition(
        survey_id=survey.id,
        code=definition.edition,
        definition_yaml=yaml_text,
        definition_sha256=fingerprint,
        layout_json=layout.to_json(),
        blank_pdf_sha256=files.put_bytes(blank_pdf, ".pdf"),
        page_count=layout.page_count,
    )
    session.add(edition)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="edition.register",
        entity="edition",
        entity_id=edition.id,
        detail={"survey": definition.survey, "edition": definition.edition, "pages": layout.page_count},
    )
    log.info("registered %s edition %s (%d pages)", definition.survey, definition.edition, layout.page_count)
    return edition, True


def get_edition(session: Session, survey_code: str, edition: str | None = None) -> Edition:
    """The named edition, or the survey's latest one when ``edition`` is None."""
    query = select(Edition).join(Survey).where(Survey.code == survey_code)
    if edition is not None:
        query = query.where(Edition.code == edition)
    found = session.scalar(query.order_by(Edition.id.desc()).limit(1))
    if found is None:
        what = f"{survey_code} ấn bản / edition {edition}" if edition else survey_code
        raise NotFoundError(
            f"Chưa đăng ký khảo sát {what} / survey {what} is not registered: run `phieu survey add FILE.yaml` first"
        )
    return found


def get_layout(session: Session, survey_code: str, edition: str) -> Layout:
    return Layout.from_json(get_edition(session, survey_code, edition).layout_json)


def list_editions(session: Session) -> list[tuple[str, str]]:
    """Every registered (survey code, edition code), in registration order."""
    rows = session.execute(select(Survey.code, Edition.code).join(Edition).order_by(Edition.id))
    return [(s, e) for s, e in rows]


def blank_pdf(session: Session, files: FileStore, survey_code: str, edition: str) -> bytes:
    """The unstamped master PDF of an edition, from the file store."""
    sha = get_edition(session, survey_code, edition).blank_pdf_sha256
    if sha is None:
        raise NotFoundError(f"{survey_code} {edition}: no blank master stored; add the survey again")
    return files.read(sha)


def split_in_blocks(count: int, units: Sequence[str]) -> list[str | None]:
    """The unit of each of ``count`` consecutive sheets: equal consecutive blocks, earlier units first.

    7 sheets over units (A, B, C) give A A A B B C C: each unit's bundle has consecutive serials.
    """
    if not units:
        return [None] * count
    out: list[str | None] = []
    for i, unit in enumerate(units):
        out += [unit] * (count // len(units) + (1 if i < count % len(units) else 0))
    return out


@dataclass(frozen=True)
class PrintRun:
    batch_id: int
    survey: str
    edition: str
    serials: list[int]
    units: list[str | None]  # unit code of each serial, same order


def allocate_serials(
    session: Session,
    survey_code: str,
    edition: str,
    count: int,
    *,
    units: Sequence[str] = (),
    output_name: str = "",
    actor: str = "cli",
) -> PrintRun:
    """Record ``count`` new sheets (status "printed") with fresh serials, one PrintBatch, audit rows."""
    if count < 1:
        raise ConflictError(f"--count must be at least 1 (got {count})")
    found = get_edition(session, survey_code, edition)
    # lock the survey row: two print runs at once wait for each other instead of sharing serials
    survey = session.scalar(select(Survey).where(Survey.id == found.survey_id).with_for_update())
    assert survey is not None
    first = (session.scalar(select(func.max(Sheet.serial)).where(Sheet.survey_id == survey.id)) or 0) + 1
    last = first + count - 1
    if last > MAX_SERIAL:
        raise ConflictError(f"{survey_code}: serials would pass {MAX_SERIAL}; start a new survey code")
    unit_ids = {code: _unit(session, code, survey.id).id for code in dict.fromkeys(units)}
    batch = PrintBatch(
        edition_id=found.id,
        count=count,
        first_serial=first,
        last_serial=last,
        output_name=output_name,
        created_by=actor,
    )
    session.add(batch)
    session.flush()
    assigned = split_in_blocks(count, list(dict.fromkeys(units)))
    session.add_all(
        Sheet(
            survey_id=survey.id,
            edition_id=found.id,
            serial=first + i,
            print_batch_id=batch.id,
            unit_id=unit_ids[unit] if unit else None,
            status="printed",
        )
        for i, unit in enumerate(assigned)
    )
    audit.record(
        session,
        actor=actor,
        action="sheets.print",
        entity="print_batch",
        entity_id=batch.id,
        detail={
            "survey": survey_code,
            "edition": found.code,
            "first": first,
            "last": last,
            "units": list(unit_ids),
            "output": output_name,
        },
    )
    return PrintRun(batch.id, survey_code, found.code, list(range(first, last + 1)), assigned)


def _unit(session: Session, code: str, survey_id: int) -> Unit:
    """The survey's unit with this code (its sample frame's, else one made without a survey), created
    (kind "unit") when the sample frame does not have it yet."""
    unit = session.scalar(select(Unit).where(Unit.code == code, Unit.survey_id == survey_id))
    unit = unit or session.scalar(select(Unit).where(Unit.code == code, Unit.survey_id.is_(None)).limit(1))
    if unit is None:
        unit = Unit(code=code, name=code, kind="unit", survey_id=survey_id)
        session.add(unit)
        session.flush()
        log.info("created unit %s", code)
    return unit
