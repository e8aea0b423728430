"""Helpers shared by the CLI modules."""
from __future__ import annotations

from mertbench.errors import NotImplementedYet


def not_implemented(what: str, issue: int) -> None:
    """Raise NotImplementedYet: the CLI prints it and exits with code 2."""
    raise NotImplementedYet(f"`mertbench {what}` is planned (issue #{issue}) but not implemented in this version")
