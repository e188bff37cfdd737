"""Files for statisticians: ``phieu export SURVEY --format csv|xlsx|sav|long|codebook [--labels]``.

Column names and cell values are documented in docs/results.md ("Exports"); they are stable: a
column is named after the question (``A1``), the grid row (``B9.tc1``) or the option whose write-in
line it holds (``A3.2``), as in the CSV export of codes (``storage.export``). Every file is written
to a temporary name and renamed, so it is complete or absent.

Spreadsheet safety: text that a spreadsheet would run as a formula is neutralised in every
spreadsheet-like file: CSV cells get a leading apostrophe (``storage.export.spreadsheet_text``);
XLSX text cells are typed as text (never formulas) and carry Excel's "quote prefix", so the exact
text is kept and shown, and stays text when a person edits the cell. Numbers stay numbers.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from core.errors import StorageError
from results.dataset import MISSING, NOT_ASKED, REVIEW, UNIDENTIFIED, Column, SurveyData
from storage.export import FORMULA_STARTS, SHEET_COLUMNS, write_csv

LONG_COLUMNS = ("serial", "unit", "column", "question", "item", "value", "status")
CODEBOOK_COLUMNS = ("column", "sav_name", "question", "item", "kind", "label", "values", "tags")
INVALID_LABEL = "Không hợp lệ"
STATUS_OF_MARKER = {REVIEW: "review", UNIDENTIFIED: "unidentified", MISSING: "missing"}
SPECIAL_VALUES = (  # (cell, meaning) listed at the end of every codebook
    ("", "Bỏ trống / left blank"),
    ("*", "Không hợp lệ (người duyệt quyết định, vd. nhiều dấu) / invalid, as a reviewer decided (e.g. several marks)"),
    (REVIEW, "Chờ người duyệt / waiting for a reviewer"),
    (UNIDENTIFIED, "Trang đã về nhưng chưa nhận dạng được / page back but not identified yet"),
    (MISSING, "Trang chưa được quét / page not scanned yet"),
)


def unit_code(data: SurveyData, row: int) -> str:
    unit = data.sheet_units[row]
    return data.units[unit].code if unit is not None and unit in data.units else ""


def label_of(column: Column, cell: str) -> str:
    """A cell in words: option labels for codes (several joined by "; "); other cells unchanged."""
    if not column.is_choice or cell in ("", *STATUS_OF_MARKER):
        return cell
    if cell == "*":
        return INVALID_LABEL
    labels = dict(column.options)
    return "; ".join(labels.get(code, code) for code in cell.split(";"))


def _cell(column: Column, cell: str | None, labels: bool) -> str:
    if cell is None or cell == NOT_ASKED:
        return ""
    return label_of(column, cell) if labels else cell


def wide_table(data: SurveyData, *, labels: bool = False) -> tuple[list[str], list[list[str]]]:
    """One row per returned sheet: serial, unit, status, then every column (codes or labels)."""
    header = [*SHEET_COLUMNS, *(c.name for c in data.columns)]
    columns = [(c, data.cells[c.name]) for c in data.columns]
    rows = [
        [str(serial), unit_code(data, i), data.statuses[i], *(_cell(c, cells[i], labels) for c, cells in columns)]
        for i, serial in enumerate(data.serials)
    ]
    return header, rows


def long_rows(data: SurveyData, *, labels: bool = False) -> Iterator[list[str]]:
    """One row per answer: serial, unit, column, question, item, value, status."""
    serials = [str(s) for s in data.serials]
    units = [unit_code(data, i) for i in range(len(serials))]
    for column in data.columns:
        item = "" if column.kind == "writein" else column.item
        for i, cell in enumerate(data.cells[column.name]):
            if cell == NOT_ASKED:
                continue
            status = "unexplained" if cell is None else STATUS_OF_CELL.get(cell, "answered")
            value = "" if cell is None or cell in STATUS_OF_MARKER else _cell(column, cell, labels)
            yield [serials[i], units[i], column.name, column.question, item, value, status]


STATUS_OF_CELL = {**STATUS_OF_MARKER, "": "blank", "*": "invalid"}


def _status(cell: str | None) -> str:
    return "unexplained" if cell is None else STATUS_OF_CELL.get(cell, "answered")


def codebook_rows(data: SurveyData, sav_names: dict[str, str] | None = None) -> list[list[str]]:
    """One row per variable, then the special cell values; ``sav_names`` from ``results.spss``."""
    from results.spss import variable_names

    names = sav_names or variable_names(data.columns)
    rows = []
    for c in data.columns:
        values = "; ".join(f"{code} = {label}" for code, label in c.options)
        if c.kind == "multiple":
            values += " (nhiều mã nối bằng ; / several codes joined by ;)"
        tags = "; ".join(f"{k}={v}" for k, v in sorted(c.tags.items()))
        item = "" if c.kind == "writein" else c.item
        rows.append([c.name, names.get(c.name, ""), c.question, item, c.kind, c.label, values, tags])
    rows += [[cell or "(trống / empty)", "", "", "", "special", meaning, "", ""] for cell, meaning in SPECIAL_VALUES]
    return rows


def write_wide_csv(data: SurveyData, path: Path, *, labels: bool = False) -> int:
    header, rows = wide_table(data, labels=labels)
    write_csv(path, header, rows)
    return len(rows)


def write_long_csv(data: SurveyData, path: Path, *, labels: bool = False) -> int:
    rows = list(long_rows(data, labels=labels))
    write_csv(path, LONG_COLUMNS, rows)
    return len(rows)


def write_codebook_csv(data: SurveyData, path: Path) -> int:
    rows = codebook_rows(data)
    write_csv(path, CODEBOOK_COLUMNS, rows)
    return len(rows)


def write_xlsx(data: SurveyData, path: Path, *, labels: bool = False) -> int:
    """Sheet "Dữ liệu" (header row, frozen panes, numbers as numbers) and sheet "Từ điển biến" (codebook)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Dữ liệu")
    sheet.freeze_panes = "B2"  # header row and the serial column stay in view
    header, rows = wide_table(data, labels=labels)
    bold = Font(bold=True)
    numeric = {i for i, c in enumerate(data.columns, start=len(SHEET_COLUMNS))
               if c.kind == "number" or (c.kind in ("single", "grid") and not labels
                                         and all(code.isdigit() for code, _ in c.options))}
    numeric.add(0)  # serial

    def header_row(names: Any) -> list[Any]:
        cells = []
        for name in names:
            cell = WriteOnlyCell(sheet, name)
            cell.font = bold
            cells.append(cell)
        return cells

    def value(text: str, number: bool) -> Any:
        """Plain values are fastest; only text a spreadsheet could run gets a typed cell."""
        if not text:
            return None
        if number and text.isdigit() and len(text) < 16:
            return int(text)
        if text[0] in FORMULA_STARTS:
            cell = WriteOnlyCell(sheet, text)
            cell.data_type = "s"  # text, never a formula
            cell.quotePrefix = True  # and it stays text when a person edits it
            return cell
        return text

    sheet.append(header_row(header))
    for row in rows:
        sheet.append([value(v, i in numeric) for i, v in enumerate(row)])
    book = workbook.create_sheet("Từ điển biến")
    book.freeze_panes = "A2"
    sheet = book  # value() makes its cells for the sheet being written
    book.append(header_row(CODEBOOK_COLUMNS))
    for row in codebook_rows(data):
        book.append([value(v, False) for v in row])
    save_atomic(path, workbook.save)
    return len(rows)


def save_atomic(path: Path, save: Callable[[str], None]) -> None:
    """``save(temporary name)`` then rename: the file at ``path`` is complete or absent."""
    path = Path(path)
    tmp = ""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        save(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise StorageError(f"{path}: không ghi được tệp / cannot write the file: {exc}") from exc
    finally:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)
