"""The web server: waitress, with request bodies capped before they are read.

waitress reads a request's whole body (spooling it to a temporary file) before the application
sees the request, so the application's own limit comes too late. Here the server itself refuses
(413) a body larger than ``review.max_upload_mb``, and larger than ``review.anonymous_body_kb``
from anyone whose request carries no signed-in session cookie: a stranger cannot make the server
store a gigabyte before the login page answers.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from flask import Flask
from itsdangerous import BadSignature
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from werkzeug.http import parse_cookie

THREADS = 8


class _Limited:
    """waitress's adjustments for one request, with a smaller body limit."""

    def __init__(self, base: Any, max_body: int) -> None:
        self._base = base
        self.max_request_body_size = max_body

    def __getattr__(self, name: str) -> Any:
        return getattr(self._base, name)


def signed_in(app: Flask, cookie_header: str) -> bool:
    """True when the Cookie header holds a session cookie signed by ``app`` naming a user."""
    value = parse_cookie(cookie_header).get(app.config["SESSION_COOKIE_NAME"])
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    if not value or serializer is None:
        return False
    try:
        data = serializer.loads(value, max_age=int(app.permanent_session_lifetime.total_seconds()))
    except BadSignature:
        return False
    return isinstance(data, dict) and "_user_id" in data


def _channel_for(app: Flask, anonymous_bytes: int) -> type[HTTPChannel]:
    class Parser(HTTPRequestParser):  # type: ignore[misc]
        adj: Any

        def parse_header(self, header_plus: bytes) -> None:
            super().parse_header(header_plus)
            if not signed_in(app, self.headers.get("COOKIE", "")):
                self.adj = _Limited(self.adj, anonymous_bytes)  # checked before the body is read

    class Channel(HTTPChannel):  # type: ignore[misc]
        parser_class = Parser

    return Channel


def make_server(app: Flask, host: str, port: int) -> Any:
    """A waitress server bound to (host, port) — port 0 picks a free one; ``.run()`` serves, ``.close()`` stops."""
    from waitress.server import create_server

    review = app.extensions["phieu"].settings.review
    largest = review.max_upload_mb * 1024 * 1024 + 64 * 1024  # the files plus the form around them
    server = create_server(app, host=host, port=port, threads=THREADS, ident="phieu", max_request_body_size=largest)
    server.channel_class = _channel_for(app, review.anonymous_body_kb * 1024)
    return server


class BackgroundServer:
    """The app served by waitress in a daemon thread (tests, benchmarks, the demo); ``stop()`` ends it cleanly."""

    def __init__(self, app: Flask, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server = make_server(app, host, port)
        self.url = f"http://{host}:{self.server.effective_port}"
        self.thread = threading.Thread(target=self._run, name="phieu-waitress", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with contextlib.suppress(OSError):  # the sockets were closed by stop()
            self.server.run()

    def stop(self) -> None:
        self.server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)  # workers first: no late wake-ups
        self.server.close()
        # and every connection still open (a browser's keep-alive): else their sockets outlive the server
        for channel in list(getattr(self.server, "_map", {}).values()):
            with contextlib.suppress(OSError):
                channel.close()
        self.thread.join(5)
