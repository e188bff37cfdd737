"""SPSS ``.sav`` with Vietnamese variable and value labels (pyreadstat), for ``phieu export --format sav``.

Variables (names are stable; docs/results.md "SPSS"):
- ``serial`` (numeric), ``unit`` and ``status`` (strings);
- a single-choice question or grid row with numeric codes: one numeric variable, value labels from the
  options or the scale; a number question: numeric;
- a multiple-choice question: one 0/1 variable per option, ``A2_1``, ``A2_2``… (1 = chosen);
- handwriting (free text, "other" lines): a string variable; a write-in's name ends in ``_txt``;
- choice questions with letter codes: a string variable holding the code.

Names: the export column with every character other than a letter, digit or ``_`` turned into
``_`` (``B9.tc1`` → ``B9_tc1``, ``B1.y-te`` → ``B1_y_te``), prefixed ``v`` when it does not start with
a letter, at most 64 bytes, a number appended if two would clash.

Missing values: a blank answer is system-missing; the other open or invalid states are negative
codes declared user-missing (-4 to -1), each with its label, so SPSS leaves them out of statistics
but a statistician sees why an answer is absent.
"""

from __future__ import annotations

import math
import re
from functools import partial
from pathlib import Path
from typing import Any

from results.dataset import MISSING, NOT_ASKED, REVIEW, UNIDENTIFIED, Column, SurveyData
from results.exports import save_atomic, unit_code

SPECIAL_CODES = {"*": -1, REVIEW: -2, UNIDENTIFIED: -3, MISSING: -4}
SPECIAL_LABELS = {-1: "Không hợp lệ", -2: "Chờ duyệt", -3: "Trang chưa nhận dạng", -4: "Trang chưa quét"}
CHOSEN_LABELS = {0: "Không chọn", 1: "Có chọn"}
LABEL_BYTES = 250  # SPSS variable labels: at most 256 bytes
VALUE_LABEL_BYTES = 120  # SPSS value labels: at most 120 bytes
NAME_BYTES = 64


def _fit(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes on a character boundary."""
    raw = text.encode("utf-8")
    return text if len(raw) <= limit else raw[:limit].decode("utf-8", errors="ignore").rstrip()


def _name(raw: str, taken: set[str]) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", raw)
    if not name[:1].isalpha():
        name = "v" + name
    name = name[:NAME_BYTES]
    base, n = name, 2
    while name.lower() in taken:
        suffix = f"_{n}"
        name, n = base[: NAME_BYTES - len(suffix)] + suffix, n + 1
    taken.add(name.lower())
    return name


def _is_numeric(column: Column) -> bool:
    return column.kind == "number" or (column.kind in ("single", "grid")
                                       and all(code.isdigit() for code, _ in column.options))


def variable_names(columns: list[Column]) -> dict[str, str]:
    """Export column → SPSS name (a multiple-choice question: the stem of its 0/1 variables)."""
    taken = {"serial", "unit", "status"}
    names = {}
    for c in columns:
        if c.kind == "multiple":
            names[c.name] = ", ".join(_name(f"{c.name}_{code}", taken) for code, _ in c.options)
        else:
            names[c.name] = _name(c.name + ("_txt" if c.kind == "writein" else ""), taken)
    return names


def sav_frame(data: SurveyData) -> tuple[Any, dict[str, Any]]:
    """The data frame and the keyword arguments of ``pyreadstat.write_sav``."""
    import pandas as pd

    names = variable_names(data.columns)
    columns: dict[str, list[Any]] = {
        "serial": [float(s) for s in data.serials],
        "unit": [unit_code(data, i) for i in range(len(data.serials))],
        "status": list(data.statuses),
    }
    labels = {"serial": "Số phiếu", "unit": "Mã đơn vị", "status": "Trạng thái phiếu"}
    value_labels: dict[str, dict[float, str]] = {}
    missing: dict[str, list[dict[str, float]]] = {}
    measure: dict[str, str] = {"serial": "nominal", "unit": "nominal", "status": "nominal"}
    for c in data.columns:
        cells = data.cells[c.name]
        if c.kind == "multiple":
            for (code, option), name in zip(c.options, names[c.name].split(", "), strict=True):
                columns[name] = _mapped(cells, partial(_chosen, code=code))
                labels[name] = _fit(f"{c.question_text} — {option}", LABEL_BYTES)
                value_labels[name] = {**{float(k): v for k, v in CHOSEN_LABELS.items()}, **_special()}
                missing[name] = [{"lo": -4.0, "hi": -1.0}]
                measure[name] = "nominal"
        elif _is_numeric(c):
            name = names[c.name]
            columns[name] = _mapped(cells, _number)
            labels[name] = _fit(c.label, LABEL_BYTES)
            codes = {float(code): _fit(label, VALUE_LABEL_BYTES) for code, label in c.options}
            value_labels[name] = {**codes, **_special()}
            missing[name] = [{"lo": -4.0, "hi": -1.0}]
            measure[name] = "scale" if c.kind == "number" else "ordinal" if c.kind == "grid" else "nominal"
        else:
            name = names[c.name]
            columns[name] = ["" if cell is None or cell == NOT_ASKED else cell for cell in cells]
            labels[name] = _fit(c.label + (" (chữ viết)" if c.kind == "writein" else ""), LABEL_BYTES)
            measure[name] = "nominal"
    frame = pd.DataFrame(columns)
    return frame, {"column_labels": labels, "variable_value_labels": value_labels, "missing_ranges": missing,
                   "variable_measure": measure, "file_label": _fit(data.title, 64)}


def _mapped(cells: list[str | None], convert: Any) -> list[Any]:
    """``convert`` of every cell, worked out once per distinct cell."""
    done = {cell: convert(cell) for cell in set(cells)}
    return list(map(done.__getitem__, cells))


def _special() -> dict[float, str]:
    return {float(code): label for code, label in SPECIAL_LABELS.items()}


def _number(cell: str | None) -> float:
    if cell is None or cell in ("", NOT_ASKED):
        return math.nan
    if cell in SPECIAL_CODES:
        return float(SPECIAL_CODES[cell])
    return float(cell) if cell.isdigit() else math.nan


def _chosen(cell: str | None, code: str) -> float:
    if cell is None or cell in ("", NOT_ASKED):
        return math.nan
    if cell in SPECIAL_CODES:
        return float(SPECIAL_CODES[cell])
    return 1.0 if code in cell.split(";") else 0.0


def write_sav(data: SurveyData, path: Path) -> int:
    import pyreadstat

    frame, options = sav_frame(data)
    save_atomic(path, lambda tmp: pyreadstat.write_sav(frame, tmp, **options))
    return len(frame)
