"""Fixtures: a temporary MERTBENCH_TASKS / MERTBENCH_DATA pair; one torch thread."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Every test here runs with one torch thread (see tests/conftest.py)."""
    yield

