"""The operations table as an XLSX workbook (openpyxl): by unit, by enumerator, the chart picture.

Vietnamese column headings; a unit's name is indented by its level; rows are coloured like the web
page (quota reached green, under half of it orange, overdue sheets red).
"""

from __future__ import annotations

import io
from typing import Any

from openpyxl import Workbook
from openpyxl.drawing.image import Image as SheetImage
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from fieldwork.operations import Operations, OpsRow

HEADINGS = [("unit", "Mã"), ("name", "Tên"), ("level", "Cấp"), ("enumerator", "Điều tra viên"),
            ("quota", "Chỉ tiêu"), ("printed", "Đã in"), ("issued", "Đã giao"), ("delivered", "Đã phát"),
            ("collected", "Đã thu"), ("refused", "Từ chối"), ("absent", "Vắng nhà"), ("replaced", "Thay hộ dự phòng"),
            ("lost", "Mất"), ("scanned", "Đã quét"), ("reviewed", "Đã duyệt"), ("final", "Hoàn tất"),
            ("outstanding", "Còn ở ngoài"), ("overdue", "Quá hạn"), ("visitors", "Lượt đến"),
            ("rule_breaks", "Ngày sai quy tắc"), ("response_rate", "Tỉ lệ thu về"), ("quota_progress", "Đạt chỉ tiêu (%)")]
GREEN, ORANGE, RED = PatternFill("solid", fgColor="C8E6C9"), PatternFill("solid", fgColor="FFE0B2"), Font(color="C62828")


def operations_xlsx(ops: Operations, chart: bytes | None = None) -> bytes:
    book = Workbook()
    units = book.active
    assert units is not None
    units.title = "Theo đơn vị"
    _table(units, ops.units + [ops.total], indent=True)
    _table(book.create_sheet("Theo điều tra viên"), ops.enumerators + [ops.total], indent=False)
    if chart:
        picture = book.create_sheet("Biểu đồ")
        picture.add_image(SheetImage(io.BytesIO(chart)), "A1")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _table(sheet: Any, rows: list[OpsRow], *, indent: bool) -> None:
    sheet.append([label for _, label in HEADINGS])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    for row in rows:
        data = row.as_dict()
        sheet.append([data[key] for key, _ in HEADINGS])
        line = sheet.max_row
        if indent:
            sheet.cell(line, 2).alignment = Alignment(indent=max(0, row.level))
        progress = row.quota_progress
        fill = GREEN if row.quota_reached else ORANGE if row.counts.issued and progress is not None and progress < 0.5 else None
        for column in range(1, len(HEADINGS) + 1):
            if fill is not None:
                sheet.cell(line, column).fill = fill
        if row.counts.overdue:
            sheet.cell(line, [k for k, _ in HEADINGS].index("overdue") + 1).font = RED
        for key in ("response_rate", "quota_progress"):
            sheet.cell(line, [k for k, _ in HEADINGS].index(key) + 1).number_format = "0.0%"
    sheet.freeze_panes = "C2"
    for index, (key, _) in enumerate(HEADINGS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = 34 if key == "name" else 12
