"""Login, logout, language and the home page that sends each role where its work is."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from flask_wtf.csrf import generate_csrf
from sqlalchemy import select

from review_ui.accounts import check_password, end_sessions
from review_ui.web import (
    EVERYONE,
    Account,
    error_body,
    form_or_json,
    me,
    respond,
    roles,
    safe_next,
    wants_json,
)
from review_ui.web import session as db_session
from storage import audit
from storage.models import User

bp = Blueprint("auth", __name__)
HOME_BY_ROLE = {"reviewer": "review.queue", "clerk": "upload.index", "supervisor": "admin.surveys", "admin": "admin.surveys",
                "enumerator": "fieldwork.mine"}


def _failed_login(status: int = 401) -> Any:
    message = _("Sai tên đăng nhập hoặc mật khẩu.")
    if wants_json():
        return error_body("login_failed", message), status
    flash(message, "error")
    return respond("login.html", {"csrf": generate_csrf()}, status)


@bp.route("/login", methods=["GET", "POST"])
@bp.route("/api/login", methods=["GET", "POST"], endpoint="login_api")
def login() -> Any:
    if request.method == "GET":
        return respond("login.html", {"csrf": generate_csrf()})
    fields = form_or_json()
    username = str(fields.get("username", "")).strip()
    password = str(fields.get("password", ""))
    with db_session() as s:
        user = s.scalar(select(User).where(User.username == username)) if len(username) <= 80 else None
    if not check_password(user, password) or user is None or not user.active:  # the hash runs outside any lock
        with db_session(write=True) as s:
            audit.record(s, actor=username[:80] or "?", action="login_failed", entity="user",
                         entity_id=user.id if user else None, detail={"address": request.remote_addr})
        return _failed_login()
    account = Account(user)
    session.clear()
    session.permanent = True  # lifetime = ReviewSettings.session_hours
    login_user(account)
    target = url_for(HOME_BY_ROLE[account.role])
    if wants_json():
        return {"user": account.username, "role": account.role, "next": target, "csrf": generate_csrf()}
    return redirect(safe_next(request.args.get("next"), target))


@bp.route("/logout", methods=["POST"])
def logout() -> Any:
    """End this session, and on the server: the cookie, if kept, no longer signs anyone in."""
    if current_user.is_authenticated:
        with db_session(write=True) as s:
            user = me().row(s)
            end_sessions(user)
            audit.record(s, actor=user.username, action="logout", entity="user", entity_id=user.id)
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


@bp.route("/lang/<code>", methods=["POST"])
def language(code: str) -> Any:
    if code in current_app.config["LANGUAGES"]:
        session["lang"] = code
    return redirect(safe_next(request.form.get("next"), "/"))


@bp.route("/")
@roles(*EVERYONE)
def home() -> Any:
    return redirect(url_for(HOME_BY_ROLE[me().role]))
