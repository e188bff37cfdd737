"""The review queue: leasing items to reviewers, recording their decisions, reopening them.

Concurrency rule: every change to a ``ReviewItem`` is a conditional UPDATE that names the version
(and the lease) it expects and bumps the version; a rowcount of 0 means someone else got there
first. This works the same on SQLite and PostgreSQL without row locks.
Machine readings are never touched: decisions are new ``Decision`` rows, the answer's
``final_value`` mirrors the latest one, and every change is an audit event.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from core.errors import ConflictError, NotFoundError
from storage import audit
from storage.models import (
    Answer,
    Decision,
    Edition,
    Page,
    ReviewItem,
    Sheet,
    SheetPage,
    Survey,
    User,
)
from storage.scans import refresh_sheet_status

log = logging.getLogger(__name__)

ANSWER_KINDS = ("answer", "writein", "second")
INVALID = "*"  # decision value for "invalid / several marks"
CANDIDATES_PER_TRY = 8  # rows read per attempt when others are leasing the same head of the queue
MIN_THROUGHPUT_HOURS = 5 / 60  # a reviewer's working span is at least five minutes


def now_utc() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _available(user: User, moment: datetime) -> list:  # type: ignore[type-arg]
    return [
        ReviewItem.status == "open",
        or_(ReviewItem.leased_by.is_(None), ReviewItem.lease_expires < moment, ReviewItem.leased_by == user.id),
        or_(ReviewItem.excluded_user_id.is_(None), ReviewItem.excluded_user_id != user.id),
    ]


def _try_lease(session: Session, item_id: int, version: int, user: User, moment: datetime, seconds: int) -> bool:
    result = session.execute(
        update(ReviewItem)
        .where(
            ReviewItem.id == item_id,
            ReviewItem.version == version,
            ReviewItem.status == "open",
            or_(ReviewItem.leased_by.is_(None), ReviewItem.lease_expires < moment, ReviewItem.leased_by == user.id),
        )
        .values(leased_by=user.id, lease_expires=moment + timedelta(seconds=seconds), version=version + 1)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def next_item(
    session: Session,
    user: User,
    survey_id: int | None = None,
    *,
    lease_seconds: int,
    kinds: Sequence[str] = ANSWER_KINDS,
    exclude_ids: Sequence[int] = (),
    now: datetime | None = None,
) -> ReviewItem | None:
    """Lease the next open item to ``user`` (their own unexpired lease first) or return None.

    Items leased to someone else are skipped until their lease expires; a second-review item is never
    given to the person who made the first decision. When the item is a grid row, the other open rows
    of the same sheet and grid question are leased with it (see :func:`item_group`).
    ``exclude_ids``: items the caller already shows or skipped.
    """
    moment = now or now_utc()
    conditions = [*_available(user, moment), ReviewItem.kind.in_(kinds)]
    if survey_id is not None:
        conditions.append(ReviewItem.survey_id == survey_id)
    if exclude_ids:
        conditions.append(ReviewItem.id.not_in(list(exclude_ids)))
    base = select(ReviewItem.id, ReviewItem.version).where(*conditions)
    for _attempt in range(20):
        # the user's own live lease first (resume), then the queue in id order (uses ix_review_open)
        rows = list(session.execute(base.where(ReviewItem.leased_by == user.id).order_by(ReviewItem.id).limit(1)).all())
        rows += session.execute(base.order_by(ReviewItem.id).limit(CANDIDATES_PER_TRY)).all()
        if not rows:
            return None
        for item_id, version in rows:
            if _try_lease(session, item_id, version, user, moment, lease_seconds):
                item = session.get(ReviewItem, item_id, populate_existing=True)
                assert item is not None
                _lease_siblings(session, item, user, moment, lease_seconds)
                return item
    return None


def lease_item(session: Session, item_id: int, user: User, *, lease_seconds: int, now: datetime | None = None) -> ReviewItem:
    """Lease one named item (opened from a link); ConflictError when someone else holds it or it is settled."""
    moment = now or now_utc()
    item = session.get(ReviewItem, item_id)
    if item is None:
        raise NotFoundError(f"Không có mục duyệt #{item_id} / review item #{item_id} does not exist")
    if item.excluded_user_id != user.id and _try_lease(session, item.id, item.version, user, moment, lease_seconds):
        item = session.get(ReviewItem, item_id, populate_existing=True)
        assert item is not None
        _lease_siblings(session, item, user, moment, lease_seconds)
        return item
    raise ConflictError(_conflict_message(session, item, user))


def _sibling_query(item: ReviewItem, answer: Answer):  # type: ignore[no-untyped-def]
    return (
        select(ReviewItem)
        .join(Answer, Answer.id == ReviewItem.answer_id)
        .where(
            Answer.sheet_id == answer.sheet_id,
            Answer.question == answer.question,
            Answer.kind == "grid",
            ReviewItem.kind == item.kind,
            ReviewItem.status == "open",
        )
        .order_by(ReviewItem.id)
    )


def _lease_siblings(session: Session, item: ReviewItem, user: User, moment: datetime, seconds: int) -> None:
    answer = session.get(Answer, item.answer_id) if item.answer_id else None
    if answer is None or answer.kind != "grid":
        return
    for sibling in session.scalars(_sibling_query(item, answer)).all():
        if sibling.id != item.id and (sibling.excluded_user_id != user.id):
            _try_lease(session, sibling.id, sibling.version, user, moment, seconds)
    session.expire_all()


def item_group(session: Session, item: ReviewItem, user: User, *, now: datetime | None = None) -> list[ReviewItem]:
    """The item plus the other open rows of its grid on the same sheet that ``user`` holds (grid row set)."""
    answer = session.get(Answer, item.answer_id) if item.answer_id else None
    if answer is None or answer.kind != "grid":
        return [item]
    moment = now or now_utc()
    group = []
    for sibling in session.scalars(_sibling_query(item, answer)).all():
        expires = aware(sibling.lease_expires)
        if sibling.id == item.id or (sibling.leased_by == user.id and expires is not None and expires > moment):
            group.append(sibling)
    return group or [item]


def release(session: Session, item_id: int, user: User) -> None:
    """Give an item back to the queue (skip). Only the holder's lease is released."""
    session.execute(
        update(ReviewItem)
        .where(ReviewItem.id == item_id, ReviewItem.leased_by == user.id, ReviewItem.status == "open")
        .values(leased_by=None, lease_expires=None, version=ReviewItem.version + 1)
        .execution_options(synchronize_session=False)
    )


