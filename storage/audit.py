"""Append-only audit log: one row per change to stored state, written in the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import AuditEvent

MACHINE = "machine"


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: int | None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add one event (``actor`` is a username or ``"machine"``); it commits with the session."""
    event = AuditEvent(actor=actor, action=action, entity=entity, entity_id=entity_id, detail=detail or {})
    session.add(event)
    return event


def history(session: Session, entity: str, entity_id: int) -> list[AuditEvent]:
    """All events about one thing, oldest first."""
    query = (
        select(AuditEvent)
        .where(AuditEvent.entity == entity, AuditEvent.entity_id == entity_id)
        .order_by(AuditEvent.id)
    )
    return list(session.scalars(query))
