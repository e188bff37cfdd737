"""The review queue: leasing items to reviewers, recording their decisions, reopening them.

Concurrency rule: every change to a ``ReviewItem`` is a conditional UPDATE that names the version
(and the lease) it expects and bumps the version; a rowcount of 0 means someone else got there
first. This works the same on SQLite and PostgreSQL without row locks on items.
Lock order (PostgreSQL; SQLite has one writer at a time): a change that may alter a sheet's status
first locks the sheet's row (:func:`lock_sheet`), as the scan writer does before storing a page of
it; the running counts (``Tally``) are then taken in the order new items, closed items, sheet
status. Two transactions never wait for each other in opposite orders.
Machine readings are never touched: decisions are new ``Decision`` rows, the answer's
``final_value`` mirrors the latest one, and every change is an audit event.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from core.errors import ConflictError, NotFoundError, PhieuError
from storage import answer_values, audit
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
    unindexed,
)
from storage.scans import lock_sheet, refresh_sheet_status

log = logging.getLogger(__name__)

ANSWER_KINDS = ("answer", "writein", "second", "third")
DECISION_KIND = {"second": "second", "third": "third"}  # item kind → decision kind; the rest are "review"
INVALID = "*"  # decision value for "invalid / several marks"
CANDIDATES_PER_TRY = 8  # rows read per attempt when others are leasing the same head of the queue


def _sheet_of_item(session: Session, item_id: int) -> int | None:
    return session.scalar(select(Answer.sheet_id).join(ReviewItem, ReviewItem.answer_id == Answer.id)
                          .where(ReviewItem.id == item_id))


def now_utc() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def not_excluded(user: User) -> Any:
    """SQL: ``user`` may decide the item (a second or third review is never for the earlier reviewers)."""
    return and_(
        or_(ReviewItem.excluded_user_id.is_(None), ReviewItem.excluded_user_id != user.id),
        or_(ReviewItem.excluded_user2_id.is_(None), ReviewItem.excluded_user2_id != user.id),
    )


def excludes(item: ReviewItem, user: User) -> bool:
    return user.id in (item.excluded_user_id, item.excluded_user2_id)


def available(user: User, moment: datetime) -> list[Any]:
    """SQL conditions: open items ``user`` may take now (what the queue hands out and counts as theirs)."""
    return [
        ReviewItem.status == "open",
        or_(ReviewItem.leased_by.is_(None), ReviewItem.lease_expires < moment, ReviewItem.leased_by == user.id),
        not_excluded(user),
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
    given to the person who made the first decision, a third-person item to neither of the two. When
    the item is a grid row, the other open rows of the same sheet, grid question and page are leased
    with it (see :func:`item_group`).
    ``exclude_ids``: items the caller already shows or skipped.
    """
    moment = now or now_utc()
    conditions = [*available(user, moment), ReviewItem.kind.in_(kinds)]
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
    if not excludes(item, user) and _try_lease(session, item.id, item.version, user, moment, lease_seconds):
        item = session.get(ReviewItem, item_id, populate_existing=True)
        assert item is not None
        _lease_siblings(session, item, user, moment, lease_seconds)
        return item
    raise ConflictError(conflict_message(session, item, user))


def _sibling_query(item: ReviewItem, answer: Answer):  # type: ignore[no-untyped-def]
    """Open rows of the same grid on the same sheet AND page (a grid may run over pages: each page's rows
    come apart, so every row decided is on the page and in the picture shown)."""
    return (
        select(ReviewItem)
        .join(Answer, Answer.id == ReviewItem.answer_id)
        .where(
            Answer.sheet_id == answer.sheet_id,
            Answer.question == answer.question,
            Answer.page_id == answer.page_id,
            Answer.kind == "grid",
            ReviewItem.kind == item.kind,
            unindexed(ReviewItem.status) == "open",
        )
        .order_by(ReviewItem.id)
    )


def _lease_siblings(session: Session, item: ReviewItem, user: User, moment: datetime, seconds: int) -> None:
    answer = session.get(Answer, item.answer_id) if item.answer_id else None
    if answer is None or answer.kind != "grid":
        return
    for sibling in session.scalars(_sibling_query(item, answer)).all():
        if sibling.id != item.id and not excludes(sibling, user):
            _try_lease(session, sibling.id, sibling.version, user, moment, seconds)
    session.expire_all()


