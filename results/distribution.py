"""Every question's distribution, and the reconciliation of its totals with the sheets returned.

Per column (question, grid row, write-in line): the count of each option, blank, invalid, and the
open answers (waiting for review, on an unidentified page, page not scanned). The reconciliation:
answered + blank + invalid + open = sheets returned (for a multiple-choice question, "answered"
counts sheets with at least one option; its option counts may add up to more). Anything else (a
code not on the question's scale, a page read without the answer stored) breaks it, and
:func:`check` says where: the column, the figures and the first sheets concerned.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from core.errors import ReconciliationError
from results.dataset import MISSING, NOT_ASKED, REVIEW, UNIDENTIFIED, Column, SurveyData

SHOWN_SHEETS = 5  # sheets named per broken column


@dataclass
class Distribution:
    column: Column
    n_returned: int = 0
    n_answered: int = 0
    n_blank: int = 0
    n_invalid: int = 0
    n_review: int = 0
    n_unidentified: int = 0
    n_missing: int = 0
    options: dict[str, int] = field(default_factory=dict)  # code -> answers (choices and scales)
    numbers: list[int] = field(default_factory=list)  # number questions: every valid value
    texts: list[tuple[int, str]] = field(default_factory=list)  # handwriting: (row in the data, text)
    unexplained: list[tuple[int, str]] = field(default_factory=list)  # (row, why)

    @property
    def n_open(self) -> int:
        return self.n_review + self.n_unidentified + self.n_missing

    @property
    def accounted(self) -> int:
        return self.n_answered + self.n_blank + self.n_invalid + self.n_open

    @property
    def reconciles(self) -> bool:
        option_total = sum(self.options.values())
        options_ok = option_total == self.n_answered if self.column.kind in ("single", "grid") else True
        return self.accounted == self.n_returned and not self.unexplained and options_ok


def distribution(data: SurveyData, column: Column, rows: Sequence[int] | None = None) -> Distribution:
    """The distribution of ``column`` over the returned sheets (or only those at ``rows``).

    Each distinct cell is judged once with its count (a column holds a few codes over tens of
    thousands of sheets); only texts and unexplained cells are looked up again for their rows."""
    out = Distribution(column, options={code: 0 for code, _ in column.options} if column.is_choice else {})
    codes = {code for code, _ in column.options}
    cells = data.cells[column.name]
    picked = cells if rows is None else [cells[row] for row in rows]
    listed: dict[str | None, str] = {}  # cell -> "" (a text) or why it is unexplained
    for cell, n in Counter(picked).items():
        if (why := _count(out, cell, n, codes)) is not None:
            listed[cell] = why
    if listed:
        for row, cell in zip(range(len(cells)) if rows is None else rows, picked, strict=True):
            why = listed.get(cell)
            if why == "":
                out.texts.append((row, cell))  # type: ignore[arg-type]
            elif why is not None:
                out.unexplained.append((row, why))
    return out


def _count(out: Distribution, cell: str | None, n: int, codes: set[str]) -> str | None:
    """Count ``n`` answers ``cell``; returns "" for a text to list, the reason for one unexplained."""
    if cell == NOT_ASKED:
        return None
    out.n_returned += n
    if cell is None:
        return "trang đã đọc nhưng không có câu trả lời / page read, no answer stored"
    if cell in _MARKERS:
        setattr(out, _MARKERS[cell], getattr(out, _MARKERS[cell]) + n)
        return None
    if out.column.kind in ("text", "writein"):
        out.n_answered += n
        return ""
    if out.column.kind == "number":
        if not cell.isdigit():
            return f"'{cell}' không phải số / not a number"
        out.n_answered += n
        out.numbers.extend([int(cell)] * n)
        return None
    chosen = cell.split(";") if out.column.kind == "multiple" else [cell]
    if any(c not in codes for c in chosen):
        return f"mã '{cell}' không có trong câu hỏi / code not on the question"
    out.n_answered += n
    for code in chosen:
        out.options[code] += n
    return None


_MARKERS = {"": "n_blank", "*": "n_invalid", REVIEW: "n_review", UNIDENTIFIED: "n_unidentified", MISSING: "n_missing"}


def distributions(data: SurveyData, rows: Sequence[int] | None = None) -> list[Distribution]:
    return [distribution(data, column, rows) for column in data.columns]


@dataclass(frozen=True)
class Break:
    column: str
    n_returned: int
    accounted: int
    detail: str  # in words, with the first sheets concerned


def breaks(data: SurveyData, found: list[Distribution] | None = None) -> list[Break]:
    """Every column whose totals do not reconcile with the sheets returned."""
    out = []
    for d in found if found is not None else distributions(data):
        if d.reconciles:
            continue
        sheets = ", ".join(f"phiếu {data.serials[row]}: {why}" for row, why in d.unexplained[:SHOWN_SHEETS])
        more = len(d.unexplained) - SHOWN_SHEETS
        figures = (f"{d.n_answered} trả lời + {d.n_blank} bỏ trống + {d.n_invalid} không hợp lệ + {d.n_open} chưa xong "
                   f"= {d.accounted} ≠ {d.n_returned} phiếu đã thu / answered + blank + invalid + open ≠ returned")
        if d.column.kind in ("single", "grid") and sum(d.options.values()) != d.n_answered:
            figures += f"; tổng các phương án / option total {sum(d.options.values())} ≠ {d.n_answered}"
        out.append(Break(d.column.name, d.n_returned, d.accounted,
                         figures + (f" ({sheets}{f', … {more} more' if more > 0 else ''})" if sheets else "")))
    return out


def check(data: SurveyData, found: list[Distribution] | None = None) -> None:
    """Raise :class:`ReconciliationError` naming every column whose totals do not reconcile."""
    broken = breaks(data, found)
    if broken:
        lines = "\n".join(f"  {b.column}: {b.detail}" for b in broken)
        raise ReconciliationError(
            f"{data.code}: số liệu không khớp với số phiếu đã thu ở {len(broken)} cột; báo cáo không được lập / "
            f"totals do not reconcile with the sheets returned in {len(broken)} columns; no report written:\n{lines}")
