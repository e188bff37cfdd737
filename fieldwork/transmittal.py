"""Transmittal batches: the bundles the post office (or an enumerator) hands over, and what they lack.

A batch records its date, who handed it over, the count written on the slip and the serials found
in it; a sheet found in a batch is collected (it is in the office's hands). Reconciliation compares
the batch with the log: serials never printed, sheets the log did not expect back (never issued,
refused, absent, lost, another enumerator's) or already in another batch are *extra*; sheets the
enumerator reported collected but that are in no batch are *missing*; sheets of the batch not
scanned yet are listed too, and the count on the slip is checked against the sheets found.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import ConflictError, NotFoundError
from fieldwork import lifecycle
from fieldwork.frame import get_survey
from storage import audit
from storage.fieldwork_models import TransmittalBatch, TransmittalSheet
from storage.models import Sheet, Survey, User

UNEXPECTED = ("printed", "refused", "absent", "lost")  # the log did not expect these back


@dataclass
class Reconciliation:
    code: str
    received_on: str
    handed_by: str
    enumerator: str
    declared: int | None
    found: int
    count_matches: bool | None
    extra: list[dict[str, Any]] = field(default_factory=list)  # serial and why
    missing: list[int] = field(default_factory=list)
    not_scanned: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def create_batch(session: Session, survey_code: str, code: str, *, received_on: date, actor: str, handed_by: str = "",
                 enumerator: str | None = None, declared: int | None = None, note: str = "") -> TransmittalBatch:
    survey = get_survey(session, survey_code)
    if session.scalar(select(TransmittalBatch.id).where(TransmittalBatch.survey_id == survey.id,
                                                        TransmittalBatch.code == code)) is not None:
        raise ConflictError(f"Đã có bàn giao {code} / batch {code} already exists")
    enumerator_id = None
    if enumerator:
        enumerator_id = session.scalar(select(User.id).where(User.username == enumerator))
        if enumerator_id is None:
            raise NotFoundError(f"Không có người dùng {enumerator!r} / no user {enumerator!r}")
    batch = TransmittalBatch(survey_id=survey.id, code=code, received_on=received_on, handed_by=handed_by,
                             enumerator_id=enumerator_id, declared_count=declared, note=note, created_by=actor)
    session.add(batch)
    session.flush()
    audit.record(session, actor=actor, action="fieldwork.batch", entity="transmittal_batch", entity_id=batch.id,
                 detail={"code": code, "received_on": received_on.isoformat(), "declared": declared})
    return batch


def get_batch(session: Session, survey: Survey, code: str) -> TransmittalBatch:
    batch = session.scalar(select(TransmittalBatch).where(TransmittalBatch.survey_id == survey.id,
                                                          TransmittalBatch.code == code))
    if batch is None:
        raise NotFoundError(f"Không có bàn giao {code} / no batch {code}")
    return batch


def add_sheets(session: Session, survey_code: str, code: str, serials: list[int], *, actor: str,
               source: str = "batch") -> dict[str, list[int]]:
    """Put serials in the batch (a serial already there changes nothing) and mark their sheets collected."""
    survey = get_survey(session, survey_code)
    batch = get_batch(session, survey, code)
    present = set(session.scalars(select(TransmittalSheet.serial).where(TransmittalSheet.batch_id == batch.id)))
    sheets = {s.serial: s for s in session.scalars(select(Sheet).where(Sheet.survey_id == survey.id,
                                                                        Sheet.serial.in_(serials)))}
    out: dict[str, list[int]] = {"added": [], "already": [], "unknown": [], "collected": []}
    for serial in dict.fromkeys(serials):
        if serial in present:
            out["already"].append(serial)
            continue
        sheet = sheets.get(serial)
        session.add(TransmittalSheet(batch_id=batch.id, serial=serial, sheet_id=sheet.id if sheet else None,
                                     added_by=actor, status_before=sheet.field_status if sheet else None))
        out["added" if sheet else "unknown"].append(serial)
        if sheet is not None and lifecycle.transition(sheet.field_status, "collected") == "ok":
            out["collected"].append(serial)
    session.flush()
    if out["collected"]:
        lifecycle.mark(session, survey_code, out["collected"], "collected", actor=actor, source=source,
                       day=batch.received_on, note=f"bàn giao / batch {code}")
    audit.record(session, actor=actor, action="fieldwork.batch_add", entity="transmittal_batch", entity_id=batch.id,
                 detail={k: lifecycle.format_serials(v) for k, v in out.items() if v})
    return out


def reconcile(session: Session, survey_code: str, code: str) -> Reconciliation:
    survey = get_survey(session, survey_code)
    batch = get_batch(session, survey, code)
    entries = list(session.scalars(select(TransmittalSheet).where(TransmittalSheet.batch_id == batch.id)
                                   .order_by(TransmittalSheet.serial)))
    sheets = {s.id: s for s in session.scalars(select(Sheet).where(Sheet.id.in_([e.sheet_id for e in entries if e.sheet_id])))}
    elsewhere = _in_other_batches(session, survey.id, batch.id)
    enumerator = session.scalar(select(User.username).where(User.id == batch.enumerator_id)) if batch.enumerator_id else ""
    result = Reconciliation(batch.code, batch.received_on.isoformat(), batch.handed_by, enumerator or "",
                            batch.declared_count, len(entries), None if batch.declared_count is None
                            else batch.declared_count == len(entries))
    for entry in entries:
        sheet = sheets.get(entry.sheet_id) if entry.sheet_id else None
        reason = _extra_reason(entry, sheet, batch, elsewhere)
        if reason:
            result.extra.append({"serial": entry.serial, "reason": reason})
        if sheet is not None and sheet.field_status != "scanned":
            result.not_scanned.append(entry.serial)
    result.missing = _missing(session, survey, batch, entries)
    return result


def list_batches(session: Session, survey_code: str) -> list[Reconciliation]:
    survey = get_survey(session, survey_code)
    codes = session.scalars(select(TransmittalBatch.code).where(TransmittalBatch.survey_id == survey.id)
                            .order_by(TransmittalBatch.received_on, TransmittalBatch.id))
    return [reconcile(session, survey_code, code) for code in codes]


def _extra_reason(entry: TransmittalSheet, sheet: Sheet | None, batch: TransmittalBatch,
                  elsewhere: dict[int, str]) -> str:
    if sheet is None:
        return "số phiếu chưa từng in / serial never printed"
    if entry.serial in elsewhere:
        return f"đã có trong bàn giao {elsewhere[entry.serial]} / also in batch {elsewhere[entry.serial]}"
    if batch.enumerator_id is not None and sheet.enumerator_id != batch.enumerator_id:
        return "phiếu của điều tra viên khác / another enumerator's sheet"
    if entry.status_before in UNEXPECTED:
        return f"sổ ghi '{lifecycle.LABELS[entry.status_before]}' / the log said {entry.status_before}"
    return ""


def _in_other_batches(session: Session, survey_id: int, batch_id: int) -> dict[int, str]:
    rows = session.execute(select(TransmittalSheet.serial, TransmittalBatch.code)
                           .join(TransmittalBatch, TransmittalBatch.id == TransmittalSheet.batch_id)
                           .where(TransmittalBatch.survey_id == survey_id, TransmittalBatch.id != batch_id))
    return dict(rows.all())


def _missing(session: Session, survey: Survey, batch: TransmittalBatch, entries: list[TransmittalSheet]) -> list[int]:
    """Sheets of the batch's enumerator (or, without one, of the batch's units) reported collected but in
    no batch at all."""
    in_any = set(session.scalars(select(TransmittalSheet.sheet_id).join(
        TransmittalBatch, TransmittalBatch.id == TransmittalSheet.batch_id).where(
        TransmittalBatch.survey_id == survey.id, TransmittalSheet.sheet_id.is_not(None))))
    query = select(Sheet.serial, Sheet.id).where(Sheet.survey_id == survey.id, Sheet.field_status == "collected")
    if batch.enumerator_id is not None:
        query = query.where(Sheet.enumerator_id == batch.enumerator_id)
    else:
        units = set(session.scalars(select(Sheet.unit_id).where(Sheet.id.in_([e.sheet_id for e in entries if e.sheet_id]))))
        query = query.where(Sheet.unit_id.in_([u for u in units if u is not None]))
    return sorted(serial for serial, sheet_id in session.execute(query) if sheet_id not in in_any)
