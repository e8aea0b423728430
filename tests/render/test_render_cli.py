"""`mertbench data render` and `mertbench tasks` on rendered data."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mertbench.cli import app
from mertbench.errors import DataError

runner = CliRunner()


def test_render_cli_default_location_and_tasks_counts(tmp_path, monkeypatch):
    monkeypatch.setenv("MERTBENCH_DATA", str(tmp_path / "data"))
    res = runner.invoke(app, ["data", "render", "--size", "tiny", "--tasks", "render-pitch", "--workers", "1",
                              "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "rendered 16 clips" in res.output and "render-pitch" in res.output
    root = tmp_path / "data" / "render" / "render-pitch"
    assert (root / "train.jsonl").is_file() and (tmp_path / "data" / "render" / "summary.json").is_file()

    res = runner.invoke(app, ["tasks", "--suite", "render", "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["name"]: r for r in json.loads(res.output)["tasks"]}
    assert len(rows) == 10
    assert rows["render-pitch"]["data_found"]
    assert rows["render-pitch"]["data_counts"] == {"train": 8, "valid": 4, "test": 4}
    assert rows["render-pitch"]["render"] == {"size": "tiny", "seed": 0}
    assert not rows["render-key"]["data_found"] and rows["render-key"]["data_counts"] is None
    assert "mertbench data render --size small" in rows["render-key"]["missing_hint"]

    monkeypatch.setenv("COLUMNS", "250")  # a wide table: no wrapped cells
    res = runner.invoke(app, ["tasks", "--suite", "render"])
    assert res.exit_code == 0 and "8/4/4 (tiny)" in res.output and "mertbench data render" in res.output

    res = runner.invoke(app, ["data", "render", "--size", "tiny", "--tasks", "render-pitch", "--no-progress"])
    assert res.exit_code == 0 and "rendered 0 clips" in res.output and "1 task(s) already complete" in res.output


@pytest.mark.parametrize("args, message", [(["--size", "huge"], "unknown size 'huge'"),
                                           (["--tasks", "render-nope"], "unknown render task"),
                                           (["--seed", "-1"], "--seed must be a non-negative integer"),
                                           (["--workers", "0"], "--workers must be at least 1")])
def test_render_cli_rejects_bad_options(tmp_path, args, message):
    res = runner.invoke(app, ["data", "render", "--out", str(tmp_path / "x"), "--no-progress", *args])
    assert res.exit_code != 0
    assert isinstance(res.exception, DataError) and message in str(res.exception)
