"""Audio I/O: decode, mix down, resample, crop, window and normalise.

Decoding goes through soundfile (libsndfile >= 1.1: wav, flac, ogg/vorbis, mp3); resampling
through soxr (``HQ`` quality). Arrays are float32. A mono signal has shape ``[N]`` (samples);
a multichannel one ``[C, N]`` (channels first). Sample rates are in Hz, times in seconds.

Every problem with a file (missing, unreadable, truncated, empty, NaN/inf samples) raises
:class:`~mertbench.errors.AudioError`, whose message names the file and the problem.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from mertbench.errors import AudioError

NormalizeMode = Literal["peak", "zmuv"] | None

#: Extensions that :func:`load_audio` decodes (lower case, with dot).
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")

# MP3 frame counts in the header are estimates; allow this much shortfall before calling a file
# truncated (two MPEG-1 layer III frames).
_MP3_SLACK_FRAMES = 2 * 1152


@dataclass(frozen=True)
class AudioInfo:
    """What the header of an audio file says."""

    path: str
    sample_rate: int
    channels: int
    frames: int
    format: str

    @property
    def duration_s(self) -> float:
        """Duration in seconds."""
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise AudioError(path, "file not found")
    if path.is_dir():
        raise AudioError(path, "is a directory, expected an audio file")
    if path.stat().st_size == 0:
        raise AudioError(path, "file is empty (0 bytes)")


def _riff_truncation(path: Path) -> str | None:
    """Why a RIFF/WAVE file is truncated, or None.

    libsndfile reads a WAV whose ``data`` chunk is cut short as a shorter clip, without a word;
    this compares the chunk size the header declares with the bytes present. Streaming headers
    (size 0 or 0xFFFFFFFF) and RF64 files are not checked.
    """
    import struct

    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        pos, block_align = 12, 0
        while pos + 8 <= size:
            f.seek(pos)
            chunk = f.read(8)
            if len(chunk) < 8:
                return None
            cid, csize = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if cid == b"fmt ":
                fmt = f.read(min(csize, 16))
                if len(fmt) >= 14:
                    block_align = struct.unpack("<H", fmt[12:14])[0]
            elif cid == b"data":
                if csize in (0, 0xFFFFFFFF):
                    return None
                present = size - (pos + 8)
                if present < csize:
                    if block_align:
                        return (f"truncated: the WAV header declares {csize // block_align} frames, the file holds "
                                f"{present // block_align}; re-download or re-encode the file")
                    return (f"truncated: the WAV header declares {csize} data bytes, the file holds {present}; "
                            "re-download or re-encode the file")
                return None
            pos += 8 + csize + (csize & 1)
    return None


def audio_info(path: str | os.PathLike) -> AudioInfo:
    """Read the header of ``path`` without decoding the samples.

    Raises:
        AudioError: missing, empty, not audio, a WAV cut short (its header declares more samples
            than the file holds), or a file in which no sample can be found (e.g. a truncated OGG).
    """
    import soundfile as sf

    path = Path(path)
    _check_exists(path)
    try:
        info = sf.info(str(path))
    except Exception as exc:  # libsndfile raises several types
        raise AudioError(path, f"cannot decode ({type(exc).__name__}: {exc}); "
                         "check the file is a valid wav/flac/ogg/mp3") from exc
    if info.format.upper() == "WAV":
        why = _riff_truncation(path)
        if why:
            raise AudioError(path, why)
    if int(info.frames) <= 0 and info.format.upper() == "WAV":
        raise AudioError(path, "contains no samples (its header declares 0 frames)")
    if int(info.frames) <= 0:
        raise AudioError(path, f"no samples can be decoded from its {path.stat().st_size} bytes ({info.format}); "
                         "the file is truncated or damaged: re-download or re-encode it")
    return AudioInfo(str(path), int(info.samplerate), int(info.channels), int(info.frames), info.format)


def to_mono(x: np.ndarray) -> np.ndarray:
    """Average channels: ``[C, N] -> [N]``; a 1-D input is returned unchanged."""
    return x if x.ndim == 1 else x.mean(axis=0).astype(np.float32, copy=False)


def resample(x: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample ``[N]`` or ``[C, N]`` from ``orig_sr`` to ``target_sr`` Hz with soxr (HQ)."""
    import soxr

    if orig_sr == target_sr:
        return x.astype(np.float32, copy=False)
    if orig_sr <= 0 or target_sr <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_sr} -> {target_sr}")
    if x.ndim == 1:
        return soxr.resample(x.astype(np.float32, copy=False), orig_sr, target_sr, quality="HQ")
    # soxr wants [N, C]
    y = soxr.resample(np.ascontiguousarray(x.T, dtype=np.float32), orig_sr, target_sr, quality="HQ")
    return np.ascontiguousarray(y.T)


