"""Task specs (schema, unknown keys), the registry and the generic manifest loader."""
from __future__ import annotations

import json

import pytest
import yaml

from mertbench.errors import DataError, SpecError
from mertbench.tasks import get_task
from mertbench.tasks.spec import load_spec

SPEC = {
    "name": "toy", "version": 2, "type": "multiclass", "suite": "custom",
    "dataset": {"loader": "manifest", "dirname": "toy"},
    "metrics": [{"name": "accuracy", "direction": "max"}], "primary_metric": "accuracy",
    "probe": {"layer": "all", "lr": 0.001},
}


def _write(folder, spec):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_unknown_key_rejected_with_field(tmp_path):
    bad = dict(SPEC, probe={"layer": 3, "learning_rate": 0.1})
    with pytest.raises(SpecError, match=r"toy\.yaml: field probe\.learning_rate: unknown key"):
        load_spec(_write(tmp_path, bad))


def test_primary_metric_must_be_declared(tmp_path):
    with pytest.raises(SpecError, match="primary_metric 'f1' is not one of"):
        load_spec(_write(tmp_path, dict(SPEC, primary_metric="f1")))


def test_name_must_match_file(tmp_path):
    p = tmp_path / "other.yaml"
    p.write_text(yaml.safe_dump(SPEC))
    with pytest.raises(SpecError, match="must equal the file name"):
        load_spec(p)


def test_user_task_folder_and_manifest_loader(tmp_path, monkeypatch):
    specs = tmp_path / "specs"
    _write(specs, SPEC)
    monkeypatch.setenv("MERTBENCH_TASKS", str(specs))
    monkeypatch.setenv("MERTBENCH_DATA", str(tmp_path / "data"))
    task = get_task("toy")
    with pytest.raises(DataError, match="data not found at .*toy"):
        task.load()
    root = tmp_path / "data" / "toy"
    root.mkdir(parents=True)
    for split, rows in {"train": [("a.wav", "cat"), ("b.wav", "dog")], "valid": [("c.wav", "cat")],
                        "test": [("d.wav", "dog")]}.items():
        (root / f"{split}.jsonl").write_text("\n".join(json.dumps({"audio": a, "label": l}) for a, l in rows))
    (root / "test.jsonl").unlink()
    (root / "test.csv").write_text("audio,label,start,end\r\nd.wav,dog,1.5,3\r\n")
    ds = task.load()
    assert ds.counts() == {"train": 2, "valid": 1, "test": 1}
    assert ds.vocabulary == ["cat", "dog"]
    t = ds.splits["test"][0]
    assert (t.start_s, t.end_s, t.label, t.path) == (1.5, 3.0, "dog", root / "d.wav")
    assert len(ds.fingerprint()) == 16


def test_manifest_errors_name_file_and_line(tmp_path, monkeypatch):
    specs = tmp_path / "specs"
    _write(specs, SPEC)
    monkeypatch.setenv("MERTBENCH_TASKS", str(specs))
    root = tmp_path / "toy"
    root.mkdir()
    (root / "train.jsonl").write_text('{"audio": "a.wav", "label": "x"}\n{"audio": "b.wav"}\n')
    with pytest.raises(DataError, match=r"train\.jsonl:2: missing field 'label'"):
        get_task("toy").load(root)


@pytest.mark.parametrize("fields, message", [
    ({"start": "abc"}, r"train\.jsonl:1: field 'start' is 'abc'; give seconds as a number"),
    ({"start": -1.0}, r"train\.jsonl:1: field 'start' is -1\.0; it must be a finite number of seconds >= 0"),
    ({"end": "nan"}, r"field 'end' is 'nan'; it must be a finite number"),
    ({"start": 5, "end": 2}, r"train\.jsonl:1: field 'end' \(2 s\) must be after 'start' \(5 s\)"),
    ({"start": 2, "end": 2}, r"must be after 'start'"),
])
def test_bad_excerpt_bounds_are_errors_naming_file_line_and_field(tmp_path, monkeypatch, fields, message):
    specs = tmp_path / "specs"
    _write(specs, SPEC)
    monkeypatch.setenv("MERTBENCH_TASKS", str(specs))
    root = tmp_path / "toy"
    root.mkdir()
    (root / "train.jsonl").write_text(json.dumps({"audio": "a.wav", "label": "x", **fields}) + "\n")
    with pytest.raises(DataError, match=message):
        get_task("toy").load(root)


def test_duplicate_task_names_rejected(tmp_path, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    _write(a, SPEC)
    _write(b, SPEC)
    monkeypatch.setenv("MERTBENCH_TASKS", f"{a}:{b}")
    with pytest.raises(SpecError, match="defined twice"):
        get_task("toy")
