"""Probe runs end to end on tiny synthetic tasks with the toy encoder (layer 2 informative)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from mertbench.probe import run_probe
from mertbench.probe.run import head_configs, parse_layers
from mertbench.probe.synthetic import (
    synthetic_clip_setup,
    write_beat_task,
    write_separation_task,
    write_tone_task,
)
from mertbench.results import load_result

TOY = "mertbench.probe.synthetic:toy_encoder"  # 5 layers x 32; layer 2 informative, others noise
NOISE_LAYERS = ("0", "1", "3", "4")


def test_informative_layer_beats_chance_noise_layers_do_not(task_env):
    data, specs = task_env
    write_tone_task(data, specs, name="tones", n_classes=6, counts={"train": 8, "valid": 3, "test": 4})
    result, path = run_probe(TOY, "tones", layer="all", seeds=2, progress=False)
    chance = 1 / 6
    assert set(result.layers) == {"0", "1", "2", "3", "4", "weighted"}
    assert result.metric_scales == {"accuracy": "unit"}  # checked on load: a percentage is refused
    assert result.layers["2"]["test"]["accuracy"].mean >= 0.9
    for key in NOISE_LAYERS:
        assert result.layers[key]["test"]["accuracy"].mean <= chance + 0.2, key
    assert result.selected_layer in ("2", "weighted")
    acc = result.layers["2"]["test"]["accuracy"]
    assert acc.n == 2 and len(acc.values) == 2 and acc.ci95 is not None
    # the JSON on disk is the same result, with provenance
    loaded = load_result(path)
    assert loaded == result
    prov = loaded.provenance
    assert prov.config_hash and prov.dataset_fingerprint and prov.seed == [0, 1] and prov.wall_time_s > 0
    assert loaded.hyperparameters["weighted_layers"] == [1, 2, 3, 4]
    assert loaded.hyperparameters["head"] == "mlp" and loaded.hyperparameters["hidden"] == 512


def test_fixed_seed_reproduces_a_run_exactly(task_env):
    data, specs = task_env
    write_tone_task(data, specs, name="tones", n_classes=4, counts={"train": 5, "valid": 2, "test": 2}, max_epochs=6)
    a, _ = run_probe(TOY, "tones", layer="all", seeds=1, lrs=[1e-3, 5e-3], progress=False, write=False)
    b, _ = run_probe(TOY, "tones", layer="all", seeds=1, lrs=[1e-3, 5e-3], progress=False, write=False)
    assert a.layers == b.layers and a.hyperparameters["valid_grid"] == b.hyperparameters["valid_grid"]
    assert a.hyperparameters["lr_grid"] == [1e-3, 5e-3]


def test_one_pass_equals_sequential_single_heads(tmp_path):
    setup = synthetic_clip_setup(tmp_path, num_layers=4, dim=16, n_classes=4,
                                 counts={"train": 240, "valid": 60, "test": 60}, informative=(2,), snr=0.8,
                                 max_epochs=8, lr_patience=1, early_stop_patience=3, hidden=32)
    configs = head_configs(parse_layers("all", setup.extraction.cache.layers), [1e-3, 1e-2], [0, 1])
    assert len(configs) == 5 * 2 * 2
    one, _ = setup.train(configs)
    for c, r in zip(configs, one):
        single, _ = setup.train([c])
        assert r.config == c == single[0].config
        assert single[0].test == r.test and single[0].valid == r.valid
        assert single[0].best_epoch == r.best_epoch and single[0].final_lr == r.final_lr
    stopped_early = [r.epochs for r in one]
    assert min(stopped_early) < max(stopped_early)  # heads stopped at different epochs


def test_linear_head_multilabel_and_regression(task_env):
    data, specs = task_env
    write_tone_task(data, specs, name="tags", kind="multilabel", counts={"train": 48, "valid": 24, "test": 24})
    write_tone_task(data, specs, name="reg", kind="regression", counts={"train": 48, "valid": 16, "test": 16},
                    aggregate="mean_embeddings", window_s=0.5)
    tags, _ = run_probe(TOY, "tags", layer="2,3", head="linear", progress=False, write=False, lrs=1e-2)
    assert tags.hyperparameters["head"] == "linear" and tags.hyperparameters["hidden"] is None
    assert tags.layers["2"]["test"]["roc_auc"].mean > 0.9 > tags.layers["3"]["test"]["roc_auc"].mean
    reg, _ = run_probe(TOY, "reg", layer=2, progress=False, write=False, lrs=1e-2)
    assert list(reg.layers) == ["2"]
    assert reg.layers["2"]["test"]["r2_pitch"].mean > 0.5
    assert set(reg.layers["2"]["test"]) == {"r2_pitch", "r2_amp", "r2"}


def test_key_task_song_level_ensembling(task_env):
    data, specs = task_env
    import yaml

    write_tone_task(data, specs, name="keys", n_classes=4, counts={"train": 6, "valid": 3, "test": 3})
    folder = data / "keys"
    keys = ["C major", "A minor", "G major", "Eb minor"]
    for split in ("train", "valid", "test"):
        rows = [json.loads(line) for line in (folder / f"{split}.jsonl").read_text().splitlines()]
        for i, r in enumerate(rows):
            r["group"] = f"{split}-{r['label']}-song{i // 8}"  # clips i, i + 4 share class and song
            r["label"] = keys[int(r["label"][1:])]
        (folder / f"{split}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    spec = yaml.safe_load((specs / "keys.yaml").read_text())
    spec.update(type="key", labels={"vocabulary": None}, primary_metric="weighted_score",
                metrics=[{"name": "weighted_score", "metric": "key_weighted_score"},
                         {"name": "key_acc", "metric": "key_accuracy"}])
    spec["labels"] = {}
    (specs / "keys.yaml").write_text(yaml.safe_dump(spec))
    result, _ = run_probe(TOY, "keys", layer=2, progress=False, write=False)
    assert result.layers["2"]["test"]["weighted_score"].mean > 0.8
    assert result.hyperparameters["ensemble_strategy"]["2"][0] in ("vote", "max", "mean_logit", "mean_softmax")


@pytest.mark.slow
def test_beat_probe_end_to_end(task_env):
    data, specs = task_env
    write_beat_task(data, specs, name="beats", counts={"train": 6, "valid": 2, "test": 3}, seconds=6.0,
                    max_epochs=12)
    result, path = run_probe(TOY, "beats", layer="0,2", progress=False)
    assert result.layers["2"]["test"]["beat_f"].mean > 0.7
    assert result.layers["0"]["test"]["beat_f"].mean < 0.55
    assert result.hyperparameters["target_widening_frames"] == 1 and result.hyperparameters["fps"] == 75.0
    assert Path(path).exists()


@pytest.mark.slow
def test_separation_probe_end_to_end(task_env):
    data, specs = task_env
    write_separation_task(data, specs, name="stems", counts={"train": 4, "valid": 2, "test": 2}, seconds=2.0,
                          max_epochs=6)
    result, _ = run_probe(TOY, "stems", layer="0,2", progress=False, write=False)
    sdr2, sdr0 = result.layers["2"]["test"]["sdr"].mean, result.layers["0"]["test"]["sdr"].mean
    assert math.isfinite(sdr2) and sdr2 > sdr0 + 1.0
    assert set(result.layers["2"]["test"]) == {"sdr_tone", "sdr_noise", "sdr"}
    assert result.hyperparameters["separation_head"] == "mlp" and result.hyperparameters["wiener_iterations"] == 0


def test_separation_probe_passes_its_sample_rate_to_museval(task_env, monkeypatch):
    """Issue 16: museval's 1 s windows must be 1 s at the evaluation rate (24 kHz here), never 44.1 kHz."""
    import mertbench.metrics.separation as sep

    rates = []
    real = sep.museval_track_sdr

    def spy(ref, est, *, sample_rate):
        rates.append(sample_rate)
        return real(ref, est, sample_rate=sample_rate)

    monkeypatch.setattr(sep, "museval_track_sdr", spy)
    data, specs = task_env
    write_separation_task(data, specs, name="stems-mv", counts={"train": 2, "valid": 1, "test": 1}, seconds=2.0,
                          max_epochs=1, museval=True)
    result, _ = run_probe(TOY, "stems-mv", layer=2, progress=False, write=False)
    assert rates and set(rates) == {24000}
    assert math.isfinite(result.layers["2"]["test"]["sdr_museval_tone"].mean)


