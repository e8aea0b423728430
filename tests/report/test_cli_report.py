"""`mertbench report` on the command line."""
from __future__ import annotations

import sys
import xml.etree.ElementTree as ET

import pytest
from typer.testing import CliRunner

from mertbench.cli import app, main

runner = CliRunner()


def test_prints_markdown_to_stdout(specs_dir, put, results_dir):
    put("mine", "gtzan-genre", {"acc": 0.8})
    out = runner.invoke(app, ["report", "--results", str(results_dir), "--suite", "official", "--no-plots"])
    assert out.exit_code == 0, out.output
    assert "## Table 1" in out.output and "| mine |" in out.output and "**80.0** @L2" in out.output


def test_html_out_writes_page_and_plots(specs_dir, put, results_dir, tmp_path):
    put("mine", "render-pitch", {"acc": 0.8})
    dest = tmp_path / "r" / "board.html"
    out = runner.invoke(app, ["report", "--results", str(results_dir), "--format", "html", "--out", str(dest),
                              "--reference", "paper"])
    assert out.exit_code == 0, out.output
    root = ET.fromstring(dest.read_text(encoding="utf-8"))
    assert len(list(root.iter("img"))) == 3  # official heatmap (published rows), render heatmap + layers
    assert (tmp_path / "r" / "board_plots" / "render_layers_render-pitch.svg").is_file()


def test_html_shows_pretraining_curves_and_notes_runs_without_them(specs_dir, put, results_dir, tmp_path):
    import base64

    put("mine", "render-pitch", {"acc": 0.8})
    with_curve, without = tmp_path / "runA", tmp_path / "runB"
    with_curve.mkdir()
    without.mkdir()
    png = b"\x89PNG\r\n\x1a\n-a-curve"
    (with_curve / "eval_curves.png").write_bytes(png)
    dest = tmp_path / "board.html"
    out = runner.invoke(app, ["report", "--results", str(results_dir), "--out", str(dest), "--no-plots",
                              "--pretrain-run", str(with_curve), "--pretrain-run", str(without)])
    assert out.exit_code == 0, out.output
    page = dest.read_text(encoding="utf-8")
    root = ET.fromstring(page)
    section = [s for s in root.iter("section") if s.get("id") == "pretraining"]
    assert len(section) == 1 and len(list(section[0].iter("img"))) == 1
    assert base64.b64encode(png).decode() in page
    assert "runB: no eval_curves.png" in page
    out = runner.invoke(app, ["report", "--results", str(results_dir), "--no-plots", "--pretrain-run",
                              str(tmp_path / "missing")])
    assert out.exit_code != 0 and "not a folder" in str(out.exception or out.output)


def test_format_mismatch_and_bad_options_fail(specs_dir, put, results_dir, tmp_path):
    put("mine", "gtzan-genre", {"acc": 0.8})
    out = runner.invoke(app, ["report", "--results", str(results_dir), "--format", "csv",
                              "--out", str(tmp_path / "x.html")])
    assert out.exit_code != 0 and "does not match" in str(out.exception)
    out = runner.invoke(app, ["report", "--results", str(results_dir), "--reference", "blog"])
    assert out.exit_code != 0 and "unknown reference set" in str(out.exception)


def test_nothing_found_exits_nonzero_with_message(specs_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["mertbench", "report", "--results", str(tmp_path / "empty")])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert "nothing to report" in err and "mertbench probe" in err


def test_malformed_files_warned_on_stderr(specs_dir, put, results_dir):
    put("mine", "gtzan-genre", {"acc": 0.8})
    bad = results_dir / "runs" / "x" / "t" / "broken.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("[1, 2", encoding="utf-8")
    out = runner.invoke(app, ["report", "--results", str(results_dir), "--format", "csv"])
    assert out.exit_code == 0
    assert "broken.json" in out.output and "malformed" in out.output


def test_published_musicnn_row_sits_next_to_our_musicnn(specs_dir, put, results_dir):
    """Issue 17: the Table-1 MusiCNN row next to the measured musicnn-mtt (same table, same columns)."""
    put("musicnn-mtt", "gtzan-genre", {"acc": 0.75})
    out = runner.invoke(app, ["report", "--results", str(results_dir), "--suite", "official", "--no-plots",
                              "--reference", "paper", "--reference-models", "MusiCNN", "--models", "musicnn-mtt"])
    assert out.exit_code == 0, out.output
    lines = [ln for ln in out.output.splitlines() if ln.startswith("| MusiCNN †") or ln.startswith("| musicnn-mtt")]
    assert len(lines) == 2
    published, ours = lines
    assert "79.0" in published and "75.0" in ours  # GTZAN genre: the paper's 79.0 beside ours
