"""`mertbench robustness`: clean-trained probes on deformed test splits (mertbench.robustness.run)."""
from __future__ import annotations

import json
import math

import pytest
import yaml
from typer.testing import CliRunner

from mertbench.cli import app
from mertbench.errors import SpecError
from mertbench.robustness import load_robustness, resolve_deformations, run_robustness

TOY = "mertbench.probe.synthetic:toy_encoder"


@pytest.fixture
def loud_noise(tmp_path):
    """A deformation family of our own: white noise 40 dB above the signal (nothing survives)."""
    path = tmp_path / "drown.yaml"
    path.write_text(yaml.safe_dump({
        "family": "drown", "version": 1, "description": "white noise at -40 dB SNR", "kind": "noise",
        "labels": {"types": {t: "keep" for t in ("multiclass", "multilabel", "regression", "key", "beat")}
                   | {"separation": {"rule": "keep", "reason": "an interferer"}}},
        "deformations": [{"name": "white-noise-minus-40db", "params": {"color": "white", "snr_db": -40}, "seed": 0}]}))
    return path


def _tones(task_env, name="tones-rob", kind="multiclass"):
    from mertbench.probe.synthetic import write_tone_task

    data, specs = task_env
    counts = {"train": 6, "valid": 3, "test": 4} if kind == "multiclass" else {"train": 16, "valid": 8, "test": 8}
    write_tone_task(data, specs, name=name, kind=kind, n_classes=3, counts=counts, max_epochs=6)
    return name


def test_identity_reproduces_the_clean_metric_exactly_and_noise_degrades(task_env, loud_noise, tmp_path, one_thread):
    from mertbench.probe import run_probe

    task = _tones(task_env)
    res, path = run_robustness(TOY, task, ["identity", str(loud_noise)], seeds=2, progress=False,
                               out=tmp_path / "results")
    assert path is not None and load_robustness(path).model_dump() == res.model_dump()
    ident, drown = res.outcome("identity"), res.outcome("white-noise-minus-40db")
    assert ident.status == drown.status == "scored" and ident.examples == 12
    for layer, splits in res.clean.layers.items():  # every layer, metric and seed: bit for bit
        for metric, value in splits["test"].items():
            assert ident.layers[layer][metric].values == value.values, (layer, metric)
    sel, primary = res.selected_layer, res.primary_metric
    assert ident.drop[primary].values == [0.0, 0.0] and ident.retention[primary].values == [1.0, 1.0]
    clean = res.clean.layers[sel]["test"][primary].mean
    assert clean > 0.7  # chance is 1/3
    assert drown.layers[sel][primary].mean < 0.5 and drown.drop[primary].mean < -0.25
    assert drown.deformation["params"]["snr_db"] == -40 and drown.deformation["hash"]
    # the clean half is exactly what `mertbench probe` gives with the same settings
    plain, _ = run_probe(TOY, task, layer="all", seeds=2, progress=False, write=False)
    for layer, splits in plain.layers.items():
        assert {m: v.values for m, v in splits["test"].items()} == \
            {m: v.values for m, v in res.clean.layers[layer]["test"].items()}
    assert plain.selected_layer == res.selected_layer
    assert res.provenance.protocol == "mertbench" and res.clean.provenance.protocol == "mertbench"


def test_a_rerun_reuses_the_deformed_audio_and_features(task_env, tmp_path, one_thread, monkeypatch):
    import mertbench.robustness.render as render_mod

    task = _tones(task_env, "tones-resume")
    run_robustness(TOY, task, ["gain-minus-12db"], seeds=1, progress=False, write=False)
    calls = []
    real = render_mod._render_one
    monkeypatch.setattr(render_mod, "_render_one", lambda *a, **k: calls.append(1) or real(*a, **k))
    import mertbench.robustness.run as run_mod

    extracted = []
    real_extract = run_mod.extract_features

    def spy(*a, **k):
        ext = real_extract(*a, **k)
        extracted.append(dict(ext.stats))
        return ext

    monkeypatch.setattr(run_mod, "extract_features", spy)
    res, _ = run_robustness(TOY, task, ["gain-minus-12db"], seeds=1, progress=False, write=False)
    assert calls == [] and extracted == [{}]  # nothing rendered or extracted again
    assert res.outcome("gain-minus-12db").status == "scored"


