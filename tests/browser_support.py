"""Shared by the browser tests: Debian's Chromium driven by Playwright, and a keyboard login."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

# Screenshots go to build/screenshots (ignored by git), so a test run leaves the work tree clean;
# PHIEU_SCREENSHOTS=docs/screenshots refreshes the ones the README shows.
SHOTS = Path(os.environ.get("PHIEU_SCREENSHOTS") or Path(__file__).resolve().parent.parent / "build" / "screenshots")
CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps dialling out on this closed network.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def require_chromium() -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (bash scripts/dev.sh setup installs it)")


def login(browser: Any, base: str, username: str, password: str, *, height: int = 820, locale: str | None = None) -> Any:
    """A new browser context logged in with keys only; returns its page."""
    options: dict[str, Any] = {"viewport": {"width": 1280, "height": height}}
    if locale:
        options["locale"] = locale
    page = browser.new_context(**options).new_page()
    page.goto(base + "/login")
    page.focus("input[name=username]")  # autofocus too, but not yet applied on a busy machine
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(password)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/login" not in url)
    return page
