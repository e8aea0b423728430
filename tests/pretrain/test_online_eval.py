"""Online evaluation during pretraining: held-out split, ridge probe, teacher metrics, logging."""
from __future__ import annotations

import numpy as np
import pytest

from mertbench.errors import SpecError
from mertbench.pretrain.online_eval import holdout_split, ridge_scores


def test_holdout_split_is_seeded_disjoint_and_complete():
    train, held = holdout_split(20, 4, seed=3)
    assert len(held) == 4 and sorted(train + held) == list(range(20))
    assert holdout_split(20, 4, seed=3) == (train, held)
    assert holdout_split(20, 4, seed=4)[1] != held
    assert holdout_split(20, 0, seed=3) == (list(range(20)), [])
    with pytest.raises(SpecError, match="data.holdout_clips"):
        holdout_split(5, 5, seed=0)


def test_training_batches_never_contain_held_out_clips(synth_corpus):
    from mertbench.pretrain.config import PretrainConfig
    from mertbench.pretrain.data import Corpus, MicroBatches

    cfg = PretrainConfig.preset("tiny")
    corpus = Corpus.scan(synth_corpus(n=10, seconds=3.0))
    train, held = holdout_split(len(corpus.clips), 2, seed=0)
    ds = MicroBatches(corpus, micro_batch=4, per_step=1, crop_seconds=1.0, num_frames=cfg.model.num_frames,
                      seed=0, mask=cfg.mask, mixture=cfg.mixture, indices=train)
    seen = {i for step in range(30) for i in ds.clip_indices(step, 0)}
    assert seen == set(train)  # every training clip is used, no held-out one
    # without a hold-out the batches are those of the plain corpus (old runs resume unchanged)
    plain = MicroBatches(corpus, micro_batch=4, per_step=1, crop_seconds=1.0, num_frames=cfg.model.num_frames,
                         seed=0, mask=cfg.mask, mixture=cfg.mixture)
    full = MicroBatches(corpus, micro_batch=4, per_step=1, crop_seconds=1.0, num_frames=cfg.model.num_frames,
                        seed=0, mask=cfg.mask, mixture=cfg.mixture, indices=list(range(len(corpus.clips))))
    assert [plain.clip_indices(s, 0) for s in range(5)] == [full.clip_indices(s, 0) for s in range(5)]


def test_ridge_probe_equals_sklearn_ridge_classifier():
    from sklearn.linear_model import RidgeClassifier

    rng = np.random.default_rng(0)
    centers = rng.normal(size=(4, 12)) * 2
    y = rng.integers(0, 4, 80)
    x = centers[y] + rng.normal(size=(80, 12)) * 3
    xt, yt, xv, yv = x[:50], y[:50], x[50:], y[50:]
    mu, sd = xt.mean(0), xt.std(0)
    zt, zv = (xt - mu) / sd, (xv - mu) / sd
    for mult in (1e-2, 1.0, 10.0):
        alpha = mult * np.trace(zt.T @ zt) / zt.shape[1]
        ref = RidgeClassifier(alpha=alpha).fit(zt, yt).score(zv, yv)
        assert ridge_scores(xt, yt, xv, yv, 4, grid=(mult,)) == pytest.approx(ref)
    # dual form (fewer examples than dimensions) gives the same classifier as sklearn
    xw = np.concatenate([x, rng.normal(size=(80, 100))], 1)
    zt = (xw[:50] - xw[:50].mean(0)) / xw[:50].std(0)
    zv = (xw[50:] - xw[:50].mean(0)) / xw[:50].std(0)
    alpha = 0.1 * np.trace(zt @ zt.T) / zt.shape[0]
    ref = RidgeClassifier(alpha=alpha).fit(zt, yt).score(zv, yv)
    assert ridge_scores(xw[:50], yt, xw[50:], yv, 4, grid=(0.1,)) == pytest.approx(ref)


def _make_probe_task(root, tmp_path, monkeypatch, n_train=24, n_valid=12):
    """A two-class manifest task (low vs high tones) registered as a task spec in tmp_path."""
    import json

    import soundfile as sf
    import yaml

    from mertbench.tasks import registry

    folder = root / "tones"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("valid", n_valid), ("test", 2)):
        rows = []
        for i in range(n):
            label = ["low", "high"][i % 2]
            f0 = (110.0 if label == "low" else 1760.0) * rng.uniform(0.95, 1.05)
            t = np.arange(24000) / 24000
            sf.write(folder / f"{split}_{i}.wav", (0.3 * np.sin(2 * np.pi * f0 * t)).astype(np.float32), 24000)
            rows.append(json.dumps({"audio": f"{split}_{i}.wav", "label": label}))
        (folder / f"{split}.jsonl").write_text("\n".join(rows) + "\n")
    spec_dir = tmp_path / "specs"
    spec_dir.mkdir()
    from mertbench.tasks import get_task

    spec = yaml.safe_load((registry.spec_dirs()[0] / "render-pitch.yaml").read_text())
    spec.update(name="test-tones", suite="custom", description="two tones", labels={"vocabulary": ["low", "high"]})
    spec["dataset"] = {**spec["dataset"], "dirname": "tones"}
    (spec_dir / "test-tones.yaml").write_text(yaml.safe_dump(spec))
    monkeypatch.setenv("MERTBENCH_DATA", str(root))
    monkeypatch.setenv("MERTBENCH_TASKS", str(spec_dir))
    assert get_task("test-tones").data_found()


