"""Fixtures: a temporary MERTBENCH_TASKS / MERTBENCH_DATA pair; one torch thread."""
from __future__ import annotations

import pytest



@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny heads: one intra-op thread avoids thread hand-off costs on a shared 2-core machine."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def task_env(tmp_path, monkeypatch):
    data, specs = tmp_path / "data", tmp_path / "specs"
    specs.mkdir()
    monkeypatch.setenv("MERTBENCH_TASKS", str(specs))
    monkeypatch.setenv("MERTBENCH_DATA", str(data))
    return data, specs
