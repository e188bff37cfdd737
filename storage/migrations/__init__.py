"""Alembic migrations, run programmatically by ``storage.db.Database.migrate``."""

# The newest revision in versions/ (a test checks it against Alembic's own view): a database already
# there is recognised with one query, without importing Alembic (half a second on every command).
HEAD_REVISION = "0006"
