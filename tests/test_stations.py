"""Several scanning stations, one round: two `phieu scan` processes at once on one PostgreSQL database and one
file store, with overlapping input (the same bundle at both, under other names, plus files of their own, one
of them a second scan of a sheet the other station has), store what a single run stores: the same sheets,
pages, answers, review items and duplicates, nothing twice. Serials printed at two desks at once never repeat."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from pipeline_helpers import Printed, print_sipas
from queue_helpers import PHIEU, picture, stored_once, without_which_copy
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from test_review_counts import check

from storage import surveys
from storage.db import Database, normalise_url
from storage.models import ScanBatch, ScanFile

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
SHEETS = 6


def _inputs(printed: Printed, root: Path) -> tuple[Path, Path, Path]:
    """Station 1: the shared bundle, sheets 4-5, and sheet 6 scanned again; station 2: the shared bundle
    (another name) and sheet 6. The single run gets every file once."""
    made = root / "made"
    printed.bundle(printed.serials[:3], made, profile="office", seed=3, name="chung")
    printed.bundle(printed.serials[3:5], made, profile="office", seed=4, name="tram1")
    printed.bundle(printed.serials[5:], made, profile="office", seed=6, name="tram2")
    one, two, single = root / "station1", root / "station2", root / "single"
    for folder in (one, two, single):
        folder.mkdir()
    shutil.copyfile(made / "chung.pdf", one / "0-bo-chung.pdf")
    shutil.copyfile(made / "chung.pdf", two / "0-bo-chung-may2.pdf")
    shutil.copyfile(made / "tram1.pdf", one / "1-tram1.pdf")
    shutil.copyfile(made / "tram2.pdf", two / "1-tram2.pdf")
    # the same sheet scanned again at the other station: other bytes (a note after the end), the same pages
    (one / "2-quet-lai.pdf").write_bytes((made / "tram2.pdf").read_bytes() + b"\n% quet lai / scanned again\n")
    for name in ("chung.pdf", "tram1.pdf", "tram2.pdf"):
        shutil.copyfile(made / name, single / name)
    shutil.copyfile(one / "2-quet-lai.pdf", single / "quet-lai.pdf")
    return one, two, single


def _second_database(url: str) -> str:
    server = make_url(normalise_url(url))
    name = f"{server.database}_stations"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}" ENCODING \'UTF8\' TEMPLATE template0'))
    admin.dispose()
    return server.set(database=name).render_as_string(hide_password=False)


def test_two_stations_at_once_store_what_one_run_stores(_postgres_module_url: str, tmp_path: Path) -> None:
    central = _second_database(_postgres_module_url)
    printed = print_sipas(tmp_path / "trung-tam", SHEETS, database_url=central)  # the shared folder: store + secret
    one, two, single_dir = _inputs(printed, tmp_path)
    env = {**os.environ, "PHIEU_HOME": str(printed.ws.home), "PHIEU_DATABASE_URL": central}
    stations = [subprocess.Popen([PHIEU, "scan", "--jobs", "1", str(folder)], env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT) for folder in (one, two)]
    outputs = [p.communicate(timeout=600)[0].decode(errors="replace") for p in stations]
    for process, out in zip(stations, outputs, strict=True):
        assert process.returncode in (0, 10), out

    reference_home = tmp_path / "mot-tram"
    reference_home.mkdir()
    shutil.copyfile(printed.ws.home / "secret.key", reference_home / "secret.key")
    single = print_sipas(reference_home, SHEETS)  # SQLite, the same secret and serials
    single.scan(single_dir, jobs=1, ocr=True)  # as `phieu scan` reads

    both = picture(printed.db)
    alone = picture(single.db)
    assert without_which_copy(both) == without_which_copy(alone)
    assert both["copies"] == alone["copies"] and both["answers"] == alone["answers"]
    stored_once(printed.db)
    check(printed.db, names=())  # the running counts equal a recount
    with printed.db.session() as s:
        shared = [f for f in s.scalars(select(ScanFile)) if f.original_name.endswith(("0-bo-chung.pdf", "0-bo-chung-may2.pdf"))]
        assert len(shared) == 1 and shared[0].status == "done"  # the same file at two stations: stored once
        batches = list(s.scalars(select(ScanBatch)))
        assert len(batches) == 2 and all(b.finished_at is not None for b in batches)
        assert max(b.started_at for b in batches) < min(b.finished_at for b in batches)  # they ran at once
    printed.db.dispose()
    single.db.dispose()


def test_serials_printed_at_two_desks_at_once_never_repeat(database: Database, file_store) -> None:
    from pipeline_helpers import SIPAS, sipas_form

    built = sipas_form()
    with database.session() as s:
        surveys.register_edition(s, built.definition, yaml_text=SIPAS.read_text(encoding="utf-8"), layout=built.layout,
                                 blank_pdf=built.blank_pdf, files=file_store, actor="test")
    runs: list[list[int]] = []
    start = threading.Barrier(4)

    def desk() -> None:
        start.wait()
        with database.session(immediate=True) as s:  # as `phieu print` does
            runs.append(list(surveys.allocate_serials(s, built.layout.survey, built.layout.edition, 40, actor="t").serials))

    threads = [threading.Thread(target=desk) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    serials = sorted(x for run in runs for x in run)
    assert len(runs) == 4 and serials == list(range(1, 161))
    assert all(run == list(range(run[0], run[0] + 40)) for run in runs)  # each desk's block is consecutive
