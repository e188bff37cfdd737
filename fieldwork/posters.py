"""One A4 poster per counter: its name and code, and a large QR code.

The QR code carries the survey's poster URL with the counter filled in (``{survey}``, ``{unit}``:
an online form for people who prefer their phone, as in the Hòa Thành plan) or, without one, the
counter's signed code ``PHU.SURVEY.UNIT.MAC``: the check-in screen reads it to show that counter's
day (visitors, sheets back, the quota rule).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.settings import FieldworkSettings
from fieldwork.frame import frame_units, get_survey
from fieldwork.plan import rules
from formgen.fonts import BOLD, REGULAR, register_fonts
from formgen.render import qr_modules
from storage.models import Unit

MM = 72.0 / 25.4
PREFIX = "PHU"
_PAYLOAD = re.compile(rf"^{PREFIX}\.([A-Z0-9][A-Z0-9-]{{1,23}})\.([A-Za-z0-9._-]{{1,40}})\.(\d{{12}})$")


@dataclass(frozen=True)
class CounterCode:
    survey: str
    unit: str


def counter_payload(survey: str, unit: str, secret: bytes) -> str:
    return f"{PREFIX}.{survey}.{unit}.{_mac(survey, unit, secret)}"


def parse_counter_payload(text: str, secret: bytes) -> CounterCode | None | bool:
    """The counter a poster code names; None when it is no poster code, False when its MAC is wrong."""
    m = _PAYLOAD.match(text.strip())
    if not m:
        return None
    survey, unit, code = m.groups()
    return CounterCode(survey, unit) if hmac.compare_digest(code, _mac(survey, unit, secret)) else False


def posters_pdf(session: Session, survey_code: str, secret: bytes, out: Path | BinaryIO, *,
                settings: FieldworkSettings, only: list[str] | None = None) -> int:
    """A poster for every counter of the frame (or the codes in ``only``); returns how many."""
    survey = get_survey(session, survey_code)
    url = rules(session, survey, settings).poster_url
    units = [u for u in frame_units(session, survey.id) if u.kind == "counter" and (not only or u.code in only)]
    parents = {u.id: u for u in session.scalars(select(Unit).where(Unit.survey_id == survey.id))}
    register_fonts()
    canvas = Canvas(str(out) if isinstance(out, Path) else out, pagesize=A4, invariant=1, pageCompression=1)
    canvas.setTitle(f"Áp phích quầy - {survey.code}")
    for unit in units:
        parent = parents.get(unit.parent_id) if unit.parent_id else None
        payload = url.format(survey=survey.code, unit=unit.code) if url else counter_payload(survey.code, unit.code, secret)
        _poster(canvas, survey.title, unit, parent.name if parent else "", payload, online=bool(url))
        canvas.showPage()
    canvas.save()
    return len(units)


def _poster(canvas: Canvas, title: str, unit: Unit, parent: str, payload: str, *, online: bool) -> None:
    width, height = A4
    y = height - 30 * MM
    canvas.setFont(BOLD, 24)
    canvas.drawCentredString(width / 2, y, "KHẢO SÁT SỰ HÀI LÒNG")
    y = _wrapped(canvas, title, REGULAR, 12, width / 2, y - 12 * MM, 170 * MM)
    y = _wrapped(canvas, unit.name, BOLD, 20, width / 2, y - 10 * MM, 180 * MM)
    if parent:
        canvas.setFont(REGULAR, 14)
        canvas.drawCentredString(width / 2, y - 8 * MM, parent)
        y -= 8 * MM
    side = 100 * MM
    _qr(canvas, payload, (width - side) / 2, y - 12 * MM - side, side)
    y -= side + 22 * MM
    lines = (["Quét mã để trả lời trên điện thoại, hoặc nhận phiếu giấy tại quầy."] if online else
             ["Mời Ông/Bà nhận phiếu khảo sát tại quầy, tự điền", "và bỏ vào hòm phiếu."])
    lines.append("Phiếu không ghi tên người trả lời.")
    canvas.setFont(REGULAR, 15)
    for line in lines:
        canvas.drawCentredString(width / 2, y, line)
        y -= 8 * MM
    canvas.setFont(REGULAR, 11)
    canvas.drawCentredString(width / 2, 18 * MM, f"Mã quầy: {unit.code}")


def _wrapped(canvas: Canvas, text: str, font: str, size: float, x: float, y: float, width: float) -> float:
    """Centred lines of ``text`` no wider than ``width``; returns the last baseline."""
    words, line = text.split(), ""
    canvas.setFont(font, size)
    for word in words:
        candidate = f"{line} {word}".strip()
        if canvas.stringWidth(candidate, font, size) > width and line:
            canvas.drawCentredString(x, y, line)
            y -= size * 1.35
            line = word
        else:
            line = candidate
    canvas.drawCentredString(x, y, line)
    return y


def _qr(canvas: Canvas, payload: str, x: float, y: float, side: float) -> None:
    modules = qr_modules(payload)
    n = modules.shape[0] + 8  # 4 modules of quiet zone on each side
    unit = side / n
    canvas.setFillGray(0)
    for row, col in zip(*modules.nonzero(), strict=True):
        canvas.rect(x + (col + 4) * unit, y + side - (row + 5) * unit, unit, unit, stroke=0, fill=1)


def _mac(survey: str, unit: str, secret: bytes) -> str:
    digest = hmac.new(secret, f"UNIT.{survey}.{unit}".encode(), hashlib.sha256).digest()
    return str(int.from_bytes(digest[:8], "big") % 10**12).zfill(12)
