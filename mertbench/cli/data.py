"""`mertbench data ...`: render the embedded suite, check a dataset copy."""
from __future__ import annotations

import typer

from mertbench.cli._common import not_implemented

data_app = typer.Typer(help="Create (render) and validate datasets.", no_args_is_help=True)


@data_app.command("render", context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
                  help="Render the offline music suite (not implemented yet, issue #3).")
def render(ctx: typer.Context) -> None:
    not_implemented("data render", 3)


@data_app.command("check", context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
                  help="Validate a dataset copy (not implemented yet, issue #5).")
def check(ctx: typer.Context) -> None:
    not_implemented("data check", 5)


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