@pytest.mark.slow
def test_online_eval_logs_step0_and_periodic_rows_without_changing_training(synth_corpus, micro_config, tmp_path,
                                                                           monkeypatch):
    """Eval rows at step 0 and every eval_every steps; the training itself is unchanged by them."""
    from mertbench.pretrain import train
    from mertbench.pretrain.metrics import read_metrics

    _make_probe_task(tmp_path / "data", tmp_path, monkeypatch)
    data = synth_corpus(n=10, seconds=3.0)
    # channel LayerNorm front end: keeps each channel's level, so steady tones of different pitch differ
    # (the default per-channel GroupNorm normalises a steady tone's channels to the same unit variance)
    common = {"optim.steps": 6, "data.holdout_clips": 2, "run.log_every": 1, "model.feat_extract_norm": "layer"}
    train(micro_config(data, tmp_path / "plain", **common))
    train(micro_config(data, tmp_path / "eval", **common, **{
        "run.eval_every": 3, "run.eval_probe_tasks": ("test-tones",), "run.eval_probe_seconds": 0.5}))
    plain = read_metrics(tmp_path / "plain" / "metrics.csv")
    rows = read_metrics(tmp_path / "eval" / "metrics.csv")
    evals = [r for r in rows if "eval_ce_masked" in r]
    assert [int(r["step"]) for r in evals] == [0, 3, 6]
    assert "loss" not in evals[0]  # step 0: the random-init measurement only
    for r in evals:
        assert 0.0 <= r["eval_acc_masked"] <= 1.0 and r["eval_ce_masked"] > 0
        assert r["eval_prior_ce"] == pytest.approx(evals[0]["eval_prior_ce"])
        layers = [r[f"probe_test-tones_L{i}"] for i in range(2)]
        assert r["probe_test-tones_best"] == max(layers)
    # low vs high tones: a random encoder with level-preserving front end separates them
    assert evals[0]["probe_test-tones_best"] >= 0.75  # chance: 0.5
    png = (tmp_path / "eval" / "eval_curves.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    assert not (tmp_path / "plain" / "eval_curves.png").exists()
    from mertbench.pretrain.curves import eval_rows, probe_tasks

    assert probe_tasks(eval_rows(tmp_path / "eval" / "metrics.csv")) == ["test-tones"]
    trained = [r for r in rows if "loss" in r]
    assert [r["loss"] for r in trained] == [r["loss"] for r in plain]


def test_online_probe_without_its_data_is_skipped_and_reported(synth_corpus, micro_config, tmp_path, monkeypatch,
                                                               capsys):
    from mertbench.pretrain import train
    from mertbench.pretrain.metrics import read_metrics

    monkeypatch.setenv("MERTBENCH_DATA", str(tmp_path / "no-data"))
    cfg = micro_config(synth_corpus(n=10), tmp_path / "run", **{
        "optim.steps": 2, "run.eval_every": 2, "data.holdout_clips": 2, "run.eval_probe_tasks": ("render-pitch",)})
    train(cfg)
    assert "online probe render-pitch: SKIPPED, its data is not found" in (tmp_path / "run" / "train.log").read_text()
    rows = [r for r in read_metrics(tmp_path / "run" / "metrics.csv") if "eval_ce_masked" in r]
    assert [int(r["step"]) for r in rows] == [0, 2] and not any(k.startswith("probe_") for r in rows for k in r)


def test_holding_out_more_than_a_fifth_names_the_field(synth_corpus, micro_config, tmp_path):
    from mertbench.pretrain import train

    with pytest.raises(SpecError, match="data.holdout_clips is 3 but the corpus has only 10 clips"):
        train(micro_config(synth_corpus(n=10), tmp_path / "run", **{"data.holdout_clips": 3}))


def test_online_probe_rejects_a_task_that_is_not_multiclass(synth_corpus, micro_config, tmp_path):
    from mertbench.pretrain import train

    cfg = micro_config(synth_corpus(n=6), tmp_path / "run", **{
        "run.eval_every": 2, "data.holdout_clips": 1, "run.eval_probe_tasks": ("render-emotion",)})
    with pytest.raises(SpecError, match="render-emotion is a regression task"):
        train(cfg)
