"""A non-editable install ships tasks/, baselines/, protocols/ and deformations/ (slow: builds a wheel)."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_contains_resources(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    wheel = next(tmp_path.glob("mertbench-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "mertbench/_resources/baselines/mert_table1.csv" in names
    shipped_tasks = {n for n in names if n.startswith("mertbench/_resources/tasks/") and n.endswith(".yaml")}
    assert len(shipped_tasks) == len(list((ROOT / "tasks").glob("*.yaml")))
    protocols = {n for n in names if n.startswith("mertbench/_resources/protocols/") and n.endswith(".yaml")}
    assert len(protocols) == len(list((ROOT / "protocols").glob("*.yaml"))) >= 2
    families = {n for n in names if n.startswith("mertbench/_resources/deformations/") and n.endswith(".yaml")}
    assert len(families) == len(list((ROOT / "deformations").glob("*.yaml"))) >= 8
    # installed (non-editable) copy resolves the resources from inside the package
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    code = ("import mertbench.paths as p; print(p.resource_dir('baselines')); "
            "print(p.resource_dir('tasks')); print(p.resource_dir('protocols')); print(p.resource_dir('deformations'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert all(str(target) in line for line in out.stdout.splitlines())
