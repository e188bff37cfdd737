"""Where the work stands: the one source of every count the review UI shows.

The queue, "review all" (the item a person is handed next) and the progress page all read these
functions, so their figures cannot disagree: what a person "can take now" is counted with the very
conditions :func:`storage.review_queue.next_item` leases with.

The figures that grow with the round (open items by kind, sheets and pages by status) are running
counts kept by the database in the same transaction as each change (``Tally``, migration 0006); the
rest read small sets through their own index (live leases, a person's barred items, the last hours'
decisions). Nothing here counts answers, open items or sheets, which grow to millions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from storage.models import Answer, Decision, ReviewItem, Sheet, Tally, User
from storage.review_queue import ANSWER_KINDS, aware, now_utc

MIN_THROUGHPUT_HOURS = 5 / 60  # a reviewer's working span is at least five minutes
DONE_STATUSES = ("complete", "final")
RETURNED_STATUSES = ("scanned", "review", "complete", "final")


@dataclass(frozen=True)
class QueueCounts:
    """Open review items of one survey (or all), by kind, as one person sees them."""

    open: dict[str, int] = field(default_factory=dict)  # every open item, by kind
    for_user: dict[str, int] = field(default_factory=dict)  # what the person can take now, by kind
    held_by_others: int = 0  # answer items someone else is working on right now
    held_by_user: int = 0
    not_for_user: int = 0  # answer items the person may not decide: a second or third look at their own decision
    pages_without_survey: int = 0  # unidentified pages no survey could be told for (shown with every survey)

    @property
    def answers_open(self) -> int:
        return sum(self.open.get(k, 0) for k in ANSWER_KINDS)

    @property
    def answers_for_user(self) -> int:
        return sum(self.for_user.get(k, 0) for k in ANSWER_KINDS)

    @property
    def pages_open(self) -> int:
        return self.open.get("page", 0) + self.pages_without_survey

    def as_dict(self) -> dict[str, object]:
        return {"open": self.open, "for_user": self.for_user, "answers_open": self.answers_open,
                "answers_for_user": self.answers_for_user, "held_by_others": self.held_by_others,
                "held_by_user": self.held_by_user, "not_for_user": self.not_for_user,
                "pages_open": self.pages_open, "pages_without_survey": self.pages_without_survey}


def tallies(session: Session, subject: str, survey_id: int | None) -> dict[str, int]:
    """The running counts of ``subject`` ("item", "sheet", "page") by key, for one survey or (None) all."""
    query = select(Tally.key, func.sum(Tally.n)).where(Tally.subject == subject).group_by(Tally.key)
    if survey_id is not None:
        query = query.where(Tally.survey_id == survey_id)
    return {key: int(n) for key, n in session.execute(query) if n}


def queue_counts(session: Session, survey_id: int | None, user: User, *, now: datetime | None = None) -> QueueCounts:
    """Open items of ``survey_id`` (None: every survey) by kind, and which of them ``user`` can take now.

    Open items by kind are running counts (``tallies``); what the person cannot take is read from the
    small sets that hold it: the live leases (minutes old, a few per reviewer) and the items barred
    to this person (a second or third look at their own decisions). Nothing reads all open items.
    """
    moment = now or now_utc()
    opened = tallies(session, "item", survey_id)
    scope = [ReviewItem.status == "open"] + ([ReviewItem.survey_id == survey_id] if survey_id is not None else [])
    live = session.execute(select(ReviewItem.kind, ReviewItem.leased_by, ReviewItem.excluded_user_id,
                                  ReviewItem.excluded_user2_id)
                           .where(*scope, ReviewItem.lease_expires >= moment, ReviewItem.leased_by.is_not(None))).all()
    barred: dict[str, int] = {}
    for condition in (ReviewItem.excluded_user_id == user.id,  # one query per index (an OR would read every open item)
                      and_(ReviewItem.excluded_user2_id == user.id,
                           or_(ReviewItem.excluded_user_id.is_(None), ReviewItem.excluded_user_id != user.id))):
        for kind, n in session.execute(select(ReviewItem.kind, func.count(ReviewItem.id))
                                       .where(condition, *scope).group_by(ReviewItem.kind)):
            barred[kind] = barred.get(kind, 0) + int(n)
    mine = {kind: n - int(barred.get(kind, 0)) for kind, n in opened.items()}
    others = held = 0
    for kind, holder, excluded, excluded2 in live:
        if holder == user.id:
            held += kind in ANSWER_KINDS
        else:
            others += kind in ANSWER_KINDS
            if user.id not in (excluded, excluded2):  # not counted among the barred already
                mine[kind] = mine.get(kind, 0) - 1
    barred_answers = sum(int(n) for kind, n in barred.items() if kind in ANSWER_KINDS)
    loose = tallies(session, "item", 0).get("page", 0) if survey_id is not None else 0
    return QueueCounts(opened, mine, others, held, barred_answers, loose)


def sheet_counts(session: Session, survey_id: int) -> dict[str, int]:
    """Sheets of a survey by status, and the figures made of them (printed = every sheet)."""
    by_status = tallies(session, "sheet", survey_id)
    return {
        "printed": sum(by_status.values()),
        "returned": sum(by_status.get(s, 0) for s in RETURNED_STATUSES),
        "done": sum(by_status.get(s, 0) for s in DONE_STATUSES),
        "final": by_status.get("final", 0),
        "review": by_status.get("review", 0),
        "scanned": by_status.get("scanned", 0),  # some pages in, none waiting: the rest not returned yet
    }


def page_counts(session: Session, survey_id: int) -> dict[str, int]:
    """Pages of a survey's sheets by what became of them (identified, duplicate, identified but unreadable)."""
    return tallies(session, "page", survey_id)


@dataclass(frozen=True)
class Throughput:
    username: str
    decisions: int
    per_hour: float


def throughput(
    session: Session, survey_id: int | None = None, *, hours: float = 24.0, now: datetime | None = None
) -> list[Throughput]:
    """Decisions per reviewer over the last ``hours``; per hour = count / working span (≥ 5 minutes)."""
    since = (now or now_utc()) - timedelta(hours=hours)
    query = (
        select(User.username, func.count(Decision.id), func.min(Decision.decided_at), func.max(Decision.decided_at))
        .join(User, User.id == Decision.user_id)
        .where(Decision.decided_at >= since, Decision.kind.in_(("review", "second", "third", "correction")))
        .group_by(User.username)
        .order_by(User.username)
    )
    if survey_id is not None:  # checked per decision of the window (read by time first), never per sheet of the survey
        query = query.where(select(Answer.id).join(Sheet, Sheet.id == Answer.sheet_id)
                            .where(Answer.id == Decision.answer_id, Sheet.survey_id == survey_id).exists())
    rows = []
    for username, count, first, last in session.execute(query).all():
        span = (aware(last) - aware(first)).total_seconds() / 3600 if first and last else 0.0  # type: ignore[operator]
        rows.append(Throughput(username, int(count), round(count / max(span, MIN_THROUGHPUT_HOURS), 1)))
    return rows


def leases_by_user(session: Session, survey_id: int | None = None, *, now: datetime | None = None) -> dict[str, int]:
    """Open items each person holds right now (for a supervisor deciding to reassign)."""
    query = (
        select(User.username, func.count(ReviewItem.id))
        .join(User, User.id == ReviewItem.leased_by)
        .where(ReviewItem.status == "open", ReviewItem.lease_expires >= (now or now_utc()))
        .group_by(User.username)
    )
    if survey_id is not None:
        query = query.where(ReviewItem.survey_id == survey_id)
    return {name: int(n) for name, n in session.execute(query).all()}
