"""Handcrafted baselines: MFCC(+deltas), chroma, CQT (nnAudio) on the 24 kHz / hop 320 / 75 Hz grid."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import mertbench
from mertbench.models import validate_encoder
from mertbench.models.handcrafted import deltas


def _tone(freq: float, seconds: float = 1.0) -> torch.Tensor:
    t = torch.arange(int(24000 * seconds)) / 24000
    return (0.5 * torch.sin(2 * np.pi * freq * t))[None]


@pytest.mark.parametrize("name,dim", [("mfcc", 39), ("chroma", 12), ("cqt", 336), ("logmel", 128)])
def test_contract_and_grid(name, dim):
    enc = mertbench.load_model(name)
    assert (enc.sample_rate, enc.frame_rate, enc.num_layers, enc.dim) == (24000, 75.0, 1, dim)
    out = enc(torch.randn(2, 24000) * 0.1)
    assert out.shape == (1, 2, enc.num_frames(24000), dim) == (1, 2, 76, dim)
    if name != "cqt":  # the CQT's 65k-tap kernels make the full validator slow; covered above
        assert validate_encoder(enc, seconds=(0.5,)).ok


def test_deltas_follow_the_htk_regression_formula():
    x = torch.randn(3, 13, 20, dtype=torch.float64)
    d = deltas(x)
    xn = x.numpy()
    pad = np.concatenate([xn[..., :1], xn[..., :1], xn, xn[..., -1:], xn[..., -1:]], axis=-1)
    ref = np.zeros_like(xn)
    for t in range(20):
        c = t + 2
        ref[..., t] = (1 * (pad[..., c + 1] - pad[..., c - 1]) + 2 * (pad[..., c + 2] - pad[..., c - 2])) / 10.0
    np.testing.assert_allclose(d.numpy(), ref, rtol=1e-12, atol=1e-12)
    ramp = torch.arange(10.0)[None]  # slope 1 -> delta 1 away from the edges
    assert torch.allclose(deltas(ramp)[0, 2:-2], torch.ones(6))


def test_mfcc_equals_nnaudio_and_stacks_deltas():
    from nnAudio.features import MFCC

    enc = mertbench.load_model("mfcc")
    wav = torch.randn(1, 24000) * 0.1
    out = enc(wav)[0, 0].T  # [39, T]
    ref = MFCC(sr=24000, n_mfcc=13, norm="ortho", verbose=False, top_db=None, n_fft=1024, n_mels=128,
               hop_length=320, fmin=20.0, fmax=12000.0, center=True)(wav)[0]
    assert torch.allclose(out[:13], ref, atol=1e-4)
    assert torch.allclose(out[13:26], deltas(ref), atol=1e-4)
    assert torch.allclose(out[26:], deltas(deltas(ref)), atol=1e-4)


@pytest.mark.parametrize("freq,pc", [(440.0, 9), (261.63, 0), (392.0, 7)])
def test_chroma_finds_the_pitch_class(freq, pc):
    out = mertbench.load_model("chroma")(_tone(freq))[0, 0]
    assert int(out[20:-20].mean(0).argmax()) == pc
    assert float(out.max()) == pytest.approx(1.0)


def test_cqt_peak_bin_and_silence():
    enc = mertbench.load_model("cqt")
    out = enc(torch.cat([_tone(440.0), torch.zeros(1, 24000)]))[0]
    expected_bin = round(48 * np.log2(440.0 / 32.7))  # 180
    assert abs(int(out[0, 20:-20].mean(0).argmax()) - expected_bin) <= 1
    assert float(out[1].max()) == pytest.approx(np.log(1e-6), abs=1e-3)


def test_fft_spectrograms_equal_nnaudio():
    """The torch.stft path gives nnAudio's numbers (logmel through nnAudio's own MelSpectrogram)."""
    from nnAudio.features import STFT, MelSpectrogram

    from mertbench.models.handcrafted import LogMelEncoder, power_spectrogram

    torch.manual_seed(0)
    wav = torch.randn(2, 24000) * 0.1
    ref_mag = STFT(n_fft=1024, hop_length=320, window="hann", center=True, pad_mode="constant", sr=24000,
                   output_format="Magnitude", verbose=False)(wav)
    torch.testing.assert_close(power_spectrogram(wav, 1024), ref_mag ** 2, rtol=1e-3, atol=1e-4)
    mel = MelSpectrogram(sr=24000, n_fft=2048, hop_length=320, n_mels=128, fmin=20.0, fmax=12000.0, center=True,
                         verbose=False, trainable_mel=False, trainable_STFT=False)(wav)
    ours = torch.exp(LogMelEncoder()(wav)[0].transpose(1, 2)) - 1e-6  # back to linear mel power
    # nnAudio's convolutional STFT has float32 round-off relative to the loudest bin
    torch.testing.assert_close(ours, mel, rtol=1e-3, atol=1e-5 * float(mel.max()))


@pytest.mark.parametrize("name", ["cqt", "logmel", "mfcc"])
def test_min_samples_is_the_shortest_input_that_works(name):
    """``min_samples`` is exact: one sample fewer fails inside the transform, that many works
    (the extraction runner skips shorter clips by it instead of crashing)."""
    from mertbench.models import load_model
    enc = load_model(name).eval()
    n = enc.min_samples
    with torch.no_grad():
        out = enc(torch.randn(1, n))
        assert out.shape[2] >= 1 and torch.isfinite(out).all()
        with pytest.raises(Exception):  # noqa: B017 (nnAudio/torch raise different types)
            enc(torch.randn(1, n - 1))
