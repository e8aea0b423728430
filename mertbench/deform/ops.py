"""The audio operations behind each deformation kind.

Everything that is not trivial comes from a library: pedalboard (codecs, reverb, Rubber Band time
stretch and pitch shift) and scipy (Butterworth filters). Gain and additive noise at an exact SNR
are computed here, so that the SNR is exact. Arrays are ``[N]`` (mono) or ``[C, N]``, float; the
output has the input's layout and is float32 (the identity returns the input unchanged).
"""
from __future__ import annotations

import io
from typing import Any

import numpy as np

from mertbench.deform.errors import DeformationError, DeformationInvalid

#: Bump a kind's number when its code here changes its output (it is part of every hash).
IMPLEMENTATION: dict[str, int] = {
    "identity": 1, "gain": 1, "noise": 1, "stem_noise": 1, "filter": 1, "codec": 1, "reverb": 1,
    "time_stretch": 1, "pitch_shift": 1,
}

#: The libraries whose version changes a kind's output (recorded in provenance and hashed).
LIBRARIES: dict[str, tuple[str, ...]] = {
    "identity": (), "gain": ("numpy",), "noise": ("numpy",), "stem_noise": ("numpy",), "filter": ("scipy",),
    "codec": ("pedalboard",), "reverb": ("pedalboard",), "time_stretch": ("pedalboard",),
    "pitch_shift": ("pedalboard",),
}

#: LAME's encoder delay (576) plus the decoder's (529), in samples at any rate: pedalboard's MP3
#: reader does not drop them, so the decoded audio is trimmed by this much to stay aligned.
MP3_DELAY_SAMPLES = 1105


def library_versions(kind: str) -> dict[str, str]:
    """``{library: version}`` of what ``kind`` runs on."""
    out = {}
    for name in LIBRARIES[kind]:
        module = __import__(name)
        out[name] = str(module.__version__)
    return out


def as_2d(x: np.ndarray) -> tuple[np.ndarray, bool]:
    """``[C, N]`` view of ``x`` and whether it was mono ``[N]``."""
    x = np.asarray(x)
    if x.ndim == 1:
        return x[None, :], True
    if x.ndim == 2:
        return x, False
    raise DeformationError(f"audio must be [N] or [C, N], got shape {x.shape}")


def _back(y: np.ndarray, mono: bool) -> np.ndarray:
    y = np.ascontiguousarray(y, dtype=np.float32)
    return y[0] if mono else y


def gain(x: np.ndarray, gain_db: float) -> np.ndarray:
    if gain_db == 0:
        return np.asarray(x).copy()
    factor = 10.0 ** (gain_db / 20.0)
    return (np.asarray(x, dtype=np.float64) * factor).astype(np.float32)


def power(x: np.ndarray) -> float:
    """Mean square over every sample and channel (float64)."""
    return float(np.mean(np.square(np.asarray(x, dtype=np.float64))))


def colored_noise(rng: np.random.Generator, shape: tuple[int, ...], color: str) -> np.ndarray:
    """White (flat) or pink (1/f power) Gaussian noise, float64, any scale."""
    white = rng.standard_normal(shape)
    if color == "white":
        return white
    if color != "pink":
        raise DeformationError(f"unknown noise color {color!r}")
    n = shape[-1]
    spec = np.fft.rfft(white, axis=-1)
    f = np.fft.rfftfreq(n)
    scale = np.zeros_like(f)
    scale[1:] = 1.0 / np.sqrt(f[1:])  # amplitude 1/sqrt(f): power 1/f; no DC
    return np.fft.irfft(spec * scale, n=n, axis=-1)


