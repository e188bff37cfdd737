"""Unidentified pages: the image and the reason; assign to (survey, serial, page), not part of the survey,
or rotate and re-run recognition (the pipeline's ``rerun_page`` when present)."""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import Blueprint, flash, redirect, request, url_for
from flask_babel import gettext as _
from sqlalchemy import or_, select

from core.errors import ConflictError, NotFoundError, PhieuError
from formgen.identity import parse_payload
from pipeline.jobs import Job
from review_ui.data import page_summary
from review_ui.web import STAFF, form_or_json, int_field, me, respond, route, state, wants_json
from review_ui.web import session as db_session
from review_ui.words import in_language, word
from storage import audit
from storage import review_queue as rq
from storage.models import Page, ReviewItem, Sheet, SheetPage, Survey
from storage.scans import pages_to_reread

bp = Blueprint("pages", __name__)
log = logging.getLogger(__name__)
SEARCH_LIMIT = 20
LIST_LIMIT = 100
NAMED_PAGE = re.compile(r"(?:[Pp]hiếu|số)\s+(?:số\s+)?0*(\d{1,9})(?:\D{1,20}?trang\s+(\d{1,2}))?")


@route(bp, "/pages/unidentified", allowed=STAFF)
def unidentified() -> Any:
    """Pages waiting for a person (open page items); ``?survey=`` those of one survey and those of none."""
    code = request.args.get("survey", "")[:24]
    with db_session() as s:
        query = (select(Page, ReviewItem.id).join(ReviewItem, ReviewItem.page_id == Page.id)
                 .where(ReviewItem.kind == "page", ReviewItem.status == "open").order_by(Page.id))
        if code:
            survey_id = s.scalar(select(Survey.id).where(Survey.code == code))
            query = query.where(or_(ReviewItem.survey_id == survey_id, ReviewItem.survey_id.is_(None)))
        pages = [{**page_summary(p), "item_id": item_id} for p, item_id in s.execute(query.limit(LIST_LIMIT)).all()]
        rereadable = len(pages_to_reread(s))
    return respond("unidentified.html", {"pages": pages, "survey": code, "rereadable": rereadable})


@route(bp, "/pages", allowed=STAFF)
def listing() -> Any:
    """Pages by what became of them (``?status=duplicate``), of one survey, in pages of LIST_LIMIT (``?after=id``)."""
    status = request.args.get("status", "duplicate")
    code = request.args.get("survey", "")[:24]
    after = int_field(request.args, "after", default=0)
    with db_session() as s:
        query = select(Page).where(Page.status == status, Page.id > after).order_by(Page.id).limit(LIST_LIMIT + 1)
        if code:
            query = query.join(Sheet, Sheet.id == Page.sheet_id).join(Survey, Survey.id == Sheet.survey_id).where(Survey.code == code)
        found = list(s.scalars(query))
        rows = [page_summary(p) for p in found[:LIST_LIMIT]]
    more = rows[-1]["id"] if len(found) > LIST_LIMIT else None
    return respond("pages.html", {"pages": rows, "status": status, "survey": code, "after": after,
                                  "next_after": more})


def _page(s: Any, page_id: int) -> Page:
    page = s.get(Page, page_id)
    if page is None:
        raise NotFoundError(f"Không có trang #{page_id} / no page #{page_id}")
    return page


def _open_item(s: Any, page_id: int) -> ReviewItem | None:
    return s.scalar(select(ReviewItem).where(ReviewItem.page_id == page_id, ReviewItem.kind == "page", ReviewItem.status == "open"))


def _guess(page: Page, sheet_serial: int | None) -> dict[str, Any]:
    """What the page's own evidence names: the QR text, the sheet it was matched to, or its reason's words."""
    parsed = parse_payload(page.qr_text or "")
    if parsed is not None:
        return {"survey": parsed.identity.survey, "serial": parsed.identity.serial, "page_number": parsed.identity.page}
    if sheet_serial is not None and page.page_number:
        return {"survey": "", "serial": sheet_serial, "page_number": page.page_number}
    found = NAMED_PAGE.search(page.reason or "")
    if found:
        return {"survey": "", "serial": int(found.group(1)), "page_number": int(found.group(2) or 1)}
    return {"survey": "", "serial": "", "page_number": 1}


def page_view(s: Any, page_id: int, *, form: dict[str, Any] | None = None, error: str = "") -> dict[str, Any]:
    """The unidentified page screen; ``form``/``error``: what was typed and why it was refused (shown in place)."""
    page = _page(s, page_id)
    item = _open_item(s, page_id)
    serial = s.scalar(select(Sheet.serial).where(Sheet.id == page.sheet_id)) if page.sheet_id else None
    surveys = list(s.scalars(select(Survey.code).order_by(Survey.code)))
    guess = _guess(page, serial)
    rotation = request.args.get("rotate", "0")
    return {
        "page": page_summary(page),
        "item": {"id": item.id, "version": item.version, "reason": item.reason} if item else None,
        "surveys": surveys,
        "form": {**guess, "survey": guess["survey"] or (surveys[0] if surveys else ""), **(form or {})},
        "error": error,
        "image": url_for("images.page", page_id=page_id, raw=1),
        "rotation": int(rotation) if rotation in ("0", "90", "180", "270") else 0,
    }


@route(bp, "/pages/<int:page_id>", allowed=STAFF)
def show(page_id: int) -> Any:
    with db_session() as s:
        data = page_view(s, page_id)
    return respond("page.html", data)


@route(bp, "/sheets/search", allowed=STAFF)
def search() -> Any:
    """Sheets whose serial starts with ``q`` (for assigning a page), with which pages are already in."""
    code, q = request.args.get("survey", "")[:24], request.args.get("q", "").strip()[:9]
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
                            "status_words": word("sheet_status", sheet.status), "page_count": sheet.edition.page_count})
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
        serial = int_field(fields, "serial", label=_("số phiếu"))
        number = int_field(fields, "page_number", default=1, label=_("số trang"))
        version = int_field(fields, "version", default=0)
        with db_session(write=True) as s:
            item = _open_item(s, page_id)
            if item is None:
                raise ConflictError(_("Trang này không còn chờ xử lý.") + f" / Page #{page_id} is no longer waiting.")
            rq.assign_page(s, item.id, me().row(s), survey_code=str(fields.get("survey", ""))[:24], serial=serial,
                           page_number=number, expected_version=version)
    except PhieuError as exc:
        if wants_json():
            raise
        with db_session() as s:  # the form again, as typed, with the reason beside it
            typed = {k: str(fields.get(k, ""))[:40] for k in ("survey", "serial", "page_number")}
            data = page_view(s, page_id, form=typed, error=in_language(str(exc)))
        return respond("page.html", data, 404 if isinstance(exc, NotFoundError) else 409)
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
        rq.mark_not_survey(s, item.id, me().row(s), expected_version=int_field(fields, "version", default=0))
    return _done(_("Đã đánh dấu: không thuộc khảo sát.") + f" (#{page_id})", page_id)


@route(bp, "/pages/<int:page_id>/rotate", allowed=STAFF, methods=("POST",))
def rotate(page_id: int) -> Any:
    """Store the rotation a person saw, then ask the pipeline to read the page again that way up."""
    fields = form_or_json()
    degrees = int_field(fields, "rotation", default=0, label=_("góc xoay"))
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
