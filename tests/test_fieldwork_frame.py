"""The sample frame and a sheet's life, on real SQLite and PostgreSQL: the example frames imported (CSV
and the same as XLSX), bad rows named by line with nothing stored, units scoped to their survey, the
step rules, all-or-nothing marking, reserves, the append-only sheet log, and the migration of a
database that already holds sheets."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from fieldwork_helpers import QT_FRAME, SIPAS, register, with_frame
from sqlalchemy import func, select, update

from core.errors import ConflictError, InputFileError
from fieldwork import lifecycle
from fieldwork.frame import COLUMNS, import_frame, update_unit
from fieldwork.printing import print_by_frame
from fieldwork.tables import read_table
from storage.db import Database
from storage.fieldwork_models import Household, SheetEvent
from storage.models import Sheet, Survey, Unit, User

SURVEY = "SIPAS-2024"


def _counts(db: Database) -> tuple[int, int, int]:
    with db.session() as s:
        return (s.scalar(select(func.count()).select_from(Unit)) or 0, s.scalar(select(func.count()).select_from(Household)) or 0,
                s.scalar(select(func.count()).select_from(User)) or 0)


def test_the_quang_tri_frame_imports_whole(database, file_store) -> None:  # type: ignore[no-untyped-def]
    with_frame(database, file_store, SIPAS, QT_FRAME)
    assert _counts(database) == (31, 18 * 32, 9)
    with database.session() as s:
        units = {u.code: u for u in s.scalars(select(Unit))}
        assert (units["QT"].level, units["GL"].level, units["GL-GA"].level, units["GL-GA-BS"].level) == (0, 1, 2, 3)
        assert units["GL-GA-BS"].name == "Thôn Bình Sơn" and units["GL-GA-BS"].kind == "village"
        assert units["TX-HL"].name == "Xã Hải Lệ" and units["TX-HL"].kind == "commune"
        assert units["DH"].quota == 162 and units["DH-DL-DA"].quota == 27
        enumerator = s.get(User, units["GL-GA-BS"].enumerator_id)
        assert enumerator is not None and (enumerator.username, enumerator.role, enumerator.full_name) == (
            "dtv08", "enumerator", "Bùi Văn Tuấn")
        assert enumerator.password_hash == ""  # cannot log in until given a password
        reserves = s.scalars(select(Household.code).where(Household.unit_id == units["GL-GA-BS"].id,
                                                           Household.reserve.is_(True)).order_by(Household.rank)).all()
        assert reserves == [f"GL-GA-BS-D0{n}" for n in range(1, 6)]
    with database.session() as s:  # importing again changes nothing
        summary = import_frame(s, SURVEY, QT_FRAME, actor="test", add_enumerators=True)
    assert (summary.units_created, summary.units_updated, summary.households_created, summary.households_updated,
            summary.enumerators_created) == (0, 0, 0, 0, [])


def test_an_xlsx_frame_reads_like_the_csv(database, file_store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    register(database, file_store, SIPAS)
    book = openpyxl.Workbook()
    sheet = book.active
    for line in QT_FRAME.read_text(encoding="utf-8").splitlines():
        sheet.append([int(c) if c.isdigit() else c for c in line.split(",")] if not line.startswith("#") else [line])
    book.save(tmp_path / "khung.xlsx")
    xlsx, csv_rows = read_table(tmp_path / "khung.xlsx", COLUMNS), read_table(QT_FRAME, COLUMNS)
    assert [r.values for r in xlsx] == [r.values for r in csv_rows] and xlsx[0].line == 3 == csv_rows[0].line
    with database.session() as s:
        import_frame(s, SURVEY, tmp_path / "khung.xlsx", actor="test", add_enumerators=True)
    assert _counts(database) == (31, 576, 9)


BAD = """mã,tên,cấp,mã cấp trên,chỉ tiêu,điều tra viên
QT,Tỉnh Quảng Trị,tỉnh,,54,
DH,Thành phố Đông Hà,thành phố,QT,50,
DH-P2,Phường 2,phường,DH,54,
DH-P2-KP1,Khu phố 1,khu phố,DH-P2,27,dtv01
DH-P2-KP2,Khu phố 2,khu phố,DH-P2,hai mươi bảy,
DH-P2-KP3,,khu phố,DH-P2,27,
DH P2 KP4,Khu phố 4,khu phố,DH-P2,27,
DH-P2-KP5,Khu phố 5,làng xã,DH-P2,27,
DH-P2-KP6,Khu phố 6,khu phố,DH-P9,27,
DH-P2-KP1,Khu phố 1 (lần hai),khu phố,DH-P2,27,
DH-P2-KP1-H01,,hộ,DH-P2-KP1,3,
"""


def test_bad_rows_are_all_named_and_nothing_is_imported(database, file_store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    register(database, file_store, SIPAS)
    path = tmp_path / "khung-sai.csv"
    path.write_text(BAD, encoding="utf-8")
    with pytest.raises(InputFileError) as raised, database.session() as s:
        import_frame(s, SURVEY, path, actor="test")
    message = str(raised.value)
    assert message.startswith("khung-sai.csv: ") and "nothing imported" in message
    for line, words in [(6, "hai mươi bảy"), (7, "thiếu tên"), (8, "DH P2 KP4"), (9, "làng xã"), (12, "hộ không có chỉ tiêu")]:
        assert f"dòng {line}: " in message and words in message, line
    assert "dòng 11: mã DH-P2-KP1 trùng với dòng 5" in message
    assert "dòng 10: DH-P2-KP6: không có đơn vị cấp trên DH-P9" in message
    assert _counts(database)[:2] == (0, 0)  # nothing half-imported
    path.write_text(BAD.splitlines()[0] + "\n" + "\n".join(BAD.splitlines()[1:5]) + "\n", encoding="utf-8")
    with pytest.raises(InputFileError) as raised, database.session() as s:
        import_frame(s, SURVEY, path, actor="test")  # the first rows only: the sums and the unknown enumerator
    message = str(raised.value)
    assert "dòng 2: QT: chỉ tiêu 54 khác tổng của cấp dưới 50" in message
    assert "dòng 3: DH: chỉ tiêu 50 khác tổng của cấp dưới 54" in message
    assert "dòng 4: DH-P2: chỉ tiêu 54 khác tổng của cấp dưới 27" in message
    assert "dòng 5: không có người dùng 'dtv01'" in message and "--add-enumerators" in message
    path.write_text("mã,tên,cấp,mã cấp trên,chỉ tiu\nQT,Tỉnh,tỉnh,,1\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="không biết cột 'chỉ tiu'"), database.session() as s:
        import_frame(s, SURVEY, path, actor="test")
    assert _counts(database)[:2] == (0, 0)


def test_units_belong_to_their_survey(database, file_store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Two surveys may use the same codes (the same villages another year); each has its own quotas."""
    with_frame(database, file_store, SIPAS, QT_FRAME)
    other = tmp_path / "sipas-2025.yaml"
    other.write_text(SIPAS.read_text(encoding="utf-8").replace("survey: SIPAS-2024", "survey: SIPAS-2025"), encoding="utf-8")
    register(database, file_store, other)
    with database.session() as s:
        import_frame(s, "SIPAS-2025", QT_FRAME, actor="test")
        survey = s.scalar(select(Survey).where(Survey.code == "SIPAS-2025"))
        update_unit(s, survey.id, "DH-P2-KP1", actor="test", quota=20, enumerator="dtv02")
    with database.session() as s:
        quotas = dict(s.execute(select(Survey.code, Unit.quota).join(Survey, Survey.id == Unit.survey_id)
                                .where(Unit.code == "DH-P2-KP1")).all())
    assert quotas == {"SIPAS-2024": 27, "SIPAS-2025": 20}


