"""The application factory and the server: ``create_app(...)`` for tests and WSGI, ``serve(...)`` for the CLI.

Extensions, all well kept and none hand-written: Flask-Login (sessions), Flask-WTF (CSRF on every
form and POST), Flask-Limiter (failed logins throttled per address, in memory), Flask-Babel
(Vietnamese first, English second), argon2-cffi (password hashes, see ``accounts``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask, flash, redirect, render_template, request, session, url_for
from flask_babel import Babel
from flask_babel import gettext as _
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFProtect, generate_csrf
from werkzeug.exceptions import HTTPException

from core.errors import ConflictError, NotFoundError, PhieuError
from core.settings import Settings
from review_ui import words
from review_ui.server import BackgroundServer, make_server
from review_ui.web import (
    MAX_ID,
    Account,
    AppState,
    BadInput,
    IdConverter,
    error_body,
    session_stamp,
    wants_json,
)
from review_ui.words import in_language
from storage.db import Database
from storage.files import FileStore
from storage.models import User

__all__ = ["BackgroundServer", "create_app", "make_server", "secret_key_for", "serve"]
log = logging.getLogger(__name__)
LANGUAGES = ("vi", "en")
STATUS_OF_ERROR = {NotFoundError: 404, ConflictError: 409}


def create_app(
    database_url: str,
    files_dir: str | Path,
    *,
    settings: Settings,
    secret_key: str | bytes,
    qr_secret: bytes | None = None,
    upload_dir: str | Path | None = None,
    migrate: bool = True,
    broker_url: str | None = None,
) -> Flask:
    """A ready WSGI app over the database at ``database_url`` and the file store in ``files_dir``.

    ``qr_secret`` (the workspace secret) is needed only to scan uploads; ``upload_dir`` is where
    uploaded files wait for the pipeline (default: beside the file store). With ``broker_url`` uploads
    and re-reads go to the queue (``pipeline.queue_jobs.CeleryRunner``, run by ``phieu worker --writer``)
    instead of this server's own background process.
    """
    app = Flask(__name__)
    review = settings.review
    app.config.update(
        SECRET_KEY=secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=review.https_only_cookies,
        REMEMBER_COOKIE_SECURE=review.https_only_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=review.session_hours),
        # a response sets the cookie only when it changed the session: a prefetch answered late must not
        # put back an older session over the one a skip just wrote (the keyboard is that fast)
        SESSION_REFRESH_EACH_REQUEST=False,
        WTF_CSRF_TIME_LIMIT=review.session_hours * 3600,
        MAX_CONTENT_LENGTH=review.max_upload_mb * 1024 * 1024,
        LANGUAGES=LANGUAGES,
        BABEL_DEFAULT_LOCALE="vi",
        BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).parent / "translations"),
        JSON_SORT_KEYS=False,
    )
    db = Database.open(database_url)
    if migrate:
        db.migrate()
    db.optimize()
    files = Path(files_dir)
    app.extensions["phieu"] = state = AppState(
        db=db,
        store=FileStore(files),
        settings=settings,
        qr_secret=qr_secret,
        upload_dir=Path(upload_dir) if upload_dir else files.parent / "uploads",
    )
    app.url_map.converters["int"] = IdConverter  # before any route: a huge id is a 404, not a database error
    if qr_secret is not None and broker_url:  # uploads and re-reads go through the broker to a writer
        from pipeline.queue_jobs import CeleryRunner
        from review_ui.views.upload import save_record

        state.runner = CeleryRunner(broker_url, settings, on_change=lambda status: save_record(state, status))
    elif qr_secret is not None:  # uploads and re-reads go to one background process (started when first needed)
        from pipeline.runner import LocalRunner
        from review_ui.views.upload import save_record

        state.runner = LocalRunner(database_url, files, settings, qr_secret,
                                   on_change=lambda status: save_record(state, status))
    CSRFProtect(app)
    Babel(app, locale_selector=_locale)
    _init_login(app)
    _register_blueprints(app)
    from review_ui.views.upload import resume_jobs

    resume_jobs(app.extensions["phieu"])  # uploads a stopped server had not finished scanning
    _throttle_login(app, review.login_attempts_per_minute)
    _register_errors(app)
    _refuse_nul(app)
    words.install(app)

    @app.context_processor
    def _globals() -> dict[str, Any]:
        return {"csrf_token": generate_csrf, "user": current_user, "lang": _locale()}

    return app


def _locale() -> str:
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return str(chosen)
    if current_user and current_user.is_authenticated:
        return str(getattr(current_user, "language", "vi"))
    return "vi"


def _init_login(app: Flask) -> None:
    manager = LoginManager(app)
    manager.login_view = "auth.login"
    manager.login_message = ""
    manager.session_protection = "basic"

    @manager.user_loader
    def _load(user_id: str) -> Account | None:
        ident, _sep, stamp = user_id.partition(":")
        state: AppState = app.extensions["phieu"]
        with state.db.session() as s:
            user = s.get(User, int(ident)) if ident.isdigit() and int(ident) <= MAX_ID else None
            if user is None or not user.active or session_stamp(user) != stamp:
                return None  # disabled, new password, or logged out since: the cookie no longer works
            return Account(user)

    @manager.unauthorized_handler
    def _unauthorized() -> Any:
        if wants_json():
            return error_body("login_required", _("Cần đăng nhập.") + " / Login required."), 401
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def _register_blueprints(app: Flask) -> None:
    import review_ui.views.admin
    import review_ui.views.auth
    import review_ui.views.fieldwork
    import review_ui.views.fieldwork_desk
    import review_ui.views.images
    import review_ui.views.pages
    import review_ui.views.results
    import review_ui.views.review
    import review_ui.views.sheets
    import review_ui.views.upload

    views = review_ui.views
    for module in (views.auth, views.review, views.images, views.pages, views.sheets, views.admin, views.upload,
                   views.fieldwork, views.fieldwork_desk):
        app.register_blueprint(module.bp)
    app.register_blueprint(views.results.bp)


def _throttle_login(app: Flask, per_minute: int) -> None:
    """Failed logins (401) count against the address and against the username, whichever URL
    (``/login`` or ``/api/login``) they came through; past either limit the login answers 429."""
    limiter = Limiter(get_remote_address, app=app, storage_uri="memory://", default_limits=[], headers_enabled=False)
    failed = {"methods": ["POST"], "deduct_when": lambda response: response.status_code == 401}
    by_address = limiter.shared_limit(f"{per_minute}/minute", scope="login-address", **failed)  # type: ignore[arg-type]
    by_name = limiter.shared_limit(f"{per_minute}/minute", scope="login-username", key_func=_login_name, **failed)  # type: ignore[arg-type]
    guarded = by_name(by_address(app.view_functions["auth.login"]))  # both URLs share one view: decorate it once
    for endpoint in ("auth.login", "auth.login_api"):
        app.view_functions[endpoint] = guarded  # type: ignore[assignment]


def _login_name() -> str:
    """The username a login attempt names (form or JSON), folded so that case does not make a new key."""
    body = request.get_json(silent=True) if request.is_json else None
    name = body.get("username") if isinstance(body, dict) else request.form.get("username")
    return "user:" + str(name or "").strip().casefold()[:80]


def _refuse_nul(app: Flask) -> None:
    """No text we store or look up may hold a NUL character (PostgreSQL refuses it): such a request is a 400."""

    @app.before_request
    def _check() -> None:
        texts = [request.path, *request.args.values()]
        if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            texts += list(request.form.values())
        body = request.get_data(cache=True) if request.is_json else b""
        if any("\x00" in t for t in texts) or b"\x00" in body or b"\\u0000" in body:
            raise BadInput("Yêu cầu chứa ký tự NUL / the request holds a NUL character")


def _register_errors(app: Flask) -> None:
    @app.errorhandler(PhieuError)
    def _phieu_error(exc: PhieuError) -> Any:
        status = next((code for cls, code in STATUS_OF_ERROR.items() if isinstance(exc, cls)), 400)
        code = {404: "not_found", 409: "conflict"}.get(status, "bad_request")
        return _error(status, code, str(exc))

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        status = exc.code or 500
        code = {400: "bad_request", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
                413: "too_large", 429: "too_many_attempts"}.get(status, "http_error")
        if "CSRF" in (exc.description or ""):
            code = "csrf"
        messages = {
            403: _("Vai trò của bạn không được dùng trang này.") + " / Your role may not use this page.",
            429: _("Đăng nhập sai quá nhiều lần; hãy thử lại sau một phút.") + " / Too many failed logins; wait a minute.",
            404: _("Không tìm thấy trang.") + " / Page not found.",
            413: _("Dữ liệu gửi lên quá lớn.") + " / The request is too large.",
        }
        return _error(status, code, messages.get(status, exc.description or exc.name))


def _error(status: int, code: str, message: str) -> Any:
    if wants_json():
        return error_body(code, message), status
    message = in_language(message)
    if status == 409 and request.method == "POST" and request.path.startswith("/review/"):
        flash(message, "error")
        return redirect(url_for("review.peek"), code=303)
    return render_template("error.html", status=status, code=code, message=message), status


def secret_key_for(workspace_secret: bytes) -> str:
    """The Flask signing key, derived from the workspace secret (sessions survive restarts)."""
    return hmac.new(workspace_secret, b"phieu review_ui session", hashlib.sha256).hexdigest()


def serve(workspace: Any, host: str = "127.0.0.1", port: int = 8080, *, ready_callback: Callable[[str], None] | None = None) -> None:
    """Serve the review UI of ``workspace`` (a ``phieu.workspace.Workspace``) until interrupted."""
    app = create_app(
        workspace.database_url,
        workspace.files_dir,
        settings=workspace.settings,
        secret_key=secret_key_for(workspace.secret()),
        qr_secret=workspace.secret(),
        upload_dir=workspace.home / "uploads",
        broker_url=workspace.broker_url,
    )
    server = make_server(app, host, port)
    bound_port = server.effective_port
    url = f"http://{host}:{bound_port}/"
    log.info("review UI at %s", url)
    if ready_callback is not None:
        ready_callback(url)
    try:
        server.run()
    finally:
        server.close()
        app.extensions["phieu"].close()
