"""Fault injection (issue 20): a render killed with SIGKILL at random points and resumed writes
exactly the files of an uninterrupted render, and leaves no temporary file behind."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.fault_injection import kill_and_rerun

pytestmark = [pytest.mark.faults, pytest.mark.slow]
TASKS = ["render-pitch", "render-separation"]

_RUN = """
import sys
from mertbench.render import render_suite
render_suite(sys.argv[1], size="tiny", seed=0, workers=1, cache_dir=sys.argv[2], progress=False,
             tasks=sys.argv[3].split(","))
"""


def _files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_kill_9_at_random_points_then_resume_equals_uninterrupted(tiny_render, tmp_path, piece_cache):
    reference, _ = tiny_render
    out = tmp_path / "cut"

    def launch():
        env = dict(os.environ, OMP_NUM_THREADS="1")
        return subprocess.Popen([sys.executable, "-c", _RUN, str(out), str(piece_cache), ",".join(TASKS)],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    t0 = time.monotonic()
    first = launch()
    first.wait(timeout=300)
    duration = time.monotonic() - t0
    import shutil

    shutil.rmtree(out)
    assert kill_and_rerun(launch, duration, lambda: shutil.rmtree(out)) == 3
    names = [f for f in _files(out) if f != "summary.json"]
    assert not [f for f in _files(out) if ".tmp" in f or f.startswith(".partial")], _files(out)
    expected = [f for f in _files(reference) if f.split("/", 1)[0] in TASKS]
    assert names == expected
    for rel in names:
        assert (out / rel).read_bytes() == (reference / rel).read_bytes(), rel


def test_a_trash_folder_left_by_a_killed_swap_is_removed(tmp_path, piece_cache):
    """A render killed while swapping a stale finished task for its new folder left
    `.partial/.trash-<task>`; the next render removes it."""
    from mertbench.render import render_suite

    out = tmp_path / "r"
    render_suite(out, size="tiny", seed=0, workers=1, cache_dir=piece_cache, progress=False, tasks=["render-pitch"])
    trash = out / ".partial" / ".trash-render-pitch"
    (trash / "audio").mkdir(parents=True)
    (trash / "audio" / "x.wav").write_bytes(b"old")
    render_suite(out, size="tiny", seed=0, workers=1, cache_dir=piece_cache, progress=False, tasks=["render-pitch"])
    assert not trash.exists()
