"""storage: SQLAlchemy models and the one gateway to the database and the file store."""
