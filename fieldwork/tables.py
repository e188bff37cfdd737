"""Tables people fill in a spreadsheet: CSV (comma, semicolon or tab; UTF-8 with or without BOM) or XLSX.

Every row keeps its line number (the spreadsheet's row number), so each message can say where to
look. Headers may be written in English or Vietnamese (each column lists the names it answers to);
an unknown header is refused rather than silently ignored, since it is usually a typo. Blank rows
and rows whose first cell starts with ``#`` (comments) are skipped.
"""

from __future__ import annotations

import csv
import io
import logging
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from core.errors import InputFileError

log = logging.getLogger(__name__)

TRUE_WORDS = {"1", "x", "v", "✓", "✔", "có", "co", "yes", "y", "true", "đúng"}
FALSE_WORDS = {"", "0", "không", "khong", "no", "n", "false", "sai", "-"}


@dataclass(frozen=True)
class Row:
    line: int  # 1-based line (CSV) or row number (XLSX) of the file
    values: dict[str, str]  # canonical column name → text, stripped ("" when empty)

    def get(self, column: str) -> str:
        return self.values.get(column, "")


def normalise(text: str) -> str:
    """Header comparison form: NFC, lower case, single spaces, no surrounding punctuation."""
    return " ".join(unicodedata.normalize("NFC", text).lower().replace("_", " ").split()).strip(" :*")


def read_table(path: Path, columns: Mapping[str, Sequence[str]], *, required: Sequence[str] = (),
               name: str | None = None) -> list[Row]:
    """The data rows of ``path`` (.csv or .xlsx) with canonical column names.

    ``columns`` maps each canonical name to the header spellings it answers to (the canonical name
    itself always counts). ``name`` is the file name to show when ``path`` is a temporary copy.
    """
    shown = name or path.name
    suffix = Path(shown).suffix.lower()
    if suffix == ".csv":
        raw = _csv_rows(path, shown)
    elif suffix in (".xlsx", ".xlsm"):
        raw = _xlsx_rows(path, shown)
    else:
        raise InputFileError(f"{shown}: chỉ nhận tệp .csv hoặc .xlsx / only .csv or .xlsx files are read")
    header_at = next((i for i, (_, cells) in enumerate(raw) if _meaningful(cells)), None)
    if header_at is None:
        raise InputFileError(f"{shown}: tệp trống / the file is empty")
    header_line, header = raw[header_at]
    mapping = _map_header(header, columns, shown, header_line)
    missing = [c for c in required if c not in mapping.values()]
    if missing:
        raise InputFileError(f"{shown} dòng {header_line}: thiếu cột {', '.join(missing)} / missing columns "
                             f"{', '.join(missing)} (tên cột nhận được / accepted headers: {_accepted(columns, missing)})")
    rows = []
    for line, cells in raw[header_at + 1:]:
        if not _meaningful(cells):
            continue
        values = {column: (cells[i] if i < len(cells) else "").strip() for i, column in mapping.items()}
        rows.append(Row(line, values))
    return rows


def parse_bool(text: str) -> bool | None:
    """A tick or a yes/no word; None when it is neither."""
    word = normalise(text)
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return None


def parse_int(text: str) -> int | None:
    """A whole number written as "27", "27.0" or "1.200" (thousands dot); None otherwise."""
    cleaned = text.strip().replace(" ", "")
    if cleaned.endswith(".0"):
        cleaned = cleaned[:-2]
    if "." in cleaned and all(len(part) == 3 for part in cleaned.split(".")[1:]):
        cleaned = cleaned.replace(".", "")
    try:
        return int(cleaned)
    except ValueError:
        return None


def parse_date(text: str) -> date | None:
    """ISO (2024-11-21) or Vietnamese day-first (21/11/2024, 21-11-2024); None otherwise."""
    cleaned = text.strip()[:10]
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y"):
        try:
            return datetime.strptime(cleaned, fmt).date()
        except ValueError:
            continue
    return None


# --- internals ----------------------------------------------------------------------------------


def _meaningful(cells: Sequence[str]) -> bool:
    first = next((c.strip() for c in cells if c.strip()), "")
    return bool(first) and not first.startswith("#")


def _csv_rows(path: Path, shown: str) -> list[tuple[int, list[str]]]:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputFileError(f"{shown}: không phải UTF-8 (byte {exc.start}); lưu lại dưới dạng CSV UTF-8 "
                             f"/ not UTF-8: save it again as CSV UTF-8") from exc
    except OSError as exc:
        raise InputFileError(f"{shown}: không đọc được / cannot read: {exc}") from exc
    first = next((line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")), "")
    delimiter = max(",;\t", key=first.count) if first else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    return [(reader.line_num, cells) for cells in reader]


def _xlsx_rows(path: Path, shown: str) -> list[tuple[int, list[str]]]:
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - zip, XML and format errors all mean "not a readable workbook"
        raise InputFileError(f"{shown}: không mở được bảng tính / cannot open the workbook: {exc}") from exc
    try:
        sheet = book.worksheets[0]
        return [(number, [_cell_text(v) for v in values])
                for number, values in enumerate(sheet.iter_rows(values_only=True), start=1)]
    finally:
        book.close()


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _map_header(header: Sequence[str], columns: Mapping[str, Sequence[str]], shown: str,
                line: int) -> dict[int, str]:
    names = {normalise(alias): column for column, aliases in columns.items() for alias in (column, *aliases)}
    mapping: dict[int, str] = {}
    unknown = []
    for index, cell in enumerate(header):
        key = normalise(cell)
        if not key:
            continue
        column = names.get(key)
        if column is None:
            unknown.append(cell.strip())
        elif column in mapping.values():
            raise InputFileError(f"{shown} dòng {line}: cột {column!r} xuất hiện hai lần / column {column!r} twice")
        else:
            mapping[index] = column
    if unknown:
        raise InputFileError(f"{shown} dòng {line}: không biết cột {', '.join(map(repr, unknown))} / unknown columns; "
                             f"tên cột nhận được / accepted headers: {_accepted(columns, list(columns))}")
    return mapping


def _accepted(columns: Mapping[str, Sequence[str]], which: Sequence[str]) -> str:
    return "; ".join(f"{c} ({', '.join(columns[c])})" if columns[c] else c for c in which)
