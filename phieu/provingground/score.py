"""Score what the pipeline stored against the proving ground's ground truth.

Used by the end-to-end tests, ``benchmarks/accuracy.py`` and the demo. For every answer the truth
knows, the stored answer is one of:

- ``correct``: auto-accepted and equal to the truth (a blank accepted as blank counts too);
- ``review``: sent to a person (right when the truth says ``review``; costs work otherwise);
- ``wrong``: auto-accepted but different from the truth, or auto-accepted where the truth says a
  person must decide. This is the number that must stay near zero;
- ``missing``: nothing stored (the page was not identified or was a duplicate).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from phieu.provingground.truth import SheetTruth
from storage.models import Answer, Sheet, Survey


@dataclass
class Score:
    answers: int = 0
    correct: int = 0
    review: int = 0
    review_expected: int = 0  # of ``review``: the truth itself asked for a person
    wrong: int = 0
    missing: int = 0
    wrong_examples: list[str] = field(default_factory=list)
    by_reason: Counter[str] = field(default_factory=Counter)

    @property
    def accepted(self) -> int:
        return self.correct + self.wrong

    @property
    def wrong_share(self) -> float:
        """Share of auto-accepted answers that are wrong (target ≤ 0.0001)."""
        return self.wrong / self.accepted if self.accepted else 0.0

    @property
    def review_share(self) -> float:
        """Share of stored answers sent to review (target ≤ 2% office, ≤ 5% phone)."""
        stored = self.answers - self.missing
        return self.review / stored if stored else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "answers": self.answers,
            "correct": self.correct,
            "review": self.review,
            "review_expected": self.review_expected,
            "wrong": self.wrong,
            "missing": self.missing,
            "wrong_share": self.wrong_share,
            "review_share": self.review_share,
            "review_reasons": dict(self.by_reason),
            "wrong_examples": self.wrong_examples[:20],
        }


@dataclass(frozen=True)
class Verdict:
    """What became of one answer the truth knows: ``correct``, ``review``, ``wrong`` or ``missing``."""

    verdict: str
    stored: str | None = None
    status: str | None = None
    reason: str | None = None


def score_answers(session: Session, survey_code: str, truths: Iterable[SheetTruth]) -> Score:
    """Compare the stored answers of the given sheets with their truth (see module docstring)."""
    truths = list(truths)
    verdicts = answer_verdicts(session, survey_code, truths)
    score = Score()
    for truth in truths:
        for (question, item), expected in truth.answers.items():
            found = verdicts[(truth.serial, question, item)]
            score.answers += 1
            if found.verdict == "missing":
                score.missing += 1
            elif found.verdict == "review":
                score.review += 1
                score.review_expected += expected.expect == "review"
                score.by_reason[found.reason or "?"] += 1
            elif found.verdict == "correct":
                score.correct += 1
            else:
                score.wrong += 1
                score.wrong_examples.append(
                    f"serial {truth.serial} {question}/{item or '-'}: stored {found.stored!r}, truth {expected.value!r} "
                    f"({expected.expect}, marks {[m.style for m in expected.marks]})"
                )
    return score


def answer_verdicts(
    session: Session, survey_code: str, truths: Iterable[SheetTruth]
) -> dict[tuple[int, str, str], Verdict]:
    """The verdict on every answer of the given sheets, by (serial, question, item)."""
    truths = list(truths)
    serials = [t.serial for t in truths]
    rows = session.execute(
        select(Sheet.serial, Answer.question, Answer.item, Answer.machine_value, Answer.status, Answer.machine_reason)
        .join(Sheet, Answer.sheet_id == Sheet.id)
        .join(Survey, Sheet.survey_id == Survey.id)
        .where(Survey.code == survey_code, Sheet.serial.in_(serials))
    )
    stored = {(serial, q, item): (value, status, reason) for serial, q, item, value, status, reason in rows}
    read_serials = {serial for serial, _q, _i in stored}
    verdicts: dict[tuple[int, str, str], Verdict] = {}
    for truth in truths:
        for (question, item), expected in truth.answers.items():
            key = (truth.serial, question, item)
            found = stored.get(key)
            if found is None:
                # an empty write-in may be stored as nothing at all: right, when the sheet was read
                empty_writein = expected.expect == "blank" and expected.kind == "writein"
                verdicts[key] = Verdict("correct" if empty_writein and truth.serial in read_serials else "missing")
                continue
            value, status, reason = found
            if status == "review":
                verdict = "review"
            elif expected.expect != "review" and _same(value, expected.value):
                verdict = "correct"
            else:
                verdict = "wrong"
            verdicts[key] = Verdict(verdict, value, status, reason)
    return verdicts


def _same(stored: str | None, truth: str | None) -> bool:
    return (stored or None) == (truth or None)
