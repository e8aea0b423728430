"""The ``mertbench`` command line (typer).

Each command group lives in its own module ``mertbench.cli.<group>`` exposing
``register(app: typer.Typer) -> None``; :data:`GROUPS` lists them in ``--help`` order.
Errors derived from :class:`~mertbench.errors.MertbenchError` are printed without a traceback
(exit 1).
"""
from __future__ import annotations

import importlib
import sys

import typer

from mertbench import __version__

GROUPS = ["tasks", "data", "models", "pretrain", "extract", "probe", "robustness", "report", "suite", "demo", "bench",
          "plugins"]

app = typer.Typer(
    name="mertbench",
    help="MERT pretraining and a Table-1 evaluation harness for music audio representations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mertbench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                        help="Print the version and exit.")) -> None:
    """MERT pretraining and a Table-1 evaluation harness for music audio representations."""


for _group in GROUPS:
    importlib.import_module(f"mertbench.cli.{_group}").register(app)


def main() -> None:
    """Console-script entry point."""
    from mertbench.errors import MertbenchError
    from mertbench.progress import console

    try:
        app()
    except MertbenchError as exc:
        console.print(f"[red]error:[/] {exc}", markup=True, highlight=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
