"""Fault injection (issue 20): a pretraining run killed with SIGKILL at random points (setup, label
precompute, a step, a checkpoint write) and resumed ends exactly where an uninterrupted run ends."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest
import torch

from mertbench.pretrain.config import PretrainConfig
from tests.fault_injection import kill_and_rerun

pytestmark = [pytest.mark.faults, pytest.mark.slow]

_RUN = """
import json, sys
from mertbench.pretrain.config import PretrainConfig
from mertbench.pretrain.trainer import train
train(PretrainConfig.from_dict(json.loads(open(sys.argv[1]).read())))
"""


def _weights(folder):
    from safetensors.torch import load_file
    return load_file(str(folder / "model.safetensors"))


def test_kill_9_at_random_points_then_resume_equals_uninterrupted(synth_corpus, micro_config, tmp_path):
    data = synth_corpus(n=5, seconds=3.5)
    over = {"optim.steps": 10, "run.checkpoint_every": 1, "model.layerdrop": 0.0}
    def launch(cfg, name):
        spec = tmp_path / f"{name}.json"
        spec.write_text(json.dumps(cfg.to_dict()))
        # each run its own cache (k-means fit, label precompute), so that kills can land in those too
        env = dict(os.environ, OMP_NUM_THREADS="1", MERTBENCH_CACHE=str(tmp_path / f"cache-{name.split('-')[0]}"))
        return subprocess.Popen([sys.executable, "-c", _RUN, str(spec)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    t0 = time.monotonic()
    full = launch(micro_config(data, tmp_path / "full", **over), "full")
    assert full.wait(timeout=300) == 0
    duration = time.monotonic() - t0  # the whole process: imports, setup, precompute, 10 steps, export
    attempt = [0]

    def rerun():
        cfg = micro_config(data, tmp_path / "cut", **over, **{"run.resume": attempt[0] > 0})
        attempt[0] += 1
        return launch(cfg, "cut")

    def restart():  # a run that finished before its kill landed: start again from nothing
        shutil.rmtree(tmp_path / "cut", ignore_errors=True)
        shutil.rmtree(tmp_path / "cache-cut", ignore_errors=True)
        attempt[0] = 0

    kills = kill_and_rerun(rerun, duration, restart, kills=2, lo=0.3, hi=0.9)
    assert kills >= 2
    cfg = micro_config(data, tmp_path / "cut", **over, **{"run.resume": True})
    assert not [p for p in (tmp_path / "cut").rglob("*") if ".tmp-" in p.name]
    wa, wb = _weights(tmp_path / "full" / "export" / "final"), _weights(tmp_path / "cut" / "export" / "final")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert PretrainConfig.from_dict(cfg.to_dict()).to_dict() == cfg.to_dict()
