"""What a person may store as an answer: checked against the question's own codes before any decision.

Values, as elsewhere: ``None`` = blank; ``"*"`` = invalid (several answers, unreadable); a choice's
code; codes joined by ``;`` for multiple choice (stored in printed order, each once); a number's
digits, within the question's min/max and digit count; free text for write-ins and free-text
questions (at most ``MAX_TEXT`` characters). Anything else is refused with a message that names the
question and lists what it accepts, so "99" on a 1-5 scale never becomes a final answer.
"""

from __future__ import annotations

import functools

from sqlalchemy.orm import Session

from core.errors import PhieuError
from formgen.layout import Layout, QuestionLayout
from storage.models import Answer, Edition, Sheet

INVALID = "*"
MAX_TEXT = 2000
TEXT_KINDS = ("text", "writein")


@functools.lru_cache(maxsize=32)
def _parse(text: str) -> Layout:
    return Layout.from_json(text)


def layout_of_edition(session: Session, edition_id: int) -> Layout:
    """The edition's layout (parsed once per distinct layout: editions are frozen)."""
    edition = session.get(Edition, edition_id)
    if edition is None:
        raise PhieuError(f"Không có mẫu phiếu #{edition_id} / no edition #{edition_id}")
    return _parse(edition.layout_json)


def question_of(session: Session, answer: Answer) -> QuestionLayout | None:
    sheet = session.get(Sheet, answer.sheet_id)
    if sheet is None:
        return None
    try:
        return layout_of_edition(session, sheet.edition_id).question(answer.question)
    except KeyError:
        return None


def checked_value(question: QuestionLayout | None, kind: str, value: str | None) -> str | None:
    """``value`` as it will be stored, or PhieuError saying what the question accepts."""
    if value is None:
        return None
    value = str(value).strip()
    if value == "":
        return None
    if value == INVALID:
        return INVALID
    name = question.id if question is not None else "?"
    if kind in TEXT_KINDS:
        if len(value) > MAX_TEXT:
            raise PhieuError(f"Câu {name}: chữ chép lại dài quá {MAX_TEXT} ký tự / text longer than {MAX_TEXT} characters")
        return value
    if question is None:
        raise PhieuError(f"Câu {name} không có trong mẫu phiếu / question not in the sheet's layout")
    if kind == "number":
        return _number(question, value)
    codes = [o.value for o in question.options]
    listed = ", ".join(codes)
    chosen = [c.strip() for c in value.split(";")] if kind == "multiple" else [value]
    unknown = [c for c in chosen if c not in codes]
    if unknown or not chosen:
        shown = ", ".join(repr(c[:20]) for c in unknown) or repr(value[:20])
        raise PhieuError(
            f"Câu {name}: {shown} không phải mã của câu này; chọn {listed}, 0 (để trống) hoặc * (không hợp lệ). "
            f"/ Question {name}: {shown} is not one of its codes ({listed}); use 0 for blank or * for invalid."
        )
    if kind != "multiple":
        return value
    return ";".join(c for c in codes if c in set(chosen))  # printed order, each once


def _number(question: QuestionLayout, value: str) -> str:
    low, high, digits = question.min_value, question.max_value, question.digits
    bounds = f"{low if low is not None else '…'}–{high if high is not None else '…'}"
    if not value.isascii() or not value.isdigit() or (digits and len(value.lstrip("0") or "0") > digits):
        raise PhieuError(
            f"Câu {question.id}: {value[:20]!r} không phải một số{f' tối đa {digits} chữ số' if digits else ''} "
            f"/ question {question.id}: {value[:20]!r} is not a number{f' of at most {digits} digits' if digits else ''}"
        )
    number = int(value)
    if (low is not None and number < low) or (high is not None and number > high):
        raise PhieuError(
            f"Câu {question.id}: {number} ngoài khoảng {bounds} in trên phiếu; nếu phiếu ghi đúng như vậy hãy chọn * "
            f"(không hợp lệ) / question {question.id}: {number} is outside {bounds}; use * when the sheet says so"
        )
    return str(number)


def check(session: Session, answer: Answer, value: str | None) -> str | None:
    """``value`` checked against ``answer``'s question (see :func:`checked_value`)."""
    return checked_value(question_of(session, answer), answer.kind, value)
