"""The command line: a thin shell over the packages. Only this module configures logging."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass

import click

from core.errors import EXIT_CODES, PhieuError
from phieu.workspace import Workspace


@dataclass
class AppContext:
    home: str | None
    verbose: int

    def workspace(self) -> Workspace:
        return Workspace.open(self.home)


class _Group(click.Group):
    """Turns PhieuError into a short message and its exit code (traceback only with -v)."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except PhieuError as exc:
            verbose = ctx.obj.verbose if isinstance(ctx.obj, AppContext) else 0
            if verbose:
                logging.getLogger("phieu").exception("error")
            click.secho(f"Lỗi / Error: {exc}", fg="red", err=True)
            sys.exit(exc.exit_code)


@click.group(cls=_Group, epilog="Exit codes: " + "; ".join(f"{int(k)} {v}" for k, v in EXIT_CODES.items()))
@click.option("--home", envvar="PHIEU_HOME", default=None, help="Workspace folder (default ./phieu-data).")
@click.option("-v", "--verbose", count=True, help="More logging; -v also shows tracebacks.")
@click.pass_context
def main(ctx: click.Context, home: str | None, verbose: int) -> None:
    """phieu: in, quét và đọc phiếu khảo sát giấy / print, scan and read paper survey sheets."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = AppContext(home=home, verbose=verbose)


def _register() -> None:
    from phieu.commands import backup, fieldwork, forms, results, review, scanning, setup, worker

    for module in (setup, forms, scanning, results, review, fieldwork, backup, worker):
        for command in module.COMMANDS:
            main.add_command(command)


_register()

if __name__ == "__main__":
    main()
