"""`mertbench data ...`: render the embedded suite (data_render.py), check a copy (data_check.py)."""
from __future__ import annotations

import typer

from mertbench.cli import data_check, data_render

data_app = typer.Typer(help="Create (render) and validate datasets.", no_args_is_help=True)
data_render.register(data_app)
data_check.register(data_app)


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
