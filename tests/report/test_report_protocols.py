"""The report and protocols (issue 16): a column never mixes protocols or task versions unless
asked; --protocol picks one; the protocol is named in the notes."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from mertbench.cli import app
from mertbench.errors import SpecError
from mertbench.report import build_report


def test_report_refuses_mixed_protocols_unless_asked(specs_dir, put, results_dir):
    put("a", "render-pitch", {"acc": 0.6}, protocol="mertbench")
    put("b", "render-pitch", {"acc": 0.7}, protocol="marble-v1")
    with pytest.raises(SpecError, match=r"render-pitch: protocol marble-v1 v1, task version 2: b, "
                                        r"protocol mertbench v1, task version 2: a.*--mix-protocols"):
        build_report(results_dir, tasks=["render-pitch"])
    mixed = build_report(results_dir, tasks=["render-pitch"], mix_protocols=True).table("render")
    assert any("Mixed in one column" in n for n in mixed.notes)
    only = build_report(results_dir, tasks=["render-pitch"], protocol="marble-v1")
    table = only.table("render")
    assert [r.model for r in table.rows if r.selections] == ["b"]
    assert "Protocol: marble-v1 v1 for every measured cell (docs/protocol.md)." in table.notes
    assert any("1 run(s) of protocols other than marble-v1" in n for n in only.notes)
    res = CliRunner().invoke(app, ["report", "--results", str(results_dir), "--tasks", "render-pitch"])
    assert res.exit_code != 0 and "--mix-protocols" in str(res.exception)  # main() prints it without a traceback
    res = CliRunner().invoke(app, ["report", "--results", str(results_dir), "--tasks", "render-pitch",
                                   "--mix-protocols"])
    assert res.exit_code == 0, res.output


def test_results_without_a_protocol_count_as_mertbench(specs_dir, put, results_dir):
    put("old", "render-pitch", {"acc": 0.6})  # written before protocols existed
    put("new", "render-pitch", {"acc": 0.7}, protocol="mertbench")
    table = build_report(results_dir, tasks=["render-pitch"]).table("render")
    assert sorted(r.model for r in table.rows if r.selections) == ["new", "old"]
