"""Shared set-up for the pipeline tests: a workspace with the SIPAS example registered and printed.

Everything is real: formgen builds and stamps the sheets, storage registers them, the proving
ground fills and degrades them and writes the scan files.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from core.settings import Settings
from formgen.definition import load_definition
from formgen.render import BuiltForm, build_form
from phieu.provingground.bundle import make_bundle, stamp
from phieu.provingground.truth import SheetTruth
from phieu.workspace import Workspace
from pipeline.run import ScanSummary, scan_paths
from storage.db import Database
from storage.files import FileStore

REPO = Path(__file__).resolve().parent.parent
SIPAS = REPO / "examples" / "sipas-2024.yaml"


@cache
def sipas_form() -> BuiltForm:
    return build_form(load_definition(SIPAS))


@dataclass
class Printed:
    """A workspace whose SIPAS sheets are printed (registered in storage with status "printed")."""

    ws: Workspace
    db: Database
    store: FileStore
    built: BuiltForm
    serials: list[int]

    @property
    def secret(self) -> bytes:
        return self.ws.secret()

    @property
    def survey(self) -> str:
        return self.built.layout.survey

    def bundle(self, serials: list[int], out_dir: Path, *, profile: str, seed: int, fmt: str = "pdf",
               name: str = "bundle") -> list[SheetTruth]:
        """Fill and degrade printed sheets into scan files (stamped again: the same pages as printed)."""
        assert set(serials) <= set(self.serials), "only printed sheets"
        return make_bundle(stamp(self.built, serials, self.secret), self.built.layout, serials, profile=profile, rng=np.random.default_rng(seed),
                           out_dir=out_dir, fmt=fmt, name=name)  # type: ignore[arg-type]

    def scan(self, *paths: Path, jobs: int = 1, ocr: bool = False, **kwargs: object) -> ScanSummary:
        settings = with_jobs(self.ws.settings, jobs)
        return scan_paths(self.db, self.store, list(paths), secret=self.secret, settings=settings, ocr=ocr,
                          **kwargs)  # type: ignore[arg-type]


def with_jobs(settings: Settings, jobs: int) -> Settings:
    return settings.model_copy(update={"scan": settings.scan.model_copy(update={"jobs": jobs})})


def print_sipas(home: Path, count: int, database_url: str | None = None) -> Printed:
    """Register SIPAS in a fresh workspace at ``home`` and print ``count`` sheets."""
    from storage import surveys

    ws = Workspace.create(home, database_url=database_url)
    db = Database.for_workspace(ws)
    store = FileStore(ws.files_dir)
    built = sipas_form()
    with db.session() as session:
        surveys.register_edition(session, built.definition, yaml_text=SIPAS.read_text(encoding="utf-8"),
                                 layout=built.layout, blank_pdf=built.blank_pdf, files=store, actor="test")
        run = surveys.allocate_serials(session, built.layout.survey, built.layout.edition, count, actor="test")
        serials = run.serials
    return Printed(ws, db, store, built, list(serials))


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


@dataclass
class SipasDatabase:
    """A SQLite database and file store with SIPAS registered and sheets printed (no workspace)."""

    url: str
    db: Database
    store: FileStore
    built: BuiltForm
    serials: list[int]


def sipas_database(home: Path, sheets: int, users: dict[str, str], password: str) -> SipasDatabase:
    """Under ``home``: the database, the file store, SIPAS registered, ``sheets`` serials printed and the
    ``users`` (name → role) created with ``password``."""
    from review_ui.accounts import create_user
    from storage import surveys

    url = f"sqlite:///{home / 'phieu.sqlite3'}"
    db, store = Database.open(url), FileStore(home / "files")
    db.migrate()
    built = sipas_form()
    with db.session() as s:
        surveys.register_edition(s, built.definition, yaml_text=SIPAS.read_text(encoding="utf-8"), layout=built.layout,
                                 blank_pdf=built.blank_pdf, files=store, actor="test")
        serials = list(surveys.allocate_serials(s, built.layout.survey, built.layout.edition, sheets, actor="test").serials)
        for name, role in users.items():
            create_user(s, name, password, role)
    return SipasDatabase(url, db, store, built, serials)
