"""Each survey's fieldwork rules: the workspace defaults (``FieldworkSettings``) with the survey's own
overrides (the provincial plan's numbers), and its due dates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import ConflictError
from core.settings import FieldworkSettings
from storage import audit
from storage.fieldwork_models import FieldworkPlan
from storage.models import Survey


@dataclass(frozen=True)
class Rules:
    settings: FieldworkSettings  # the defaults with the survey's overrides applied
    collect_by: date | None
    deliver_by: date | None
    poster_url: str
    overrides: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {**self.settings.model_dump(), "collect_by": _iso(self.collect_by), "deliver_by": _iso(self.deliver_by),
                "poster_url": self.poster_url, "overrides": dict(self.overrides)}


def rules(session: Session, survey: Survey, defaults: FieldworkSettings) -> Rules:
    plan = session.scalar(select(FieldworkPlan).where(FieldworkPlan.survey_id == survey.id))
    if plan is None:
        return Rules(defaults, None, None, "", {})
    return Rules(defaults.model_copy(update=plan.rules), plan.collect_by, plan.deliver_by, plan.poster_url,
                 dict(plan.rules))


def set_rules(session: Session, survey: Survey, defaults: FieldworkSettings, *, actor: str, overrides: dict[str, Any] | None = None,
              collect_by: date | None = None, deliver_by: date | None = None, poster_url: str | None = None) -> Rules:
    """Store the survey's overrides (validated like settings.yaml) and dates; unnamed ones stay as they are."""
    plan = session.scalar(select(FieldworkPlan).where(FieldworkPlan.survey_id == survey.id))
    if plan is None:
        plan = FieldworkPlan(survey_id=survey.id, rules={}, poster_url="")
        session.add(plan)
    merged = {**(plan.rules or {}), **(overrides or {})}
    try:
        effective = FieldworkSettings.model_validate({**defaults.model_dump(), **merged})
    except ValidationError as exc:
        raise ConflictError(f"{survey.code}: quy tắc không hợp lệ / invalid rules: {exc.errors()[0]['msg']} "
                            f"({exc.errors()[0]['loc'][0]})") from exc
    if effective.busy_min_responses > effective.busy_visitors:
        raise ConflictError("busy_min_responses phải ≤ busy_visitors / must not exceed busy_visitors")
    plan.rules = merged
    if collect_by is not None:
        plan.collect_by = collect_by
    if deliver_by is not None:
        plan.deliver_by = deliver_by
    if poster_url is not None:
        plan.poster_url = poster_url
    session.flush()
    audit.record(session, actor=actor, action="fieldwork.rules", entity="survey", entity_id=survey.id,
                 detail={"rules": merged, "collect_by": _iso(plan.collect_by), "deliver_by": _iso(plan.deliver_by),
                         "poster_url": plan.poster_url})
    return Rules(effective, plan.collect_by, plan.deliver_by, plan.poster_url, merged)


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None
