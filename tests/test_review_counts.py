"""The running counts (``tallies``, kept by database triggers) stay equal to a full recount through every
change the queue makes: leases, decisions, a second review and a third person, reopening, corrections,
pages assigned or set aside, and many reviewers deciding at once. Real SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from review_seed import seed
from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from storage import progress
from storage import review_queue as rq
from storage.models import Page, ReviewItem, Sheet, Survey, Tally, User

LEASE = 300


def _user(s: Session, name: str) -> User:
    user = s.scalar(select(User).where(User.username == name))
    assert user is not None
    return user


def recount(s: Session, survey_id: int | None, user: User, moment: datetime) -> progress.QueueCounts:
    """The figures counted the slow way, over every open item (what queue_counts did before the tallies)."""
    live = and_(ReviewItem.leased_by.is_not(None), ReviewItem.lease_expires >= moment)
    query = select(
        ReviewItem.kind, func.count(ReviewItem.id),
        func.sum(case((and_(*rq.available(user, moment)), 1), else_=0)),
        func.sum(case((and_(live, ReviewItem.leased_by != user.id), 1), else_=0)),
        func.sum(case((and_(live, ReviewItem.leased_by == user.id), 1), else_=0)),
        func.sum(case((rq.not_excluded(user), 0), else_=1)),
    ).where(ReviewItem.status == "open").group_by(ReviewItem.kind)
    if survey_id is not None:
        query = query.where(ReviewItem.survey_id == survey_id)
    opened, mine, others, held, barred = {}, {}, 0, 0, 0
    for kind, count, takeable, by_others, by_user, excluded in s.execute(query):
        opened[kind], mine[kind] = int(count), int(takeable or 0)
        if kind in rq.ANSWER_KINDS:
            others, held, barred = others + int(by_others or 0), held + int(by_user or 0), barred + int(excluded or 0)
    loose = 0
    if survey_id is not None:
        loose = s.scalar(select(func.count(ReviewItem.id)).where(
            ReviewItem.status == "open", ReviewItem.kind == "page", ReviewItem.survey_id.is_(None))) or 0
    return progress.QueueCounts(opened, mine, others, held, barred, int(loose))


def check(db, names=("duyet1", "duyet2", "giamsat"), moment: datetime | None = None) -> None:  # type: ignore[no-untyped-def]
    """Every person's counts, per survey and over all, and the sheet and page figures, equal a recount."""
    moment = moment or rq.now_utc()
    with db.session() as s:
        surveys = [None, *s.scalars(select(Survey.id))]
        for name in names:
            user = _user(s, name)
            for survey_id in surveys:
                kept = progress.queue_counts(s, survey_id, user, now=moment)
                assert kept.as_dict() == recount(s, survey_id, user, moment).as_dict(), (name, survey_id)
        for survey_id in surveys[1:]:
            by_status = dict(s.execute(select(Sheet.status, func.count()).where(Sheet.survey_id == survey_id)
                                       .group_by(Sheet.status)).all())
            assert progress.tallies(s, "sheet", survey_id) == by_status
            pages = dict(s.execute(select(Page.status, func.count()).join(Sheet, Sheet.id == Page.sheet_id)
                                   .where(Sheet.survey_id == survey_id).group_by(Page.status)).all())
            assert progress.page_counts(s, survey_id) == pages
        assert s.scalar(select(func.min(Tally.n))) >= 0


def test_counts_stay_right_through_decisions_reopen_and_second_review(database, file_store) -> None:
    info = seed(database, file_store, sheets=2, unidentified=2)
    check(database)
    with database.session() as s:
        a, b, boss = _user(s, "duyet1"), _user(s, "duyet2"), _user(s, "giamsat")
        first = rq.next_item(s, a, lease_seconds=LEASE, kinds=("answer",))
        assert first is not None
    check(database)  # a live lease: held by duyet1, not takeable by the others
    check(database, moment=rq.now_utc() + timedelta(seconds=LEASE + 1))  # ... and free again once it expires
    with database.session() as s:
        a, b = _user(s, "duyet1"), _user(s, "duyet2")
        first = s.get_one(ReviewItem, first.id)
        second = rq.decide(s, first.id, a, "2", first.version, second_review_share=1.0).second_item
        assert second is not None
    check(database)  # the second review is barred to duyet1
    with database.session() as s:
        b = _user(s, "duyet2")
        item = rq.next_item(s, b, lease_seconds=LEASE, kinds=("second",))
        assert item is not None and item.id == second.id
        third = rq.decide(s, item.id, b, "1", item.version).second_item  # disagrees: a third person
        assert third is not None and third.kind == "third"
    check(database)
    with database.session() as s:
        boss = _user(s, "giamsat")
        item = rq.next_item(s, boss, lease_seconds=LEASE, kinds=("third",))
        assert item is not None
        rq.decide(s, item.id, boss, "1", item.version)
        answer_id = item.answer_id
    check(database)
    with database.session() as s:
        rq.reopen(s, answer_id, _user(s, "giamsat"), "đọc lại ô")
    check(database)
    with database.session() as s:
        a = _user(s, "duyet1")
        item = rq.next_item(s, a, lease_seconds=LEASE, kinds=("writein",))
        assert item is not None
        rq.release(s, item.id, a)  # skipped
        answer = s.get_one(ReviewItem, item.id).answer_id
        rq.correct(s, answer, _user(s, "giamsat"), "Zalo", s.get_one(rq.Answer, answer).version)  # cancels the item
    check(database)
    with database.session() as s:
        a = _user(s, "duyet1")
        page_item = s.get_one(ReviewItem, info.page_item_ids[0])
        rq.assign_page(s, page_item.id, a, survey_code="TEST-2024", serial=1003, page_number=1,
                       expected_version=page_item.version)
        other = s.get_one(ReviewItem, info.page_item_ids[1])
        rq.mark_not_survey(s, other.id, a, expected_version=other.version)
    check(database)
    with database.session() as s:  # every answer item settled by someone
        a = _user(s, "duyet1")
        while (item := rq.next_item(s, a, lease_seconds=LEASE)) is not None:
            for row in rq.item_group(s, item, a):
                rq.decide(s, row.id, a, "*", row.version)
    check(database)
    with database.session() as s:
        assert progress.queue_counts(s, None, _user(s, "duyet1")).answers_for_user == 0


def test_counts_stay_right_with_many_reviewers_deciding_at_once(database, file_store) -> None:
    """Reviewers on the same sheets at once: no deadlock between the sheet locks and the counts, and the
    counts equal a recount afterwards."""
    seed(database, file_store, sheets=6)
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            while True:
                with database.session(immediate=True) as s:
                    user = _user(s, name)
                    item = rq.next_item(s, user, lease_seconds=LEASE)
                    if item is None:
                        return
                    for row in rq.item_group(s, item, user):
                        rq.decide(s, row.id, user, "*", row.version, second_review_share=0.5)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in ("duyet1", "duyet2", "giamsat")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    check(database)
