"""How one example's audio becomes encoder inputs: decode, crop, resample, normalise, window.

The order follows MARBLE v1 (``marble_tasks.md`` §1.2): the excerpt is cropped at the file's native
sample rate (``Example.start_s`` / ``end_s`` and the spec's ``audio.crop_s``), resampled to the
encoder's rate, normalised **as a whole** (``zmuv`` / ``peak`` / none) and only then cut into
non-overlapping windows (the last window kept when at least ``min_window_s`` long).

Frame-level tasks (beat, separation) use the same windows as *chunks*: each window runs through the
encoder on its own and the frames of consecutive windows are concatenated, so a long track never has
to fit the encoder in one pass (``window_s: null`` = the whole track in one pass).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from mertbench.audio import cut_windows, load_audio, normalize, resample
from mertbench.tasks.data import Example
from mertbench.tasks.spec import TaskSpec

FeatureLevel = Literal["clip", "frame"]


@dataclass(frozen=True)
class Windowing:
    """Everything about audio preparation that changes the features (part of the cache key).

    Attributes:
        level: ``"clip"`` (one time-mean vector per window) or ``"frame"`` (every frame kept).
        decode_rate: rate (Hz) the audio is decoded/resampled to first (the spec's
            ``audio.sample_rate``, or the encoder's rate).
        encoder_rate: rate (Hz) the encoder expects; audio is resampled again if it differs.
        crop_s: keep only the first ``crop_s`` seconds of the excerpt (None: all of it).
        window_s / hop_s: window length and hop in seconds (None: the whole excerpt at once).
        min_window_s: a trailing window shorter than this is dropped.
        normalize: ``"zmuv"``, ``"peak"`` or None, applied to the whole excerpt before windowing.
    """

    level: FeatureLevel
    decode_rate: int
    encoder_rate: int
    crop_s: float | None
    window_s: float | None
    hop_s: float | None
    min_window_s: float
    normalize: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def windowing_for(spec: TaskSpec, encoder_rate: int, encoder_normalize: str | None,
                  level: FeatureLevel, normalize_override: str | None = None) -> Windowing:
    """The windowing of ``spec`` for an encoder running at ``encoder_rate`` Hz.

    ``spec.audio.normalize == "model"`` follows the encoder's own ``normalize`` attribute;
    ``normalize_override`` (``"zmuv"|"peak"|"none"``) replaces both.
    """
    mode = normalize_override or spec.audio.normalize
    norm = encoder_normalize if mode == "model" else (None if mode == "none" else mode)
    if norm not in (None, "zmuv", "peak"):
        raise ValueError(f"unknown normalisation {norm!r}; use 'zmuv', 'peak' or 'none'")
    return Windowing(
        level=level,
        decode_rate=int(spec.audio.sample_rate or encoder_rate),
        encoder_rate=int(encoder_rate),
        crop_s=spec.audio.crop_s,
        window_s=spec.audio.window_s,
        hop_s=spec.audio.hop_s,
        min_window_s=float(spec.audio.min_window_s),
        normalize=norm,
    )


def load_excerpt(example: Example, w: Windowing) -> np.ndarray:
    """Decode ``example``'s excerpt: mono float32 ``[N]`` at ``w.encoder_rate``, normalised.

    Raises:
        mertbench.errors.AudioError: the file is missing, unreadable, truncated or empty.
    """
    duration = example.duration_s
    if w.crop_s is not None:
        duration = w.crop_s if duration is None else min(duration, w.crop_s)
    audio, sr = load_audio(example.path, w.decode_rate, start_s=example.start_s, duration_s=duration)
    if sr != w.encoder_rate:
        audio = resample(audio, sr, w.encoder_rate)
    return normalize(audio, w.normalize)


def split_windows(audio: np.ndarray, w: Windowing) -> list[np.ndarray]:
    """Cut a prepared excerpt into the encoder inputs (list of ``[n_i]`` arrays; may be empty)."""
    if w.window_s is None:
        return [audio] if audio.size else []
    return cut_windows(audio, w.encoder_rate, w.window_s, w.hop_s, min_window_s=w.min_window_s)


def prepare_example(example: Example, w: Windowing) -> list[np.ndarray]:
    """:func:`load_excerpt` then :func:`split_windows`."""
    return split_windows(load_excerpt(example, w), w)
