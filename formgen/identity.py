"""Sheet identity printed on every page: survey, edition, serial, page, signed with a short MAC.

Leaf module (no reportlab/OpenCV/SQLAlchemy). The QR payload uses only characters of the QR
alphanumeric mode (upper case, digits, ``.-``) so the code stays small and robust:

    PH1.<SURVEY>.<EDITION>.<SERIAL:07d>.<PAGE>.<MAC:12 digits>

The same identity is printed in human-readable digits, ``<SERIAL>-<PAGE>-<MAC>``, which the
scanner can OCR when no QR decoder can read the code; survey and edition are then found by
trying each registered edition's MAC.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

PAYLOAD_PREFIX = "PH1"
MAC_DIGITS = 12
SERIAL_DIGITS = 7
SURVEY_ID_PATTERN = r"[A-Z0-9][A-Z0-9-]{1,23}"
EDITION_PATTERN = r"[A-Z0-9][A-Z0-9-]{0,7}"

_PAYLOAD_RE = re.compile(
    rf"^{PAYLOAD_PREFIX}\.({SURVEY_ID_PATTERN})\.({EDITION_PATTERN})\.(\d{{{SERIAL_DIGITS}}})\.(\d{{1,2}})\.(\d{{{MAC_DIGITS}}})$"
)
_DIGITS_RE = re.compile(rf"(\d{{{SERIAL_DIGITS}}})-(\d{{1,2}})-(\d{{{MAC_DIGITS}}})")


@dataclass(frozen=True, order=True)
class SheetIdentity:
    survey: str
    edition: str
    serial: int
    page: int  # 1-based page number within the sheet


def mac(identity: SheetIdentity, secret: bytes) -> str:
    """12 decimal digits of HMAC-SHA256 over the identity (about 40 bits: forging needs the secret)."""
    msg = f"{identity.survey}.{identity.edition}.{identity.serial}.{identity.page}".encode()
    digest = hmac.new(secret, msg, hashlib.sha256).digest()
    return str(int.from_bytes(digest[:8], "big") % 10**MAC_DIGITS).zfill(MAC_DIGITS)


def encode_payload(identity: SheetIdentity, secret: bytes) -> str:
    """The QR text of one page."""
    return (
        f"{PAYLOAD_PREFIX}.{identity.survey}.{identity.edition}."
        f"{identity.serial:0{SERIAL_DIGITS}d}.{identity.page}.{mac(identity, secret)}"
    )


def human_digits(identity: SheetIdentity, secret: bytes) -> str:
    """The digits line printed under the QR code: ``SERIAL-PAGE-MAC``."""
    return f"{identity.serial:0{SERIAL_DIGITS}d}-{identity.page}-{mac(identity, secret)}"


@dataclass(frozen=True)
class ParsedPayload:
    identity: SheetIdentity
    mac: str


def parse_payload(text: str) -> ParsedPayload | None:
    """Split a QR text into identity and MAC; ``None`` if it is not a phieu payload at all."""
    m = _PAYLOAD_RE.match(text.strip())
    if not m:
        return None
    survey, edition, serial, page, code = m.groups()
    return ParsedPayload(SheetIdentity(survey, edition, int(serial), int(page)), code)


def verify(parsed: ParsedPayload, secret: bytes) -> bool:
    """True when the MAC matches: the code was printed by this workspace and not altered."""
    return hmac.compare_digest(parsed.mac, mac(parsed.identity, secret))


def parse_digits(text: str) -> tuple[int, int, str] | None:
    """Find ``SERIAL-PAGE-MAC`` in OCR output; returns (serial, page, mac) or ``None``."""
    m = _DIGITS_RE.search(text.replace(" ", ""))
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)), m.group(3)


def identify_digits(
    text: str, editions: list[tuple[str, str]], secret: bytes
) -> SheetIdentity | None:
    """Resolve an OCR'd digits line against the registered (survey, edition) pairs by MAC."""
    found = parse_digits(text)
    if found is None:
        return None
    serial, page, code = found
    for survey, edition in editions:
        candidate = SheetIdentity(survey, edition, serial, page)
        if hmac.compare_digest(code, mac(candidate, secret)):
            return candidate
    return None
