"""Layer statistics that reveal a collapsed representation (``mertbench models layer-stats``).

A pretrained encoder can look healthy by its training loss and still hand probes little: its
hidden states may no longer change from frame to frame (every frame of a clip maps to about the
same vector) or its clip-level features may vary along one direction only. These statistics
measure both, per layer, on a handful of clips:

* ``total_var``: the summed variance over every frame of every clip, ``sum_d Var(h[:, :, d])``.
* ``temporal_share``: the share of that variance which lies *within* clips,
  ``mean_clip sum_d Var_t(h[clip, :, d]) / total_var``; near 1 for random features, near 0 when
  every frame of a clip has the same state.
* ``clip_participation``: the participation ratio ``(sum lambda)^2 / sum lambda^2`` of the
  covariance of the clip means (the features clip-level probes see, MARBLE's mean pooling):
  1 when they vary along one direction only, up to ``min(clips - 1, D)``.

The figures are for comparing models or checkpoints of one run on the same clips; they do not
say which layer probes best.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from mertbench.audio import load_audio, normalize
from mertbench.errors import AudioError
from mertbench.models.contract import Encoder


@dataclass(frozen=True)
class LayerStats:
    """Statistics of one layer's hidden states over a set of clips (see the module docstring)."""

    layer: int
    total_var: float
    temporal_share: float
    clip_participation: float


def participation_ratio(x: np.ndarray) -> float:
    """``(sum lambda)^2 / sum lambda^2`` of the covariance of the rows of ``x [n, D]`` (0 if constant)."""
    x = np.asarray(x, dtype=np.float64)
    if x.shape[0] < 2:
        raise ValueError("participation_ratio needs at least two rows")
    centred = x - x.mean(0)
    # eigenvalues of the covariance = squared singular values / (n - 1); the ratio is scale-free
    s2 = np.linalg.svd(centred, compute_uv=False) ** 2
    denom = float((s2 ** 2).sum())
    return float(s2.sum() ** 2 / denom) if denom > 0 else 0.0


def stats_from_states(states: torch.Tensor) -> list[LayerStats]:
    """Statistics of ``states [L, B, T, D]`` (B clips of equal length, T >= 2 frames)."""
    if states.ndim != 4:
        raise ValueError(f"expected hidden states [L, B, T, D]; got shape {tuple(states.shape)}")
    if states.shape[1] < 2 or states.shape[2] < 2:
        raise ValueError(f"need at least 2 clips and 2 frames; got {states.shape[1]} clips of {states.shape[2]} frames")
    h = states.detach().to(torch.float64).cpu()
    out = []
    for i in range(h.shape[0]):
        x = h[i]  # [B, T, D]
        total = float(x.reshape(-1, x.shape[-1]).var(dim=0, unbiased=False).sum())
        within = float(x.var(dim=1, unbiased=False).sum(-1).mean())
        share = within / total if total > 0 else 0.0
        out.append(LayerStats(i, total, share, participation_ratio(x.mean(dim=1).numpy())))
    return out


def layer_stats(encoder: Encoder, files: Sequence[str | Path], *, seconds: float = 4.0, offset_s: float = 0.0,
                batch_size: int = 8) -> list[LayerStats]:
    """Load ``seconds`` of each file (from ``offset_s``), encode them, and return per-layer statistics.

    Files shorter than ``offset_s + seconds`` raise an :class:`~mertbench.errors.AudioError` naming
    the file (all clips must have one length so that frames compare across clips).
    """
    if len(files) < 2:
        raise AudioError(str(files[0]) if files else "(no files)",
                         f"layer statistics need at least two audio files; found {len(files)}")
    n = int(round(seconds * encoder.sample_rate))
    waves = []
    for f in files:
        wav, _ = load_audio(f, encoder.sample_rate, start_s=offset_s, duration_s=seconds)
        if wav.shape[0] < n:
            raise AudioError(f, f"only {wav.shape[0] / encoder.sample_rate:.2f} s from {offset_s:g} s; "
                                f"pass a shorter --seconds or drop this file")
        waves.append(normalize(wav[:n], encoder.normalize))  # type: ignore[arg-type]
    encoder.eval()
    chunks = []
    with torch.inference_mode():
        for i in range(0, len(waves), batch_size):
            batch = torch.from_numpy(np.stack(waves[i:i + batch_size]))
            chunks.append(encoder(batch).float())
    return stats_from_states(torch.cat(chunks, dim=1))