@pytest.mark.parametrize(("current", "to", "verdict"), [
    ("printed", "issued", "ok"), ("issued", "delivered", "ok"), ("delivered", "collected", "ok"),
    ("printed", "collected", "ok"), ("collected", "delivered", "same"), ("scanned", "collected", "same"),
    ("delivered", "refused", "ok"), ("refused", "replaced", "ok"), ("absent", "replaced", "ok"),
    ("replaced", "collected", "ok"), ("refused", "collected", "ok"), ("lost", "collected", "ok"),
    ("delivered", "replaced", "refuse"), ("collected", "refused", "refuse"), ("scanned", "lost", "refuse"),
    ("lost", "issued", "refuse"), ("issued", "scanned", "refuse"), ("refused", "issued", "refuse"),
])
def test_step_rules(current: str, to: str, verdict: str) -> None:
    found = lifecycle.transition(current, to)
    assert found == verdict if verdict != "refuse" else found not in ("ok", "same")


def test_marking_is_all_or_nothing_and_the_log_is_append_only(database, file_store) -> None:  # type: ignore[no-untyped-def]
    with_frame(database, file_store, SIPAS, QT_FRAME)
    with database.session() as s:
        print_by_frame(s, SURVEY, "1", only=["DH-P2-KP1"], actor="test")
        lifecycle.mark(s, SURVEY, [1, 2, 3], "issued", actor="thukho", source="cli")
        lifecycle.mark(s, SURVEY, [2], "lost", actor="thukho", source="cli")
    with pytest.raises(ConflictError, match="2: ") as raised, database.session() as s:
        lifecycle.mark(s, SURVEY, [1, 2, 3], "delivered", actor="thukho", source="cli")
    assert "nothing recorded" in str(raised.value)
    with pytest.raises(Exception, match="never printed"), database.session() as s:
        lifecycle.mark(s, SURVEY, [1, 99], "delivered", actor="thukho", source="cli")
    with database.session() as s:
        statuses = dict(s.execute(select(Sheet.serial, Sheet.field_status)).all())
    assert (statuses[1], statuses[2], statuses[3]) == ("issued", "lost", "issued")

    # reserves: refused households replaced by the village's unused reserves in list order, until none is left
    with database.session() as s:
        lifecycle.mark(s, SURVEY, list(range(4, 28)), "issued", actor="thukho", source="cli")
        lifecycle.mark(s, SURVEY, [1, *range(3, 11)], "refused", actor="dtv01", source="cli")
    with database.session() as s:
        for serial in range(1, 6):
            if serial != 2:
                lifecycle.mark(s, SURVEY, [serial], "replaced", actor="dtv01", source="cli")
        lifecycle.mark(s, SURVEY, [6], "replaced", actor="dtv01", source="cli", household="DH-P2-KP1-D05")
        codes = dict(s.execute(select(Sheet.serial, Household.code).join(Household, Household.id == Sheet.household_id)
                               .where(Sheet.serial <= 6)).all())
    assert codes == {1: "DH-P2-KP1-D01", 2: "DH-P2-KP1-H02", 3: "DH-P2-KP1-D02", 4: "DH-P2-KP1-D03",
                     5: "DH-P2-KP1-D04", 6: "DH-P2-KP1-D05"}
    with pytest.raises(ConflictError, match="hết hộ dự phòng"), database.session() as s:
        lifecycle.mark(s, SURVEY, [7], "replaced", actor="dtv01", source="cli")
    with pytest.raises(ConflictError, match="đã nhận phiếu 1"), database.session() as s:
        lifecycle.mark(s, SURVEY, [8], "delivered", actor="dtv01", source="cli", household="DH-P2-KP1-D01")

    with database.session() as s:
        history = lifecycle.history(s, s.scalar(select(Sheet.id).where(Sheet.serial == 1)))
    assert [(e.from_status, e.to_status, e.actor) for e in history] == [
        ("printed", "issued", "thukho"), ("issued", "refused", "dtv01"), ("refused", "replaced", "dtv01")]
    for statement in (update(SheetEvent).values(actor="someone"), SheetEvent.__table__.delete()):
        with pytest.raises(Exception, match="append-only"), database.session() as s:
            s.execute(statement)