def item_group(session: Session, item: ReviewItem, user: User, *, now: datetime | None = None) -> list[ReviewItem]:
    """The item plus the other open rows of its grid on the same sheet and page that ``user`` holds or
    that nobody holds (grid row set). Reading it changes nothing."""
    answer = session.get(Answer, item.answer_id) if item.answer_id else None
    if answer is None or answer.kind != "grid":
        return [item]
    moment = now or now_utc()
    group = []
    for sibling in session.scalars(_sibling_query(item, answer)).all():
        expires = aware(sibling.lease_expires)
        free = sibling.leased_by is None or expires is None or expires <= moment
        if sibling.id == item.id or ((sibling.leased_by == user.id or free) and not excludes(sibling, user)):
            group.append(sibling)
    return group or [item]


def held_by_other(item: ReviewItem, user: User, *, now: datetime | None = None) -> bool:
    expires = aware(item.lease_expires)
    return item.leased_by not in (None, user.id) and expires is not None and expires > (now or now_utc())


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
            not_excluded(user),
        )
        .values(status="done", closed_at=moment, leased_by=user.id, version=expected_version + 1)
        .execution_options(synchronize_session=False)
    )
    item = session.get(ReviewItem, item_id, populate_existing=True)
    if item is None:
        raise NotFoundError(f"Không có mục duyệt #{item_id} / review item #{item_id} does not exist")
    if result.rowcount == 1:  # type: ignore[attr-defined]
        return item
    raise ConflictError(conflict_message(session, item, user))