def load_audio(
    path: str | os.PathLike,
    sample_rate: int | None = None,
    *,
    mono: bool = True,
    start_s: float = 0.0,
    duration_s: float | None = None,
    allow_short: bool = True,
) -> tuple[np.ndarray, int]:
    """Decode ``path`` and return ``(audio, sample_rate)``.

    Args:
        path: wav, flac, ogg or mp3 file.
        sample_rate: resample to this rate (Hz); ``None`` keeps the native rate.
        mono: average the channels (``[N]``); else keep them (``[C, N]``).
        start_s: start of the excerpt in seconds (cropping happens at the native rate,
            before resampling, as MARBLE does).
        duration_s: length of the excerpt in seconds; ``None`` reads to the end.
        allow_short: if False, raise when the file ends before ``start_s + duration_s``.

    Raises:
        AudioError: the file is missing, unreadable, truncated, empty or holds NaN/inf.
    """
    import soundfile as sf

    path = Path(path)
    info = audio_info(path)
    sr = info.sample_rate
    if info.frames <= 0:
        raise AudioError(path, "contains no samples")
    start = int(round(start_s * sr))
    if start < 0:
        raise ValueError(f"start_s must be >= 0, got {start_s}")
    if start >= info.frames:
        raise AudioError(path, f"start {start_s:.3f} s is past the end of the file ({info.duration_s:.3f} s)")
    frames = -1 if duration_s is None else int(round(duration_s * sr))
    try:
        data, _ = sf.read(str(path), start=start, frames=frames, dtype="float32", always_2d=True)
    except Exception as exc:
        raise AudioError(path, f"cannot decode ({type(exc).__name__}: {exc}): the header reads but the samples "
                         "do not, so the file is truncated or damaged; re-download or re-encode it") from exc
    expected = (info.frames - start) if frames < 0 else min(frames, info.frames - start)
    slack = _MP3_SLACK_FRAMES if info.format.upper() == "MP3" else 0
    if data.shape[0] + slack < expected:
        raise AudioError(
            path, f"truncated: header promises {expected} frames from {start_s:.3f} s, "
            f"only {data.shape[0]} could be decoded; re-download or re-encode the file"
        )
    if data.shape[0] == 0:
        raise AudioError(path, "contains no samples")
    if frames > 0 and not allow_short and data.shape[0] < frames:
        raise AudioError(path, f"shorter than the requested {duration_s:.3f} s from {start_s:.3f} s")
    if not np.isfinite(data).all():
        bad = int((~np.isfinite(data)).sum())
        raise AudioError(path, f"contains {bad} NaN/inf samples")
    audio = data.T  # [C, N]
    audio = to_mono(audio) if mono else np.ascontiguousarray(audio)
    if sample_rate is not None and sample_rate != sr:
        audio = resample(audio, sr, sample_rate)
        sr = sample_rate
    return audio.astype(np.float32, copy=False), sr


def crop(x: np.ndarray, sample_rate: int, start_s: float, duration_s: float, *, pad: bool = False) -> np.ndarray:
    """Cut ``duration_s`` seconds from ``start_s`` along the last axis; zero-pad if ``pad``."""
    start = int(round(start_s * sample_rate))
    n = int(round(duration_s * sample_rate))
    out = x[..., start:start + n]
    if pad and out.shape[-1] < n:
        width = [(0, 0)] * (out.ndim - 1) + [(0, n - out.shape[-1])]
        out = np.pad(out, width)
    return out


def cut_windows(
    x: np.ndarray,
    sample_rate: int,
    window_s: float,
    hop_s: float | None = None,
    *,
    min_window_s: float = 1.0,
) -> list[np.ndarray]:
    """Cut ``x`` (``[N]`` or ``[C, N]``) into windows of ``window_s`` seconds every ``hop_s`` seconds.

    The last window is kept even when shorter than ``window_s``, unless it is shorter than
    ``min_window_s`` (MARBLE's rule: non-overlapping windows, last one kept if >= 1 s). A signal
    shorter than one window gives a single window (if >= ``min_window_s``, else none).
    """
    win = int(round(window_s * sample_rate))
    hop = win if hop_s is None else int(round(hop_s * sample_rate))
    if win <= 0 or hop <= 0:
        raise ValueError(f"window and hop must be positive, got {window_s} s / {hop_s} s")
    min_len = int(round(min_window_s * sample_rate))
    n = x.shape[-1]
    out: list[np.ndarray] = []
    start = 0
    while start < n:
        seg = x[..., start:start + win]
        if seg.shape[-1] >= min_len:
            out.append(seg)
        if start + win >= n:
            break
        start += hop
    return out


def normalize(x: np.ndarray, mode: NormalizeMode) -> np.ndarray:
    """Normalise a waveform.

    ``"peak"``: divide by the maximum absolute value (silence is returned unchanged).
    ``"zmuv"``: zero mean, unit variance per signal, exactly as HF ``Wav2Vec2FeatureExtractor``
    with ``do_normalize=True``: ``(x - mean) / sqrt(var + 1e-7)``.
    ``None``: unchanged.
    """
    if mode is None:
        return x
    if mode == "peak":
        peak = float(np.abs(x).max()) if x.size else 0.0
        return x if peak == 0.0 else (x / peak).astype(np.float32, copy=False)
    if mode == "zmuv":
        x64 = x.astype(np.float32)
        return ((x64 - x64.mean()) / np.sqrt(x64.var() + 1e-7)).astype(np.float32)
    raise ValueError(f"unknown normalisation {mode!r}; use 'peak', 'zmuv' or None")


def find_audio_files(root: str | os.PathLike) -> list[Path]:
    """All files under ``root`` (recursive) whose extension is in :data:`AUDIO_EXTENSIONS`, sorted."""
    root = Path(root)
    if not root.is_dir():
        raise AudioError(root, "audio folder not found")
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file()
                  and not p.name.startswith("."))
