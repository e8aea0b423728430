"""Fixtures: tiny manifest tasks in a temporary MERTBENCH_TASKS folder, toy encoders."""
from __future__ import annotations

import pytest

from mertbench.probe.synthetic import ToyLayeredEncoder, write_beat_task, write_tone_task


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Every test here runs with one torch thread (see tests/conftest.py)."""
    yield

@pytest.fixture
def windowed_task(task_env):
    """6 classes x (2 train, 1 valid, 1 test) one-second tones, 0.4 s windows (2 per file)."""
    data, specs = task_env
    write_tone_task(data, specs, name="tones-win", counts={"train": 2, "valid": 1, "test": 1}, window_s=0.4)
    return "tones-win"

@pytest.fixture
def beat_task(task_env):
    data, specs = task_env
    write_beat_task(data, specs, name="beats-x", counts={"train": 2, "valid": 1, "test": 1}, seconds=3.0)
    return "beats-x"

class CountingEncoder(ToyLayeredEncoder):
    """Toy encoder that counts forward calls and can fail after ``fail_after`` calls (same
    fingerprint as a plain ToyLayeredEncoder of the same geometry: counters are not weights)."""

    def __init__(self, *args, fail_after: int | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.calls = 0
        self.windows = 0
        self.fail_after = fail_after

    def forward(self, wav, lengths=None):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise RuntimeError("simulated crash inside the extraction loop")
        self.calls += 1
        self.windows += wav.shape[0]
        return super().forward(wav, lengths)

@pytest.fixture
def counting_encoder():
    return lambda **kw: CountingEncoder(3, 8, (1,), **kw)
