"""Issue 20, the bad-input corpus through extraction and probing (CLI, as a user runs it): every
damaged file is read correctly or skipped, listed with its path and reason, and counted in the
results; no traceback reaches the user."""
from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from mertbench.cli import app
from mertbench.damaged_audio import write_damaged_corpus
from mertbench.probe.run import skipped_list_path
from mertbench.probe.synthetic import write_tone_task
from mertbench.results import load_result

pytestmark = pytest.mark.slow


def test_every_damaged_file_is_read_or_skipped_listed_and_counted(task_env, tmp_path):
    data, specs = task_env
    write_tone_task(data, specs, name="tones-bad", n_classes=2, counts={"train": 3, "valid": 2, "test": 2},
                    max_epochs=2)
    folder = data / "tones-bad"
    cases = write_damaged_corpus(tmp_path / "corpus", long_minutes=10.0)
    rows = [json.loads(line) for line in (folder / "test.jsonl").read_text().splitlines()]
    good_test = len(rows)
    for i, case in enumerate(cases):
        rel = f"audio/test/bad/{case.path.name}"
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(case.path, folder / rel)
        rows.append({"audio": rel, "label": f"c{i % 2}"})
    (folder / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    res = CliRunner().invoke(app, ["probe", "--model", "cqt", "--task", "tones-bad", "--layer", "all",
                                   "--seeds", "1", "--out", str(tmp_path / "results")])
    out = res.output
    assert res.exit_code == 0, out
    assert "Traceback" not in out
    path = next((tmp_path / "results").rglob("*.json"))
    result = load_result(path)
    skip = [c for c in cases if c.expect == "skip"]
    read = [c for c in cases if c.expect == "read"]
    assert result.skipped == {"test/unreadable_audio": len(skip) - 1, "test/too_short": 1}
    assert result.examples["test"] == good_test + len(read)
    listing = skipped_list_path(path).read_text().splitlines()
    assert listing[0].split("\t") == ["split", "id", "path", "reason", "problem"]
    listed = {line.split("\t")[2].rsplit("/", 1)[-1]: line.split("\t") for line in listing[1:]}
    assert set(listed) == {c.path.name for c in skip}
    for name, (split, _id, _path, reason, problem) in listed.items():
        assert split == "test" and problem
        assert reason == ("too_short" if name == "one_sample.wav" else "unreadable_audio"), name
    # the console names each skipped file with its reason, and where the full list is
    flat = " ".join(out.split())
    for case in skip:
        assert f"bad/{case.path.name}" in flat, case.path.name
    assert "every skipped file" in flat and "skipped.tsv" in flat
