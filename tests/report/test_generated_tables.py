"""Tables generated from a results folder into documents: `mertbench report --write / --check`."""
from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from mertbench.cli import app
from mertbench.errors import ResultsError, SpecError
from mertbench.report.generated import begin_marker, end_marker, load_tables, sync_tables

runner = CliRunner()


def _repo(tmp_path, results_dir, tables):
    """A repository root holding results/ (with tables.yaml) and a README with the markers."""
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "tables.yaml").write_text(yaml.safe_dump({"tables": tables}), encoding="utf-8")
    readme = tmp_path / "README.md"
    body = "".join(f"## {t['id']}\n\n{begin_marker(t['id'])}\nOLD\n{end_marker(t['id'])}\n\n" for t in tables)
    readme.write_text("# title\n\n" + body + "tail\n", encoding="utf-8")
    return readme


def test_write_then_check_and_a_changed_result_is_caught(specs_dir, put, results_dir, tmp_path):
    put("mine", "render-pitch", {"acc": 0.8})
    put("other", "render-pitch", {"acc": 0.6})
    readme = _repo(tmp_path, results_dir, [
        {"id": "board", "file": "README.md", "suite": "render", "tasks": ["render-pitch"], "models": ["other", "mine"]},
        {"id": "short", "file": "README.md", "suite": "render", "tasks": ["render-pitch"], "provenance": False}])
    stale = sync_tables(results_dir)
    assert [s.state for s in stale] == ["stale", "stale"] and "OLD" in readme.read_text()  # check writes nothing
    assert "+| mine | **80.0** @L2 |" in stale[0].diff
    assert [s.state for s in sync_tables(results_dir, write=True)] == ["updated", "updated"]
    text = readme.read_text()
    assert "OLD" not in text and text.startswith("# title\n") and text.endswith("tail\n")
    board = text.split(begin_marker("board"))[1].split(end_marker("board"))[0]
    assert board.index("| other |") < board.index("| mine |")  # the tables.yaml order
    assert "Provenance (runs shown):" in board and "Report notes" not in board and "Compiled by" not in board
    short = text.split(begin_marker("short"))[1].split(end_marker("short"))[0]
    assert "| mine |" in short and "Provenance" not in short
    assert [s.state for s in sync_tables(results_dir)] == ["current", "current"]
    # the check passes on the command line, then fails once a result changes, naming the fix
    res = runner.invoke(app, ["report", "--check", "--results", str(results_dir)])
    assert res.exit_code == 0, res.output
    put("mine", "render-pitch", {"acc": 0.9}, created="2026-02-01T10:00:00+00:00")
    res = runner.invoke(app, ["report", "--check", "--results", str(results_dir)])
    assert res.exit_code == 1
    assert "stale" in res.output and "-| mine | **80.0** @L2 |" in res.output and "+| mine | **90.0** @L2 |" in res.output
    assert "mertbench report --write" in res.output
    res = runner.invoke(app, ["report", "--write", "--results", str(results_dir)])
    assert res.exit_code == 0 and "**90.0**" in readme.read_text()


def test_a_malformed_results_file_fails_the_generation(specs_dir, put, results_dir, tmp_path):
    put("mine", "render-pitch", {"acc": 0.8})
    _repo(tmp_path, results_dir, [{"id": "board", "file": "README.md", "suite": "render"}])
    bad = results_dir / "runs" / "mine" / "render-pitch" / "broken.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ResultsError, match="broken.json"):
        sync_tables(results_dir)


def test_bad_tables_files_name_the_problem(tmp_path, results_dir):
    results_dir.mkdir(parents=True)
    path = results_dir / "tables.yaml"
    path.write_text(yaml.safe_dump({"tables": [{"id": "a", "file": "README.md", "colour": "red"}]}))
    with pytest.raises(SpecError, match=r"tables.yaml: field tables.0.colour: unknown key"):
        load_tables(path)
    path.write_text(yaml.safe_dump({"tables": [{"id": "a", "file": "x.md"}, {"id": "a", "file": "x.md"}]}))
    with pytest.raises(SpecError, match="table id 'a' appears twice"):
        load_tables(path)
    path.write_text(yaml.safe_dump({"tables": [{"id": "a", "file": "NOPE.md"}]}))
    with pytest.raises(SpecError, match="NOPE.md not found"):
        sync_tables(results_dir)
    (tmp_path / "x.md").write_text("no markers\n")
    path.write_text(yaml.safe_dump({"tables": [{"id": "a", "file": "x.md"}]}))
    with pytest.raises(SpecError, match="markers of table 'a' not found"):
        sync_tables(results_dir)
    res = runner.invoke(app, ["report", "--write", "--check", "--results", str(results_dir)])
    assert res.exit_code != 0 and "exclude each other" in res.output
