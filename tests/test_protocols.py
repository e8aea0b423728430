"""Protocols as data (issue 16): presets, per-task refinement, provenance and config hash, the
report's refusal to mix them, spec options that are never ignored, and docs/protocol.md current."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from mertbench.cli import app
from mertbench.errors import SpecError
from mertbench.probe.registry import get_family
from mertbench.tasks import get_task, list_tasks
from mertbench.tasks.protocol import (
    all_protocols,
    deviations,
    deviations_markdown,
    load_protocol_file,
    resolve_protocol,
)
from mertbench.tasks.spec import parse_spec

ROOT = Path(__file__).resolve().parents[1]
TOY = "mertbench.probe.synthetic:toy_encoder"


def test_shipped_protocols_and_their_settings():
    protos = all_protocols()
    assert set(protos) == {"mertbench", "marble-v1", "mertbench-cpu"}
    assert protos["mertbench"].settings.standardize is True
    assert protos["marble-v1"].settings.standardize is False
    with pytest.raises(SpecError, match="unknown protocol 'marble-v9'.*marble-v1, mertbench"):
        resolve_protocol(get_task("gtzan-genre").spec, "marble-v9")


def test_protocol_files_are_strict(tmp_path):
    bad = tmp_path / "mine.yaml"
    bad.write_text(yaml.safe_dump({"name": "mine", "version": 1, "description": "x",
                                   "settings": {"standardize": True, "warp": 3}}))
    with pytest.raises(SpecError, match=r"mine.yaml: field settings.warp: unknown key"):
        load_protocol_file(bad)
    bad.write_text(yaml.safe_dump({"name": "mine", "version": 1, "description": "x", "settings": {}}))
    with pytest.raises(SpecError, match="standardize must be set"):
        load_protocol_file(bad)


def _spec(**extra):
    base = {"name": "t", "version": 1, "type": "multiclass", "dataset": {"loader": "manifest", "dirname": "t"},
            "metrics": [{"name": "accuracy"}], "primary_metric": "accuracy"}
    return parse_spec({**base, **extra})


def test_a_task_refines_a_protocol():
    choice = {"id": "mine", "setting": "crop", "marble": "30 s", "here": "10 s", "reason": "test"}
    spec = _spec(protocols={"marble-v1": {"settings": {"standardize": True}, "choices": [choice]}})
    marble = resolve_protocol(spec, "marble-v1")
    assert marble.settings == {"standardize": True}
    assert "mine" in [c.id for c in marble.choices] and "window-batching" in [c.id for c in marble.choices]
    assert resolve_protocol(spec).settings == {"standardize": True}  # mertbench's own default
    assert not [d for d in deviations(spec) if d.kind == "mertbench vs marble-v1"]  # refined away
    with pytest.raises(SpecError, match="field protocols.marble-v1.settings.nope"):
        _spec(protocols={"marble-v1": {"settings": {"nope": 1}}})
    with pytest.raises(SpecError, match=r"\['marble-v3'\] are not protocols"):
        resolve_protocol(_spec(protocols={"marble-v3": {}}))


def test_choices_apply_by_task_and_type():
    ids = lambda name, proto: [c.id for c in resolve_protocol(get_task(name).spec, proto).choices]  # noqa: E731
    assert "gs-lr-finder" in ids("gs-key", "marble-v1") and "gs-lr-finder" not in ids("gtzan-genre", "marble-v1")
    # MUSDB18 trains on re-mixed, gained, swapped excerpts as MARBLE (online encoder); the render task does not
    assert "separation-augmentation" not in ids("musdb-separation", "marble-v1")
    assert "separation-augmentation" in ids("render-separation", "marble-v1")
    assert "separation-remix-draw" in ids("musdb-separation", "marble-v1")
    assert "separation-channels" in ids("musdb-separation", "marble-v1")
    assert "separation-channels" not in ids("render-separation", "marble-v1")
    assert "render-separation-head" in ids("render-separation", "marble-v1")
    assert "window-batching" not in ids("gtzan-beat", "marble-v1")
    assert "seeds" in ids("gtzan-genre", "mertbench") and "seeds" not in ids("gtzan-genre", "marble-v1")
    assert "gs-lr-finder" in ids("gs-key", "mertbench")  # inherited from marble-v1


def test_every_shipped_spec_uses_only_implemented_options():
    for task in list_tasks():
        get_family(task.spec.type).check_options(task.spec)


def test_an_unimplemented_spec_option_is_an_error(task_env):
    from mertbench.probe import run_probe
    from mertbench.probe.synthetic import write_tone_task

    data, specs = task_env
    path = write_tone_task(data, specs, name="tones-opt", n_classes=2, counts={"train": 2, "valid": 1, "test": 1})
    spec = yaml.safe_load(path.read_text())
    spec["probe"]["options"] = {"auto_lr_find": True}
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(SpecError, match=r"tones-opt: probe.options auto_lr_find not implemented.*protocol choice"):
        run_probe(TOY, "tones-opt", layer=2, progress=False, write=False)
    with pytest.raises(SpecError, match="wiener_iterations not implemented"):
        run_probe(TOY, "tones-opt", layer=2, progress=False, write=False, options={"wiener_iterations": 1})


def test_protocol_is_recorded_hashed_and_shares_the_feature_cache(task_env, tmp_path, one_thread):
    from mertbench.probe import run_probe
    from mertbench.probe.synthetic import write_tone_task

    data, specs = task_env
    write_tone_task(data, specs, name="tones-proto", n_classes=3, counts={"train": 4, "valid": 2, "test": 2},
                    max_epochs=3)
    ours, _ = run_probe(TOY, "tones-proto", layer="all", progress=False, write=False)
    marble, _ = run_probe(TOY, "tones-proto", layer="all", progress=False, write=False, protocol="marble-v1")
    assert (ours.provenance.protocol, ours.provenance.protocol_version) == ("mertbench", 1)
    assert marble.provenance.protocol == "marble-v1"
    assert ours.hyperparameters["standardize"] is True and marble.hyperparameters["standardize"] is False
    assert marble.hyperparameters["protocol"]["settings"] == {"standardize": False}
    assert "window-batching" in marble.hyperparameters["protocol"]["choices"]
    assert ours.provenance.config_hash != marble.provenance.config_hash
    assert ours.hyperparameters["feature_cache"] == marble.hyperparameters["feature_cache"]  # features shared
    # an explicit option still wins over the protocol
    forced, _ = run_probe(TOY, "tones-proto", layer=2, progress=False, write=False, protocol="marble-v1",
                          options={"standardize": True})
    assert forced.hyperparameters["standardize"] is True


def test_a_probe_budget_is_recorded_for_its_task_type_only():
    cpu = lambda name: resolve_protocol(get_task(name).spec, "mertbench-cpu")  # noqa: E731
    assert cpu("render-pitch").settings == {"standardize": True}  # clip-level: exactly as mertbench
    assert cpu("render-beat").settings["probe_budget"]["max_epochs"] == 8
    assert cpu("render-beat").settings["probe_budget"]["seeds"] == 1
    sep = cpu("render-separation").settings["probe_budget"]
    assert sep["seeds"] == 1 and sep["options"]["n_fft_at_24k"] == 1024
    assert "cpu-budget-separation" in [c.id for c in cpu("render-separation").choices]
    assert "cpu-budget-beat" not in [c.id for c in cpu("render-separation").choices]
    assert "seeds" in [c.id for c in cpu("render-pitch").choices]  # inherits mertbench's choices


def test_a_probe_budget_caps_training(task_env, monkeypatch, one_thread, tmp_path):
    from mertbench.probe import run_probe
    from mertbench.probe.synthetic import write_tone_task
    from mertbench.tasks import protocol as protocol_mod

    data, specs = task_env
    write_tone_task(data, specs, name="tones-budget", n_classes=2, counts={"train": 4, "valid": 2, "test": 2},
                    max_epochs=5)
    shipped = dict(protocol_mod.all_protocols())
    budget = protocol_mod.ProtocolSpec.model_validate({
        "name": "tight", "version": 1, "description": "test", "inherits": "mertbench",
        "settings": {"standardize": True, "probe_budget": {"multiclass": {
            "seeds": 1, "lr_grid": [0.01], "max_epochs": 2, "options": {"standardize": False}}}}})
    monkeypatch.setattr(protocol_mod, "all_protocols", lambda: {**shipped, "tight": budget})
    res, _ = run_probe(TOY, "tones-budget", layer=2, seeds=3, progress=False, write=False, protocol="tight")
    h = res.hyperparameters
    assert (h["lr_grid"], h["max_epochs"], res.provenance.seed, h["standardize"]) == ([0.01], 2, [0], False)
    assert h["protocol"]["settings"]["probe_budget"]["max_epochs"] == 2
    free, _ = run_probe(TOY, "tones-budget", layer=2, seeds=3, progress=False, write=False)
    assert (free.hyperparameters["max_epochs"], free.provenance.seed) == (5, [0, 1, 2])
    assert free.provenance.config_hash != res.provenance.config_hash
    # explicit arguments still win over the budget's lr grid and epochs (the seeds stay capped)
    forced, _ = run_probe(TOY, "tones-budget", layer=2, seeds=2, lrs=[0.001], max_epochs=3, progress=False,
                          write=False, protocol="tight")
    assert (forced.hyperparameters["lr_grid"], forced.hyperparameters["max_epochs"]) == ([0.001], 3)
    assert forced.provenance.seed == [0]
    bad = tmp_path / "x.yaml"
    bad.write_text(yaml.safe_dump({"name": "x", "version": 1, "description": "x", "settings": {
        "standardize": True, "probe_budget": {"nope": {"seeds": 1}}}}))
    with pytest.raises(SpecError, match=r"x.yaml: field settings.probe_budget.nope.\[key\]: Input should be 'multiclass'"):
        load_protocol_file(bad)


def test_docs_protocol_md_is_current():
    expected = deviations_markdown([t.spec for t in list_tasks()])
    current = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    assert current == expected, ("docs/protocol.md is stale: regenerate it with "
                                 "`mertbench tasks --deviations --markdown > docs/protocol.md`")


def test_cli_deviations_lists_every_task():
    res = CliRunner().invoke(app, ["tasks", "--deviations", "--json"])
    assert res.exit_code == 0, res.output
    import json

    rows = json.loads(res.output)
    assert {r["task"] for r in rows} == {t.name for t in list_tasks()}
    assert all(r["reason"] for r in rows)
    md = CliRunner().invoke(app, ["tasks", "--deviations", "--markdown", "-t", "gs-key"])
    assert "### gs-key" in md.output and "LR finder" in md.output
