"""What the commands and the web page ask of the results layer, in one call each."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import NotFoundError
from results.dataset import SurveyData, load_survey, subset
from results.distribution import Distribution, check, distributions
from results.engine import Results, compute, unit_kinds
from storage.models import Survey

log = logging.getLogger(__name__)


@dataclass
class Computed:
    results: Results
    data: SurveyData
    distributions: list[Distribution]


def survey_results(session: Session, survey: str, *, by: Iterable[str] = (), against: str | None = None,
                   unit: str | None = None, reconcile: bool = True) -> Computed:
    """The index of ``survey`` (units of the kinds in ``by``; ``"all"`` = every kind), compared with
    ``against`` or the questionnaire's ``previous`` round when that survey is registered; with
    ``unit``, only the sheets of that unit and the units below it.

    Refuses (:class:`core.errors.ReconciliationError`) when any question's totals do not reconcile.
    """
    data = load_survey(session, survey)
    if unit is not None:
        data = subset(data, unit)
    found = distributions(data)
    if reconcile:
        check(data, found)
    known = unit_kinds(data)
    if data.scope_unit is not None:  # only the levels below the unit reported on
        known = known[known.index(data.scope_unit.kind) + 1:] if data.scope_unit.kind in known else known
    kinds = [k for kind in by for k in (known if kind == "all" else [kind])]
    previous = _previous(session, data, against)
    if previous is not None and unit is not None:
        previous = subset(previous, unit) if any(u.code == unit for u in previous.units.values()) else None
    return Computed(compute(data, by=kinds, previous=previous), data, found)


def _previous(session: Session, data: SurveyData, against: str | None) -> SurveyData | None:
    index = data.definition.index if data.definition else None
    code = against or (index.previous if index else None)
    if code is None:
        return None
    if session.scalar(select(Survey.id).where(Survey.code == code)) is None:
        if against:
            raise NotFoundError(f"Không có khảo sát {code} để so sánh / no survey {code} to compare with")
        log.info("%s: earlier round %s is not registered here; no comparison", data.code, code)
        return None
    return load_survey(session, code)
