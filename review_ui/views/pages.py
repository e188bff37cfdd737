"""Unidentified pages: the image and the reason; assign to (survey, serial, page), not part of the survey,
or rotate and re-run recognition (the pipeline's ``rerun_page`` when present)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, flash, redirect, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from core.errors import ConflictError, NotFoundError
from review_ui.data import page_summary
from review_ui.web import STAFF, form_or_json, me, respond, route, state, wants_json
from review_ui.web import session as db_session
from storage import audit
from storage import review_queue as rq
from storage.models import Page, ReviewItem, Sheet, SheetPage, Survey

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
    return respond("unidentified.html", {"pages": pages})


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
    """Re-read the page through the pipeline (assigned identity or new rotation); False when unavailable."""
    try:
        from phieu.pipeline import rerun_page
    except ImportError:
        log.info("pipeline rerun_page not available; page #%s kept as recorded", page_id)
        return False
    app = state()
    if app.qr_secret is None:
        return False
    try:
        rerun_page(app.db, app.store, page_id, secret=app.qr_secret, settings=app.settings, rotation=rotation or 0,
                   user=me().username)
    except Exception:  # noqa: BLE001 - the assignment stands; the failure is logged and shown as "not re-read"
        log.exception("re-reading page #%s failed", page_id)
        return False
    return True
