"""Fixtures for the report tests: a private task-spec folder and a results writer.

The specs are written to a temporary folder named by ``MERTBENCH_TASKS``; the shipped ``tasks/``
folder is replaced by an empty one so the tests never depend on (or collide with) the official
specs other modules ship.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from mertbench.report.reference import OFFICIAL_TASKS
from mertbench.results import Provenance, RunResult, summarize, write_result

# task -> (type, [(metric, scale)], {metric: Table-1 column})
OFFICIAL: dict[str, tuple[str, list[tuple[str, str]], dict[str, str]]] = {
    "mtt-tagging": ("multilabel", [("roc_auc", "unit"), ("ap", "unit")], {"roc_auc": "mtt_roc", "ap": "mtt_ap"}),
    "gs-key": ("key", [("key_weighted", "unit"), ("acc", "unit")], {"key_weighted": "gs_key_refined_acc"}),
    "gtzan-genre": ("multiclass", [("acc", "unit")], {"acc": "gtzan_genre_acc"}),
    "gtzan-beat": ("beat", [("beat_f", "unit")], {"beat_f": "gtzan_beat_f1"}),
    "emo": ("regression", [("r2_valence", "unit"), ("r2_arousal", "unit")],
            {"r2_valence": "emo_r2_valence", "r2_arousal": "emo_r2_arousal"}),
    "nsynth-instrument": ("multiclass", [("acc", "unit")], {"acc": "nsynth_instrument_acc"}),
    "nsynth-pitch": ("multiclass", [("acc", "unit")], {"acc": "nsynth_pitch_acc"}),
    "vocalset-technique": ("multiclass", [("acc", "unit")], {"acc": "vocalset_technique_acc"}),
    "vocalset-singer": ("multiclass", [("acc", "unit")], {"acc": "vocalset_singer_acc"}),
    **{f"mtg-{s}": ("multilabel", [("roc_auc", "unit"), ("ap", "unit")],
                    {"roc_auc": f"mtg_{s}_roc", "ap": f"mtg_{s}_ap"})
       for s in ("instrument", "moodtheme", "genre", "top50")},
    "musdb-separation": ("separation", [(f"sdr_{s}", "db") for s in ("vocals", "drums", "bass", "other")],
                         {f"sdr_{s}": f"musdb_sdr_{s}" for s in ("vocals", "drums", "bass", "other")}),
}
assert list(OFFICIAL) == list(OFFICIAL_TASKS)

RENDER: dict[str, tuple[str, list[tuple[str, str, str]], dict[str, str]]] = {
    # task -> (type, [(metric, scale, direction)], report_columns)
    "render-key": ("key", [("key_weighted", "unit", "max"), ("acc", "unit", "max")], {}),
    "render-pitch": ("multiclass", [("acc", "unit", "max")], {}),
}


def spec_dict(name: str, type_: str, metrics: list[dict], report_columns: dict[str, str], suite: str) -> dict:
    return {"name": name, "version": 2, "suite": suite, "type": type_,
            "dataset": {"loader": "manifest", "dirname": name},
            "metrics": metrics, "primary_metric": metrics[0]["name"], "report_columns": report_columns}


@pytest.fixture
def specs_dir(tmp_path, monkeypatch) -> Path:
    """Write the 14 official test specs and two rendered ones; make them the only specs."""
    import mertbench.tasks.registry as registry

    folder = tmp_path / "specs"
    folder.mkdir()
    for name, (type_, metrics, cols) in OFFICIAL.items():
        spec = spec_dict(name, type_, [{"name": m, "scale": s} for m, s in metrics], cols, "official")
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    for name, (type_, metrics, cols) in RENDER.items():
        spec = spec_dict(name, type_, [{"name": m, "scale": s, "direction": d} for m, s, d in metrics], cols, "render")
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    empty = tmp_path / "no_shipped_specs"
    empty.mkdir()
    monkeypatch.setattr(registry, "resource_dir", lambda name: empty if name == "tasks" else _real_resource(name))
    monkeypatch.setenv("MERTBENCH_TASKS", str(folder))
    return folder


def _real_resource(name: str) -> Path:
    from mertbench.paths import resource_dir

    return resource_dir(name)


def make_run(model: str, task: str, test: dict[str, float | list[float]], *, layers: int = 4,
             selected: str | None = "2", created: str = "2026-01-02T10:00:00+00:00", run_id: str | None = None,
             task_version: str = "2", weighted: bool = True, valid: dict[str, float] | None = None,
             git: str = "0123456789abcdef", seeds: list[int] | None = None, fingerprint: str | None = None,
             skipped: dict[str, int] | None = None, examples: dict[str, int] | None = None,
             protocol: str | None = None) -> RunResult:
    """A run whose test metrics at ``selected`` are ``test`` (lists = per-seed values); other layers
    score lower, validation equals test minus 0.01 unless ``valid`` is given."""
    n = max((len(v) if isinstance(v, list) else 1) for v in test.values())
    per_layer: dict[str, Any] = {}
    keys = [str(i) for i in range(layers)] + (["weighted"] if weighted else [])
    for key in keys:
        drop = 0.0 if key == selected else (0.02 if key == "weighted" else 0.05 + 0.01 * (int(key) if key.isdigit() else 0))
        split: dict[str, Any] = {"test": {}, "valid": {}}
        for metric, value in test.items():
            vals = value if isinstance(value, list) else [value]
            split["test"][metric] = summarize([v - drop for v in vals])
            base = (valid or {}).get(metric)
            vvals = [v - 0.01 for v in vals] if base is None else [base] * len(vals)
            split["valid"][metric] = summarize([v - drop for v in vvals])
        per_layer[key] = split
    return RunResult(
        model=model, task=task, task_version=task_version,
        run_id=run_id or f"{model}-{task}-{created[:19].replace(':', '')}",
        primary_metric=next(iter(test)), metric_directions={m: "max" for m in test},
        layers=per_layer, selected_layer=selected, seeds=seeds if seeds is not None else list(range(n)),
        skipped=skipped or {}, examples=examples or {},
        provenance=Provenance(mertbench_version="0.1.0", git_hash=git, task_version=task_version,
                              dataset_fingerprint=fingerprint, device="cpu:test", created=created,
                              protocol=protocol, protocol_version=1 if protocol else None))


@pytest.fixture
def results_dir(tmp_path) -> Path:
    return tmp_path / "results"


@pytest.fixture
def put(results_dir):
    """``put(model, task, test, **kw)`` writes a run under the test results folder."""

    def _put(model: str, task: str, test: dict, **kw: Any) -> Path:
        run = make_run(model, task, test, **kw)
        path = results_dir / "runs" / model / task / f"{run.run_id}.json"
        return write_result(run, path)

    return _put


def full_official(put, model: str, base: float = 0.5, **kw: Any) -> None:
    """Results for all 14 official tasks: every unit metric = ``base``, SDR stems 4, 5, 6, 7 dB."""
    for name, (_, metrics, _) in OFFICIAL.items():
        test = {m: (base if s == "unit" else 4.0 + i) for i, (m, s) in enumerate(metrics)}
        put(model, name, test, **kw)


def write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj), encoding="utf-8")
