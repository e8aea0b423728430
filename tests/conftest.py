"""Shared fixtures. Every test runs with MERTBENCH_HOME/RESULTS in a temporary folder."""
from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("mertbench_home")
    monkeypatch.setenv("MERTBENCH_HOME", str(home))
    monkeypatch.delenv("MERTBENCH_DATA", raising=False)
    monkeypatch.delenv("MERTBENCH_CACHE", raising=False)
    monkeypatch.setenv("MERTBENCH_RESULTS", str(home / "results"))
    yield


@pytest.fixture
def sine():
    """``sine(freq, seconds, sr)`` -> float32 mono sine at amplitude 0.5."""

    def make(freq: float = 440.0, seconds: float = 1.0, sr: int = 24000) -> np.ndarray:
        t = np.arange(int(seconds * sr)) / sr
        return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)

    return make


@pytest.fixture
def one_thread():
    """One torch intra-op thread for the test (small models/heads are faster and steadier that way
    on a shared 2-core machine); the previous setting is restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def task_env(tmp_path, monkeypatch):
    """``(data_dir, specs_dir)`` registered through MERTBENCH_DATA / MERTBENCH_TASKS."""
    data, specs = tmp_path / "data", tmp_path / "specs"
    specs.mkdir()
    monkeypatch.setenv("MERTBENCH_TASKS", str(specs))
    monkeypatch.setenv("MERTBENCH_DATA", str(data))
    return data, specs
