"""Leaderboards name models by their display name (mertbench.models.naming), not by folder paths."""
from __future__ import annotations

import json

from mertbench.models.naming import display_name, display_names
from mertbench.report import build_report
from mertbench.report.csv_table import report_csv


def _folder(path, pretraining=None, meta=None):
    path.mkdir(parents=True)
    (path / "config.json").write_text("{}")
    if pretraining is not None:
        (path / "pretraining.json").write_text(json.dumps(pretraining))
    if meta is not None:
        (path / "mertbench.json").write_text(json.dumps(meta))
    return str(path)


def test_display_name_rules(tmp_path):
    assert display_name("logmel") == "logmel" and display_name("pkg.mod:factory") == "pkg.mod:factory"
    pre = _folder(tmp_path / "runs/demo/models/mert-tiny-pretrained", {"preset": "tiny", "step": 6000})
    assert display_name(pre) == "mert-tiny (pretrained, 6,000 steps)"
    assert display_name(_folder(tmp_path / "init", {"preset": "tiny", "step": 0})) == "mert-tiny (random init)"
    named = _folder(tmp_path / "x", {"preset": "tiny", "step": 5}, {"display_name": "mert-tiny (random init, seed 0)"})
    assert display_name(named) == "mert-tiny (random init, seed 0)"
    assert display_name(_folder(tmp_path / "plain")) == "plain"
    # two runs that would share a name are told apart by their folders
    a = _folder(tmp_path / "run-a" / "final", {"preset": "tiny", "step": 300})
    b = _folder(tmp_path / "run-b" / "final", {"preset": "tiny", "step": 300})
    names = display_names([a, b, "logmel"])
    assert names["logmel"] == "logmel" and len(set(names.values())) == 3
    assert names[a].startswith("mert-tiny (pretrained, 300 steps)")


def test_report_shows_display_names_and_csv_keeps_the_model_id(specs_dir, put, results_dir, tmp_path):
    model = _folder(tmp_path / "runs" / "demo" / "models" / "mert-tiny-pretrained", {"preset": "tiny", "step": 300})
    from mertbench.results import default_path, write_result
    from tests.report.conftest import make_run

    run = make_run(model, "gtzan-genre", {"acc": 0.7}, run_id="r1")
    write_result(run, default_path(run, results_dir))
    put("logmel", "gtzan-genre", {"acc": 0.6})
    report = build_report(results_dir)
    md = report.to_markdown()
    assert "mert-tiny (pretrained, 300 steps)" in md
    table_lines = [line for line in md.splitlines() if line.startswith("| ")]
    assert not any("runs/demo/models" in line for line in table_lines)
    from mertbench.report.html_page import report_html

    html = report_html(report)
    assert "mert-tiny (pretrained, 300 steps)" in html
    csv = report_csv(report)
    assert model in csv  # the data file keeps the exact model id
