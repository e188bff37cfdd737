"""The index as files: ``phieu results --format csv|json`` (columns and schema in docs/results.md and
docs/results-schema.json). Rates are written at full precision; nothing here rounds."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from core.errors import StorageError
from results.engine import Results, Row, Scope
from storage.export import write_csv

SCHEMA = "phieu-results/1"
RESULT_COLUMNS = (
    "level", "unit", "question", "item", "n_valid", "n_satisfied", "n_blank", "n_invalid", "n_open", "rate",
    "node", "label", "parent", "unit_name", "unit_kind", "n_sheets", "n_returned", "n_review", "n_unidentified",
    "n_missing", "points", "weight", "rank", "previous", "change", "provisional",
)


def _number(value: float | int | None) -> str:
    if value is None:
        return ""
    return repr(float(value)) if isinstance(value, float) else str(value)


def csv_rows(results: Results) -> list[list[str]]:
    rows = []
    for scope in results.scopes:
        unit = scope.unit
        for r in scope.rows:
            t = r.tally
            rows.append([
                r.level, scope.code, r.question, r.item, str(t.n_valid), str(t.n_satisfied), str(t.n_blank),
                str(t.n_invalid), str(t.n_open), _number(r.rate), r.node, r.label, r.parent,
                unit.name if unit else results.title, unit.kind if unit else "", str(scope.n_sheets),
                str(t.n_returned), str(t.n_review), str(t.n_unidentified), str(t.n_missing), _number(t.points),
                _number(r.weight), _number(r.rank), _number(r.previous), _number(r.change),
                "1" if r.provisional or results.unknown_pages else "0",
            ])
    return rows


def write_results_csv(results: Results, path: Path) -> None:
    write_csv(path, RESULT_COLUMNS, csv_rows(results))


def _node(row: Row, children: dict[str, list[Row]], unknown_pages: int) -> dict[str, Any]:
    t = row.tally
    return {
        "level": row.level, "node": row.node, "label": row.label, "question": row.question, "item": row.item,
        "rate": row.rate, "weight": row.weight, "rank": row.rank, "previous": row.previous, "change": row.change,
        "provisional": row.provisional or unknown_pages > 0,
        "counts": {
            "n_returned": t.n_returned, "n_valid": t.n_valid, "n_satisfied": t.n_satisfied, "n_blank": t.n_blank,
            "n_invalid": t.n_invalid, "n_open": t.n_open, "n_review": t.n_review,
            "n_unidentified": t.n_unidentified, "n_missing": t.n_missing, "points": t.points,
            "options": dict(t.options),
        },
        "children": [_node(c, children, unknown_pages) for c in children.get(_key(row), [])],
    }


def _key(row: Row) -> str:
    return f"{row.level}:{row.node}"


def scope_json(scope: Scope, unknown_pages: int = 0) -> dict[str, Any]:
    """One scope as a nested tree: overall → parts → groups → items."""
    children: dict[str, list[Row]] = {}
    level_of_parent = _parent_levels(scope.rows)
    for row in scope.rows[1:]:
        children.setdefault(f"{level_of_parent[row.level]}:{row.parent}", []).append(row)
    unit = scope.unit
    return {
        "unit": {"code": unit.code, "name": unit.name, "kind": unit.kind} if unit else None,
        "n_sheets": scope.n_sheets,
        "index": _node(scope.overall, children, unknown_pages),
    }


def _parent_levels(rows: list[Row]) -> dict[str, str]:
    """The level above each level, from the order of the rows (overall, top level … items)."""
    order = list(dict.fromkeys(r.level for r in rows))  # overall, part, group, item
    return {level: order[i - 1] if i else "" for i, level in enumerate(order)}


def results_json(results: Results) -> dict[str, Any]:
    index = results.index
    return {
        "schema": SCHEMA,
        "survey": results.survey,
        "title": results.title,
        "computed_at": results.computed_at.isoformat(),
        "provisional": results.provisional,
        "index": {"title": index.title, "method": index.method,
                  "levels": [{"id": lv.id, "tag": lv.tag, "title": lv.title} for lv in index.levels]},
        "sheets": {"printed": results.printed, "returned": results.returned, "unknown_pages": results.unknown_pages},
        "by": results.by,
        "previous_survey": results.previous_survey,
        "scopes": [scope_json(s, results.unknown_pages) for s in results.scopes],
    }


def write_json(data: Any, path: Path) -> None:
    """Write JSON (UTF-8, Vietnamese unescaped); the file appears complete or not at all."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False)  # compact: with indent, json runs in Python (~1 s nationally)
        os.replace(tmp, path)
    except OSError as exc:
        raise StorageError(f"{path}: không ghi được tệp / cannot write the file: {exc}") from exc