def test_upgrading_a_database_that_holds_sheets(database: Database) -> None:
    """0002 → head with units and scanned sheets stored: the units table is rebuilt with its rows (SQLite copies
    it with foreign keys off), sheets already scanned start their fieldwork log as scanned."""
    from alembic import command

    from storage.db import alembic_config

    with database.engine.begin() as c:
        command.downgrade(alembic_config(c), "0002")
    with database.engine.begin() as c:
        c.exec_driver_sql("INSERT INTO surveys (code, title, language, second_review_share, created_at) "
                          "VALUES ('S', 'Khảo sát', 'vi', 0, '2024-01-01')")
        survey = c.exec_driver_sql("SELECT id FROM surveys").scalar()
        c.exec_driver_sql(f"INSERT INTO editions (survey_id, code, definition_yaml, definition_sha256, layout_json, "
                          f"page_count, created_at) VALUES ({survey}, 'A', '', '', '{{}}', 1, '2024-01-01')")
        edition = c.exec_driver_sql("SELECT id FROM editions").scalar()
        c.exec_driver_sql("INSERT INTO units (code, name, kind) VALUES ('U1', 'Xã Tân Phú', 'commune')")
        first = c.exec_driver_sql("SELECT id FROM units").scalar()
        c.exec_driver_sql(f"INSERT INTO units (code, name, kind, parent_id) VALUES ('U2', 'Thôn 1', 'village', {first})")
        second = c.exec_driver_sql("SELECT id FROM units WHERE code = 'U2'").scalar()
        for serial, unit, status in ((1, second, "complete"), (2, first, "printed"), (3, second, "review")):
            c.exec_driver_sql(f"INSERT INTO sheets (survey_id, edition_id, serial, unit_id, status, created_at, updated_at) "
                              f"VALUES ({survey}, {edition}, {serial}, {unit}, '{status}', '2024-01-01', '2024-01-01')")
    database.migrate()
    with database.session() as s:
        assert dict(s.execute(select(Sheet.serial, Sheet.field_status)).all()) == {1: "scanned", 2: "printed", 3: "scanned"}
        assert [(u.code, u.parent_id, u.survey_id) for u in s.scalars(select(Unit).order_by(Unit.id))] == [
            ("U1", None, None), ("U2", first, None)]
        s.add(Unit(code="U1", name="Xã Tân Phú", kind="commune", survey_id=survey))  # unique per survey now
    if database.is_sqlite:
        with database.engine.connect() as c:
            assert c.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
