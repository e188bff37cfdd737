"""The review queue: one item (or one grid row set) at a time, keyboard first, next item prefetched."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from core.errors import ConflictError, NotFoundError, PhieuError
from review_ui.data import item_data
from review_ui.web import STAFF, form_or_json, me, respond, route, state, wants_json
from review_ui.web import session as db_session
from storage import review_queue as rq
from storage.models import ReviewItem, Survey

bp = Blueprint("review", __name__)
SKIP_MEMORY = 200  # skipped item ids remembered per login session


def _survey_id(s: Any) -> int | None:
    code = request.args.get("survey") or session.get("survey")
    if not code:
        return None
    survey_id = s.scalar(select(Survey.id).where(Survey.code == code))
    if survey_id is None:
        raise NotFoundError(f"Không có khảo sát {code} / no survey {code}")
    return int(survey_id)


@route(bp, "/queue", allowed=STAFF)
def queue() -> Any:
    with db_session() as s:
        surveys = [
            {"code": sv.code, "title": sv.title, "counts": rq.queue_counts(s, sv.id)}
            for sv in s.scalars(select(Survey).order_by(Survey.code))
        ]
        mine = [t.__dict__ for t in rq.throughput(s, hours=12) if t.username == me().username]
    return respond("queue.html", {"surveys": surveys, "me": mine[0] if mine else None})


def _exclusions() -> list[int]:
    raw = request.args.get("exclude", "")
    ids = [int(x) for x in raw.split(",") if x.strip().isdigit()]
    return ids + [int(x) for x in session.get("skipped", [])]


@route(bp, "/review/next", allowed=STAFF)
def next_item() -> Any:
    """Lease the next item and show it (HTML: redirect to it; JSON: its data, for prefetching)."""
    lease = state().settings.review.lease_seconds
    with db_session(write=True) as s:
        user = me().row(s)
        item = rq.next_item(s, user, _survey_id(s), lease_seconds=lease, exclude_ids=_exclusions())
        if item is None and session.get("skipped") and not request.args.get("exclude"):
            session["skipped"] = []  # only skipped items are left: offer them again
            item = rq.next_item(s, user, _survey_id(s), lease_seconds=lease)
        if item is None:
            return respond("done.html", {"item": None})
        if not wants_json():
            return redirect(url_for("review.show", item_id=item.id))
        data = item_data(s, item, user)
    data["url"] = url_for("review.show", item_id=item.id)
    return data


@route(bp, "/review/<int:item_id>", allowed=STAFF)
def show(item_id: int) -> Any:
    lease = state().settings.review.lease_seconds
    with db_session(write=True) as s:
        user = me().row(s)
        item = s.get(ReviewItem, item_id)
        if item is None:
            raise NotFoundError(f"Không có mục duyệt #{item_id} / no review item #{item_id}")
        if item.kind == "page":
            return redirect(url_for("pages.show", page_id=item.page_id))
        if item.status != "open":
            raise ConflictError(_("Mục này đã được xử lý.") + f" / Item #{item_id} is already settled.")
        expires = rq.aware(item.lease_expires)
        if item.leased_by != user.id or expires is None or expires <= rq.now_utc():
            item = rq.lease_item(s, item_id, user, lease_seconds=lease)
        data = item_data(s, item, user)
    return respond("item.html", data)


def _decisions(fields: dict[str, Any]) -> list[tuple[int, int, str | None]]:
    """(item id, version, value) triples from a form (value_<id>, version_<id>) or JSON {"decisions": [...]}."""
    if isinstance(fields.get("decisions"), list):
        triples = [(int(d["item_id"]), int(d["version"]), d.get("value")) for d in fields["decisions"]]
    else:
        triples = [
            (int(key[6:]), int(fields.get(f"version_{key[6:]}", 0)), ";".join(v for v in request.form.getlist(key) if v))
            for key in fields
            if key.startswith("value_") and key[6:].isdigit()
        ]
    undecided = [key[8:] for key in fields if key.startswith("version_") and f"value_{key[8:]}" not in fields]
    if not triples or (undecided and not isinstance(fields.get("decisions"), list)):
        raise PhieuError(_("Chưa chọn câu trả lời nào.") + " / Choose an answer for every row first.")
    return [(i, v, (str(val).strip() or None) if val is not None else None) for i, v, val in triples]


@route(bp, "/review/<int:item_id>/decide", allowed=STAFF, methods=("POST",))
def decide(item_id: int) -> Any:
    fields = form_or_json()
    share = state().settings.review.second_review_share
    with db_session(write=True) as s:
        user = me().row(s)
        decided = []
        for target, version, value in _decisions(fields):
            rq.decide(s, target, user, value, version, second_review_share=share)
            decided.append({"item_id": target, "value": value})
    if wants_json():
        return {"decided": decided, "next": url_for("review.next_item")}
    return redirect(url_for("review.next_item"))


@route(bp, "/review/<int:item_id>/skip", allowed=STAFF, methods=("POST",))
def skip(item_id: int) -> Any:
    with db_session(write=True) as s:
        user = me().row(s)
        item = s.get(ReviewItem, item_id)
        group = rq.item_group(s, item, user) if item is not None else []
        for it in group:
            rq.release(s, it.id, user)
    skipped = [*session.get("skipped", []), *[it.id for it in group]][-SKIP_MEMORY:]
    session["skipped"] = skipped
    if wants_json():
        return {"skipped": [it.id for it in group], "next": url_for("review.next_item")}
    flash(_("Đã bỏ qua mục này.") + f" (#{item_id})", "info")
    return redirect(url_for("review.next_item"))
