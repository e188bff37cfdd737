"""Fieldwork records (see ``fieldwork/``): households, the sheet log, transmittal batches, phúc tra
samples, visitor counts at counters and each survey's fieldwork rules.

Imported at the end of ``storage.models`` so these tables are part of ``Base.metadata``. Sheets stay
anonymous: a household is a code (and an optional address note, never a name) and the link between a
sheet and a household lives only here, in the enumerator's log.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, utcnow


class Household(Base):
    """One sampled household of a village, or a reserve taking the place of one that cannot answer."""

    __tablename__ = "households"
    __table_args__ = (UniqueConstraint("unit_id", "code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    reserve: Mapped[bool] = mapped_column(Boolean, default=False)
    rank: Mapped[int] = mapped_column(Integer, default=0)  # order in the list: main households are served in order
    note: Mapped[str] = mapped_column(String(200), default="")  # where to find it (tổ, xóm); never a name


class SheetEvent(Base):
    """One change of a sheet's fieldwork status: who, when (recorded and in the field), from, to.

    Append-only (database triggers); ``Sheet.field_status`` mirrors the latest event.
    """

    __tablename__ = "sheet_events"
    __table_args__ = (Index("ix_sheet_events_sheet", "sheet_id", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    sheet_id: Mapped[int] = mapped_column(ForeignKey("sheets.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    day: Mapped[date | None] = mapped_column(Date)  # the day it happened in the field
    actor: Mapped[str] = mapped_column(String(80))  # username, or "machine"
    source: Mapped[str] = mapped_column(String(20))  # cli|web|checkin|manifest|scan|batch|replace
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"))
    enumerator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str] = mapped_column(Text, default="")


class FieldworkPlan(Base):
    """A survey's fieldwork rules: overrides of ``FieldworkSettings`` and the due dates."""

    __tablename__ = "fieldwork_plans"
    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id"), unique=True)
    rules: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    collect_by: Mapped[date | None] = mapped_column(Date)  # sheets not back by then are overdue
    deliver_by: Mapped[date | None] = mapped_column(Date)  # the post office hands the bundles over by then
    poster_url: Mapped[str] = mapped_column(String(300), default="")  # a counter poster's QR: URL with {survey}, {unit}
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TransmittalBatch(Base):
    """A bundle handed over by the post office or an enumerator, with the count written on its slip."""

    __tablename__ = "transmittal_batches"
    __table_args__ = (UniqueConstraint("survey_id", "code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    received_on: Mapped[date] = mapped_column(Date)
    handed_by: Mapped[str] = mapped_column(String(120), default="")
    enumerator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    declared_count: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TransmittalSheet(Base):
    """A serial found in a batch; ``sheet_id`` is None for a serial this survey never printed."""

    __tablename__ = "transmittal_sheets"
    __table_args__ = (UniqueConstraint("batch_id", "serial"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("transmittal_batches.id"), index=True)
    serial: Mapped[int] = mapped_column(Integer)
    sheet_id: Mapped[int | None] = mapped_column(ForeignKey("sheets.id"), index=True)
    status_before: Mapped[str | None] = mapped_column(String(20))  # its fieldwork status when found in the batch
    added_by: Mapped[str] = mapped_column(String(80), default="")
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class Verification(Base):
    """A delivered household drawn for phúc tra (re-verification) and what the visit found."""

    __tablename__ = "verifications"
    __table_args__ = (UniqueConstraint("survey_id", "sheet_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id"), index=True)
    sheet_id: Mapped[int] = mapped_column(ForeignKey("sheets.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"))
    enumerator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    seed: Mapped[str] = mapped_column(String(64))
    drawn_at: Mapped[datetime] = mapped_column(default=utcnow)
    outcome: Mapped[str | None] = mapped_column(String(20))  # confirmed|not_visited|other_person
    recorded_by: Mapped[str | None] = mapped_column(String(80))
    recorded_at: Mapped[datetime | None] = mapped_column()
    note: Mapped[str] = mapped_column(Text, default="")


class VisitorCount(Base):
    """People who came to a counter on one day (per field of procedure, or "" for all)."""

    __tablename__ = "visitor_counts"
    __table_args__ = (UniqueConstraint("survey_id", "unit_id", "day", "field"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    day: Mapped[date] = mapped_column(Date)
    field: Mapped[str] = mapped_column(String(60), default="")
    visitors: Mapped[int] = mapped_column(Integer)
    responses: Mapped[int | None] = mapped_column(Integer)  # as counted at the counter; None: count the sheets
    entered_by: Mapped[str] = mapped_column(String(80), default="")
    entered_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
