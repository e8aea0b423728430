"""FeatureStore reads and the training-split standardisation the probe families apply."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from mertbench.probe.features import FeatureStore
from mertbench.probe.run import head_configs, parse_layers
from mertbench.probe.synthetic import synthetic_clip_setup


@pytest.mark.parametrize("ram_budget_gb", [4.0, 0.0])  # in memory / memory-mapped reads
def test_moments_and_standardized_reads(tmp_path, ram_budget_gb):
    rng = np.random.default_rng(0)
    arr = (rng.standard_normal((50, 3, 4)) * [[1.0], [10.0], [300.0]] + 7.0).astype(np.float32)
    arr[:, 1, 2] = 5.0  # constant in this split: only centred
    path = tmp_path / "f.npy"
    np.save(path, arr)
    mm = np.load(path, mmap_mode="r")
    store = FeatureStore(mm, [0, 2], torch.device("cpu"), ram_budget_gb)
    mean, std = store.moments(chunk_rows=7)
    np.testing.assert_allclose(mean.numpy(), arr[:, [0, 2]].mean(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(std.numpy(), arr[:, [0, 2]].std(0), rtol=1e-4)
    store.standardize(mean, std)
    rows = np.array([4, 0, 33, 4])
    want = (arr[rows][:, [0, 2]] - mean.numpy()) / std.numpy()
    np.testing.assert_allclose(store.gather(rows).numpy(), want, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(store.slice(10, 20).numpy(), (arr[10:20][:, [0, 2]] - mean.numpy()) / std.numpy(),
                               rtol=1e-4, atol=1e-4)
    # moments always describe the raw features, even after standardize
    again, _ = store.moments()
    np.testing.assert_allclose(again.numpy(), mean.numpy())

    full = FeatureStore(mm, [0, 1, 2], torch.device("cpu"), ram_budget_gb)
    m, s = full.moments()
    full.standardize(m, s)
    out = full.slice(0, 50).numpy()
    np.testing.assert_allclose(out[:, 1, 2], 0.0, atol=1e-6)  # constant dimension: centred, not blown up
    np.testing.assert_allclose(out.mean(0)[[0, 2]], 0.0, atol=1e-4)
    np.testing.assert_allclose(out.std(0)[[0, 2]], 1.0, rtol=1e-3)
    with pytest.raises(ValueError, match="shape"):
        full.standardize(m[:2], s[:2])


def _scale_cache(setup, factor: float) -> None:
    for split in ("train", "valid", "test"):
        arr = np.load(setup.extraction.cache.folder / f"{split}.features.npy", mmap_mode="r+")
        arr *= factor
        arr.flush()


def test_standardized_probe_is_invariant_to_feature_scale_raw_is_not(tmp_path):
    """Standardised inputs make the probe's result independent of the features' scale; MARBLE's raw
    inputs (``standardize: false``) at scale 1000 train a different (here: worse) probe."""
    kw = dict(num_layers=2, dim=16, n_classes=4, counts={"train": 160, "valid": 40, "test": 40},
              informative=(1,), snr=0.8, max_epochs=6, hidden=32)
    base = synthetic_clip_setup(tmp_path / "a", **kw)
    scaled = synthetic_clip_setup(tmp_path / "b", **kw)
    _scale_cache(scaled, 1000.0)
    configs = head_configs(parse_layers("all", base.extraction.cache.layers), [1e-3], [0])
    a, fam = base.train(configs)
    b, _ = scaled.train(configs)
    assert fam.standardized
    for ra, rb in zip(a, b):
        assert ra.best_epoch == rb.best_epoch
        for k in ra.test:
            assert ra.test[k] == pytest.approx(rb.test[k], abs=1e-6)
    scaled.options["standardize"] = False
    raw, fam_raw = scaled.train(configs)
    assert not fam_raw.standardized
    assert [r.test["accuracy"] for r in raw] != [r.test["accuracy"] for r in b]
    scaled.options["standardize"] = "maybe"
    with pytest.raises(Exception, match="standardize"):
        scaled.train(configs)
