"""The results page for supervisors: the index (per level, per unit with ranks), every question's
distribution as charts, filtered by unit, with links down to the units and the sheets; a JSON twin.

The figures are those of ``phieu results`` and ``phieu report`` (the same ``results`` package).
Computing them reads every answer of the survey, so one computation is kept per (survey, unit)
until anything is stored again (the audit log's newest id changes with every stored change).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from flask import Blueprint, Response, current_app, request, url_for
from sqlalchemy import func, select

from core.errors import NotFoundError
from core.settings import ResultsSettings
from results import charts
from results.dataset import SurveyData, load_survey, subset
from results.distribution import Distribution, breaks, distributions
from results.engine import Results, Row, compute, kind_name, unit_kinds
from review_ui.web import MANAGERS, respond, route
from review_ui.web import session as db_session
from storage.models import AuditEvent, Survey

bp = Blueprint("results", __name__)
SHEETS_LISTED = 300  # sheets linked from one page; the exports hold them all
CACHED = 8


class _Cache:
    """The last few computations, each valid while nothing new is stored."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: OrderedDict[tuple[str, str, int], tuple[SurveyData, list[Distribution], Results | None]] = \
            OrderedDict()

    def get(self, key: tuple[str, str, int]) -> Any:
        with self.lock:
            if key in self.entries:
                self.entries.move_to_end(key)
                return self.entries[key]
        return None

    def put(self, key: tuple[str, str, int], value: Any) -> None:
        with self.lock:
            self.entries[key] = value
            while len(self.entries) > CACHED:
                self.entries.popitem(last=False)


def _computed(code: str, unit: str | None) -> tuple[SurveyData, list[Distribution], Results | None]:
    cache: _Cache = current_app.extensions.setdefault("phieu.results", _Cache())
    with db_session() as s:
        stamp = s.scalar(select(func.max(AuditEvent.id))) or 0
        key = (code, unit or "", stamp)
        found = cache.get(key)
        if found is not None:
            return found  # type: ignore[no-any-return]
        data = load_survey(s, code)
        if unit:
            data = subset(data, unit)
        dists = distributions(data)
        results = None
        index = data.definition.index if data.definition else None
        if index is not None and not breaks(data, dists):
            previous = None
            if index.previous and s.scalar(select(Survey.id).where(Survey.code == index.previous)):
                previous = load_survey(s, index.previous)
                if unit:
                    previous = subset(previous, unit) if any(u.code == unit for u in previous.units.values()) else None
            results = compute(data, by=_kinds_below(data), previous=previous)
    value = (data, dists, results)
    cache.put(key, value)
    return value


def _kinds_below(data: SurveyData) -> list[str]:
    kinds = unit_kinds(data)
    if data.scope_unit is not None and data.scope_unit.kind in kinds:
        return kinds[kinds.index(data.scope_unit.kind) + 1:]
    return kinds


def _row(row: Row, code: str, unit: str | None, *, link_unit: str | None = None) -> dict[str, Any]:
    t = row.tally
    out = {"level": row.level, "node": row.node, "label": row.label, "question": row.question, "item": row.item,
           "rate": row.rate, "rank": row.rank, "previous": row.previous, "change": row.change,
           "n_valid": t.n_valid, "n_satisfied": t.n_satisfied, "n_blank": t.n_blank, "n_invalid": t.n_invalid,
           "n_open": t.n_open, "provisional": row.provisional}
    if link_unit:
        out["url"] = url_for("results.show", code=code, unit=link_unit)
    return out


def page_data(code: str, unit: str | None) -> dict[str, Any]:
    settings: ResultsSettings = current_app.extensions["phieu"].settings.results
    data, dists, results = _computed(code, unit)
    chart = lambda name: url_for("results.chart", code=code, name=name, unit=unit or None)  # noqa: E731
    broken = breaks(data, dists)
    body: dict[str, Any] = {
        "survey": code, "title": data.title, "unit": unit, "decimals": settings.display_decimals,
        "scope": {"code": data.scope_unit.code, "name": data.scope_unit.name} if data.scope_unit else None,
        "units": [{"code": u.code, "name": u.name, "kind": kind_name(u.kind)}
                  for u in sorted(data.units.values(), key=lambda u: u.code)],
        "sheets": {"printed": data.printed, "returned": len(data.serials), "unknown_pages": data.unknown_pages},
        "reconciles": not broken,
        "breaks": [{"column": b.column, "detail": b.detail} for b in broken],
        "index": None,
        "questions": _questions(dists, chart),
        "sheet_links": [{"serial": serial, "status": status, "url": url_for("sheets.show", code=code, serial=serial)}
                        for serial, status in list(zip(data.serials, data.statuses, strict=True))[:SHEETS_LISTED]],
    }
    if results is not None:
        whole = results.whole
        body["index"] = {
            "title": results.index.title, "method": results.index.method, "provisional": results.provisional,
            "previous_survey": results.previous_survey, "overall": _row(whole.overall, code, unit),
            "levels": [_row(r, code, unit) for r in whole.rows if r.level not in ("overall", "item")],
            "items": [_row(r, code, unit) for r in whole.rows if r.level == "item"],
            "chart": chart("levels"),
            "units": [{"kind": kind_name(kind), "chart": chart(f"kind:{kind}"), "rows": [
                {**_row(s.overall, code, unit, link_unit=s.code), "code": s.code,
                 "name": s.unit.name if s.unit else s.code, "n_sheets": s.n_sheets}
                for s in sorted((s for s in results.scopes if s.unit and s.unit.kind == kind),
                                key=lambda s: (s.overall.rank or 10**9, s.code))]} for kind in results.by],
        }
    return body


