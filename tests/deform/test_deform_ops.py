"""The audio of each deformation kind: identity, exact SNR, filters, codecs, reverb, pitch, determinism."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from mertbench.deform import DeformationError, DeformationInvalid, example_seed, get_deformation

SR = 24000


def _music(seconds: float = 2.0, sr: int = SR) -> np.ndarray:
    """A few partials with an envelope: something codecs and filters visibly change."""
    t = np.arange(int(seconds * sr)) / sr
    x = sum(0.2 / k * np.sin(2 * np.pi * 220 * k * t + k) for k in range(1, 12))
    return (x * (0.6 + 0.4 * np.sin(2 * np.pi * 2 * t))).astype(np.float32)


def _snr_db(clean: np.ndarray, noisy: np.ndarray) -> float:
    c = clean.astype(np.float64)
    return 10 * np.log10(np.mean(c ** 2) / np.mean((noisy.astype(np.float64) - c) ** 2))


def _peak_hz(x: np.ndarray, sr: int = SR) -> float:
    n = len(x)
    spec = np.abs(np.fft.rfft(x * np.hanning(n), 8 * n))
    return float(np.fft.rfftfreq(8 * n, 1 / sr)[np.argmax(spec)])


def _band_db(x: np.ndarray, lo: float, hi: float, sr: int = SR) -> float:
    spec = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2
    f = np.fft.rfftfreq(len(x), 1 / sr)
    return float(10 * np.log10(spec[(f >= lo) & (f < hi)].sum() + 1e-30))


def test_identity_and_zero_gain_reproduce_the_input_exactly():
    x = _music()
    for y in (get_deformation("identity").apply(x, SR), _gain(0).apply(x, SR)):
        assert y.dtype == x.dtype and np.array_equal(y, x) and y is not x
    y = get_deformation("gain-minus-12db").apply(x, SR)
    assert np.allclose(y, x * 10 ** (-12 / 20), rtol=1e-6)


def _gain(db: float):
    from mertbench.deform.deformation import Deformation

    base = get_deformation("gain-minus-12db")
    return Deformation(base.spec.model_copy(update={"params": {"gain_db": db}}), base.family)


@pytest.mark.parametrize("name, snr", [("white-noise-20db", 20), ("white-noise-10db", 10), ("white-noise-0db", 0),
                                       ("pink-noise-20db", 20), ("pink-noise-0db", 0)])
def test_additive_noise_hits_the_snr(name, snr):
    x = _music()
    y = get_deformation(name).apply(x, SR, example_id="clip-1")
    assert y.shape == x.shape and y.dtype == np.float32
    assert abs(_snr_db(x, y) - snr) < 0.01


def test_pink_noise_is_pink_and_very_low_snr_is_really_low():
    from mertbench.deform.deformation import Deformation

    base = get_deformation("pink-noise-0db")
    spec = base.spec.model_copy(update={"params": {"color": "pink", "snr_db": -20}})
    x = _music()
    y = Deformation(spec, base.family).apply(x, SR, example_id="a")
    assert abs(_snr_db(x, y) - (-20)) < 0.01
    noise = y.astype(np.float64) - x
    assert np.mean(noise ** 2) > 99 * np.mean(x.astype(np.float64) ** 2)  # noise power 100x the signal's
    # pink: ~3 dB less power per octave (100-200 Hz vs 3.2-6.4 kHz: five octaves, ~0 dB band power
    # difference for 1/f; white would be +15 dB in the upper band)
    white = get_deformation("white-noise-0db").apply(x, SR, example_id="a").astype(np.float64) - x
    assert _band_db(white, 3200, 6400) - _band_db(white, 100, 200) > 12
    assert abs(_band_db(noise, 3200, 6400) - _band_db(noise, 100, 200)) < 3


def test_noise_is_deterministic_per_example_and_differs_between_examples():
    d = get_deformation("white-noise-10db")
    x = _music()
    a = d.apply(x, SR, example_id="blues/blues.00001.wav")
    b = d.apply(x, SR, example_id="blues/blues.00001.wav")
    c = d.apply(x, SR, example_id="blues/blues.00002.wav")
    assert a.tobytes() == b.tobytes()
    assert not np.array_equal(a, c)
    assert example_seed(0, "x") == example_seed(0, "x") != example_seed(1, "x")
    with pytest.raises(DeformationError, match="example_id"):
        d.apply(x, SR)
    with pytest.raises(DeformationInvalid, match="silent"):
        d.apply(np.zeros(SR, np.float32), SR, example_id="x")


def test_stem_noise_mixes_the_callers_stem_at_the_snr(tmp_path):
    d = get_deformation("stem-drums-10db")
    x = _music(1.0)
    rng = np.random.default_rng(0)
    drums = np.zeros(3 * SR, np.float32)
    drums[:: SR // 4] = 1.0  # clicks of another track, 3 s: cut at a seeded offset
    drums = np.convolve(drums, np.exp(-np.arange(200) / 30.0), mode="same").astype(np.float32)
    y = d.apply(x, SR, example_id="t1", noise=drums)
    assert abs(_snr_db(x, y) - 10) < 0.01
    assert d.apply(x, SR, example_id="t1", noise=drums).tobytes() == y.tobytes()
    path = tmp_path / "drums.wav"
    sf.write(path, drums, SR, subtype="FLOAT")
    assert np.array_equal(d.apply(x, SR, example_id="t1", noise=path), y)
    short = rng.standard_normal(SR // 3).astype(np.float32)  # shorter than the clip: tiled
    assert abs(_snr_db(x, d.apply(x, SR, example_id="t1", noise=short)) - 10) < 0.01
    with pytest.raises(DeformationError, match="noise source"):
        d.apply(x, SR, example_id="t1")


def test_noise_track_is_a_seeded_choice_of_another_track():
    from mertbench.deform import pick_noise_source

    tracks = [f"song{i}" for i in range(8)]
    picks = [pick_noise_source(t, tracks) for t in tracks]
    assert all(p != t for p, t in zip(picks, tracks)) and len(set(picks)) > 1
    assert picks == [pick_noise_source(t, list(reversed(tracks))) for t in tracks]  # order-free, rerun-stable
    with pytest.raises(DeformationError, match="no other track"):
        pick_noise_source("song0", ["song0"])


def test_filters_cut_what_they_should():
    t = np.arange(SR) / SR
    low, mid, high = (np.sin(2 * np.pi * f * t).astype(np.float32) for f in (100, 1000, 8000))
    phone = get_deformation("phone-band")
    for tone, kept in ((low, False), (mid, True), (high, False)):
        y = phone.apply(tone, SR)
        ratio = 10 * np.log10(np.mean(y[2000:-2000] ** 2) / np.mean(tone[2000:-2000] ** 2))
        assert (ratio > -1) if kept else (ratio < -30), ratio
    assert np.mean(get_deformation("lowpass-4khz").apply(high, SR) ** 2) < 1e-3 * np.mean(high ** 2)
    assert np.mean(get_deformation("highpass-500hz").apply(low, SR) ** 2) < 1e-3 * np.mean(low ** 2)
    with pytest.raises(DeformationError, match="Nyquist"):
        get_deformation("lowpass-4khz").apply(mid, 8000)


@pytest.mark.parametrize("name", ["mp3-64kbps", "mp3-32kbps", "vorbis-64kbps"])
def test_codecs_round_trip_aligned_and_change_the_audio(name):
    d = get_deformation(name)
    x = _music()
    y = d.apply(x, SR)
    assert y.shape == x.shape and y.dtype == np.float32
    assert not np.array_equal(y, x)
    snr = _snr_db(x, y)
    assert 5 < snr < 60, snr  # lossy, but the same music
    # aligned: the best lag of the cross-correlation is 0 (the MP3 delay is trimmed)
    lags = range(-50, 51)
    mid = slice(5000, 40000)
    best = max(lags, key=lambda k: float(np.dot(x[mid], np.roll(y, -k)[mid])))
    assert best == 0
    assert d.apply(x, SR).tobytes() == y.tobytes()  # deterministic
    stereo = np.stack([x, 0.5 * x])
    assert d.apply(stereo, SR).shape == stereo.shape


def test_lower_mp3_bit_rate_loses_more():
    x = _music()
    assert _snr_db(x, get_deformation("mp3-32kbps").apply(x, SR)) < _snr_db(x, get_deformation("mp3-64kbps").apply(x, SR))


def test_reverb_changes_the_audio_deterministically():
    d = get_deformation("room-reverb")
    x = np.zeros(SR, np.float32)
    x[1000] = 1.0
    y = d.apply(x, SR)
    assert y.shape == x.shape and np.array_equal(y, d.apply(x, SR))
    assert np.abs(y[SR // 4:]).max() > 1e-3  # a tail long after the impulse


@pytest.mark.parametrize("name, hz", [("pitch-shift-plus-2", 440 * 2 ** (2 / 12)), ("pitch-shift-minus-1", 440 * 2 ** (-1 / 12))])
def test_pitch_shift_moves_a_sine(name, hz, sine):
    x = sine(440.0, 2.0, SR)
    y = get_deformation(name).apply(x, SR)
    assert y.shape == x.shape
    assert abs(_peak_hz(y) - hz) < 2.0, (_peak_hz(y), hz)
    assert np.array_equal(y, get_deformation(name).apply(x, SR))
