"""What every view shares: the app state, role checks, and the HTML/JSON twin of each page.

A page is a data function plus a rendering: ``respond(template, data)`` renders ``data`` through the
template, or returns it as JSON when the client asks (``/api/...`` path, ``?format=json`` or an
``Accept: application/json`` header). Errors have one JSON shape: ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request
from flask_login import UserMixin, current_user
from sqlalchemy.orm import Session
from werkzeug.routing import IntegerConverter

from core.errors import PhieuError
from core.settings import Settings
from pipeline.jobs import JobRunner
from storage.db import Database
from storage.files import FileStore
from storage.models import User

F = TypeVar("F", bound=Callable[..., Any])
STAFF = ("admin", "supervisor", "reviewer")
MANAGERS = ("admin", "supervisor")
EVERYONE = ("admin", "supervisor", "reviewer", "clerk")
MAX_ID = 2**31 - 1  # ids, serials and versions are 32-bit integers on PostgreSQL


class BadInput(PhieuError):
    """A request field that is missing or malformed: answered 400 with the message."""


class IdConverter(IntegerConverter):
    """``<int:...>`` in our routes: 0 .. MAX_ID. A larger number matches no route (404), never a database error."""

    def __init__(self, url_map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


def int_field(fields: Mapping[str, Any], name: str, *, default: int | None = None, label: str = "") -> int:
    """The integer in ``fields[name]`` (form, JSON or query), or BadInput naming the field."""
    raw = fields.get(name)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if default is not None:
            return default
        raise BadInput(f"Thiếu {label or name} / {name} is missing")
    try:
        value = int(str(raw).strip()) if not isinstance(raw, bool) else None
    except ValueError:
        value = None
    if value is None or not -MAX_ID <= value <= MAX_ID:
        raise BadInput(f"{label or name} phải là một số nguyên / {name} must be a whole number (got {str(raw)[:40]!r})")
    return value


def safe_next(target: str | None, default: str) -> str:
    """``target`` when it is a path on this site, else ``default``.

    Browsers drop tabs and newlines inside a URL and read a backslash as a slash, so
    ``/\t/evil.example`` would leave the site: any whitespace, control character or backslash is refused.
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return default
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 or c == "\\" for c in target):
        return default
    parts = urlsplit(target)
    return default if parts.scheme or parts.netloc else target


@dataclass
class AppState:
    """Long-lived objects of one app instance (``app.extensions["phieu"]``)."""

    db: Database
    store: FileStore
    settings: Settings
    qr_secret: bytes | None
    upload_dir: Any
    runner: JobRunner | None = None  # scans and re-reads run there, never in request threads (pipeline.jobs)

    def close(self) -> None:
        """Stop the background runner and close the database connections."""
        if self.runner is not None:
            self.runner.close()
        self.db.dispose()


def state() -> AppState:
    return current_app.extensions["phieu"]  # type: ignore[no-any-return]


@contextmanager
def session(*, write: bool = False) -> Iterator[Session]:
    """One transaction; ``write=True`` takes SQLite's write lock up front (no lock-upgrade failures)."""
    with state().db.session(immediate=write) as s:
        yield s


class Account(UserMixin):
    """The logged-in person as Flask-Login sees them: a snapshot of the ``User`` row."""

    def __init__(self, user: User) -> None:
        self.id = user.id
        self.username = user.username
        self.full_name = user.full_name
        self.role = user.role
        self.language = user.language
        self.active = user.active
        self._stamp = session_stamp(user)

    def get_id(self) -> str:
        return f"{self.id}:{self._stamp}"

    @property
    def is_active(self) -> bool:
        return self.active

    def row(self, s: Session) -> User:
        user = s.get(User, self.id)
        assert user is not None
        return user


def session_stamp(user: User) -> str:
    """What a session remembers of its user: a password change or a logout (a new generation) ends it."""
    return f"{user.password_hash[-16:]}:{user.session_generation or 0}"


def me() -> Account:
    return current_user  # type: ignore[return-value]


def wants_json() -> bool:
    if request.path.startswith("/api/") or request.args.get("format") == "json":
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def respond(template: str, data: dict[str, Any], status: int = 200) -> Response | tuple[str, int]:
    if wants_json():
        response = jsonify(data)
        response.status_code = status
        return response
    return render_template(template, **data), status


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def roles(*allowed: str) -> Callable[[F], F]:
    """Only these roles may use the view; anonymous visitors go to the login page (or get 401)."""

    def wrap(view: F) -> F:
        @functools.wraps(view)
        def inner(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
            if me().role not in allowed:
                abort(403)
            return view(*args, **kwargs)

        inner.allowed_roles = allowed  # type: ignore[attr-defined]
        return inner  # type: ignore[return-value]

    return wrap


def route(bp: Blueprint, rule: str, *, allowed: tuple[str, ...], methods: tuple[str, ...] = ("GET",)) -> Callable[[F], F]:
    """Register ``rule`` and its JSON twin ``/api<rule>`` for the roles ``allowed``."""

    def wrap(view: F) -> F:
        guarded = roles(*allowed)(view)
        bp.add_url_rule(rule, view_func=guarded, methods=list(methods))
        bp.add_url_rule("/api" + rule, view_func=guarded, methods=list(methods), endpoint=view.__name__)
        return guarded

    return wrap


def form_or_json() -> dict[str, Any]:
    """Request fields from an HTML form or a JSON body, the same way."""
    if request.is_json:
        body = request.get_json(silent=True)
        return body if isinstance(body, dict) else {}
    return request.form.to_dict()
