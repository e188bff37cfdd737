"""The import graph keeps the pipeline readable left to right (see STYLE: our shape)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    # the shared ground: errors, settings and the values passed between stages import none of ours
    "core": {"formgen", "scanner", "recognition", "storage", "pipeline", "results", "review_ui", "phieu", "fieldwork"},
    "recognition": {"storage", "pipeline", "results", "review_ui", "phieu", "fieldwork"},
    "scanner": {"storage", "pipeline", "results", "review_ui", "phieu", "fieldwork"},
    "formgen": {"scanner", "recognition", "storage", "pipeline", "results", "review_ui", "phieu", "fieldwork"},
    "storage": {"pipeline", "results", "review_ui", "phieu", "fieldwork"},
    # the scan pipeline: workers compute, one writer stores; it never reaches up to the shell or the web app
    "pipeline": {"review_ui", "phieu", "results", "fieldwork"},
    # the results layer reads stored answers through storage; the web app shows them (review_ui -> results)
    "results": {"scanner", "recognition", "review_ui", "phieu", "fieldwork", "pipeline"},
    # fieldwork: the frame and a sheet's life in the field, kept through storage; the web app shows it
    "fieldwork": {"scanner", "recognition", "review_ui", "phieu", "results", "pipeline"},
    "phieu": set(),
}
LEAF_MODULES = {  # the contract: no heavy libraries
    "formgen/layout.py": {"reportlab", "cv2", "sqlalchemy"},
    "formgen/identity.py": {"reportlab", "cv2", "sqlalchemy"},
    "formgen/definition.py": {"reportlab", "cv2", "sqlalchemy"},
    "formgen/indexdef.py": {"reportlab", "cv2", "sqlalchemy", "numpy"},
    "core/settings.py": {"reportlab", "cv2", "sqlalchemy"},
    "core/errors.py": {"reportlab", "cv2", "sqlalchemy", "numpy"},
    "core/types.py": {"reportlab", "cv2", "sqlalchemy"},
}


def _imports(path: Path) -> set[str]:
    """Top-level packages ``path`` imports at run time (imports for annotations only are left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):  # drop `if TYPE_CHECKING:` bodies
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            node.body = []
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _starts_the_web_app(path: Path) -> bool:
    """The command-line shell (and the demo it runs) may start the review UI; nothing else may."""
    rel = path.relative_to(REPO).as_posix()
    return rel in {"phieu/cli.py", "phieu/demo.py"} or rel.startswith("phieu/commands/")


def test_packages_respect_the_pipeline_order() -> None:
    problems = []
    for package, forbidden in FORBIDDEN.items():
        for path in (REPO / package).rglob("*.py"):
            bad = _imports(path) & forbidden
            if not _starts_the_web_app(path):
                bad |= _imports(path) & {"review_ui"}
            if bad:
                problems.append(f"{path.relative_to(REPO)} imports {sorted(bad)}")
    assert not problems, problems


def test_production_code_does_not_depend_on_the_proving_ground() -> None:
    # the filler and degrader serve tests, benchmarks and the demo; a scan never needs them
    allowed = {"phieu/demo.py"}
    problems = []
    for package in ["core", "formgen", "scanner", "recognition", "storage", "pipeline", "results", "review_ui", "phieu", "fieldwork"]:
        for path in (REPO / package).rglob("*.py"):
            rel = path.relative_to(REPO).as_posix()
            if rel.startswith(("phieu/provingground/", "phieu/commands/")) or rel in allowed:
                continue
            if "phieu.provingground" in path.read_text(encoding="utf-8"):
                problems.append(rel)
    assert not problems, problems


def test_contract_modules_stay_light() -> None:
    for rel, forbidden in LEAF_MODULES.items():
        path = REPO / rel
        if path.exists():
            assert not (_imports(path) & forbidden), rel


def test_nothing_imports_review_ui() -> None:
    for path in REPO.rglob("*.py"):
        if ".venv" in path.parts or path.parts[len(REPO.parts)] in {"review_ui", "tests"}:
            continue
        if _starts_the_web_app(path):
            continue
        assert "review_ui" not in _imports(path), path
