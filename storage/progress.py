"""Where the work stands: the one source of every count the review UI shows.

The queue, "review all" (the item a person is handed next) and the progress page all read these
functions, so their figures cannot disagree: what a person "can take now" is counted with the very
conditions :func:`storage.review_queue.next_item` leases with.

The counts read open review items (what people still have to do, a small set: index ix_review_open)
and sheets grouped by status (index ix_sheets_survey_status_serial, which PostgreSQL answers from the
index alone); never a COUNT over answers, which grow to millions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from storage.models import Answer, Decision, Page, ReviewItem, Sheet, User
from storage.review_queue import ANSWER_KINDS, available, aware, not_excluded, now_utc

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


def queue_counts(session: Session, survey_id: int | None, user: User, *, now: datetime | None = None) -> QueueCounts:
    """Open items of ``survey_id`` (None: every survey) by kind, and which of them ``user`` can take now."""
    moment = now or now_utc()
    live = and_(ReviewItem.leased_by.is_not(None), ReviewItem.lease_expires >= moment)
    query = select(
        ReviewItem.kind,
        func.count(ReviewItem.id),
        func.sum(case((and_(*available(user, moment)), 1), else_=0)),
        func.sum(case((and_(live, ReviewItem.leased_by != user.id), 1), else_=0)),
        func.sum(case((and_(live, ReviewItem.leased_by == user.id), 1), else_=0)),
        func.sum(case((not_excluded(user), 0), else_=1)),
    ).where(ReviewItem.status == "open").group_by(ReviewItem.kind)
    if survey_id is not None:
        query = query.where(ReviewItem.survey_id == survey_id)
    opened, mine = {}, {}
    others = held = barred = 0
    for kind, count, takeable, by_others, by_user, excluded in session.execute(query):
        opened[kind], mine[kind] = int(count), int(takeable or 0)
        if kind in ANSWER_KINDS:
            others, held, barred = others + int(by_others or 0), held + int(by_user or 0), barred + int(excluded or 0)
    loose = 0
    if survey_id is not None:
        loose = session.scalar(select(func.count(ReviewItem.id)).where(
            ReviewItem.status == "open", ReviewItem.kind == "page", ReviewItem.survey_id.is_(None))) or 0
    return QueueCounts(opened, mine, others, held, barred, int(loose))


def sheet_counts(session: Session, survey_id: int) -> dict[str, int]:
    """Sheets of a survey by status, and the figures made of them (printed = every sheet)."""
    rows = session.execute(
        select(Sheet.status, func.count(Sheet.id)).where(Sheet.survey_id == survey_id).group_by(Sheet.status)
    ).all()
    by_status = {status: int(n) for status, n in rows}
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
    rows = session.execute(
        select(Page.status, func.count(Page.id)).join(Sheet, Sheet.id == Page.sheet_id)
        .where(Sheet.survey_id == survey_id).group_by(Page.status)
    ).all()
    return {status: int(n) for status, n in rows}


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
    if survey_id is not None:
        query = query.join(Answer, Answer.id == Decision.answer_id).join(Sheet, Sheet.id == Answer.sheet_id)
        query = query.where(Sheet.survey_id == survey_id)
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
