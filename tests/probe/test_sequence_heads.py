"""The open-unmix separation head (MARBLE's MUSDB18 probe), its bank, Wiener filtering and stereo."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mertbench.errors import SpecError
from mertbench.probe import run_probe
from mertbench.probe.heads import HeadConfig
from mertbench.probe.sequence_heads import OpenUnmixHead, SequenceHeadBank
from mertbench.probe.synthetic import write_separation_task, write_tone_task

TOY = "mertbench.probe.synthetic:toy_encoder"  # 5 layers x 32; layer 2 informative
OPENUNMIX = {"head": "openunmix", "hidden": 16, "dropout": 0.4}


def test_open_unmix_head_layout_is_marbles():
    """Per stem: Linear(no bias)+BN+tanh -> LSTM -> skip concat -> Linear+BN+ReLU -> Linear+BN -> scale/offset -> ReLU."""
    head = OpenUnmixHead(dim=24, stems=3, out_per_stem=10, hidden=8, layers=3, bidirectional=True, dropout=0.4)
    assert len(head.nets) == 3
    net = head.nets[0]
    assert net.fc1.bias is None and net.fc2.bias is None and net.fc3.bias is None
    assert (net.fc1.in_features, net.fc1.out_features) == (24, 8)
    assert net.lstm.num_layers == 3 and net.lstm.bidirectional and net.lstm.hidden_size == 4 and net.lstm.dropout == 0.4
    assert net.fc2.in_features == 16 and net.fc3.out_features == 10 and net.bn3.num_features == 10
    uni = OpenUnmixHead(dim=24, stems=1, out_per_stem=10, hidden=8, layers=1, bidirectional=False).nets[0]
    assert uni.lstm.hidden_size == 8 and not uni.lstm.bidirectional and uni.lstm.dropout == 0.0
    head.eval()
    y = head(torch.randn(2, 7, 24))
    with torch.no_grad():
        y = head(torch.randn(2, 7, 24))
    assert y.shape == (2, 7, 30) and float(y.min()) >= 0.0  # non-negative masks, stem-major
    # each stem's block depends on its own network only
    with torch.no_grad():
        head.nets[1].output_mean.fill_(-1e3)
        y2 = head(torch.randn(2, 7, 24))
    assert float(y2[..., 10:20].abs().max()) == 0.0 and float(y2[..., :10].max()) > 0.0


def _bank(configs, seq_len=5):
    return SequenceHeadBank(configs, {0: 0, 1: 1}, [0, 1], 6, 4,
                            lambda: OpenUnmixHead(6, 1, 4, hidden=4, layers=2, dropout=0.5), seq_len)


def test_sequence_bank_heads_of_a_seed_start_equal_and_train_independently():
    configs = [HeadConfig.make(0, 1e-3, 0), HeadConfig.make(1, 1e-2, 0), HeadConfig.make(0, 1e-3, 1)]
    bank = _bank(configs)
    w = bank.params["nets.0.fc1.weight"]
    assert torch.equal(w[0], w[1]) and not torch.equal(w[0], w[2])  # init follows the seed only
    assert all(p.requires_grad for p in bank.parameters())
    assert not bank.params["nets.0.bn1.running_mean"].requires_grad  # buffers travel, untrained
    gens = {s: torch.Generator().manual_seed(s) for s in bank.seeds}
    xs = [torch.randn(10, 2, 6), torch.randn(10, 2, 6)]  # 2 sequences of 5 frames per seed
    out = bank.forward(xs, bank.dropout_masks(gens, 10))
    assert out.shape == (3, 10, 4)
    out[1].sum().backward()  # only head 1's loss
    g = bank.params["nets.0.fc1.weight"].grad
    assert float(g[1].abs().sum()) > 0 and float(g[0].abs().sum()) == 0 and float(g[2].abs().sum()) == 0
    # batch-norm statistics are updated per head, in the stacked buffers
    rm = bank.params["nets.0.bn1.running_mean"]
    assert not torch.equal(rm[0], torch.zeros_like(rm[0]))
    # a subset carries parameters and buffers; predict reads all rows as one sequence, in eval mode
    sub = bank.subset([2])
    assert torch.equal(sub.params["nets.0.bn1.running_mean"][0], rm[2])
    pred = sub.predict(torch.randn(13, 2, 6))
    assert pred.shape == (1, 13, 4) and float(pred.min()) >= 0.0


def test_a_head_trained_alone_equals_the_same_head_trained_beside_others(task_env):
    """One pass over several heads gives each head what a run of that head alone gives (dropout included)."""
    data, specs = task_env
    write_separation_task(data, specs, name="ou-alone", counts={"train": 3, "valid": 1, "test": 1}, seconds=2.0,
                          max_epochs=3, probe=OPENUNMIX, options={"lstm_layers": 2})
    both, _ = run_probe(TOY, "ou-alone", layer="2", lrs=[1e-3, 1e-2], progress=False, write=False)
    alone, _ = run_probe(TOY, "ou-alone", layer="2", lrs=[1e-2], progress=False, write=False)
    a = both.hyperparameters["valid_grid"]["2"]
    b = alone.hyperparameters["valid_grid"]["2"]
    key = [k for k in b][0]
    assert a[key] == pytest.approx(b[key], abs=1e-4), (a, b)


@pytest.mark.slow
def test_open_unmix_probe_separates_from_the_informative_layer(task_env):
    data, specs = task_env
    write_separation_task(data, specs, name="ou-stems", counts={"train": 4, "valid": 2, "test": 2}, seconds=2.0,
                          max_epochs=6, probe=OPENUNMIX, options={"lstm_layers": 2})
    result, _ = run_probe(TOY, "ou-stems", layer="0,2", lrs=[1e-2], progress=False, write=False)
    sdr2, sdr0 = result.layers["2"]["test"]["sdr"].mean, result.layers["0"]["test"]["sdr"].mean
    assert math.isfinite(sdr2) and sdr2 > sdr0 + 0.5, (sdr0, sdr2)
    h = result.hyperparameters
    assert h["head"] == "openunmix" and h["separation_head"] == "openunmix" and h["lstm_layers"] == 2
    assert h["channels"] == 1 and h["wiener_iterations"] == 0


@pytest.mark.slow
def test_stereo_mixtures_are_separated_per_channel_through_wiener_filtering(task_env, monkeypatch):
    """channels=data on stereo files: estimates have 2 channels (scored against stereo references)."""
    import mertbench.metrics.separation as sep

    shapes = []
    real = sep.global_sdr

    def spy(reference, estimate, eps=sep.SDR_EPS):
        shapes.append((np.shape(reference), np.shape(estimate)))
        return real(reference, estimate, eps)

    monkeypatch.setattr(sep, "global_sdr", spy)
    data, specs = task_env
    write_separation_task(data, specs, name="ou-stereo", counts={"train": 4, "valid": 2, "test": 2}, seconds=2.0,
                          max_epochs=6, channels=2, probe=OPENUNMIX,
                          options={"lstm_layers": 2, "channels": "data", "wiener_iterations": 1})
    result, _ = run_probe(TOY, "ou-stereo", layer="0,2", lrs=[1e-2], progress=False, write=False)
    assert shapes and all(r == e and r[0] == 2 for r, e in shapes)
    h = result.hyperparameters
    assert h["channels"] == 2 and h["wiener_iterations"] == 1 and h["wiener_library"].startswith("norbert ")
    assert result.layers["2"]["test"]["sdr"].mean > result.layers["0"]["test"]["sdr"].mean + 0.5


def _family(task_env, name, **options):
    """A separation family on a tiny task (toy encoder), without training."""
    from mertbench.probe.run import make_setup

    data, specs = task_env
    write_separation_task(data, specs, name=name, counts={"train": 2, "valid": 1, "test": 1}, seconds=1.0,
                          max_epochs=1, channels=2, options={"channels": "data", **options})
    setup = make_setup(TOY, name, progress=False)
    family, _, _ = setup.family([HeadConfig.make(2, 1e-3, 0)])
    return family


def test_wiener_filtering_equals_norbert(task_env):
    """Without the residual source and in one window, the estimates are norbert.wiener's (mixture-phase start)."""
    import norbert

    family = _family(task_env, "ou-wiener", wiener_iterations=2, wiener_residual=False, wiener_window_frames=10_000)
    rng = np.random.default_rng(0)
    n = 24000
    mix = torch.as_tensor(rng.standard_normal((2, n)).astype(np.float32))
    spec = family.stft(mix)  # [C, F, T]
    mag = torch.as_tensor(rng.uniform(0, 1, (2, *spec.shape)).astype(np.float32)) * spec.abs().unsqueeze(0)
    ours = family._wiener(mag.numpy(), spec.numpy())
    x = np.transpose(spec.numpy(), (2, 1, 0)).astype(np.complex128)
    v = np.transpose(mag.numpy(), (3, 2, 1, 0)).astype(np.float64)
    ref = norbert.wiener(v, x, iterations=2, use_softmask=False)
    np.testing.assert_allclose(ours, np.transpose(ref, (3, 2, 1, 0)), rtol=1e-6, atol=1e-9)
    # no Wiener: magnitudes with the mixture phase
    plain = _family(task_env, "ou-plain")
    wav = plain.waveforms(spec.abs().unsqueeze(0), spec, n)  # one "stem" = the mixture magnitude
    np.testing.assert_allclose(wav[0], mix.numpy(), atol=1e-4)