def test_cli_probe_table_and_json(task_env):
    from typer.testing import CliRunner

    from mertbench.cli import app

    data, specs = task_env
    write_tone_task(data, specs, name="tones", n_classes=3, counts={"train": 4, "valid": 2, "test": 2}, max_epochs=3)
    out = CliRunner().invoke(app, ["probe", "--model", TOY, "--task", "tones", "--layer", "all", "--lr", "1e-3,5e-3"])
    assert out.exit_code == 0, out.output
    assert "2" in out.output and "weighted" in out.output and "selected layer" in out.output
    path = Path(out.output.strip().splitlines()[-1])
    data = json.loads(path.read_text())
    assert data["hyperparameters"]["lr_grid"] == [0.001, 0.005] and data["selected_layer"] is not None
    assert np.isfinite(data["layers"]["weighted"]["test"]["accuracy"]["mean"])


def test_a_skipped_file_is_counted_once(task_env):
    data, specs = task_env
    write_tone_task(data, specs, name="tones-skip", n_classes=3, counts={"train": 4, "valid": 2, "test": 2})
    (data / "tones-skip" / "audio" / "test" / "0001.wav").write_bytes(b"RIFF-broken")
    result, _ = run_probe(TOY, "tones-skip", layer=2, progress=False, write=False, lrs=1e-2, max_epochs=2)
    assert result.skipped == {"test/unreadable_audio": 1}
    assert result.examples == {"train": 12, "valid": 6, "test": 5}  # 3 classes; evaluated, after the skip


def test_separation_stft_hop_follows_an_encoder_at_another_frame_rate(task_env):
    """The spec's hop_length_at_24k (MARBLE's 320, a 75 Hz encoder) cannot align a 62.5 Hz model's
    frames: the STFT hop follows the encoder (16 kHz / 62.5 Hz = 256), recorded with a note."""
    data, specs = task_env
    write_separation_task(data, specs, name="stems-hop", counts={"train": 2, "valid": 1, "test": 1}, seconds=2.0,
                          max_epochs=2, options={"hop_length_at_24k": 320})
    result, _ = run_probe("random-musicnn", "stems-hop", layer=0, progress=False, write=False)
    assert result.hyperparameters["hop"] == 256
    assert any("follows the encoder's 62.5 Hz frames" in n for n in result.hyperparameters["metric_notes"])
    assert math.isfinite(result.layers["0"]["test"]["sdr"].mean)
