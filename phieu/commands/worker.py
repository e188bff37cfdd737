"""`phieu worker`: a queue worker on Celery over Redis (``PHIEU_BROKER_URL``), see docs/deploy.md.

Without ``--writer`` it reads pages (decode, identify, align, read) for any scanning process: it needs
the broker, the shared file store and the workspace's secret, never the database. With ``--writer``
it runs the web application's uploads and re-reads and stores their pages: it also needs the database.
"""

from __future__ import annotations

import click

from phieu.cli import AppContext


@click.command("worker")
@click.option("--concurrency", "-c", type=click.IntRange(min=0), default=0, show_default=True,
              help="Page worker processes (0 = one per core); with --writer, jobs run at once (0 = 2).")
@click.option("--writer", is_flag=True,
              help="Run the web application's scans and re-reads (uploads) and store their pages (needs the database).")
@click.option("--loglevel", default="INFO", show_default=True, type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]))
@click.pass_obj
def worker(ctx: AppContext, concurrency: int, writer: bool, loglevel: str) -> None:
    """Tiến trình đọc trang qua hàng đợi / a queue worker: reads pages that scanning stations queue."""
    from pipeline.executor import worker_count
    from pipeline.queue import run_worker

    ws = ctx.workspace()
    if not ws.broker_url:
        raise click.UsageError("PHIEU_BROKER_URL is not set (redis://host:6379/0), see docs/deploy.md")
    environment = None
    if writer:
        from pipeline.jobs import JobEnvironment
        from storage.db import Database
        from storage.files import FileStore

        environment = JobEnvironment(db=Database.for_workspace(ws), store=FileStore(ws.files_dir), secret=ws.secret(),
                                     settings=ws.settings, broker_url=ws.broker_url)
        concurrency = concurrency or 2
    else:
        import pipeline.worker  # noqa: F401 - imported once here, shared by the pool processes forked from us

        concurrency = worker_count(concurrency)
    run_worker(broker_url=ws.broker_url, secret=ws.secret(), files_dir=ws.files_dir, settings=ws.settings,
               concurrency=concurrency, loglevel=loglevel, writer=environment)


COMMANDS: list[click.Command] = [worker]
