"""In-batch noise mixture (MERT's ``inbatch_noise_augment``).

For each clip of a (micro-)batch, with probability ``prob``, ``n ~ UniformInt[1, 3]`` segments of
``UniformInt[lo, hi]`` samples (0.5-1.0 s for 95M, 0.5-1.5 s for 330M at 24 kHz) are cut from the
*other* clips of the same batch (a clean copy, concatenated into one pool) at a uniform position
and added at a uniform position of the clip at unit gain (no SNR control, no clipping; segments
may overlap). Targets are never computed from the mixed audio: callers keep the clean batch.

Semantics note: MERT's code mixes when ``rand() > mixture_prob``, i.e. with probability
``1 - mixture_prob`` (0.5 in its configs, so the two readings agree there). Here ``prob`` is the
probability *of mixing*: MERT's setting ``mixture_prob: q`` corresponds to ``prob = 1 - q``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class MixtureStats:
    """What one call did: clips mixed and segments added."""

    clips: int = 0
    mixed: int = 0
    segments: int = 0


def inbatch_noise_mixture(
    wav: np.ndarray,
    rng: np.random.Generator,
    *,
    prob: float = 0.5,
    num_segments: tuple[int, int] = (1, 3),
    segment_samples: tuple[int, int] = (12000, 24000),
    volume: float = 1.0,
    lengths: np.ndarray | None = None,
) -> tuple[np.ndarray, MixtureStats]:
    """Return a mixed copy of ``wav`` ``[B, N]`` (float32) and what was done.

    Args:
        wav: clean batch ``[B, N]``; it is not modified.
        rng: random generator (one draw sequence per call; deterministic given its state).
        prob: probability that a clip receives noise segments.
        num_segments: inclusive range of the number of segments per mixed clip.
        segment_samples: inclusive range of a segment's length in samples.
        volume: gain applied to the segments (MERT: 1.0).
        lengths: optional ``[B]`` valid lengths (right padding); noise is cut from and added
            within valid samples only.
    """
    bsz, n = wav.shape
    out = wav.astype(np.float32, copy=True)
    stats = MixtureStats(clips=bsz)
    if bsz < 2 or prob <= 0:
        return out, stats  # no other clip to take noise from (MERT keeps the clean clip)
    lens = np.full(bsz, n, dtype=np.int64) if lengths is None else np.asarray(lengths, dtype=np.int64)
    lo_n, hi_n = num_segments
    lo_s, hi_s = segment_samples
    for i in range(bsz):
        if rng.random() >= prob:
            continue
        pool = np.concatenate([wav[j, : lens[j]] for j in range(bsz) if j != i])
        if pool.size == 0 or lens[i] == 0:
            continue
        stats.mixed += 1
        for _ in range(int(rng.integers(lo_n, hi_n + 1))):
            seg_len = int(min(rng.integers(lo_s, hi_s + 1), pool.size, lens[i]))
            src = int(rng.integers(0, pool.size - seg_len + 1))
            dst = int(rng.integers(0, lens[i] - seg_len + 1))
            out[i, dst:dst + seg_len] += volume * pool[src:src + seg_len]
            stats.segments += 1
    return out, stats
