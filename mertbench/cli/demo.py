"""`mertbench demo`: not implemented yet (issue #8)."""
from __future__ import annotations

import typer

from mertbench.cli._common import not_implemented


def register(app: typer.Typer) -> None:
    @app.command("demo", context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
                 help="(not implemented yet, issue #8)")
    def _cmd(ctx: typer.Context) -> None:
        not_implemented("demo", 8)
