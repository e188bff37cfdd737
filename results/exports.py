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
from itertools import chain, compress, repeat
from pathlib import Path

from core.errors import StorageError
from results.dataset import MISSING, NOT_ASKED, REVIEW, UNIDENTIFIED, Column, SurveyData
from storage.export import SHEET_COLUMNS, spreadsheet_text, write_csv

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


def _shown(column: Column, cells: list[str | None], labels: bool, safe: bool) -> list[str]:
    """A column's cells as exported: each distinct cell converted once (a column holds a few codes)."""
    convert = {cell: _cell(column, cell, labels) for cell in set(cells)}
    if safe:
        convert = {cell: spreadsheet_text(text) for cell, text in convert.items()}
    return list(map(convert.__getitem__, cells))


def wide_columns(data: SurveyData, *, labels: bool = False, safe: bool = False) -> list[list[str]]:
    """The wide table column by column: serial, unit, status, then every variable (``safe``: made
    safe for a spreadsheet, as :func:`storage.export.write_csv` would)."""
    units = [unit_code(data, i) for i in range(len(data.serials))]
    fixed = [[str(s) for s in data.serials], units, list(data.statuses)]
    if safe:
        fixed = [[spreadsheet_text(v) for v in column] for column in fixed]
    return [*fixed, *(_shown(c, data.cells[c.name], labels, safe) for c in data.columns)]


def wide_table(data: SurveyData, *, labels: bool = False) -> tuple[list[str], list[list[str]]]:
    """One row per returned sheet: serial, unit, status, then every column (codes or labels)."""
    header = [*SHEET_COLUMNS, *(c.name for c in data.columns)]
    return header, [list(row) for row in zip(*wide_columns(data, labels=labels), strict=True)]


def long_rows(data: SurveyData, *, labels: bool = False, safe: bool = False) -> Iterator[tuple[str, ...]]:
    """One row per answer: serial, unit, column, question, item, value, status (by column, then sheet)."""
    serials = [str(s) for s in data.serials]
    units = [unit_code(data, i) for i in range(len(serials))]
    if safe:
        units = [spreadsheet_text(u) for u in units]
    return chain.from_iterable(_long_column(data, column, serials, units, labels, safe) for column in data.columns)


def _long_column(data: SurveyData, column: Column, serials: list[str], units: list[str], labels: bool,
                 safe: bool) -> Iterator[tuple[str, ...]]:
    """One column's rows, assembled by zip in C from each distinct cell's value and status."""
    cells = data.cells[column.name]
    item = "" if column.kind == "writein" else column.item
    distinct = set(cells)
    value = {cell: "" if cell is None or cell in STATUS_OF_MARKER else _cell(column, cell, labels) for cell in distinct}
    if safe:
        value = {cell: spreadsheet_text(text) for cell, text in value.items()}
    status = {cell: _status(cell) for cell in distinct}
    name, question, item = (spreadsheet_text(v) if safe else v for v in (column.name, column.question, item))
    rows = zip(serials, units, repeat(name), repeat(question), repeat(item), map(value.__getitem__, cells),
               map(status.__getitem__, cells))
    return compress(rows, (cell != NOT_ASKED for cell in cells)) if NOT_ASKED in distinct else rows


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
    header = [*SHEET_COLUMNS, *(c.name for c in data.columns)]
    write_csv(path, header, zip(*wide_columns(data, labels=labels, safe=True), strict=True), made_safe=True)
    return len(data.serials)


def write_long_csv(data: SurveyData, path: Path, *, labels: bool = False) -> int:
    write_csv(path, LONG_COLUMNS, long_rows(data, labels=labels, safe=True), made_safe=True)
    return sum(len(cells) - cells.count(NOT_ASKED) for cells in data.cells.values())


def write_codebook_csv(data: SurveyData, path: Path) -> int:
    rows = codebook_rows(data)
    write_csv(path, CODEBOOK_COLUMNS, rows)
    return len(rows)


def write_xlsx(data: SurveyData, path: Path, *, labels: bool = False) -> int:
    """Sheet "Dữ liệu" (header row, frozen panes, numbers as numbers) and sheet "Từ điển biến" (codebook)."""
    from results import xlsx

    numeric = {i for i, c in enumerate(data.columns, start=len(SHEET_COLUMNS))
               if c.kind == "number" or (c.kind in ("single", "grid") and not labels
                                         and all(code.isdigit() for code, _ in c.options))}
    numeric.add(0)  # serial
    header = [*SHEET_COLUMNS, *(c.name for c in data.columns)]
    codebook = codebook_rows(data)
    sheets = [xlsx.Sheet("Dữ liệu", header, wide_columns(data, labels=labels), frozenset(numeric), freeze="B2"),
              xlsx.Sheet("Từ điển biến", CODEBOOK_COLUMNS, [list(c) for c in zip(*codebook, strict=True)], freeze="A2")]
    save_atomic(path, lambda tmp: xlsx.write(Path(tmp), sheets))
    return len(data.serials)


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
