"""`mertbench data check`: not implemented yet (issue #5)."""
from __future__ import annotations

import typer

from mertbench.cli._common import not_implemented


def register(data_app: typer.Typer) -> None:
    @data_app.command("check", context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
                      help="(not implemented yet, issue #5)")
    def _cmd(ctx: typer.Context) -> None:
        not_implemented("data check", 5)