def test_separation_options_are_never_silently_ignored(task_env):
    data, specs = task_env
    write_separation_task(data, specs, name="ou-bad1", counts={"train": 2, "valid": 1, "test": 1}, seconds=1.0,
                          max_epochs=1, options={"lstm_layers": 2})  # mlp head
    with pytest.raises(SpecError, match="lstm_layers apply to the openunmix head only"):
        run_probe(TOY, "ou-bad1", layer="2", progress=False, write=False)
    write_separation_task(data, specs, name="ou-bad2", counts={"train": 2, "valid": 1, "test": 1}, seconds=1.0,
                          max_epochs=1, options={"wiener_residual": True})
    with pytest.raises(SpecError, match="need wiener_iterations >= 1"):
        run_probe(TOY, "ou-bad2", layer="2", progress=False, write=False)
    write_separation_task(data, specs, name="ou-bad3", counts={"train": 2, "valid": 1, "test": 1}, seconds=1.0,
                          max_epochs=1, options={"channels": "both"})
    with pytest.raises(SpecError, match="channels must be 'mono'"):
        run_probe(TOY, "ou-bad3", layer="2", progress=False, write=False)
    write_tone_task(data, specs, name="ou-tones", n_classes=3, counts={"train": 2, "valid": 1, "test": 1})
    with pytest.raises(SpecError, match="head 'openunmix' is not implemented by the multiclass probe"):
        run_probe(TOY, "ou-tones", layer="2", head="openunmix", progress=False, write=False)


def test_trivial_separation_estimates(task_env):
    """The bench's reference estimates: energy shares sum to 1, and the mixture-as-stem SDR is global_sdr's."""
    from mertbench.audio import load_audio
    from mertbench.bench.separation_bench import trivial_estimates
    from mertbench.metrics.separation import global_sdr
    from mertbench.tasks.registry import get_task

    data, specs = task_env
    write_separation_task(data, specs, name="ou-trivial", counts={"train": 2, "valid": 1, "test": 2}, seconds=1.0,
                          max_epochs=1)
    out = trivial_estimates("ou-trivial")
    assert sum(out["share"].values()) == pytest.approx(1.0)
    test = get_task("ou-trivial").load().splits["test"]
    expect = np.mean([global_sdr(load_audio(str(ex.label["tone"]), 24000)[0], load_audio(str(ex.path), 24000)[0])
                      for ex in test])
    assert out["mixture"]["tone"] == pytest.approx(expect, abs=1e-6)
    for stem in ("tone", "noise"):  # a constant gain near the energy share beats the unscaled mixture
        assert out["energy-share"][stem] > out["mixture"][stem]
