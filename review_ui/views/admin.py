"""Surveys (progress, second-review share) and user accounts."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from core.errors import ConflictError, NotFoundError
from review_ui import accounts
from review_ui.web import EVERYONE, MANAGERS, BadInput, form_or_json, me, respond, route, wants_json
from review_ui.web import session as db_session
from storage import audit, progress
from storage import review_queue as rq
from storage.models import ScanBatch, Survey

bp = Blueprint("admin", __name__)


def _survey(s: Any, code: str) -> Survey:
    survey = s.scalar(select(Survey).where(Survey.code == code))
    if survey is None:
        raise NotFoundError(f"Không có khảo sát {code} / no survey {code}")
    return survey  # type: ignore[no-any-return]


def _figures(s: Any, survey: Survey) -> dict[str, Any]:
    """The survey's figures, each with the list it counts (storage.progress: the one source of counts)."""
    sheets = progress.sheet_counts(s, survey.id)
    pages = progress.page_counts(s, survey.id)
    queue = progress.queue_counts(s, survey.id, me().row(s))
    code = survey.code
    figures = [
        ("printed", _("Đã in"), sheets["printed"], url_for("sheets.index", survey=code)),
        ("returned", _("Đã quét"), sheets["returned"], url_for("sheets.index", survey=code, status="returned")),
        ("done", _("Hoàn tất"), sheets["done"], url_for("sheets.index", survey=code, status="done")),
        ("review", _("Phiếu chờ duyệt"), sheets["review"], url_for("sheets.index", survey=code, status="review")),
        ("answers", _("Câu trả lời chờ duyệt"), queue.answers_open, url_for("review.queue")),
        ("pages", _("Trang chờ xử lý"), queue.pages_open, url_for("pages.unidentified", survey=code)),
        ("duplicates", _("Bản trùng"), pages.get("duplicate", 0), url_for("pages.listing", status="duplicate", survey=code)),
    ]
    return {"list": [{"key": k, "label": str(label), "value": v, "url": url} for k, label, v, url in figures],
            **{k: v for k, _label, v, _url in figures}, "queue": queue.as_dict()}


@route(bp, "/surveys", allowed=EVERYONE)
def surveys() -> Any:
    with db_session() as s:
        rows = [{"code": sv.code, "title": sv.title, "figures": _figures(s, sv), "second_review_share": sv.second_review_share}
                for sv in s.scalars(select(Survey).order_by(Survey.code))]
    return respond("surveys.html", {"surveys": rows})


@route(bp, "/surveys/<code>", allowed=EVERYONE)
def progress_page(code: str) -> Any:
    with db_session() as s:
        survey = _survey(s, code)
        data = {
            "code": survey.code,
            "title": survey.title,
            "figures": _figures(s, survey),
            "throughput": [t.__dict__ for t in progress.throughput(s, survey.id)],
            "leases": progress.leases_by_user(s, survey.id),
            "second_review_share": survey.second_review_share,
            "batches": [
                {"id": b.id, "source": b.source, "by": b.created_by, "started": b.started_at.isoformat(timespec="seconds"),
                 "summary": b.summary}
                for b in s.scalars(select(ScanBatch).order_by(ScanBatch.id.desc()).limit(10))
            ],
            "can_manage": me().role in MANAGERS,
        }
    return respond("progress.html", data)


@route(bp, "/surveys/<code>/second-review", allowed=MANAGERS, methods=("POST",))
def second_review(code: str) -> Any:
    fields = form_or_json()
    try:
        share = float(str(fields.get("share", "0")).replace(",", ".").rstrip("%")) / (100 if "%" in str(fields.get("share")) else 1)
    except ValueError as exc:
        raise BadInput("Tỉ lệ phải là số từ 0 đến 1 / share must be a number from 0 to 1") from exc
    if not 0 <= share <= 1:  # also refuses nan
        raise BadInput("Tỉ lệ phải từ 0 đến 1 / share must be between 0 and 1")
    with db_session(write=True) as s:
        survey = _survey(s, code)
        survey.second_review_share = share
        audit.record(s, actor=me().username, action="second_review_share", entity="survey", entity_id=survey.id,
                     detail={"share": share})
    if wants_json():
        return {"survey": code, "second_review_share": share}
    flash(_("Đã lưu tỉ lệ duyệt lần hai.") + f" {share:.0%}", "info")
    return redirect(url_for("admin.progress_page", code=code))


@route(bp, "/users/<username>/release", allowed=MANAGERS, methods=("POST",))
def release(username: str) -> Any:
    """Reassign: everything ``username`` holds goes back to the queue for the others."""
    with db_session(write=True) as s:
        count = rq.release_all(s, accounts.get_user(s, username), me().row(s))
    if wants_json():
        return {"username": username, "released": count}
    flash(_("Đã trả lại hàng đợi các mục của") + f" {username}: {count}", "info")
    return redirect(url_for("admin.surveys"))


@route(bp, "/users", allowed=("admin",))
def users() -> Any:
    with db_session() as s:
        rows = [{"username": u.username, "full_name": u.full_name, "role": u.role, "active": u.active, "language": u.language}
                for u in accounts.list_users(s)]
    return respond("users.html", {"users": rows, "roles": accounts.ROLES})


@route(bp, "/users/add", allowed=("admin",), methods=("POST",))
def user_add() -> Any:
    fields = form_or_json()
    with db_session(write=True) as s:
        accounts.create_user(s, str(fields.get("username", "")).strip(), str(fields.get("password", "")),
                             str(fields.get("role", "")), full_name=str(fields.get("full_name", "")), actor=me().username)
    return _users_done(_("Đã thêm người dùng."))


@route(bp, "/users/<username>/update", allowed=("admin",), methods=("POST",))
def user_update(username: str) -> Any:
    """One form for the changes an admin makes: role, active, new password (fields left out stay as they are)."""
    fields = form_or_json()
    with db_session(write=True) as s:
        if fields.get("role"):
            accounts.set_role(s, username, str(fields["role"]), actor=me().username)
        if "active" in fields:
            active = str(fields["active"]).lower() in ("1", "true", "on", "yes")
            if username == me().username and not active:
                raise ConflictError("Không thể tự khoá tài khoản của mình / you cannot disable yourself")
            if str(fields["active"]).lower() not in ("0", "1", "true", "false", "on", "off", "yes", "no"):
                raise BadInput("Hoạt động: 1 hoặc 0 / active must be 1 or 0")
            accounts.set_active(s, username, active, actor=me().username)
        if fields.get("password"):
            accounts.set_password(s, username, str(fields["password"]), actor=me().username)
    return _users_done(_("Đã cập nhật người dùng.") + f" {username}")


def _users_done(message: str) -> Any:
    if wants_json():
        return {"message": message}
    flash(message, "info")
    return redirect(url_for("admin.users"))
