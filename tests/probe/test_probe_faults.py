"""Fault injection (issue 20): a probe killed with SIGKILL at random points (extraction, training,
the results write) and run again gives the uninterrupted run's metrics, one results file, and no
temporary file anywhere."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

from mertbench.probe.synthetic import write_tone_task
from mertbench.results import load_result
from tests.fault_injection import kill_and_rerun

pytestmark = [pytest.mark.faults, pytest.mark.slow]

_RUN = """
import sys
from mertbench.probe import run_probe
run_probe("mertbench.probe.synthetic:toy_encoder", "tones-kill", layer="all", seeds=2, progress=False,
          out=sys.argv[1], max_epochs=6, threads=1)
"""


def _files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def _metrics(results):
    """The metrics of every results file (a run killed after its atomic write, before exiting,
    leaves a complete file; the next run writes its own)."""
    out = []
    for path in sorted(results.rglob("*.json")):
        data = load_result(path).model_dump(mode="json")
        out.append((data["layers"], data["selected_layer"], data["skipped"], data["examples"]))
    return out


def test_kill_9_at_random_points_then_rerun_equals_uninterrupted(task_env, tmp_path):
    data, specs = task_env
    write_tone_task(data, specs, name="tones-kill", n_classes=4, counts={"train": 6, "valid": 2, "test": 2})

    def launch(name):
        env = dict(os.environ, OMP_NUM_THREADS="1", MERTBENCH_CACHE=str(tmp_path / f"cache-{name}"))
        return subprocess.Popen([sys.executable, "-c", _RUN, str(tmp_path / f"results-{name}")], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    t0 = time.monotonic()
    full = launch("full")
    assert full.wait(timeout=300) == 0, full.stderr.read()
    duration = time.monotonic() - t0

    def restart():
        shutil.rmtree(tmp_path / "results-cut")
        shutil.rmtree(tmp_path / "cache-cut", ignore_errors=True)

    assert kill_and_rerun(lambda: launch("cut"), duration, restart, seed=1, lo=0.3, hi=0.95) == 3
    (reference,) = _metrics(tmp_path / "results-full")
    cut = _metrics(tmp_path / "results-cut")
    assert cut and all(m == reference for m in cut)
    for folder in ("results-cut", "cache-cut"):
        leftovers = [f for f in _files(tmp_path / folder) if ".tmp" in f]
        assert not leftovers, leftovers