def _close(session: Session, item_id: int, user: User, expected_version: int, moment: datetime) -> ReviewItem:
    """Close an item the user may decide on, or raise ConflictError saying why not."""
    result = session.execute(
        update(ReviewItem)
        .where(
            ReviewItem.id == item_id,
            ReviewItem.version == expected_version,
            ReviewItem.status == "open",
            or_(ReviewItem.leased_by == user.id, ReviewItem.leased_by.is_(None), ReviewItem.lease_expires < moment),
            or_(ReviewItem.excluded_user_id.is_(None), ReviewItem.excluded_user_id != user.id),
        )
        .values(status="done", closed_at=moment, leased_by=user.id, version=expected_version + 1)
        .execution_options(synchronize_session=False)
    )
    item = session.get(ReviewItem, item_id, populate_existing=True)
    if item is None:
        raise NotFoundError(f"Không có mục duyệt #{item_id} / review item #{item_id} does not exist")
    if result.rowcount == 1:  # type: ignore[attr-defined]
        return item
    raise ConflictError(_conflict_message(session, item, user))


def _conflict_message(session: Session, item: ReviewItem, user: User) -> str:
    holder = session.get(User, item.leased_by) if item.leased_by else None
    who = holder.username if holder else "?"
    if item.status != "open":
        return (
            f"Mục #{item.id} đã được {who} xử lý trong lúc bạn xem; quyết định của bạn không được lưu. "
            f"/ Item #{item.id} was settled by {who} meanwhile; your decision was not saved."
        )
    if item.excluded_user_id == user.id:
        return (
            f"Mục #{item.id} cần người thứ hai duyệt lại, không phải bạn. "
            f"/ Item #{item.id} needs a second reviewer other than you."
        )
    if holder is not None and holder.id != user.id:
        return (
            f"Mục #{item.id} đang do {who} giữ (hết hạn giữ chỗ của bạn). Hãy lấy mục tiếp theo. "
            f"/ Item #{item.id} is now held by {who} (your lease expired). Take the next item."
        )
    return (
        f"Mục #{item.id} đã thay đổi từ lúc bạn mở (phiên bản {item.version}); hãy tải lại. "
        f"/ Item #{item.id} changed since you opened it (now version {item.version}); reload it."
    )


