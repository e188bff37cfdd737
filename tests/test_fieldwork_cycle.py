"""A whole SIPAS fieldwork cycle on the Quảng Trị 2024 frame we ship, on real SQLite and PostgreSQL:
print by village, issue, a filled manifest (deliveries, refusals and absences replaced by reserves, a
lost sheet), check-in by QR payload and by serial, real generated sheets filled, degraded and scanned
through the pipeline, a supervisor's sign-off, a transmittal batch, phúc tra. Every figure of the
operations table is then compared, unit by unit at every level and enumerator by enumerator, with what
the test itself did."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from fieldwork_helpers import QT_FRAME, SECRET, SIPAS, subtree, with_frame
from sqlalchemy import select

from core.settings import FieldworkSettings, ScanSettings, Settings
from fieldwork import checkin, lifecycle, manifest, transmittal, verification
from fieldwork.operations import check_reconciles, csv_text, operations
from fieldwork.printing import print_by_frame
from formgen.identity import SheetIdentity, encode_payload
from phieu.provingground.bundle import make_bundle
from phieu.provingground.truth import MarkMix
from pipeline.run import scan_paths
from storage import review_queue
from storage.fieldwork_models import Household, SheetEvent
from storage.models import Sheet, Survey, Unit, User

pytestmark = pytest.mark.slow
SURVEY = "SIPAS-2024"
CLEAN = MarkMix(styles={"tick": 0.5, "cross": 0.5}, blank_share=0.0, writein_share=0.0, text_share=0.0)
FIELDS = ("printed", "in_stock", "issued", "delivered", "collected", "refused", "absent", "replaced", "lost", "scanned",
          "reviewed", "final", "outstanding")


def _manifest_rows(db, person: str) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    """The enumerator's manifest as the CSV we hand out, read back."""
    with db.session() as s:
        survey = s.scalar(select(Survey).where(Survey.code == SURVEY))
        papers = next(p for p in manifest.papers(s, survey) if p.username == person)
    return list(csv.DictReader(io.StringIO(manifest.manifest_csv(papers).lstrip("\ufeff"))))


def _fill(rows: list[dict[str, str]], ticks: dict[int, dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, **ticks.get(int(row["số phiếu"]), {})})
    return out.getvalue()


