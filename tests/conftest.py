"""Shared fixtures. Tests use real components: real files, real databases, real HTTP, a real browser."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


@pytest.fixture
def secret() -> bytes:
    return bytes(range(32))
