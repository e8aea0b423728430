"""`mertbench extract`: not implemented yet (issue #7)."""
from __future__ import annotations

import typer

from mertbench.cli._common import not_implemented


def register(app: typer.Typer) -> None:
    @app.command("extract", context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
                 help="(not implemented yet, issue #7)")
    def _cmd(ctx: typer.Context) -> None:
        not_implemented("extract", 7)
