"""storage: SQLAlchemy models and the one gateway to the database and the file store.

db (Database: open by URL, transactions, Alembic migrations) · files (content-addressed FileStore) ·
audit (append-only log) · scans (the scan pipeline's single writer) · readings (bulk writes of a
page's boxes and answers) · export (CSV rows, survey progress) · surveys (editions, serials) ·
review_queue (leases and decisions). See docs/storage.md.
"""
