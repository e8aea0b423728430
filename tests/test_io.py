"""Atomic writes and the cleanup of a killed writer's temporary files (mertbench.io)."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from mertbench.io import atomic_path, atomic_write_json, remove_stale_temps


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_temp_name_carries_the_pid_and_is_gone_after_success_or_failure(tmp_path):
    dest = tmp_path / "x.json"
    with atomic_path(dest) as tmp:
        assert tmp.name.startswith(f".x.json.tmp-{os.getpid()}-") and tmp.parent == tmp_path
        tmp.write_text("{}")
    assert dest.read_text() == "{}"
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "y.json") as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json"]


def test_remove_stale_temps_removes_dead_writers_only(tmp_path):
    dead, alive = _dead_pid(), os.getpid()
    (tmp_path / "sub").mkdir()
    gone = [tmp_path / f".a.npy.tmp-{dead}-k.npy", tmp_path / "sub" / f".b.json.tmp-{dead}-q.json"]
    for p in gone:
        p.write_bytes(b"x")
    gone_dir = tmp_path / f".item-0001.tmp-{dead}"  # a render item folder
    gone_dir.mkdir()
    (gone_dir / "mixture.wav").write_bytes(b"x")
    kept = [tmp_path / f".c.npy.tmp-{alive}-z.npy", tmp_path / "d.tmp-123-not-ours.npy", tmp_path / "plain.npy"]
    for p in kept:
        p.write_bytes(b"x")
    old_style = tmp_path / ".e.npy.tmp-abcdef.npy"  # no pid (older versions): only when an hour old
    old_style.write_bytes(b"x")
    fresh_old_style = tmp_path / ".f.npy.tmp-ghijkl.npy"
    fresh_old_style.write_bytes(b"x")
    os.utime(old_style, (time.time() - 7200, time.time() - 7200))
    removed = remove_stale_temps(tmp_path)
    assert sorted(removed) == sorted([*gone, gone_dir, old_style])
    assert all(p.exists() for p in kept) and fresh_old_style.exists()
    atomic_write_json(tmp_path / "z.json", {"a": 1})  # still writable afterwards