@dataclass(frozen=True)
class DecisionResult:
    decision: Decision | None
    second_item: ReviewItem | None


def decide(
    session: Session,
    item_id: int,
    user: User,
    value: str | None,
    expected_version: int,
    *,
    second_review_share: float = 0.0,
    now: datetime | None = None,
) -> DecisionResult:
    """Record ``user``'s decision on an answer item: None = blank, "*" = invalid, else code(s) or text.

    Refuses (ConflictError) when the item was settled, re-leased or changed since ``expected_version``.
    A first decision may create a second-review item (share from the survey or ``second_review_share``,
    whichever is larger), which the first reviewer never receives.
    """
    moment = now or now_utc()
    item = _close(session, item_id, user, expected_version, moment)
    if item.kind not in ANSWER_KINDS or item.answer_id is None:
        raise ConflictError(f"Mục #{item_id} là một trang, không phải câu trả lời / item #{item_id} is a page")
    answer = session.get(Answer, item.answer_id)
    assert answer is not None
    decision = Decision(
        answer_id=answer.id,
        review_item_id=item.id,
        user_id=user.id,
        value=value,
        kind="second" if item.kind == "second" else "review",
        decided_at=moment,
    )
    session.add(decision)
    second = None
    if item.kind == "second":
        second = _settle_second(session, item, answer, user, value, moment)
    else:
        answer.final_value = value
        answer.status = "reviewed"
        share = max(second_review_share, _survey_share(session, answer))
        if _chosen_for_second(answer.id, share):
            second = ReviewItem(
                kind="second",
                survey_id=item.survey_id,
                answer_id=answer.id,
                reason="second_review",
                excluded_user_id=user.id,
            )
            session.add(second)
    answer.version += 1
    session.flush()
    audit.record(
        session,
        actor=user.username,
        action="decide",
        entity="answer",
        entity_id=answer.id,
        detail={"item": item.id, "kind": decision.kind, "value": value, "machine_value": answer.machine_value},
    )
    _update_sheet_status(session, answer.sheet_id)
    return DecisionResult(decision=decision, second_item=second)


def _settle_second(
    session: Session, item: ReviewItem, answer: Answer, user: User, value: str | None, moment: datetime
) -> ReviewItem | None:
    """A second reviewer agrees (answer final) or disagrees (back to the queue for a third person)."""
    if value == answer.final_value:
        answer.status = "final"
        return None
    answer.final_value = None
    answer.status = "review"
    again = ReviewItem(
        kind="answer",
        survey_id=item.survey_id,
        answer_id=answer.id,
        reason="second_review_disagrees",
        excluded_user_id=user.id,
        created_at=moment,
    )
    session.add(again)
    return again


def _survey_share(session: Session, answer: Answer) -> float:
    sheet = session.get(Sheet, answer.sheet_id)
    survey = session.get(Survey, sheet.survey_id) if sheet else None
    return float(survey.second_review_share or 0.0) if survey else 0.0


def _chosen_for_second(answer_id: int, share: float) -> bool:
    """Deterministic sample (so a retried decision picks the same answers): Knuth's multiplicative hash."""
    if share <= 0:
        return False
    return (answer_id * 2654435761 % 2**32) / 2**32 < share


def _update_sheet_status(session: Session, sheet_id: int) -> None:
    """A closed item completes a sheet only when all its pages are in too (the writer's one rule)."""
    sheet = session.get(Sheet, sheet_id)
    if sheet is not None:
        refresh_sheet_status(session, sheet)


