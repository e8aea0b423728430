"""Fixtures: one tiny render of the whole suite per test session (shared, read-only)."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def piece_cache(tmp_path_factory) -> Path:
    """A parse cache shared by the session's renders (fresh: the first render parses for real)."""
    return tmp_path_factory.mktemp("render_piece_cache")


@pytest.fixture(scope="session")
def tiny_render(tmp_path_factory, piece_cache):
    """``(out_dir, report)`` of ``render_suite(size="tiny", seed=0, workers=2)``. Do not modify."""
    from mertbench.render import render_suite

    out = tmp_path_factory.mktemp("tiny") / "render"
    report = render_suite(out, size="tiny", seed=0, workers=2, cache_dir=piece_cache, progress=False)
    return out, report
