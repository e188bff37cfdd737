"""The review queue: one item (or one grid's rows on one page) at a time, keyboard first, next item prefetched.

State changes only on POST: ``POST /review/next`` leases the next item (a GET only looks), deciding
or skipping leases the one after. The counts on the queue, the "nothing left" page and the progress
page all come from storage.progress.queue_counts.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from core.errors import ConflictError, NotFoundError
from review_ui.item import item_data
from review_ui.web import (
    MAX_ID,
    STAFF,
    BadInput,
    form_or_json,
    int_field,
    me,
    respond,
    route,
    state,
    wants_json,
)
from review_ui.web import session as db_session
from storage import progress
from storage import review_queue as rq
from storage.models import ReviewItem, Survey

bp = Blueprint("review", __name__)
SKIP_MEMORY = 200  # skipped item ids remembered per login session


def _survey_id(s: Any, code: str | None) -> int | None:
    if not code:
        return None
    survey_id = s.scalar(select(Survey.id).where(Survey.code == str(code)[:24]))
    if survey_id is None:
        raise NotFoundError(f"Không có khảo sát {str(code)[:24]} / no survey {str(code)[:24]}")
    return int(survey_id)


def _counts_by_survey(s: Any) -> list[dict[str, Any]]:
    user = me().row(s)
    return [{"code": sv.code, "title": sv.title, "counts": progress.queue_counts(s, sv.id, user).as_dict()}
            for sv in s.scalars(select(Survey).order_by(Survey.code))]


@route(bp, "/queue", allowed=STAFF)
def queue() -> Any:
    with db_session() as s:
        surveys = _counts_by_survey(s)
        total = progress.queue_counts(s, None, me().row(s)).as_dict()
        mine = [t.__dict__ for t in progress.throughput(s, hours=12) if t.username == me().username]
    return respond("queue.html", {"surveys": surveys, "total": total, "me": mine[0] if mine else None})


def _ids(raw: Any) -> list[int]:
    parts = raw if isinstance(raw, list) else str(raw or "").split(",")
    return [int(x) for x in (str(p).strip() for p in parts) if x.isdigit() and len(x) < 11 and int(x) <= MAX_ID]


def _lease_next(s: Any, *, exclude: list[int]) -> ReviewItem | None:
    """Lease the next item for me in the survey chosen on the queue (all surveys when none)."""
    user = me().row(s)
    lease = state().settings.review.lease_seconds
    survey_id = _survey_id(s, session.get("survey"))
    skipped = [int(x) for x in session.get("skipped", [])]
    item = rq.next_item(s, user, survey_id, lease_seconds=lease, exclude_ids=exclude + skipped)
    if item is None and skipped:
        session["skipped"] = []  # only skipped items are left: offer them again
        item = rq.next_item(s, user, survey_id, lease_seconds=lease, exclude_ids=exclude)
    return item


def _waiting(s: Any) -> dict[str, Any]:
    """The "start" / "nothing left" page data: the same counts as the queue, for the chosen survey."""
    code = session.get("survey")
    counts = progress.queue_counts(s, _survey_id(s, code), me().row(s)).as_dict()
    return {"item": None, "survey": code or "", "counts": counts}


@route(bp, "/review/next", allowed=STAFF)
def peek() -> Any:
    """Look, change nothing: my item in hand, else the start page (Enter leases the next), else "nothing left"."""
    if "survey" in request.args:
        session["survey"] = str(request.args["survey"])[:24] or None
    with db_session() as s:
        data = _waiting(s)
        held = s.scalar(select(ReviewItem.id).where(*rq.available(me().row(s), rq.now_utc()),
                                                    ReviewItem.leased_by == me().id, ReviewItem.kind.in_(rq.ANSWER_KINDS))
                        .order_by(ReviewItem.id).limit(1))
    if held is not None and not wants_json():
        return redirect(url_for("review.show", item_id=held))
    return respond("done.html" if not data["counts"]["answers_for_user"] else "start.html", data)


@route(bp, "/review/next", allowed=STAFF, methods=("POST",))
def next_item() -> Any:
    """Lease the next item: HTML goes to it; JSON returns its data (the page prefetches the next this way)."""
    fields = form_or_json()
    if "survey" in fields:
        session["survey"] = str(fields["survey"])[:24] or None
    draft_bar = state().settings.review.ocr_draft_min_confidence
    with db_session(write=True) as s:
        item = _lease_next(s, exclude=_ids(fields.get("exclude")))
        if item is None:
            data = _waiting(s)
        else:
            data = item_data(s, item, me().row(s), draft_bar=draft_bar)
            data["url"] = url_for("review.show", item_id=item.id)
    if wants_json():
        return data
    return redirect(data.get("url") or url_for("review.peek"), code=303)


@route(bp, "/review/<int:item_id>", allowed=STAFF)
def show(item_id: int) -> Any:
    """The item and its rows (reading only: the lease was taken by POST /review/next)."""
    with db_session() as s:
        user = me().row(s)
        item = s.get(ReviewItem, item_id)
        if item is None:
            raise NotFoundError(f"Không có mục duyệt #{item_id} / no review item #{item_id}")
        if item.kind == "page":
            return redirect(url_for("pages.show", page_id=item.page_id))
        if item.status != "open":
            if wants_json():
                raise ConflictError(_("Mục này đã được xử lý.") + f" / Item #{item_id} is already settled.")
            return respond("settled.html", {"item_id": item_id})
        if rq.excludes(item, user) or rq.held_by_other(item, user):
            raise ConflictError(rq.conflict_message(s, item, user))
        data = item_data(s, item, user, draft_bar=state().settings.review.ocr_draft_min_confidence)
    return respond("item.html", data)


def _decisions(fields: dict[str, Any]) -> list[tuple[int, int, str | None]]:
    """(item id, version, value) triples from a form (value_<id>, version_<id>) or JSON {"decisions": [...]}."""
    raw = fields.get("decisions")
    if isinstance(raw, list):
        if not raw or not all(isinstance(d, dict) for d in raw):
            raise BadInput(_("Chưa chọn câu trả lời nào.") + " / decisions must be a list of {item_id, version, value}")
        triples = [(int_field(d, "item_id"), int_field(d, "version"), d.get("value")) for d in raw]
        return [(i, v, None if val is None else str(val)) for i, v, val in triples]
    values = {key[6:] for key in fields if key.startswith("value_")}
    versions = {key[8:] for key in fields if key.startswith("version_")}
    if not values or versions - values:
        raise BadInput(_("Chưa chọn câu trả lời nào.") + " / Choose an answer for every row first.")
    triples = []
    for key in sorted(values):
        if request.is_json:
            raw_value = fields[f"value_{key}"]
            value = None if raw_value is None else str(raw_value)
        else:  # checkboxes of a multiple-choice row come as several fields
            value = ";".join(v for v in request.form.getlist(f"value_{key}") if v)
        triples.append((int_field({"id": key}, "id"), int_field(fields, f"version_{key}", default=0), value))
    return triples


def _after(message: str | None = None) -> Any:
    """HTML: straight to the next item (leased here: this is a POST), or the page saying nothing is left."""
    if message:
        flash(message, "info")
    with db_session(write=True) as s:
        item = _lease_next(s, exclude=[])
        target = url_for("review.show", item_id=item.id) if item else url_for("review.peek")
    return redirect(target, code=303)


@route(bp, "/review/<int:item_id>/decide", allowed=STAFF, methods=("POST",))
def decide(item_id: int) -> Any:
    fields = form_or_json()
    share = state().settings.review.second_review_share
    with db_session(write=True) as s:
        user = me().row(s)
        decided = []
        for target, version, value in _decisions(fields):
            result = rq.decide(s, target, user, value, version, second_review_share=share)
            decided.append({"item_id": target, "value": result.decision.value if result.decision else value})
    if wants_json():
        return {"decided": decided, "next": url_for("review.next_item")}
    return _after()


@route(bp, "/review/<int:item_id>/skip", allowed=STAFF, methods=("POST",))
def skip(item_id: int) -> Any:
    with db_session(write=True) as s:
        user = me().row(s)
        item = s.get(ReviewItem, item_id)
        group = rq.item_group(s, item, user) if item is not None else []
        for it in group:
            rq.release(s, it.id, user)
    session["skipped"] = [*session.get("skipped", []), *[it.id for it in group]][-SKIP_MEMORY:]
    if wants_json():
        return {"skipped": [it.id for it in group], "next": url_for("review.next_item")}
    return _after(_("Đã bỏ qua mục này.") + f" (#{item_id})")