def test_quang_tri_cycle_reconciles_at_every_level(database, file_store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = database
    built = with_frame(db, file_store, SIPAS, QT_FRAME)
    stage: dict[int, str] = {}  # what this test did to each sheet
    events: Counter[tuple[int, str]] = Counter()  # (serial, refused|absent|replaced)

    # print by village: 18 villages x 27, one consecutive block per village, an enumerator's villages adjacent
    with db.session() as s:
        printed = print_by_frame(s, SURVEY, "1", actor="in-an")
    blocks = [(b.unit_code, b.enumerator, first, last) for b, first, last in printed.blocks]
    assert len(printed.run.serials) == 486 and len(blocks) == 18
    assert all(last - first == 26 for _, _, first, last in blocks)
    assert [first for *_, first, _ in blocks] == list(range(1, 487, 27))
    assert [b[1] for b in blocks] == [f"dtv{n:02d}" for n in range(1, 10) for _ in (0, 1)]
    village_of = {serial: code for code, _, first, last in blocks for serial in range(first, last + 1)}
    with db.session() as s:
        planned = dict(s.execute(select(Sheet.serial, Household.code).join(Household, Household.id == Sheet.household_id)).all())
    assert planned[1] == "DH-P2-KP1-H01" and planned[27] == "DH-P2-KP1-H27" and planned[28] == "DH-P2-KP2-H01"
    assert len(planned) == 486  # every sheet has its planned household, no household twice
    assert len(set(planned.values())) == 486
    stage.update(dict.fromkeys(range(1, 487), "printed"))

    # issue Đông Hà's six villages (serials 1-162) to their enumerators
    with db.session() as s:
        lifecycle.mark(s, SURVEY, list(range(1, 163)), "issued", actor="thukho", source="cli", day=date(2024, 11, 20))
        holders = dict(s.execute(select(Sheet.serial, User.username).join(User, User.id == Sheet.enumerator_id)
                                 .where(Sheet.serial.in_([1, 60, 150]))).all())
    assert holders == {1: "dtv01", 60: "dtv02", 150: "dtv03"}
    stage.update(dict.fromkeys(range(1, 163), "issued"))

    # dtv01's filled manifest: KP1 delivered (3 refused and 4 absent, both replaced by reserves; 5 refused, then
    # changed their mind), 1-20 collected; KP2 28-47 delivered, 28-37 collected, 40 lost
    x, day_out, day_back = "x", "21/11/2024", "23/11/2024"
    ticks: dict[int, dict[str, str]] = {}
    for serial in range(1, 28):
        ticks[serial] = {"đã phát": x, "ngày phát": day_out}
    ticks[3] = {"từ chối": x, "thay bằng hộ dự phòng": "DH-P2-KP1-D01", "ngày phát": day_out}
    ticks[4] = {"vắng nhà": x, "thay bằng hộ dự phòng": "DH-P2-KP1-D02", "ngày phát": day_out}
    ticks[5] = {"từ chối": x, "ngày phát": day_out}
    for serial in range(28, 48):
        ticks[serial] = {"đã phát": x, "ngày phát": day_out}
    for serial in [*range(1, 21), *range(28, 38)]:
        ticks[serial] = {**ticks[serial], "đã thu": x, "ngày thu": day_back}
    ticks[40] = {**ticks[40], "mất phiếu": x}
    filled = tmp_path / "manifest-dtv01-filled.csv"
    filled.write_text(_fill(_manifest_rows(db, "dtv01"), ticks), encoding="utf-8")
    with db.session() as s:
        done = manifest.import_manifest(s, SURVEY, filled, actor="thukho")
    assert done == {"delivered": 44, "refused": 2, "absent": 1, "replaced": 2, "collected": 30, "lost": 1}
    with db.session() as s:  # the same manifest again records nothing
        assert manifest.import_manifest(s, SURVEY, filled, actor="thukho") == {}
    stage.update(dict.fromkeys([*range(1, 28), *range(28, 48)], "delivered"))
    stage.update({3: "replaced", 4: "replaced", 5: "refused", 40: "lost"})
    stage.update(dict.fromkeys([*range(1, 21), *range(28, 38)], "collected"))
    events.update([(3, "refused"), (3, "replaced"), (4, "absent"), (4, "replaced"), (5, "refused")])
    with db.session() as s:
        reserve_of = dict(s.execute(select(Sheet.serial, Household.code).join(Household, Household.id == Sheet.household_id)
                                    .where(Sheet.serial.in_([3, 4]))).all())
    assert reserve_of == {3: "DH-P2-KP1-D01", 4: "DH-P2-KP1-D02"}

    # dtv02 delivers DH-P4-KP2 (55-81); the desk checks 55-62 in: QR payloads as a scanner types them, and serials
    with db.session() as s:
        lifecycle.mark(s, SURVEY, list(range(55, 82)), "delivered", actor="dtv02", source="cli", day=date(2024, 11, 21))
        answers = [checkin.check_in(s, SURVEY, encode_payload(SheetIdentity(SURVEY, "1", n, 1 + n % 5), SECRET),
                                    secret=SECRET, actor="vanthu", day=date(2024, 11, 24)) for n in range(55, 61)]
        answers += [checkin.check_in(s, SURVEY, str(n), secret=SECRET, actor="vanthu", day=date(2024, 11, 24))
                    for n in (61, 62, 62)]
        forged = encode_payload(SheetIdentity(SURVEY, "1", 63, 1), b"not the workspace secret")
        answers.append(checkin.check_in(s, SURVEY, forged, secret=SECRET, actor="vanthu"))
    assert [a.outcome for a in answers] == ["collected"] * 8 + ["already", "refused"]
    assert answers[-1].serial == 63 and "chữ ký" in answers[-1].message
    assert answers[7].collected == 8 and answers[7].quota == 27 and answers[7].household == "DH-P4-KP2-H08"
    stage.update(dict.fromkeys(range(55, 82), "delivered"))
    stage.update(dict.fromkeys(range(55, 63), "collected"))

    # real sheets filled, degraded and scanned: four collected ones, and 100 which came back unrecorded
    scanned = [1, 3, 28, 55, 100]
    make_bundle(built, built.layout, scanned, profile="office", rng=np.random.default_rng(24), out_dir=tmp_path / "scans",
                secret=SECRET, mix=CLEAN)
    summary = scan_paths(db, file_store, [tmp_path / "scans"], secret=SECRET, settings=Settings(scan=ScanSettings(jobs=1)),
                         ocr=False)
    assert summary.identified == len(scanned) * built.layout.page_count and summary.unidentified == 0
    with db.session() as s:
        status = dict(s.execute(select(Sheet.serial, Sheet.status).where(Sheet.serial.in_(scanned))).all())
        odd = s.scalar(select(SheetEvent.note).join(Sheet, Sheet.id == SheetEvent.sheet_id)
                       .where(Sheet.serial == 100, SheetEvent.to_status == "scanned"))
        complete = sorted(n for n, st in status.items() if st == "complete")
        assert complete, status  # clean marks: at least one sheet needs nobody
        review_queue.sign_off(s, s.scalar(select(Sheet.id).where(Sheet.serial == complete[0])),
                              s.scalar(select(User).where(User.username == "dtv01")))
    assert "issued" in odd  # scanned while the log said issued: noted, not refused
    for serial in scanned:
        stage[serial] = lifecycle.stage("scanned", "final" if serial == complete[0] else status[serial])

    # the post office's bundle from dtv01: slip says 23; 1-20 and 28-30 in it, and a serial never printed
    with db.session() as s:
        transmittal.create_batch(s, SURVEY, "BD-DH-01", received_on=date(2024, 11, 27), actor="vanthu",
                                 handed_by="Bưu điện Đông Hà", enumerator="dtv01", declared=23)
        transmittal.add_sheets(s, SURVEY, "BD-DH-01", [*range(1, 21), 28, 29, 30, 990], actor="vanthu")
        batch = transmittal.reconcile(s, SURVEY, "BD-DH-01")
    assert (batch.found, batch.count_matches) == (24, False)
    assert batch.extra == [{"serial": 990, "reason": "số phiếu chưa từng in / serial never printed"}]
    assert batch.missing == list(range(31, 38))  # reported collected, handed over in no batch
    assert 1 not in batch.not_scanned and 2 in batch.not_scanned

    # phúc tra: 2 delivered households per village, reproducible; one answered by someone else
    with db.session() as s:
        drawn = verification.draw(s, SURVEY, per_village=2, seed="phuc-tra-2024", actor="giamsat")
        assert verification.draw(s, SURVEY, per_village=2, seed="phuc-tra-2024", actor="giamsat") == []
    by_village = Counter(d.unit for d in drawn)
    assert by_village == {"DH-P2-KP1": 2, "DH-P2-KP2": 2, "DH-P4-KP2": 2, "DH-P4-KP3": 1}
    assert all(stage[d.serial] in ("delivered", "replaced", "collected", "scanned", "reviewed", "final") for d in drawn)
    with db.session() as s:
        for d in drawn:
            verification.record(s, SURVEY, d.serial, "other_person" if d is drawn[0] else "confirmed", actor="giamsat")
        report = {c.enumerator: c for c in verification.discrepancies(s, SURVEY)}
    assert report["dtv01"].problems == [drawn[0].serial] and report["dtv01"].other_person == 1
    assert sum(c.checked for c in report.values()) == len(drawn)

    # the operations table against what was done, unit by unit at every level and enumerator by enumerator
    with db.session() as s:
        ops = operations(s, SURVEY, FieldworkSettings(), today=date(2024, 11, 30))
        survey_id = s.scalar(select(Survey.id).where(Survey.code == SURVEY))
        enumerator_of = {u.code: u.enumerator_id for u in s.scalars(select(Unit).where(Unit.survey_id == survey_id))}
        names = dict(s.execute(select(User.id, User.username)).all())
    assert check_reconciles(ops) == []
    below = subtree(db, survey_id)
    rows = {r.key: r for r in ops.units}
    assert len(rows) == 31
    for code, row in rows.items():
        serials = [n for n, village in village_of.items() if village in below[code]]
        assert {f: getattr(row.counts, f) for f in FIELDS} == _expected(serials, stage, events), code
    people = {r.key: r for r in ops.enumerators}
    for person in ("dtv01", "dtv02", "dtv05"):
        serials = [n for n, village in village_of.items() if names.get(enumerator_of[village]) == person]
        assert {f: getattr(people[person].counts, f) for f in FIELDS} == _expected(serials, stage, events), person
    assert rows["QT"].quota == 486 and rows["DH-P2"].quota == 54 and people["dtv01"].quota == 54
    kp1 = rows["DH-P2-KP1"]
    assert (kp1.counts.collected, kp1.quota_reached, round(kp1.response_rate or 0, 4)) == (20, False, round(20 / 27, 4))
    assert kp1.counts.overdue == 7  # 21-27 still out on 30/11 (issued 20/11, 3 days allowed)
    # the CSV has one row per unit, the same figures
    table = list(csv.DictReader(io.StringIO(csv_text(ops.units))))
    assert [r["unit"] for r in table] == [r.key for r in ops.units]
    for r in table:
        serials = [n for n, village in village_of.items() if village in below[r["unit"]]]
        assert {f: int(r[f]) for f in FIELDS} == _expected(serials, stage, events), r["unit"]
    assert {r["unit"]: r["level"] for r in table}["DH-P2-KP1"] == "3" and table[0]["unit"] == "QT"

def _expected(serials: list[int], stage: dict[int, str], events: Counter[tuple[int, str]]) -> dict[str, int]:
    stages = Counter(stage[n] for n in serials)
    back = stages["collected"] + stages["scanned"] + stages["reviewed"] + stages["final"]
    out = {
        "printed": len(serials), "in_stock": stages["printed"], "issued": len(serials) - stages["printed"],
        "delivered": stages["delivered"] + stages["replaced"] + back, "collected": back,
        "refused": sum(events[(n, "refused")] for n in serials), "absent": sum(events[(n, "absent")] for n in serials),
        "replaced": sum(events[(n, "replaced")] for n in serials), "lost": stages["lost"],
        "scanned": stages["scanned"] + stages["reviewed"] + stages["final"], "reviewed": stages["reviewed"] + stages["final"],
        "final": stages["final"],
        "outstanding": sum(stages[k] for k in ("issued", "delivered", "replaced", "refused", "absent")),
    }
    return out