def test_an_interrupted_render_resumes_without_redoing_finished_examples(task_env, tmp_path, monkeypatch):
    import mertbench.robustness.render as render_mod
    from mertbench.deform import get_deformation
    from mertbench.tasks import get_task

    task = get_task(_tones(task_env, "tones-kill"))
    ds = task.load()
    deformation = get_deformation("pink-noise-10db")
    real = render_mod._render_one
    seen = []

    def dies_after_five(*a, **k):
        if len(seen) == 5:
            raise KeyboardInterrupt
        seen.append(a[1].id)
        return real(*a, **k)

    monkeypatch.setattr(render_mod, "_render_one", dies_after_five)
    with pytest.raises(KeyboardInterrupt):
        render_mod.render_deformed_split(task, ds, deformation)
    monkeypatch.setattr(render_mod, "_render_one", lambda *a, **k: seen.append(a[1].id) or real(*a, **k))
    first = len(seen)
    split = render_mod.render_deformed_split(task, ds, deformation)
    assert first == 5 and len(seen) == len(ds.splits["test"])  # the five finished ones were not redone
    assert split.status == "ready" and [e.id for e in split.examples] == [e.id for e in ds.splits["test"]]
    assert not [p for p in split.folder.rglob(".*") if p.is_file()]  # no temp file left behind
    # the same bytes as an uninterrupted render elsewhere
    other = render_mod.render_deformed_split(task, ds, deformation, cache_root=tmp_path / "fresh")
    for a, b in zip(split.examples, other.examples):
        assert a.path.read_bytes() == b.path.read_bytes()


def test_invalid_pairs_are_listed_with_their_reason_never_scored(task_env, one_thread):
    task = _tones(task_env, "tones-reg", kind="regression")
    res, _ = run_robustness(TOY, task, ["time-stretch-0.9", "identity"], seeds=1, progress=False, write=False)
    stretch = res.outcome("time-stretch-0.9")
    assert stretch.status == "invalid" and "tempo" in stretch.reason and not stretch.layers
    assert res.outcome("identity").status == "scored"
    # R2 can be negative: no retention ratio unless the clean value is positive for every seed
    clean = res.clean.layers[res.selected_layer]["test"]
    for metric in res.outcome("identity").retention:
        assert all(v > 0 for v in clean[metric].values), metric


def test_deformation_arguments(tmp_path, loud_noise):
    names = [d.name for d in resolve_deformations(["noise", "identity,noise"])]
    assert names[:6] == ["white-noise-20db", "white-noise-10db", "white-noise-0db", "pink-noise-20db",
                         "pink-noise-10db", "pink-noise-0db"] and names[6:] == ["identity"]
    assert len(resolve_deformations(None)) == len(resolve_deformations(["all"])) == 25
    assert [d.name for d in resolve_deformations([str(loud_noise)])] == ["white-noise-minus-40db"]
    with pytest.raises(SpecError, match="white-noise-0d.*did you mean white-noise-0db"):
        resolve_deformations(["white-noise-0d"])


def test_cli_lists_validity_and_runs(task_env, tmp_path, one_thread):
    task = _tones(task_env, "tones-cli")
    runner = CliRunner()
    res = runner.invoke(app, ["robustness", "--list", "--task", task, "-d", "time-stretch,identity"])
    assert res.exit_code == 0, res.output
    assert "time-stretch-0.9" in res.output and "scored" in res.output
    res = runner.invoke(app, ["robustness", "-m", TOY, "-t", task, "-d", "identity", "--seeds", "1", "--out",
                              str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    path = res.output.strip().splitlines()[-1]
    data = json.loads(open(path).read())
    assert data["schema_id"] == "mertbench.robustness/1" and data["deformations"][0]["name"] == "identity"
    assert math.isclose(data["deformations"][0]["drop"]["accuracy"]["mean"], 0.0)
    res = runner.invoke(app, ["robustness", "-t", task])
    assert res.exit_code != 0 and "--model and --task are required" in res.output
