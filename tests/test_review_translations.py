"""Every interface string of the review UI has its English translation, and the compiled catalogue is current."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

UI = Path(__file__).resolve().parent.parent / "review_ui"
CATALOGUE = UI / "translations" / "en" / "LC_MESSAGES"
MARKED = re.compile(r"""_\(\s*(['"])(.+?)\1\s*[,)]""")  # _("...") and _("... %(n)s", n=...)


def _marked_strings() -> set[str]:
    found: set[str] = set()
    for path in [*UI.rglob("*.html"), *UI.rglob("*.py")]:
        found |= {m.group(2) for m in MARKED.finditer(path.read_text(encoding="utf-8"))}
    return found


def test_every_marked_string_is_translated_and_compiled() -> None:
    with (CATALOGUE / "messages.po").open("rb") as fh:
        po = {m.id: m.string for m in read_po(fh) if m.id}
    with (CATALOGUE / "messages.mo").open("rb") as fh:
        mo = {m.id: m.string for m in read_mo(fh) if m.id}
    marked = _marked_strings()
    assert len(marked) > 100
    missing = sorted(s for s in marked if not po.get(s))
    assert not missing, f"add English for these to messages.po and recompile (pybabel compile): {missing}"
    assert {k: mo.get(k) for k in marked} == {k: po[k] for k in marked}, "messages.mo is older than messages.po"
