"""What every view shares: the app state, role checks, and the HTML/JSON twin of each page.

A page is a data function plus a rendering: ``respond(template, data)`` renders ``data`` through the
template, or returns it as JSON when the client asks (``/api/...`` path, ``?format=json`` or an
``Accept: application/json`` header). Errors have one JSON shape: ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request
from flask_login import UserMixin, current_user
from sqlalchemy.orm import Session

from core.settings import Settings
from pipeline.jobs import JobRunner
from storage.db import Database
from storage.files import FileStore
from storage.models import User

F = TypeVar("F", bound=Callable[..., Any])
STAFF = ("admin", "supervisor", "reviewer")
MANAGERS = ("admin", "supervisor")
EVERYONE = ("admin", "supervisor", "reviewer", "clerk")


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
        self._stamp = user.password_hash[-16:]  # a password change ends the other sessions

    def get_id(self) -> str:
        return f"{self.id}:{self._stamp}"

    @property
    def is_active(self) -> bool:
        return self.active

    def row(self, s: Session) -> User:
        user = s.get(User, self.id)
        assert user is not None
        return user


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