def conflict_message(session: Session, item: ReviewItem, user: User) -> str:
    holder = session.get(User, item.leased_by) if item.leased_by else None
    who = holder.username if holder else "?"
    if item.status != "open":
        return (
            f"Mục #{item.id} đã được {who} xử lý trong lúc bạn xem; quyết định của bạn không được lưu. "
            f"/ Item #{item.id} was settled by {who} meanwhile; your decision was not saved."
        )
    if excludes(item, user):
        return (
            f"Mục #{item.id} cần một người duyệt khác, không phải bạn (bạn đã quyết định câu này). "
            f"/ Item #{item.id} needs a reviewer other than you (you decided this answer before)."
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
    lock_sheet(session, _sheet_of_item(session, item_id))
    item = _close(session, item_id, user, expected_version, moment)
    if item.kind not in ANSWER_KINDS or item.answer_id is None:
        raise ConflictError(f"Mục #{item_id} là một trang, không phải câu trả lời / item #{item_id} is a page")
    answer = session.get(Answer, item.answer_id)
    assert answer is not None
    value = answer_values.check(session, answer, value)  # refused (nothing stored) unless one of the question's codes
    decision = Decision(answer_id=answer.id, review_item_id=item.id, user_id=user.id, value=value,
                        kind=DECISION_KIND.get(item.kind, "review"), decided_at=moment)
    session.add(decision)
    second = None
    if item.kind == "second":
        second = _settle_second(session, item, answer, user, value, moment)
    elif item.kind == "third":  # the third person settles a disagreement: final
        answer.final_value, answer.status = value, "final"
    else:
        answer.final_value = value
        answer.status = "reviewed"
        share = max(second_review_share, _survey_share(session, answer))
        if _chosen_for_second(answer.id, share):
            second = ReviewItem(kind="second", survey_id=item.survey_id, answer_id=answer.id, reason="second_review",
                                excluded_user_id=user.id, created_at=moment)
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
    """A second reviewer agrees (answer final) or disagrees: then a third person, neither of the two, settles
    it (a supervisor when no other reviewer is there: supervisors and admins take review items too)."""
    if _same(answer.kind, value, answer.final_value):
        answer.status = "final"
        return None
    answer.final_value = None
    answer.status = "review"
    third = ReviewItem(kind="third", survey_id=item.survey_id, answer_id=answer.id, reason="second_review_disagrees",
                       excluded_user_id=item.excluded_user_id, excluded_user2_id=user.id, created_at=moment)
    session.add(third)
    return third


def _same(kind: str, a: str | None, b: str | None) -> bool:
    """Two people's values agree (text: the same words, whatever the spacing)."""
    if kind in ("text", "writein") and a is not None and b is not None:
        return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()
    return a == b


def earlier_decisions(session: Session, answer_id: int) -> list[tuple[str, str | None, str]]:
    """(kind, value, username) of the review and second-review decisions since the answer was last reopened:
    what a third person settling a disagreement is shown."""
    rows = session.execute(
        select(Decision.kind, Decision.value, User.username).join(User, User.id == Decision.user_id)
        .where(Decision.answer_id == answer_id).order_by(Decision.id)
    ).all()
    shown: list[tuple[str, str | None, str]] = []
    for kind, value, name in rows:
        if kind in ("reopen", "correction"):
            shown = []
        elif kind in ("review", "second"):
            shown.append((kind, value, name))
    return shown


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
    answer = session.get(Answer, answer_id)
    if answer is None:
        raise NotFoundError(f"Không có câu trả lời #{answer_id} / answer #{answer_id} does not exist")
    value = answer_values.check(session, answer, value)
    lock_sheet(session, answer.sheet_id)
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
    _cancel_open_items(session, answer_id, moment)
    decision = Decision(answer_id=answer_id, user_id=user.id, value=value, kind="correction", decided_at=moment)
    session.add(decision)
    audit.record(
        session, actor=user.username, action="correct", entity="answer", entity_id=answer_id, detail={"value": value}
    )
    _update_sheet_status(session, answer.sheet_id)
    return decision


def reopen(session: Session, answer_id: int, supervisor: User, reason: str, *, now: datetime | None = None) -> ReviewItem:
    """Put an answer (decided, or accepted from the machine) back in the queue, saying why.

    The earlier decisions stay; a "reopen" decision is added; any open item on it is cancelled; the new
    item's reason carries the supervisor's words.
    """
    moment = now or now_utc()
    reason = " ".join(str(reason or "").split())[:500]
    if not reason:
        raise PhieuError("Hãy ghi lý do mở lại / give the reason for reopening")
    answer = session.get(Answer, answer_id)
    if answer is None:
        raise NotFoundError(f"Không có câu trả lời #{answer_id} / answer #{answer_id} does not exist")
    if answer.status == "review":
        raise ConflictError(
            f"Câu trả lời #{answer_id} đang chờ duyệt, không cần mở lại. / Answer #{answer_id} is already waiting for review."
        )
    lock_sheet(session, answer.sheet_id)
    session.add(Decision(answer_id=answer_id, user_id=supervisor.id, value=answer.final_value, kind="reopen", decided_at=moment))
    sheet = session.get(Sheet, answer.sheet_id)
    item = ReviewItem(
        kind="writein" if answer.kind in ("text", "writein") else "answer",
        survey_id=sheet.survey_id if sheet else None,
        answer_id=answer_id,
        reason=f"reopened: {reason}",
        created_at=moment,
    )
    session.add(item)
    session.flush()  # the new item first, then the others closed: the counts' lock order
    _cancel_open_items(session, answer_id, moment, keep=item.id)
    answer.final_value = None
    answer.status = "review"
    answer.version += 1
    audit.record(session, actor=supervisor.username, action="reopen", entity="answer", entity_id=answer_id,
                 detail={"item": item.id, "reason": reason})
    _update_sheet_status(session, answer.sheet_id)
    return item


def _cancel_open_items(session: Session, answer_id: int, moment: datetime, *, keep: int | None = None) -> None:
    session.execute(
        update(ReviewItem)
        .where(ReviewItem.answer_id == answer_id, unindexed(ReviewItem.status) == "open", ReviewItem.id != (keep or 0))
        .values(status="cancelled", closed_at=moment, version=ReviewItem.version + 1)
        .execution_options(synchronize_session=False)
    )


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
    lock_sheet(session, sheet.id)  # a scan storing this sheet page now waits, then finds it taken
    taken = session.scalar(select(SheetPage).where(SheetPage.sheet_id == sheet.id, SheetPage.page_number == page_number))
    if taken is not None:
        raise ConflictError(
            f"Phiếu {serial} trang {page_number} đã có bản quét (trang #{taken.page_id}); trang này sẽ là bản trùng. "
            f"/ Sheet {serial} page {page_number} already has a scan (page #{taken.page_id})."
        )
    page = _page_of(session, item_id)
    page.status, page.sheet_id, page.page_number = "identified", sheet.id, page_number
    page.reason = f"assigned by {user.username}"
    session.flush()  # the page's count before the item's (the counts' lock order); a conflict undoes both
    item = _close(session, item_id, user, expected_version, moment)
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
    page = _page_of(session, item_id)
    page.status = "not_survey"
    session.flush()  # the page's count before the item's (the counts' lock order); a conflict undoes both
    item = _close(session, item_id, user, expected_version, now or now_utc())
    audit.record(session, actor=user.username, action="not_survey", entity="page", entity_id=page.id, detail={"item": item.id})
    return page


def _page_of(session: Session, item_id: int) -> Page:
    item = session.get(ReviewItem, item_id)
    if item is None:
        raise NotFoundError(f"Không có mục duyệt #{item_id} / review item #{item_id} does not exist")
    page = session.get(Page, item.page_id) if item.page_id else None
    if item.kind != "page" or page is None:
        raise ConflictError(f"Mục #{item.id} không phải một trang / item #{item.id} is not a page")
    return page


# --- supervisors -------------------------------------------------------------------------------------


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
        select(func.count(Answer.id)).where(Answer.sheet_id == sheet_id, unindexed(Answer.status) == "review")
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
