"""Unidentified pages: the image and the reason; assign to (survey, serial, page), not part of the survey,
or rotate and re-run recognition (the pipeline's ``rerun_page`` when present)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, flash, redirect, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from core.errors import ConflictError, NotFoundError
from pipeline.jobs import Job
from review_ui.data import page_summary
from review_ui.web import STAFF, form_or_json, me, respond, route, state, wants_json
from review_ui.web import session as db_session
from storage import audit
from storage import review_queue as rq
from storage.models import Page, ReviewItem, Sheet, SheetPage, Survey
from storage.scans import pages_to_reread

bp = Blueprint("pages", __name__)
log = logging.getLogger(__name__)
SEARCH_LIMIT = 20


@route(bp, "/pages/unidentified", allowed=STAFF)
def unidentified() -> Any:
    with db_session() as s:
        rows = s.execute(
            select(Page, ReviewItem.id).join(ReviewItem, ReviewItem.page_id == Page.id)
            .where(ReviewItem.kind == "page", ReviewItem.status == "open").order_by(Page.id)
        ).all()
        pages = [{**page_summary(p), "item_id": item_id} for p, item_id in rows]
        rereadable = len(pages_to_reread(s))
    return respond("unidentified.html", {"pages": pages, "rereadable": rereadable})


def _page(s: Any, page_id: int) -> Page:
    page = s.get(Page, page_id)
    if page is None:
        raise NotFoundError(f"Không có trang #{page_id} / no page #{page_id}")
    return page


def _open_item(s: Any, page_id: int) -> ReviewItem | None:
    return s.scalar(select(ReviewItem).where(ReviewItem.page_id == page_id, ReviewItem.kind == "page", ReviewItem.status == "open"))


@route(bp, "/pages/<int:page_id>", allowed=STAFF)
def show(page_id: int) -> Any:
    with db_session() as s:
        page = _page(s, page_id)
        item = _open_item(s, page_id)
        surveys = list(s.scalars(select(Survey.code).order_by(Survey.code)))
        data = {
            "page": page_summary(page),
            "item": {"id": item.id, "version": item.version, "reason": item.reason} if item else None,
            "surveys": surveys,
            "image": url_for("images.page", page_id=page_id, raw=1),
            "rotation": int(request.args.get("rotate", "0")) % 360 if request.args.get("rotate", "0").isdigit() else 0,
        }
    return respond("page.html", data)


@route(bp, "/sheets/search", allowed=STAFF)
def search() -> Any:
    """Sheets whose serial starts with ``q`` (for assigning a page), with which pages are already in."""
    code, q = request.args.get("survey", ""), request.args.get("q", "").strip()
    with db_session() as s:
        query = select(Sheet, Survey.code).join(Survey, Survey.id == Sheet.survey_id).order_by(Sheet.serial).limit(SEARCH_LIMIT)
        if code:
            query = query.where(Survey.code == code)
        if q.isdigit():
            query = query.where(Sheet.serial >= int(q)) if len(q) >= 3 else query.where(Sheet.serial == int(q))
        results = []
        for sheet, survey in s.execute(query).all():
            taken = list(s.scalars(select(SheetPage.page_number).where(SheetPage.sheet_id == sheet.id)))
            results.append({"survey": survey, "serial": sheet.serial, "status": sheet.status, "pages_in": sorted(taken),
                            "page_count": sheet.edition.page_count})
    return respond("search.html", {"results": results, "q": q, "survey": code})


def _done(message: str, page_id: int, extra: dict[str, Any] | None = None) -> Any:
    if wants_json():
        return {"page_id": page_id, "message": message, **(extra or {})}
    flash(message, "info")
    return redirect(url_for("pages.unidentified"))


@route(bp, "/pages/<int:page_id>/assign", allowed=STAFF, methods=("POST",))
def assign(page_id: int) -> Any:
    fields = form_or_json()
    try:
        serial, number, version = int(fields["serial"]), int(fields.get("page_number", 1)), int(fields["version"])
    except (KeyError, ValueError) as exc:
        raise ConflictError(_("Hãy nhập số phiếu và số trang.") + " / Give the sheet serial and page number.") from exc
    with db_session(write=True) as s:
        item = _open_item(s, page_id)
        if item is None:
            raise ConflictError(_("Trang này không còn chờ xử lý.") + f" / Page #{page_id} is no longer waiting.")
        rq.assign_page(s, item.id, me().row(s), survey_code=str(fields.get("survey", "")), serial=serial,
                       page_number=number, expected_version=version)
    reread = _rerun(page_id, rotation=None)
    return _done(_("Đã gán trang cho phiếu") + f" {serial} / {number}." + ("" if reread else " " + _("(chưa đọc lại)")),
                 page_id, {"serial": serial, "page_number": number, "reread": reread})


@route(bp, "/pages/<int:page_id>/not-survey", allowed=STAFF, methods=("POST",))
def not_survey(page_id: int) -> Any:
    fields = form_or_json()
    with db_session(write=True) as s:
        item = _open_item(s, page_id)
        if item is None:
            raise ConflictError(_("Trang này không còn chờ xử lý.") + f" / Page #{page_id} is no longer waiting.")
        rq.mark_not_survey(s, item.id, me().row(s), expected_version=int(fields.get("version", 0)))
    return _done(_("Đã đánh dấu: không thuộc khảo sát.") + f" (#{page_id})", page_id)


@route(bp, "/pages/<int:page_id>/rotate", allowed=STAFF, methods=("POST",))
def rotate(page_id: int) -> Any:
    """Store the rotation a person saw, then ask the pipeline to read the page again that way up."""
    fields = form_or_json()
    degrees = int(fields.get("rotation", 0)) % 360
    if degrees not in (0, 90, 180, 270):
        raise ConflictError("Góc xoay phải là 0, 90, 180 hoặc 270 / rotation must be 0, 90, 180 or 270")
    with db_session(write=True) as s:
        page = _page(s, page_id)
        page.rotation = degrees
        audit.record(s, actor=me().username, action="rotate_page", entity="page", entity_id=page_id, detail={"rotation": degrees})
    reread = _rerun(page_id, rotation=degrees)
    message = _("Đã đọc lại trang sau khi xoay.") if reread else _("Đã lưu góc xoay; chưa đọc lại được trang.")
    return _done(message, page_id, {"rotation": degrees, "reread": reread})


def _rerun(page_id: int, *, rotation: int | None) -> bool:
    """Re-read the page in the background runner (assigned identity or new rotation) and wait for it;
    False when unavailable, failed or not finished in ``review.reread_wait_seconds``."""
    app = state()
    if app.runner is None:
        return False
    job = Job("rerun", {"page_id": page_id, "rotation": rotation or 0}, user=me().username)
    app.runner.submit(job)
    status = app.runner.wait(job.id, app.settings.review.reread_wait_seconds)
    if status is None or status.state != "done":
        log.warning("re-reading page #%s: %s", page_id, status.error if status else "no status")
        return False
    return True


@route(bp, "/pages/reread", allowed=STAFF, methods=("POST",))
def reread() -> Any:
    """Read again the unidentified pages of surveys registered since they were scanned (or, with
    ``every``, all unidentified pages): a job of the background runner; waits a little for it."""
    fields = form_or_json()
    app = state()
    if app.runner is None:
        raise ConflictError(_("Máy chủ này không đọc lại trang.") + " / This server does not re-read pages.")
    params = {"survey": str(fields.get("survey") or "") or None, "every": str(fields.get("every", "")) in ("1", "true", "on")}
    job = Job("reread", params, user=me().username)
    app.runner.submit(job)
    status = app.runner.wait(job.id, app.settings.review.reread_wait_seconds)
    assert status is not None
    result = status.result or {}
    if status.state == "done":
        message = _("Đã đọc lại %(pages)d trang: %(identified)d trang đã nhận dạng.", pages=result.get("pages", 0),
                    identified=result.get("identified", 0))
    elif status.state in ("queued", "running"):
        message = _("Đang đọc lại trang ở nền; tải lại trang sau ít phút.")
    else:
        message = _("Không đọc lại được:") + f" {status.error}"
    if wants_json():
        return {"job": status.as_dict(), "message": message}
    flash(message, "info" if status.state != "failed" else "error")
    return redirect(url_for("pages.unidentified"))
