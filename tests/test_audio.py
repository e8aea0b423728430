"""mertbench.audio: decoding of every format, resampling, windows, normalisation, clear errors."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from mertbench.audio import audio_info, crop, cut_windows, load_audio, normalize, resample, to_mono
from mertbench.errors import AudioError

FORMATS = [("wav", "PCM_16"), ("flac", "PCM_16"), ("ogg", "VORBIS"), ("mp3", "MPEG_LAYER_III")]


def _dominant_freq(x: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / sr)[spec.argmax()])


@pytest.mark.parametrize("ext,subtype", FORMATS)
def test_decode_each_format_keeps_pitch_and_length(tmp_path, sine, ext, subtype):
    x = sine(440.0, 2.0, 44100)
    stereo = np.stack([x, x * 0.5], axis=1)
    path = tmp_path / f"tone.{ext}"
    sf.write(path, stereo, 44100, subtype=subtype)
    mono, sr = load_audio(path, 24000)
    assert sr == 24000 and mono.ndim == 1 and mono.dtype == np.float32
    assert abs(len(mono) - 48000) < 24000 * 0.1  # mp3 adds encoder delay/padding
    assert abs(_dominant_freq(mono, sr) - 440.0) < 3.0
    multi, _ = load_audio(path, mono=False)
    assert multi.shape[0] == 2
    # channel 1 is half of channel 0
    n = min(multi.shape[1], 40000)
    ratio = np.abs(multi[1, 1000:n]).sum() / np.abs(multi[0, 1000:n]).sum()
    assert 0.45 < ratio < 0.55


def test_crop_is_applied_before_resampling(tmp_path, sine):
    sr = 22050
    x = np.concatenate([np.zeros(sr, np.float32), sine(440.0, 1.0, sr)])
    sf.write(tmp_path / "a.wav", x, sr, subtype="FLOAT")
    seg, out_sr = load_audio(tmp_path / "a.wav", 24000, start_s=1.0, duration_s=0.5)
    assert out_sr == 24000 and len(seg) == 12000
    assert np.abs(seg).max() > 0.4
    head, _ = load_audio(tmp_path / "a.wav", start_s=0.0, duration_s=0.5)
    assert np.abs(head).max() == 0.0


def test_missing_file_error_names_file(tmp_path):
    with pytest.raises(AudioError, match=r"nope\.wav: file not found"):
        load_audio(tmp_path / "nope.wav")


def test_empty_and_garbage_files_named(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(AudioError, match=r"empty\.wav: file is empty"):
        load_audio(tmp_path / "empty.wav")
    (tmp_path / "jazz.00054.wav").write_bytes(b"NOTRIFF" * 200)
    with pytest.raises(AudioError, match=r"jazz\.00054\.wav: cannot decode"):
        load_audio(tmp_path / "jazz.00054.wav")


@pytest.mark.parametrize("subtype", ["PCM_16", "FLOAT"])
def test_truncated_wav_is_an_error_not_a_shorter_clip(tmp_path, sine, subtype):
    """libsndfile reads a WAV cut short as a shorter clip; the header's data size says otherwise."""
    path = tmp_path / "cut.wav"
    sf.write(path, sine(440, 2.0, 16000), 16000, subtype=subtype)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert sf.info(str(path)).frames < 32000  # what libsndfile alone reports: a shorter clip
    with pytest.raises(AudioError, match=r"cut\.wav: truncated: the WAV header declares 32000 frames"):
        audio_info(path)
    with pytest.raises(AudioError, match=r"cut\.wav: truncated"):
        load_audio(path)
    # an intact file (odd-sized chunks before data included) is read in full
    sf.write(path, sine(440, 2.0, 16000), 16000, subtype=subtype)
    assert audio_info(path).frames == 32000 and load_audio(path)[0].shape == (32000,)


@pytest.mark.parametrize("ext,subtype", [("flac", "PCM_16"), ("ogg", "VORBIS")])
def test_truncated_flac_and_ogg_are_named_as_truncated(tmp_path, sine, ext, subtype):
    path = tmp_path / f"cut.{ext}"
    rng = np.random.default_rng(0)
    sf.write(path, (0.5 * sine(440, 4.0, 16000) + 0.1 * rng.standard_normal(64000)).astype(np.float32), 16000,
             subtype=subtype)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(AudioError, match=rf"cut\.{ext}: .*truncated"):
        load_audio(path)


def test_header_only_wav_says_no_samples(tmp_path):
    sf.write(tmp_path / "none.wav", np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioError, match=r"none\.wav: contains no samples"):
        load_audio(tmp_path / "none.wav")


def test_nan_samples_rejected(tmp_path):
    x = np.zeros(1000, np.float32)
    x[10] = np.nan
    sf.write(tmp_path / "nan.wav", x, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"nan\.wav: contains 1 NaN/inf samples"):
        load_audio(tmp_path / "nan.wav")


def test_resample_matches_soxr_and_keeps_shape(sine):
    import soxr

    x = sine(1000.0, 1.0, 44100)
    y = resample(x, 44100, 24000)
    np.testing.assert_array_equal(y, soxr.resample(x, 44100, 24000, quality="HQ"))
    st = resample(np.stack([x, x]), 44100, 24000)
    assert st.shape == (2, 24000)
    np.testing.assert_allclose(st[0], y, atol=1e-6)
    assert to_mono(np.stack([x, -x])).max() == 0.0


def test_cut_windows_marble_rule():
    sr = 100
    x = np.arange(int(12.5 * sr), dtype=np.float32)
    wins = cut_windows(x, sr, 5.0)
    assert [len(w) for w in wins] == [500, 500, 250]
    assert wins[1][0] == 500
    # trailing 0.5 s window is dropped (< 1 s)
    assert [len(w) for w in cut_windows(x[: int(10.5 * sr)], sr, 5.0)] == [500, 500]
    # overlapping hop
    assert len(cut_windows(x[:1000], sr, 5.0, 2.5)) == 3
    assert cut_windows(x[:50], sr, 5.0) == []


def test_crop_pads_when_asked():
    x = np.ones(100, np.float32)
    assert crop(x, 100, 0.5, 1.0).shape == (50,)
    out = crop(x, 100, 0.5, 1.0, pad=True)
    assert out.shape == (100,) and out[60] == 0


def test_zmuv_normalisation_equals_hf_feature_extractor(sine):
    from transformers import Wav2Vec2FeatureExtractor

    x = sine(220.0, 0.5, 24000) + 0.1
    fe = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=24000, padding_value=0.0, do_normalize=True)
    ref = fe(x, sampling_rate=24000, return_tensors="np")["input_values"][0]
    np.testing.assert_allclose(normalize(x, "zmuv"), ref, atol=1e-6)
    peak = normalize(x, "peak")
    assert np.isclose(np.abs(peak).max(), 1.0)
    assert normalize(np.zeros(5, np.float32), "peak").max() == 0
    with pytest.raises(ValueError):
        normalize(x, "bogus")