def correct(
    session: Session, answer_id: int, user: User, value: str | None, expected_version: int, *, now: datetime | None = None
) -> Decision:
    """A supervisor's correction of any answer (sheet view); open items on it are cancelled."""
    moment = now or now_utc()
    result = session.execute(
        update(Answer)
        .where(Answer.id == answer_id, Answer.version == expected_version)
        .values(final_value=value, status="reviewed", version=expected_version + 1)
        .execution_options(synchronize_session=False)
    )
    answer = session.get(Answer, answer_id, populate_existing=True)
    if answer is None:
        raise NotFoundError(f"Không có câu trả lời #{answer_id} / answer #{answer_id} does not exist")
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise ConflictError(
            f"Câu trả lời #{answer_id} đã thay đổi từ lúc bạn mở; hãy tải lại. "
            f"/ Answer #{answer_id} changed since you opened it; reload it."
        )
    session.execute(
        update(ReviewItem)
        .where(ReviewItem.answer_id == answer_id, ReviewItem.status == "open")
        .values(status="cancelled", closed_at=moment, version=ReviewItem.version + 1)
        .execution_options(synchronize_session=False)
    )
    decision = Decision(answer_id=answer_id, user_id=user.id, value=value, kind="correction", decided_at=moment)
    session.add(decision)
    audit.record(
        session, actor=user.username, action="correct", entity="answer", entity_id=answer_id, detail={"value": value}
    )
    _update_sheet_status(session, answer.sheet_id)
    return decision


def reopen(session: Session, answer_id: int, supervisor: User, *, now: datetime | None = None) -> ReviewItem:
    """Put a decided answer back in the queue. The earlier decisions stay; a "reopen" row is added."""
    moment = now or now_utc()
    answer = session.get(Answer, answer_id)
    if answer is None:
        raise NotFoundError(f"Không có câu trả lời #{answer_id} / answer #{answer_id} does not exist")
    if answer.status not in ("reviewed", "final"):
        raise ConflictError(
            f"Câu trả lời #{answer_id} chưa có quyết định nào để mở lại (trạng thái {answer.status}). "
            f"/ Answer #{answer_id} has no decision to reopen (status {answer.status})."
        )
    session.add(Decision(answer_id=answer_id, user_id=supervisor.id, value=answer.final_value, kind="reopen", decided_at=moment))
    answer.final_value = None
    answer.status = "review"
    answer.version += 1
    sheet = session.get(Sheet, answer.sheet_id)
    item = ReviewItem(
        kind="writein" if answer.kind in ("text", "writein") else "answer",
        survey_id=sheet.survey_id if sheet else None,
        answer_id=answer_id,
        reason="reopened",
        created_at=moment,
    )
    session.add(item)
    session.flush()
    audit.record(session, actor=supervisor.username, action="reopen", entity="answer", entity_id=answer_id, detail={"item": item.id})
    _update_sheet_status(session, answer.sheet_id)
    return item


# --- unidentified pages -------------------------------------------------------------------------------


def assign_page(
    session: Session,
    item_id: int,
    user: User,
    *,
    survey_code: str,
    serial: int,
    page_number: int,
    expected_version: int,
    now: datetime | None = None,
) -> Page:
    """Record a person's identification of an unidentified page as (survey, serial, page number).

    The page becomes "identified" and is counted for that sheet page; the caller then re-runs
    recognition on it (the pipeline's ``rerun_page``) to read its answers.
    """
    moment = now or now_utc()
    sheet = session.scalar(
        select(Sheet).join(Survey, Survey.id == Sheet.survey_id).where(Survey.code == survey_code, Sheet.serial == serial)
    )
    if sheet is None:
        raise NotFoundError(
            f"Không có phiếu số {serial} trong khảo sát {survey_code} / no sheet {serial} in survey {survey_code}"
        )
    edition = session.get(Edition, sheet.edition_id)
    if edition is None or not 1 <= page_number <= edition.page_count:
        count = edition.page_count if edition else 0
        raise ConflictError(f"Trang {page_number} không có trên phiếu ({count} trang) / the sheet has {count} pages")
    taken = session.scalar(select(SheetPage).where(SheetPage.sheet_id == sheet.id, SheetPage.page_number == page_number))
    if taken is not None:
        raise ConflictError(
            f"Phiếu {serial} trang {page_number} đã có bản quét (trang #{taken.page_id}); trang này sẽ là bản trùng. "
            f"/ Sheet {serial} page {page_number} already has a scan (page #{taken.page_id})."
        )
    item = _close(session, item_id, user, expected_version, moment)
    page = _page_of(session, item)
    page.status, page.sheet_id, page.page_number = "identified", sheet.id, page_number
    page.reason = f"assigned by {user.username}"
    session.add(SheetPage(sheet_id=sheet.id, page_number=page_number, page_id=page.id))
    if sheet.status == "printed":
        sheet.status = "scanned"
    audit.record(
        session,
        actor=user.username,
        action="assign_page",
        entity="page",
        entity_id=page.id,
        detail={"survey": survey_code, "serial": serial, "page": page_number, "item": item.id},
    )
    return page


