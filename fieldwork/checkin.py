"""The check-in desk: what a clerk types (or a handheld scanner types, ending with Enter) becomes a
collected sheet, with an answer to show at once.

Accepted: a sheet's QR payload ``PH1.SURVEY.EDITION.SERIAL.PAGE.MAC`` (its MAC is verified with the
workspace secret: a forged or mistyped code is refused; when a Vietnamese input method left on at the
desk changed the letters, the signed ``SERIAL.PAGE.MAC`` end is enough), the digits line printed under
the code (``SERIAL-PAGE-MAC``), a bare serial of the survey on screen, or a counter poster's code.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import ConflictError
from core.settings import FieldworkSettings
from fieldwork import lifecycle, transmittal
from fieldwork.counters import counter_days, responses_by_day
from fieldwork.frame import get_survey
from fieldwork.posters import parse_counter_payload
from formgen.identity import SheetIdentity, mac, parse_digits, parse_payload, verify
from storage.fieldwork_models import Household
from storage.models import Edition, Sheet, Unit

# the end of a sheet's QR payload: SERIAL.PAGE.MAC, which a Vietnamese input method (Telex, VNI) typing
# on the scanner's behalf leaves as it is, while it may turn the survey code's letters into others
_TAIL = re.compile(r"(\d{7})\.(\d{1,2})\.(\d{12})\s*$")


@dataclass(frozen=True)
class CheckIn:
    outcome: str  # collected | already | refused | counter
    message: str  # Vietnamese first, for the screen
    serial: int | None = None
    unit: str = ""
    unit_name: str = ""
    household: str = ""
    status: str = ""
    collected: int = 0  # sheets of the unit back so far
    quota: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_in(session: Session, survey_code: str, typed: str, *, secret: bytes | None, actor: str,
             day: date | None = None, batch: str | None = None, settings: FieldworkSettings | None = None) -> CheckIn:
    """Mark the sheet ``typed`` names collected (and put it in ``batch`` if given)."""
    survey = get_survey(session, survey_code)
    text = typed.strip()
    if not text:
        return CheckIn("refused", "Chưa nhập gì / nothing typed")
    counter = parse_counter_payload(text, secret) if secret and text.startswith("PHU.") else None
    if counter is not None:
        return _counter(session, survey_code, counter, day or date.today(), settings or FieldworkSettings())
    serial = _serial(session, survey.code, survey.id, text, secret)
    if isinstance(serial, CheckIn):
        return serial
    sheet = session.scalar(select(Sheet).where(Sheet.survey_id == survey.id, Sheet.serial == serial))
    if sheet is None:
        return CheckIn("refused", f"Không có phiếu số {serial} trong {survey.code} / no such sheet", serial)
    verdict = lifecycle.transition(sheet.field_status, "collected")
    if verdict not in ("ok", "same"):
        return _answer(session, sheet, "refused", f"Phiếu {serial}: {verdict}")
    if batch:
        transmittal.add_sheets(session, survey.code, batch, [serial], actor=actor, source="checkin")
    elif verdict == "ok":
        lifecycle.mark(session, survey.code, [serial], "collected", actor=actor, source="checkin", day=day)
    if verdict == "same":
        return _answer(session, sheet, "already",
                       f"Phiếu {serial} đã ghi nhận từ trước: {lifecycle.LABELS[sheet.field_status]} "
                       f"/ already {sheet.field_status}")
    return _answer(session, sheet, "collected", f"Đã thu phiếu {serial} / sheet {serial} collected")


def _serial(session: Session, survey_code: str, survey_id: int, text: str, secret: bytes | None) -> int | CheckIn:
    tail = _TAIL.search(text)
    if text.upper().startswith("PH1.") or tail:
        if secret is None:
            return CheckIn("refused", "Máy chủ không có khoá để kiểm tra mã / the server has no key to check codes")
        parsed = parse_payload(text.upper())
        if parsed is not None and verify(parsed, secret):
            if parsed.identity.survey != survey_code:
                return CheckIn("refused", f"Phiếu của khảo sát {parsed.identity.survey}, không phải {survey_code} "
                                          f"/ a sheet of another survey", parsed.identity.serial)
            return parsed.identity.serial
        if tail and _signed(session, survey_code, survey_id, tail, secret):
            return int(tail.group(1))  # the letters were changed on the way (Telex/VNI typing on), the digits are signed
        serial = parsed.identity.serial if parsed else (int(tail.group(1)) if tail else None)
        return CheckIn("refused", "Mã QR sai chữ ký: phiếu giả hoặc gõ nhầm / the code's signature is wrong", serial)
    digits = parse_digits(text)
    if digits is not None:
        serial, page, code = digits
        editions = session.scalars(select(Edition.code).where(Edition.survey_id == survey_id))
        if secret is not None and any(code == mac(SheetIdentity(survey_code, e, serial, page), secret) for e in editions):
            return serial
        return CheckIn("refused", "Dãy số dưới mã QR không khớp / the digits line does not check out", serial)
    if text.isdigit() and len(text) <= 7:
        return int(text)
    return CheckIn("refused", f"Không đọc được {text[:40]!r}: gõ số phiếu hoặc quét mã QR / type a serial or scan the code")


def _signed(session: Session, survey_code: str, survey_id: int, tail: re.Match[str], secret: bytes) -> bool:
    """Whether SERIAL.PAGE.MAC at the end of a code is signed for one of this survey's editions."""
    serial, page, code = int(tail.group(1)), int(tail.group(2)), tail.group(3)
    editions = session.scalars(select(Edition.code).where(Edition.survey_id == survey_id))
    return any(hmac.compare_digest(code, mac(SheetIdentity(survey_code, e, serial, page), secret)) for e in editions)


def _answer(session: Session, sheet: Sheet, outcome: str, message: str) -> CheckIn:
    unit = session.get(Unit, sheet.unit_id) if sheet.unit_id else None
    household = session.scalar(select(Household.code).where(Household.id == sheet.household_id)) if sheet.household_id else ""
    collected = 0
    if unit is not None:
        collected = len([s for s in session.scalars(select(Sheet.field_status).where(Sheet.unit_id == unit.id))
                         if s in ("collected", "scanned")])
    return CheckIn(outcome, message, sheet.serial, unit.code if unit else "", unit.name if unit else "",
                   household or "", sheet.field_status, collected, unit.quota if unit else None)


def _counter(session: Session, survey_code: str, counter: Any, day: date, settings: FieldworkSettings) -> CheckIn:
    if counter is False:
        return CheckIn("refused", "Mã áp phích sai chữ ký / the poster code's signature is wrong")
    if counter.survey != survey_code:
        raise ConflictError(f"Áp phích của khảo sát {counter.survey} / a poster of another survey")
    survey = get_survey(session, survey_code)
    unit = session.scalar(select(Unit).where(Unit.survey_id == survey.id, Unit.code == counter.unit))
    if unit is None:
        return CheckIn("refused", f"Không có quầy {counter.unit} / no such counter")
    back = responses_by_day(session, survey.id).get((unit.id, "", day), 0)
    today = [d for d in counter_days(session, survey, settings) if d.unit_id == unit.id and d.day == day and not d.field]
    rule = f"; lượt đến {today[0].visitors}: {today[0].problem or 'đạt quy tắc / keeps the rule'}" if today else ""
    return CheckIn("counter", f"Quầy {unit.name}: hôm nay đã thu {back} phiếu{rule}", None, unit.code, unit.name,
                   collected=back, quota=unit.quota)
