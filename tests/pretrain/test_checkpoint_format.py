"""Training checkpoints are read weights-only: a crafted file cannot run code; RNG states round-trip."""
from __future__ import annotations

import pickle
import random

import numpy as np
import pytest
import torch

from mertbench.errors import SpecError
from mertbench.pretrain import checkpoint as ckpt
from tests.fault_injection import Touch


def test_malicious_checkpoint_is_refused_without_executing(tmp_path):
    marker = tmp_path / "pwned"
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    path = ckpt.checkpoint_path(folder, 5)
    torch.save({"format": ckpt.FORMAT, "step": 5, "evil": Touch(str(marker))}, path)
    # the same file opened with full unpickling would run the payload (the test's own control)
    control = tmp_path / "control.pt"
    torch.save({"evil": Touch(str(tmp_path / "control-ran"))}, control)
    torch.load(control, weights_only=False)
    assert (tmp_path / "control-ran").exists()
    with pytest.raises(SpecError, match="step_0000005.pt"):
        ckpt.load_checkpoint(path)
    assert not marker.exists()
    # a raw pickle (not even torch's zip format) is refused too
    raw = folder / "step_0000006.pt"
    raw.write_bytes(pickle.dumps(Touch(str(marker))))
    with pytest.raises(SpecError, match="step_0000006.pt"):
        ckpt.load_checkpoint(raw)
    assert not marker.exists()


def test_rng_state_round_trips_through_a_weights_only_checkpoint(tmp_path):
    random.seed(3)
    np.random.seed(4)
    torch.manual_seed(5)
    np.random.standard_normal()  # leaves a cached gaussian in numpy's legacy state
    path = ckpt.save_checkpoint(tmp_path, 1, {"rng": ckpt.rng_state(), "step": 1})
    want = (random.random(), np.random.standard_normal(3).tolist(), torch.rand(3).tolist())
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    ckpt.set_rng_state(ckpt.load_checkpoint(path)["rng"])
    got = (random.random(), np.random.standard_normal(3).tolist(), torch.rand(3).tolist())
    assert got == want


def test_old_format_and_foreign_files_are_named_errors(tmp_path):
    old = tmp_path / "step_0000001.pt"
    torch.save({"format": "mertbench-pretrain-checkpoint-v1", "step": 1}, old)
    with pytest.raises(SpecError, match="weights-only"):
        ckpt.load_checkpoint(old)
    other = tmp_path / "step_0000002.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(SpecError, match="not a mertbench pretraining checkpoint"):
        ckpt.load_checkpoint(other)
    broken = tmp_path / "step_0000003.pt"
    broken.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(SpecError, match="step_0000003.pt"):
        ckpt.load_checkpoint(broken)
