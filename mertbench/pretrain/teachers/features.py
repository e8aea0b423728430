"""Frame features for the k-means teachers, all at MERT's 75 Hz frame rate (hop 320 at 24 kHz).

* :func:`mfcc_deltas`: 13 MFCCs + deltas + delta-deltas (39 dims), Kaldi-like settings as in
  HuBERT's ``simple_kmeans`` recipe (25 ms Hamming window, 23 mel bands from 20 Hz, log energies,
  orthonormal DCT-II, cepstral liftering 22, regression deltas over +-2 frames). The recipe uses
  Kaldi's 10 ms shift at 16 kHz; here the shift is MERT's 320 samples (13.3 ms). Values are close
  to, not bit-identical with, Kaldi's (no dithering, no pre-emphasis).
* :func:`log_mel`: 128-band log-mel power spectrogram (2048-point window).
* :func:`chroma_from_cqt`: 12-bin chroma folded from the 336-bin quarter-tone CQT (the same CQT
  MERT reconstructs), each frame scaled to a maximum of 1 (silent frames stay 0).

All functions take a mono float32 waveform ``[N]`` (torch) at 24 kHz and return
``[T, D]`` float32 numpy arrays with ``T = N // 320 + 1`` (centred frames, zero padding), the same
frame grid as nnAudio's CQT.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from mertbench.constants import HOP, SAMPLE_RATE


def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    """HTK mel scale: ``2595 log10(1 + f / 700)``."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(n_fft: int, n_mels: int, fmin: float, fmax: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Triangular HTK-mel filters ``[n_mels, n_fft // 2 + 1]`` (peak 1, no area normalisation)."""
    freqs = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    fb = np.zeros((n_mels, freqs.size), dtype=np.float64)
    for m in range(n_mels):
        lo, mid, hi = edges[m], edges[m + 1], edges[m + 2]
        up = (freqs - lo) / max(mid - lo, 1e-9)
        down = (hi - freqs) / max(hi - mid, 1e-9)
        fb[m] = np.clip(np.minimum(up, down), 0.0, None)
    return fb.astype(np.float32)


def power_spectrogram(wav: torch.Tensor, n_fft: int, win_length: int, window: str = "hann") -> torch.Tensor:
    """``|STFT|^2`` ``[n_fft // 2 + 1, T]`` with hop 320, centred frames and zero padding."""
    win = torch.hann_window(win_length) if window == "hann" else torch.hamming_window(win_length, periodic=False)
    spec = torch.stft(wav.float(), n_fft=n_fft, hop_length=HOP, win_length=win_length, window=win,
                      center=True, pad_mode="constant", return_complex=True)
    return spec.abs().pow(2)


def log_mel(wav: torch.Tensor, n_mels: int = 128, n_fft: int = 2048) -> np.ndarray:
    """Log-mel power ``[T, n_mels]``: ``log(mel + 1e-6)``, 2048-point Hann window, 0-12 kHz."""
    power = power_spectrogram(wav, n_fft, n_fft)
    fb = torch.from_numpy(mel_filterbank(n_fft, n_mels, 0.0, SAMPLE_RATE / 2.0))
    return torch.log(fb @ power + 1e-6).T.contiguous().numpy()


def _deltas(x: np.ndarray, window: int = 2) -> np.ndarray:
    """Regression deltas over +-``window`` frames (edges replicated), Kaldi ``compute-deltas`` style."""
    pad = np.pad(x, ((window, window), (0, 0)), mode="edge")
    denom = 2.0 * sum(n * n for n in range(1, window + 1))
    out = np.zeros_like(x)
    t = x.shape[0]
    for n in range(1, window + 1):
        out += n * (pad[window + n: window + n + t] - pad[window - n: window - n + t])
    return out / denom


def mfcc_deltas(wav: torch.Tensor, n_mfcc: int = 13, n_mels: int = 23, lifter: float = 22.0) -> np.ndarray:
    """MFCC + delta + delta-delta ``[T, 3 * n_mfcc]`` (39 dims by default)."""
    win = int(round(0.025 * SAMPLE_RATE))  # 25 ms = 600 samples
    n_fft = 1024
    power = power_spectrogram(wav, n_fft, win, window="hamming")
    fb = torch.from_numpy(mel_filterbank(n_fft, n_mels, 20.0, SAMPLE_RATE / 2.0))
    logmel = torch.log(torch.clamp(fb @ power, min=1.1920929e-07)).T.numpy().astype(np.float64)  # [T, n_mels]
    # orthonormal DCT-II
    k = np.arange(n_mfcc)[:, None]
    n = np.arange(n_mels)[None, :]
    dct = np.cos(math.pi / n_mels * (n + 0.5) * k) * math.sqrt(2.0 / n_mels)
    dct[0] /= math.sqrt(2.0)
    ceps = logmel @ dct.T
    lift = 1.0 + (lifter / 2.0) * np.sin(math.pi * np.arange(n_mfcc) / lifter)
    ceps = ceps * lift
    d1 = _deltas(ceps)
    d2 = _deltas(d1)
    return np.concatenate([ceps, d1, d2], axis=1).astype(np.float32)


def chroma_fold_matrix(n_bins: int = 336, bins_per_octave: int = 48) -> np.ndarray:
    """``[n_bins, 12]`` weights mapping CQT bins (from C at bin 0) to pitch classes.

    A bin within 25 cents of a semitone counts fully for it; a bin exactly between two semitones
    (50 cents) counts half for each.
    """
    per = bins_per_octave / 12.0
    w = np.zeros((n_bins, 12), dtype=np.float32)
    for b in range(n_bins):
        semis = b / per
        low = math.floor(semis)
        frac = semis - low
        if abs(frac - 0.5) < 1e-9:
            w[b, low % 12] += 0.5
            w[b, (low + 1) % 12] += 0.5
        else:
            w[b, int(round(semis)) % 12] = 1.0
    return w


def chroma_from_cqt(cqt: np.ndarray | torch.Tensor, bins_per_octave: int = 48) -> np.ndarray:
    """Chroma ``[T, 12]`` from a magnitude CQT ``[T, n_bins]`` whose bin 0 is a C (fmin 32.7 Hz)."""
    c = cqt.numpy() if isinstance(cqt, torch.Tensor) else np.asarray(cqt)
    chroma = c.astype(np.float32) @ chroma_fold_matrix(c.shape[1], bins_per_octave)
    peak = chroma.max(axis=1, keepdims=True)
    return np.where(peak > 1e-8, chroma / np.maximum(peak, 1e-8), 0.0).astype(np.float32)
