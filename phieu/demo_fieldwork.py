"""The demo's fieldwork: the Quảng Trị 2024 frame for SIPAS-2024, every village printed by frame, and a
plausible week in the field, so the operations page shows real figures.

Đông Hà's post office is nearly done, the town of Quảng Trị half way, Gio Linh has only delivered;
a few households refuse or are away and reserves take their place, one sheet is lost, the first
sheets are back at the office for scanning (the demo scans them), a bundle is handed over and a
phúc tra sample is drawn and partly visited. Seeded: the same demo gives the same figures.
"""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.settings import FieldworkSettings
from fieldwork import lifecycle, transmittal, verification
from fieldwork.frame import get_survey, import_frame
from fieldwork.operations import Operations, operations
from fieldwork.plan import set_rules
from fieldwork.printing import print_by_frame
from storage.db import Database
from storage.models import Sheet, Unit

FRAME = Path(__file__).resolve().parent.parent / "examples" / "frame-quang-tri-2024.csv"
HANDED_OUT, COLLECTED, HANDED_OVER = date(2024, 11, 21), date(2024, 11, 23), date(2024, 11, 27)
BACK_SHARE = {"DH": 0.9, "TX": 0.5, "GL": 0.0}  # share of each district's sheets collected so far


def print_frame(db: Database, survey: str, edition: str) -> list[int]:
    """Import the frame and print every village's quota; returns the serials printed."""
    with db.session() as session:
        import_frame(session, survey, FRAME, actor="demo", add_enumerators=True)
        set_rules(session, get_survey(session, survey), FieldworkSettings(), actor="demo", collect_by=date(2024, 11, 24),
                  deliver_by=date(2024, 11, 28))
        return print_by_frame(session, survey, edition, output_name="sheets.pdf", actor="demo").run.serials


def simulate(db: Database, survey: str, serials: list[int], scanned: list[int], *, seed: int) -> None:
    """A week in the field for the printed ``serials``; the ``scanned`` ones come back first."""
    rng = random.Random(seed)
    with db.session() as s:
        lifecycle.mark(s, survey, serials, "issued", actor="thukho", source="demo", day=date(2024, 11, 20))
        lifecycle.mark(s, survey, serials, "delivered", actor="buudien", source="demo", day=HANDED_OUT)
        by_district = _by_district(s, get_survey(s, survey).id, serials)
        refused = sorted(rng.sample([n for n in serials if n not in scanned], 12))
        for serial in refused:
            lifecycle.mark(s, survey, [serial], rng.choice(["refused", "absent"]), actor="buudien", source="demo",
                           day=HANDED_OUT)
        for serial in refused[:9]:
            lifecycle.mark(s, survey, [serial], "replaced", actor="buudien", source="demo", day=HANDED_OUT)
        back = list(scanned)
        for district, numbers in by_district.items():
            waiting = [n for n in numbers if n not in scanned and n not in refused[9:]]
            wanted = int(len(numbers) * BACK_SHARE.get(district, 0.0)) - len(set(numbers) & set(scanned))
            back += rng.sample(waiting, max(0, min(wanted, len(waiting))))
        lifecycle.mark(s, survey, sorted(set(back)), "collected", actor="buudien", source="demo", day=COLLECTED)
        lost = next(n for n in serials if n not in back and n not in refused)
        lifecycle.mark(s, survey, [lost], "lost", actor="buudien", source="demo", day=COLLECTED,
                       note="rơi mất khi đi thu / lost on the way back")
        transmittal.create_batch(s, survey, "BD-DONGHA-01", received_on=HANDED_OVER, actor="vanthu",
                                 handed_by="Bưu điện thành phố Đông Hà", enumerator="dtv01", declared=50)
        transmittal.add_sheets(s, survey, "BD-DONGHA-01", [n for n in sorted(set(back)) if n <= 54], actor="vanthu")


def verify(db: Database, survey: str, *, seed: int) -> None:
    """A phúc tra sample after scanning, half of it visited."""
    with db.session() as s:
        drawn = verification.draw(s, survey, per_village=2, seed=str(seed), actor="giamsat")
        for n, d in enumerate(drawn[: len(drawn) // 2]):
            verification.record(s, survey, d.serial, "other_person" if n == 3 else "confirmed", actor="giamsat")


def figures(db: Database, survey: str) -> Operations:
    with db.session() as s:
        return operations(s, survey, FieldworkSettings())


def _by_district(session: Session, survey_id: int, serials: list[int]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for serial, code in session.execute(select(Sheet.serial, Unit.code).join(Unit, Unit.id == Sheet.unit_id)
                                        .where(Sheet.survey_id == survey_id, Sheet.serial.in_(serials))):
        out.setdefault(code.split("-")[0], []).append(serial)
    return out
