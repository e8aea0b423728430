"""Fixtures for the model tests (helpers live in mert_testkit.py)."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Every test here runs with one torch thread (see tests/conftest.py)."""
    yield


@pytest.fixture
def tiny_mert():
    """A randomly initialised tiny MERT encoder (seed 0, no windowing)."""
    from mertbench.models.mert import random_mert

    return random_mert("toy", seed=0, window_s=None)