def mix_at_snr(x: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``x + a * noise`` with ``a`` such that ``10 log10(P(x) / P(a noise)) == snr_db`` exactly
    (powers over the whole clip, all channels; computed in float64)."""
    x64 = np.asarray(x, dtype=np.float64)
    ps, pn = power(x64), power(noise)
    if ps == 0:
        raise DeformationInvalid("the clip is silent: a signal-to-noise ratio is undefined")
    if pn == 0:
        raise DeformationInvalid("the noise source is silent: it cannot be mixed at an SNR")
    a = np.sqrt(ps / (pn * 10.0 ** (snr_db / 10.0)))
    return (x64 + a * noise).astype(np.float32)


def add_noise(x: np.ndarray, rng: np.random.Generator, color: str, snr_db: float) -> np.ndarray:
    x = np.asarray(x)
    return mix_at_snr(x, colored_noise(rng, x.shape, color), snr_db)


def fit_noise_source(x: np.ndarray, noise: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Cut (at a seeded random offset) or tile ``noise`` to ``x``'s length; match its channels."""
    x2, mono = as_2d(x)
    n2, _ = as_2d(np.asarray(noise, dtype=np.float64))
    if n2.shape[0] != x2.shape[0]:
        n2 = n2.mean(axis=0, keepdims=True)
        if x2.shape[0] > 1:
            n2 = np.repeat(n2, x2.shape[0], axis=0)
    n, m = x2.shape[1], n2.shape[1]
    if m == 0:
        raise DeformationInvalid("the noise source is empty")
    if m >= n:
        start = int(rng.integers(0, m - n + 1))
        n2 = n2[:, start:start + n]
    else:
        n2 = np.tile(n2, (1, -(-n // m)))[:, :n]
    return n2[0] if mono else n2


def butter_filter(x: np.ndarray, sample_rate: int, params: Any) -> np.ndarray:
    from scipy.signal import butter, sosfiltfilt

    nyquist = sample_rate / 2
    corners = [params.low_hz, params.high_hz] if params.type == "bandpass" else [params.cutoff_hz]
    if max(corners) >= nyquist:
        raise DeformationError(f"{params.type} corner {max(corners)} Hz is not below the Nyquist frequency "
                               f"({nyquist} Hz at {sample_rate} Hz)")
    sos = butter(params.order, corners if params.type == "bandpass" else corners[0], btype=params.type,
                 fs=sample_rate, output="sos")
    x2, mono = as_2d(x)
    x64 = x2.astype(np.float64)
    padlen = min(3 * (2 * len(sos) + 1), x64.shape[1] - 1)
    return _back(sosfiltfilt(sos, x64, axis=-1, padlen=max(padlen, 0)), mono)


def codec_roundtrip(x: np.ndarray, sample_rate: int, fmt: str, bitrate_kbps: int) -> np.ndarray:
    """Encode to ``fmt`` in memory with pedalboard and decode again, aligned and of the same length."""
    from pedalboard.io import AudioFile

    x2, mono = as_2d(x)
    x32 = np.ascontiguousarray(x2, dtype=np.float32)
    n = x32.shape[1]
    buf = io.BytesIO()
    try:
        with AudioFile(buf, "w", samplerate=sample_rate, num_channels=x32.shape[0], format=fmt,
                       quality=f"{bitrate_kbps} kbps") as f:
            f.write(x32)
        data = buf.getvalue()
        with AudioFile(io.BytesIO(data)) as f:
            y = f.read(f.frames)
    except Exception as exc:  # pedalboard raises ValueError/RuntimeError for rates/bit rates a codec lacks
        raise DeformationError(f"{fmt} at {bitrate_kbps} kbps, {sample_rate} Hz: {exc}") from exc
    offset = MP3_DELAY_SAMPLES if fmt == "mp3" else 0
    y = y[:, offset:offset + n]
    if y.shape[1] < n:
        y = np.pad(y, ((0, 0), (0, n - y.shape[1])))
    return _back(y, mono)


def reverb(x: np.ndarray, sample_rate: int, params: Any) -> np.ndarray:
    import pedalboard

    x2, mono = as_2d(x)
    plugin = pedalboard.Reverb(room_size=params.room_size, damping=params.damping, wet_level=params.wet_level,
                               dry_level=params.dry_level, width=params.width)
    return _back(plugin(np.ascontiguousarray(x2, dtype=np.float32), sample_rate), mono)


def stretch(x: np.ndarray, sample_rate: int, rate: float = 1.0, semitones: float = 0.0,
            use_long_fft_window: bool = False) -> np.ndarray:
    """Rubber Band (through pedalboard): tempo x ``rate`` (length x 1/rate), pitch + ``semitones``."""
    import pedalboard

    x2, mono = as_2d(x)
    y = pedalboard.time_stretch(np.ascontiguousarray(x2, dtype=np.float32), float(sample_rate),
                                stretch_factor=float(rate), pitch_shift_in_semitones=float(semitones),
                                use_long_fft_window=use_long_fft_window)
    if rate == 1.0 and y.shape[1] != x2.shape[1]:  # a pure pitch shift keeps the length
        n = x2.shape[1]
        y = y[:, :n] if y.shape[1] > n else np.pad(y, ((0, 0), (0, n - y.shape[1])))
    return _back(y, mono)