def mark_not_survey(
    session: Session, item_id: int, user: User, *, expected_version: int, now: datetime | None = None
) -> Page:
    """The page is not part of the survey (a letter, a blank back...): kept, but never counted."""
    item = _close(session, item_id, user, expected_version, now or now_utc())
    page = _page_of(session, item)
    page.status = "not_survey"
    audit.record(session, actor=user.username, action="not_survey", entity="page", entity_id=page.id, detail={"item": item.id})
    return page


def _page_of(session: Session, item: ReviewItem) -> Page:
    page = session.get(Page, item.page_id) if item.page_id else None
    if item.kind != "page" or page is None:
        raise ConflictError(f"Mục #{item.id} không phải một trang / item #{item.id} is not a page")
    return page


# --- figures ------------------------------------------------------------------------------------------


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
        .where(Decision.decided_at >= since, Decision.kind.in_(("review", "second", "correction")))
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


def queue_counts(session: Session, survey_id: int | None = None, *, now: datetime | None = None) -> dict[str, int]:
    """Open items by kind, and how many are leased right now."""
    moment = now or now_utc()
    query = select(ReviewItem.kind, func.count(ReviewItem.id)).where(ReviewItem.status == "open")
    if survey_id is not None:
        query = query.where(ReviewItem.survey_id == survey_id)
    counts = {kind: int(n) for kind, n in session.execute(query.group_by(ReviewItem.kind)).all()}
    leased = select(func.count(ReviewItem.id)).where(
        and_(ReviewItem.status == "open", ReviewItem.leased_by.is_not(None), ReviewItem.lease_expires >= moment)
    )
    if survey_id is not None:
        leased = leased.where(ReviewItem.survey_id == survey_id)
    counts["leased"] = int(session.scalar(leased) or 0)
    return counts


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


def release_all(session: Session, holder: User, supervisor: User) -> int:
    """A supervisor hands everything ``holder`` holds back to the queue (someone went home)."""
    result = session.execute(
        update(ReviewItem)
        .where(ReviewItem.leased_by == holder.id, ReviewItem.status == "open")
        .values(leased_by=None, lease_expires=None, version=ReviewItem.version + 1)
        .execution_options(synchronize_session=False)
    )
    count = int(result.rowcount)  # type: ignore[attr-defined]
    audit.record(session, actor=supervisor.username, action="release_leases", entity="user", entity_id=holder.id,
                 detail={"items": count})
    return count


def sign_off(session: Session, sheet_id: int, supervisor: User) -> Sheet:
    """A supervisor signs a complete sheet off as final; refused while anything on it awaits review."""
    sheet = session.get(Sheet, sheet_id)
    if sheet is None:
        raise NotFoundError(f"Không có phiếu #{sheet_id} / no sheet #{sheet_id}")
    waiting = session.scalar(
        select(func.count(Answer.id)).where(Answer.sheet_id == sheet_id, Answer.status == "review")
    )
    if waiting or sheet.status not in ("complete", "final"):
        raise ConflictError(
            f"Phiếu {sheet.serial} chưa xong ({sheet.status}, {waiting or 0} câu chờ duyệt); chưa thể ký duyệt. "
            f"/ Sheet {sheet.serial} is not complete ({sheet.status}, {waiting or 0} answers awaiting review)."
        )
    sheet.status = "final"
    audit.record(session, actor=supervisor.username, action="sign_off", entity="sheet", entity_id=sheet.id,
                 detail={"serial": sheet.serial})
    return sheet
