"""The review queue on real SQLite and PostgreSQL: leases, conflicts, decisions, second review, reopen, pages."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from review_seed import seed
from sqlalchemy import func, select

from core.errors import ConflictError
from storage import progress
from storage import review_queue as rq
from storage.models import Answer, AuditEvent, Decision, Page, ReviewItem, Sheet, SheetPage, User

LEASE = 300


def _user(s, name: str) -> User:  # type: ignore[no-untyped-def]
    return s.scalar(select(User).where(User.username == name))


def test_two_reviewers_never_get_the_same_item_and_expired_leases_return(database, file_store) -> None:
    info = seed(database, file_store, sheets=3)
    with database.session() as s:
        a, b = _user(s, "duyet1"), _user(s, "duyet2")
        first = rq.next_item(s, a, lease_seconds=LEASE)
        group_a = {i.id for i in rq.item_group(s, first, a)}
        second = rq.next_item(s, b, lease_seconds=LEASE)
        group_b = {i.id for i in rq.item_group(s, second, b)}
        assert first and second and not (group_a & group_b)
        # the holder gets their own item back (resume), not a new one
        assert rq.next_item(s, a, lease_seconds=LEASE).id == first.id
        # once A's lease has expired, B may take it
        later = rq.now_utc() + timedelta(seconds=LEASE + 1)
        taken = rq.next_item(s, b, lease_seconds=LEASE, exclude_ids=sorted(group_b), now=later)
        assert taken is not None and taken.id == first.id
    assert info.queue_items == 3 * 4


def test_concurrent_leasing_hands_out_each_item_once(database, file_store) -> None:
    seed(database, file_store, sheets=4)
    got: dict[str, list[int]] = {"duyet1": [], "duyet2": []}
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            seen: list[int] = []
            while True:
                with database.session(immediate=True) as s:
                    user = _user(s, name)
                    item = rq.next_item(s, user, lease_seconds=LEASE, exclude_ids=seen)
                    if item is None:
                        return
                    ids = [i.id for i in rq.item_group(s, item, user)]
                seen += ids
                got[name] += ids
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in got]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    everything = got["duyet1"] + got["duyet2"]
    assert len(everything) == len(set(everything)) == 4 * 4  # every item handed out exactly once


def test_grid_rows_of_one_sheet_come_together_and_are_decided_each(database, file_store) -> None:
    seed(database, file_store, sheets=1)
    with database.session() as s:
        a = _user(s, "duyet1")
        grid_item = None
        seen: list[int] = []
        while (item := rq.next_item(s, a, lease_seconds=LEASE, exclude_ids=seen)) is not None:
            group = rq.item_group(s, item, a)
            seen += [i.id for i in group]
            if len(group) > 1:
                grid_item, rows = item, group
        assert grid_item is not None
        items = {s.get(Answer, i.answer_id).item: i for i in rows}
        assert sorted(items) == ["r1", "r2"]
        for value, it in zip(["4", "*"], rows, strict=True):
            rq.decide(s, it.id, a, value, it.version)
    with database.session() as s:
        finals = dict(s.execute(select(Answer.item, Answer.final_value).where(Answer.question == "G", Answer.item.in_(["r1", "r2"]))).all())
        assert finals == {"r1": "4", "r2": "*"}


def test_stale_or_stolen_decisions_are_refused_and_nothing_is_lost(database, file_store) -> None:
    seed(database, file_store, sheets=1)
    with database.session() as s:
        a, b = _user(s, "duyet1"), _user(s, "duyet2")
        item = rq.next_item(s, a, lease_seconds=LEASE, kinds=("writein",))
        old_version = item.version
        later = rq.now_utc() + timedelta(seconds=LEASE + 5)
        stolen = rq.next_item(s, b, lease_seconds=LEASE, kinds=("writein",), now=later)
        assert stolen.id == item.id
        rq.decide(s, item.id, b, "Zalo của xã", stolen.version, now=later)
    with database.session() as s, pytest.raises(ConflictError, match="duyet2"):
        rq.decide(s, item.id, _user(s, "duyet1"), "khác", old_version)
    with database.session() as s:
        answer = s.get(Answer, s.get(ReviewItem, item.id).answer_id)
        assert answer.final_value == "Zalo của xã"
        assert answer.machine_value is None and answer.ocr_draft == "Zalo cua xa"  # machine reading untouched
        assert s.scalar(select(func.count(Decision.id))) == 1


def test_second_review_goes_to_another_person_then_reopen_keeps_history(database, file_store) -> None:
    seed(database, file_store, sheets=1)
    with database.session() as s:
        a, b, boss = _user(s, "duyet1"), _user(s, "duyet2"), _user(s, "giamsat")
        item = rq.next_item(s, a, lease_seconds=LEASE, kinds=("answer",))
        result = rq.decide(s, item.id, a, "2", item.version, second_review_share=1.0)
        assert result.second_item is not None
        assert rq.next_item(s, a, lease_seconds=LEASE, kinds=("second",)) is None
        second = rq.next_item(s, b, lease_seconds=LEASE, kinds=("second",))
        assert second.id == result.second_item.id
        rq.decide(s, second.id, b, "2", second.version)
        answer = s.get(Answer, item.answer_id)
        assert (answer.status, answer.final_value) == ("final", "2")
        reopened = rq.reopen(s, answer.id, boss, "hai người cùng đọc nhầm ô")
        assert answer.status == "review" and answer.final_value is None and reopened.status == "open"
    with database.session() as s:
        kinds = list(s.scalars(select(Decision.kind).where(Decision.answer_id == item.answer_id).order_by(Decision.id)))
        assert kinds == ["review", "second", "reopen"]
        actions = list(s.scalars(select(AuditEvent.action).where(AuditEvent.entity == "answer", AuditEvent.entity_id == item.answer_id)))
        assert actions == ["decide", "decide", "reopen"]


def test_unidentified_page_is_assigned_to_a_printed_sheet(database, file_store) -> None:
    info = seed(database, file_store, sheets=2)
    with database.session() as s:
        a = _user(s, "duyet1")
        item = rq.next_item(s, a, lease_seconds=LEASE, kinds=("page",))
        assert item.id == info.page_item_ids[0]
        with pytest.raises(ConflictError, match="1001"):  # that sheet page is already scanned
            rq.assign_page(s, item.id, a, survey_code="TEST-2024", serial=1001, page_number=1, expected_version=item.version)
        page = rq.assign_page(s, item.id, a, survey_code="TEST-2024", serial=1003, page_number=1, expected_version=item.version)
        assert page.status == "identified"
    with database.session() as s:
        sheet = s.scalar(select(Sheet).where(Sheet.serial == 1003))
        assert sheet.status == "scanned"
        assert s.scalar(select(SheetPage.page_id).where(SheetPage.sheet_id == sheet.id)) == info.unidentified_page_ids[0]
        assert s.get(Page, info.unidentified_page_ids[0]).sheet_id == sheet.id


def test_correction_and_throughput(database, file_store) -> None:
    info = seed(database, file_store, sheets=1)
    with database.session() as s:
        boss = _user(s, "giamsat")
        answer = s.get(Answer, info.answer_ids[0])
        rq.correct(s, answer.id, boss, "1", answer.version)
        with pytest.raises(ConflictError):
            rq.correct(s, answer.id, boss, "2", answer.version - 1)
        assert s.scalar(select(ReviewItem.status).where(ReviewItem.answer_id == answer.id)) == "cancelled"
        rows = progress.throughput(s, info.survey_id)
        assert [(r.username, r.decisions) for r in rows] == [("giamsat", 1)]
        assert progress.queue_counts(s, info.survey_id, boss).open["answer"] == 2


def test_settling_every_item_does_not_complete_a_sheet_with_pages_missing(database, file_store) -> None:
    from storage.models import Edition

    seed(database, file_store, sheets=1, unidentified=0)
    with database.session() as s:
        for edition in s.scalars(select(Edition)):
            edition.page_count = 2  # the sheet's second page has not been scanned yet
        reviewer = _user(s, "duyet1")
        items = s.scalars(select(ReviewItem).where(ReviewItem.status == "open")).all()
        assert items
        for item in items:
            rq.decide(s, item.id, reviewer, "*" if item.kind == "answer" else "chữ viết", item.version)
        sheet = s.scalar(select(Sheet).join(SheetPage, SheetPage.sheet_id == Sheet.id))  # the one scanned
        assert sheet is not None and sheet.status == "scanned"


def test_a_disagreement_is_settled_by_a_third_person_a_supervisor_when_no_other_reviewer(database, file_store) -> None:
    seed(database, file_store, sheets=1)
    with database.session() as s:
        a, b, boss = _user(s, "duyet1"), _user(s, "duyet2"), _user(s, "giamsat")
        item = rq.next_item(s, a, lease_seconds=LEASE, kinds=("answer",))
        second = rq.decide(s, item.id, a, "2", item.version, second_review_share=1.0).second_item
        taken = rq.next_item(s, b, lease_seconds=LEASE, kinds=("second",))
        assert taken is not None and taken.id == second.id
        third = rq.decide(s, taken.id, b, "1", taken.version).second_item
        assert third is not None and third.kind == "third"
        answer = s.get(Answer, item.answer_id)
        assert (answer.status, answer.final_value) == ("review", None)
        # neither of the two who disagree may settle it; the two reviewers are the only ones: the supervisor does
        assert rq.next_item(s, a, lease_seconds=LEASE) is None or rq.next_item(s, a, lease_seconds=LEASE).id != third.id
        assert all(i.id != third.id for i in [rq.next_item(s, b, lease_seconds=LEASE, kinds=("third",))] if i)
        assert progress.queue_counts(s, None, a).not_for_user >= 1
        with pytest.raises(ConflictError, match="khác"):  # opened from a link: still not theirs
            rq.lease_item(s, third.id, a, lease_seconds=LEASE)
        settled = rq.next_item(s, boss, lease_seconds=LEASE, kinds=("third",))
        assert settled is not None and settled.id == third.id
        assert [v for _k, v, _n in rq.earlier_decisions(s, answer.id)] == ["2", "1"]
        rq.decide(s, settled.id, boss, "1", settled.version)
        assert (answer.status, answer.final_value) == ("final", "1")
    with database.session() as s:
        kinds = list(s.scalars(select(Decision.kind).where(Decision.answer_id == item.answer_id).order_by(Decision.id)))
        assert kinds == ["review", "second", "third"]


def test_values_are_checked_against_the_question_and_nothing_is_stored_when_refused(database, file_store) -> None:
    from core.errors import PhieuError

    info = seed(database, file_store, sheets=1)
    refusals = {"Q1": ["99", "abc", "1;2", "0"], "G": ["6", "99"], "N": ["150", "17", "4a", "٤٢"]}
    with database.session() as s:
        a, boss = _user(s, "duyet1"), _user(s, "giamsat")
        answers = {(x.question, x.item): x for x in s.scalars(select(Answer).where(Answer.id.in_(info.answer_ids)))}
    for (question, item), values in [(("Q1", ""), refusals["Q1"]), (("G", "r1"), refusals["G"]), (("N", ""), refusals["N"])]:
        answer = answers[(question, item)]
        for value in values:
            with pytest.raises(PhieuError, match=question), database.session() as s:  # raised out: rolled back
                open_item = s.scalar(select(ReviewItem).where(ReviewItem.answer_id == answer.id, ReviewItem.status == "open"))
                if open_item is not None:
                    rq.decide(s, open_item.id, _user(s, "duyet1"), value, open_item.version)
                else:
                    rq.correct(s, answer.id, _user(s, "giamsat"), value, answer.version)
    with database.session() as s:
        assert s.scalar(select(func.count(Decision.id))) == 0  # every refusal left nothing behind
        age = answers[("N", "")]
        rq.correct(s, age.id, boss, "042", age.version)
        assert s.get(Answer, age.id).final_value == "42"
        writein = answers[("W", "other")]
        rq.correct(s, writein.id, boss, "  Zalo của   xã ", writein.version)
        assert s.get(Answer, writein.id).final_value == "Zalo của   xã"  # free text, kept as typed (trimmed)
        q1 = answers[("Q1", "")]
        item = s.scalar(select(ReviewItem).where(ReviewItem.answer_id == q1.id, ReviewItem.status == "open"))
        rq.decide(s, item.id, a, "*", item.version)
        assert s.get(Answer, q1.id).final_value == "*"


def test_rows_of_a_grid_come_together_only_from_the_same_page(database, file_store) -> None:
    seed(database, file_store, sheets=1, two_pages=True)
    with database.session() as s:
        a = _user(s, "duyet1")
        groups = []
        seen: list[int] = []
        while (item := rq.next_item(s, a, lease_seconds=LEASE, exclude_ids=seen)) is not None:
            group = rq.item_group(s, item, a)
            seen += [i.id for i in group]
            answers = [s.get(Answer, i.answer_id) for i in group]
            if answers[0].question == "H":
                groups.append(sorted(x.item for x in answers))
                assert len({x.page_id for x in answers}) == 1
        assert sorted(groups) == [["h2"], ["h3"]]  # one screen a page: each row decided is in its picture
