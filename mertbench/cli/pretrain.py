"""`mertbench pretrain`: not implemented yet (issue #6)."""
from __future__ import annotations

import typer

from mertbench.cli._common import not_implemented


def register(app: typer.Typer) -> None:
    @app.command("pretrain", context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
                 help="(not implemented yet, issue #6)")
    def _cmd(ctx: typer.Context) -> None:
        not_implemented("pretrain", 6)
