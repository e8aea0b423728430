"""MARBLE's separation training augmentation: random track re-mixing, source gains, channel swap, with
the frozen encoder run online on each re-mixed excerpt."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from mertbench.errors import SpecError
from mertbench.probe import run_probe
from mertbench.probe.families.separation import _Source
from mertbench.probe.heads import HeadConfig
from mertbench.probe.synthetic import write_separation_task

TOY = "mertbench.probe.synthetic:toy_encoder"  # 5 layers x 32; layer 2 = log band energies per frame
MARBLE_AUG = {"random_track_mix": True, "source_gain": [0.25, 1.25], "channel_swap": True}


def _family(task_env, name, channels=1, **options):
    from mertbench.probe.run import make_setup

    data, specs = task_env
    opts = {"train_excerpt_s": 0.5, "excerpts_per_track": 4, **options}
    if channels == 2:
        opts["channels"] = "data"
    write_separation_task(data, specs, name=name, counts={"train": 3, "valid": 1, "test": 1}, seconds=1.5,
                          max_epochs=1, channels=channels, options=opts)
    setup = make_setup(TOY, name, progress=False)
    family, _, _ = setup.family([HeadConfig.make(2, 1e-3, 0)])
    return family


def test_online_features_of_a_real_excerpt_equal_the_cached_ones(task_env):
    """Unit gains, no re-mixing, no swap: the augmented path re-encodes the real excerpt online and
    must give what the cache holds for those frames (the toy layer is frame-local), and the same
    magnitude targets as the cached path."""
    online = _family(task_env, "aug-same", source_gain=[1.0, 1.0])
    cached = _family(task_env, "aug-plain")
    assert online.augment and not cached.augment
    gen = torch.Generator().manual_seed(3)
    plan = online.epoch_plan(gen)
    item = plan[0][0]
    assert len(item) == 2 and len({(s.track, s.start) for s in item}) == 1  # one excerpt, shared
    assert all(s.gain == 1.0 and not s.swap for s in item)
    a = online.make_batch([item])
    b = cached.make_batch([(item[0].track, item[0].start)])
    pos = online.ctx.positions.index(2)
    w = online.excerpt
    valid = int(a.weight.sum())
    assert valid == int(b.weight.sum()) and valid > 0
    # float16 cache against float32 online features, both standardised with the same moments
    np.testing.assert_allclose(a.x[:valid, pos].numpy(), b.x[:valid, pos].numpy(), atol=0.02)
    assert a.x.shape == b.x.shape == (w, len(online.ctx.positions), 32)
    for ta, tb in zip(a.target, b.target):  # mixture = tone + noise = the mixture file
        np.testing.assert_allclose(ta.numpy(), tb.numpy(), atol=1e-4)


def test_re_mixed_excerpts_are_gained_swapped_sums_encoded_online(task_env):
    fam = _family(task_env, "aug-marble", channels=2, **MARBLE_AUG)
    assert fam.channels == 2
    plans = [fam.epoch_plan(torch.Generator().manual_seed(0)) for _ in range(2)]
    assert plans[0] == plans[1]  # every draw comes from the seed's generator
    sources = [s for batch in plans[0] for item in batch for s in item]
    assert all(0.25 <= s.gain <= 1.25 for s in sources)
    assert 0.1 < np.mean([s.swap for s in sources]) < 0.9
    items = [item for batch in plans[0] for item in batch]
    assert any(item[0].track != item[1].track for item in items)  # sources from different tracks
    assert any(item[0].start != item[1].start for item in items)

    item = (_Source(0, 3, 0.5, True), _Source(2, 10, 1.2, False))
    batch = fam.make_batch([item])
    w, n = fam.excerpt, fam.excerpt * fam.hop
    stems = []
    for src, stem in zip(item, fam.stems):
        ex = fam.tracks["train"][src.track].example
        audio = fam._read(ex, ex.label[stem], src.start * fam.hop, n)
        stems.append(src.gain * (audio[::-1] if src.swap else audio))
    stems = np.stack(stems)  # [S, C, n]
    mix = stems.sum(axis=0)
    spec = lambda x: fam.stft(torch.as_tensor(np.ascontiguousarray(x, dtype=np.float32))).abs()[..., :w]
    mix_rows, tgt_rows = batch.target
    np.testing.assert_allclose(mix_rows.numpy(), spec(mix).permute(2, 0, 1).numpy(), rtol=1e-4, atol=1e-4)
    for k in range(2):
        np.testing.assert_allclose(tgt_rows[:, k].numpy(), spec(stems[k]).permute(2, 0, 1).numpy(),
                                   rtol=1e-4, atol=1e-4)
    # the encoder heard the channel-averaged re-mix, not a cached mixture
    expect = fam.encode_excerpts(mix.mean(axis=0, keepdims=True))
    np.testing.assert_allclose(batch.x.numpy(), expect.numpy(), atol=1e-5)
    real = fam.make_batch([(_Source(0, 3, 1.0, False), _Source(0, 3, 1.0, False))])
    assert not torch.allclose(real.x, batch.x, atol=1e-3)
    # the swap really moved the tone: left/right energies of the first stem's target exchange
    left, right = tgt_rows[:, 0, 0].pow(2).sum(), tgt_rows[:, 0, 1].pow(2).sum()
    assert float(right) > 3 * float(left)  # the tone is panned left in the file


def test_augmented_probe_runs_end_to_end_and_records_it(task_env):
    data, specs = task_env
    write_separation_task(data, specs, name="aug-run", counts={"train": 4, "valid": 2, "test": 2}, seconds=2.0,
                          max_epochs=4, channels=2,
                          options={"channels": "data", "train_excerpt_s": 1.0, "excerpts_per_track": 8, **MARBLE_AUG})
    result, _ = run_probe(TOY, "aug-run", layer="0,2", lrs=[1e-2], progress=False, write=False)
    aug = result.hyperparameters["augmentation"]
    assert aug["random_track_mix"] is True and aug["source_gain"] == [0.25, 1.25]
    assert aug["channel_swap"].startswith("per source") and aug["training_features"].startswith("online")
    sdr2, sdr0 = result.layers["2"]["test"]["sdr"].mean, result.layers["0"]["test"]["sdr"].mean
    assert np.isfinite(sdr2) and sdr2 > sdr0, (sdr0, sdr2)


@pytest.mark.parametrize("gain,match", [([1.25, 0.25], "0 <= lo <= hi"), ("loud", r"\[lo, hi\]"),
                                        ([-0.5, 1.0], "0 <= lo <= hi")])
def test_bad_gain_ranges_are_spec_errors(task_env, gain, match):
    data, specs = task_env
    write_separation_task(data, specs, name="aug-bad", counts={"train": 2, "valid": 1, "test": 1}, seconds=1.0,
                          max_epochs=1, options={"source_gain": gain})
    with pytest.raises(SpecError, match=match):
        run_probe(TOY, "aug-bad", layer="2", progress=False, write=False)
