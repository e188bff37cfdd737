"""Create a new migration after changing ``storage/models.py``:

    .venv/bin/python -m storage.migrations "add sheet.returned_at"

It migrates a scratch SQLite database to the current head, lets Alembic compare it with the models
and writes ``storage/migrations/versions/NNNN_<message>.py``. Read the file before committing:
autogenerate misses renames and server defaults; and test it on PostgreSQL too
(``tests/test_storage_db.py`` checks that migrations and models agree on both).
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory

from storage.db import MIGRATIONS_DIR, Database, alembic_config


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].strip():
        print(__doc__)
        return 2
    message = argv[0].strip()
    heads = ScriptDirectory(str(MIGRATIONS_DIR)).get_heads()
    numbers = [int(m.group()) for h in heads if (m := re.fullmatch(r"\d+", h))]
    rev_id = f"{max(numbers, default=0) + 1:04d}"
    with tempfile.TemporaryDirectory() as tmp:
        db = Database.open(f"sqlite:///{Path(tmp) / 'scratch.sqlite3'}")
        db.migrate()
        with db.engine.begin() as connection:
            command.revision(alembic_config(connection), message=message, autogenerate=True, rev_id=rev_id)
        db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
