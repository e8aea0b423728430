"""The CLI spine: groups, unimplemented commands exit 2, benchmarks end with one NAME: line."""
from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from mertbench.cli import GROUPS, app

runner = CliRunner()


def test_help_lists_every_group():
    out = runner.invoke(app, ["--help"])
    assert out.exit_code == 0
    for group in GROUPS:
        assert group in out.output
    assert len(GROUPS) == 12  # eleven command groups (suite since issue 18, robustness since 21) + plugins


def test_version():
    out = runner.invoke(app, ["--version"])
    assert out.exit_code == 0 and out.output.startswith("mertbench ")


def test_console_script_error_exit_codes():
    proc = subprocess.run([sys.executable, "-m", "mertbench", "models", "validate", "nosuchmodel"],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "unknown model" in proc.stdout + proc.stderr


def test_bench_audio_last_line():
    out = runner.invoke(app, ["bench", "audio", "-o", "files=2", "-o", "seconds=2.0", "-o", "repeats=1"])
    assert out.exit_code == 0, out.output
    last = out.output.strip().splitlines()[-1]
    assert last.startswith("audio: ") and float(last.split()[1]) > 0


def test_tasks_command_json():
    import json

    out = runner.invoke(app, ["tasks", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert "tasks" in data and "data_root" in data