def _questions(dists: list[Distribution], chart: Any) -> list[dict[str, Any]]:
    """One entry per question (a grid's rows together), each with its chart and its columns' counts."""
    out: dict[str, dict[str, Any]] = {}
    for d in dists:
        c = d.column
        if c.kind == "writein":
            continue
        entry = out.setdefault(c.question, {
            "question": c.question, "kind": c.kind, "text": c.question_text,
            "chart": chart(f"q:{c.question}") if c.kind in ("single", "multiple", "grid", "number") else None,
            "columns": []})
        entry["columns"].append({
            "column": c.name, "item": c.item, "label": c.item_text or c.question_text, "n_returned": d.n_returned,
            "n_answered": d.n_answered, "n_blank": d.n_blank, "n_invalid": d.n_invalid, "n_open": d.n_open,
            "options": [{"code": code, "label": label, "n": d.options.get(code, 0)} for code, label in c.options]})
    return list(out.values())


@route(bp, "/results", allowed=MANAGERS)
def index() -> Any:
    with db_session() as s:
        rows = [{"code": sv.code, "title": sv.title, "url": url_for("results.show", code=sv.code)}
                for sv in s.scalars(select(Survey).order_by(Survey.code))]
    return respond("results_index.html", {"surveys": rows})


@route(bp, "/results/<code>", allowed=MANAGERS)
def show(code: str) -> Any:
    return respond("results.html", page_data(code, request.args.get("unit") or None))


@route(bp, "/results/<code>/chart", allowed=MANAGERS)
def chart(code: str) -> Any:
    """One chart of the page as a PNG picture: ``name`` = levels | kind:KIND | q:COLUMN."""
    settings: ResultsSettings = current_app.extensions["phieu"].settings.results
    name, unit = request.args.get("name", "levels"), request.args.get("unit") or None
    data, dists, results = _computed(code, unit)
    dpi, decimals = settings.chart_dpi, settings.display_decimals
    png: bytes | None = None
    if name == "levels" and results is not None and results.index.levels:
        rows = [r for r in results.whole.rows if r.level == results.index.levels[0].id]
        png = charts.index_bars([r.label for r in rows], [r.rate for r in rows],
                                previous=[r.previous for r in rows] if results.previous_survey else None,
                                dpi=dpi, decimals=decimals)
    elif name.startswith("kind:") and results is not None:
        scopes = sorted((s for s in results.scopes if s.unit and s.unit.kind == name[5:]),
                        key=lambda s: (s.overall.rank or 10**9, s.code))[:settings.chart_units_max]
        if scopes:
            png = charts.index_bars([s.unit.name if s.unit else s.code for s in scopes],
                                    [s.overall.rate for s in scopes], dpi=dpi, decimals=decimals)
    elif name.startswith("q:"):
        png = _question_chart(name[2:], dists, dpi)
        if png is None:
            raise NotFoundError(f"Không có biểu đồ {name!r} / no chart {name!r}")
    if png is None:  # no index declared, or no unit level: a picture that says so
        png = charts.message("Chưa có chỉ số để vẽ / no index to draw", dpi=dpi)
    return Response(png, mimetype="image/png", headers={"Cache-Control": "private, max-age=60"})


def _question_chart(question: str, dists: list[Distribution], dpi: int) -> bytes | None:
    rows = [x for x in dists if x.column.question == question and x.column.kind != "writein"]
    if not rows:
        return None
    d, c = rows[0], rows[0].column
    if c.kind == "grid":
        return charts.stacked_shares([x.column.item_text for x in rows], [label for _, label in c.options],
                                     [[x.options.get(code, 0) for code, _ in c.options] for x in rows], dpi=dpi)
    if c.kind in ("single", "multiple"):
        return charts.choice_bars([label for _, label in c.options], [d.options.get(code, 0) for code, _ in c.options],
                                  base=d.n_answered, dpi=dpi)
    if c.kind == "number":
        return charts.histogram(d.numbers, dpi=dpi)
    return None
