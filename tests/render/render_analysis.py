"""Small signal-analysis helpers for the label-correctness tests (numpy only)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mertbench.render.generators.common import key_ranking


def spectrum(y: np.ndarray, sr: int, start_s: float, end_s: float, pad: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Magnitude spectrum (Hann window, zero-padded ``pad`` times) of ``y[start:end]``; (freqs, mags)."""
    seg = y[int(start_s * sr):int(end_s * sr)].astype(np.float64)
    n = len(seg) * pad
    mags = np.abs(np.fft.rfft(seg * np.hanning(len(seg)), n))
    return np.fft.rfftfreq(n, 1.0 / sr), mags


def lowest_partial_midi(y: np.ndarray, sr: int, start_s: float, end_s: float, rel: float = 0.1,
                        fmin: float = 25.0) -> float:
    """Fractional MIDI number of the lowest spectral peak at least ``rel`` times the strongest.

    For a harmonic tone this is the fundamental (or the lowest partial that really sounds, so a
    preset sounding an octave below its key shows as -12).
    """
    freqs, mags = spectrum(y, sr, start_s, end_s)
    keep = freqs >= fmin
    freqs, mags = freqs[keep], mags[keep]
    thr = rel * mags.max()
    for i in range(1, len(mags) - 1):
        if mags[i] >= thr and mags[i] >= mags[i - 1] and mags[i] >= mags[i + 1]:
            # parabolic interpolation of the peak position
            a, b, c = np.log(mags[i - 1] + 1e-12), np.log(mags[i] + 1e-12), np.log(mags[i + 1] + 1e-12)
            shift = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) != 0 else 0.0
            f = freqs[i] + shift * (freqs[1] - freqs[0])
            return float(12 * np.log2(f / 440.0) + 69)
    return float("nan")


def chroma(y: np.ndarray, sr: int, fmin: float = 60.0, fmax: float = 2000.0) -> np.ndarray:
    """Pitch-class energy profile ``[12]`` (index 0 = C) from the power spectrum of the whole clip."""
    win = 4096
    hop = 2048
    frames = [y[i:i + win] for i in range(0, len(y) - win, hop)]
    power = np.zeros(win // 2 + 1)
    for fr in frames:
        power += np.abs(np.fft.rfft(fr * np.hanning(win))) ** 2
    freqs = np.fft.rfftfreq(win, 1.0 / sr)
    keep = (freqs >= fmin) & (freqs <= fmax)
    pcs = np.round(12 * np.log2(freqs[keep] / 440.0) + 69).astype(int) % 12
    out = np.zeros(12)
    np.add.at(out, pcs, np.sqrt(power[keep]))
    return out


def audio_key(y: np.ndarray, sr: int) -> tuple[int, str]:
    """Krumhansl-Kessler key of the audio chroma."""
    return key_ranking(chroma(y, sr))[0]


def onset_times(y: np.ndarray, sr: int, hop: int = 240) -> np.ndarray:
    """Onset times (s): peaks of half-wave-rectified spectral flux above an adaptive threshold."""
    win = 1024
    n = 1 + max(0, (len(y) - win) // hop)
    frames = np.stack([y[i * hop:i * hop + win] * np.hanning(win) for i in range(n)])
    mag = np.log1p(100 * np.abs(np.fft.rfft(frames, axis=1)))
    flux = np.maximum(mag[1:] - mag[:-1], 0).sum(axis=1)
    flux = np.concatenate([[0.0], flux])
    k = 10
    thr = np.array([np.median(flux[max(0, i - k):i + k + 1]) for i in range(n)]) + 0.1 * flux.max()
    peaks = [i for i in range(1, n - 1) if flux[i] > thr[i] and flux[i] >= flux[i - 1] and flux[i] >= flux[i + 1]]
    return (np.array(peaks) * hop + win / 2) / sr


def read_rows(root: Path, task: str, split: str) -> list[dict]:
    """Rows of ``<root>/<task>/<split>.jsonl``."""
    path = root / task / f"{split}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
