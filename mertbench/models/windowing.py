"""Run an encoder over inputs longer than its context in overlapping windows, then stitch frames.

The stitching rule (used by the MERT and transformers wrappers):

* Work on the output frame grid: frame ``t`` covers samples ``[t*stride, t*stride + receptive_field)``.
  The whole input has ``T = num_frames(N)`` frames.
* Windows are ``Wf = floor(window_s * frame_rate)`` frames long (``(Wf-1)*stride + receptive_field``
  samples) and start every ``Wf - Of`` frames, ``Of = round(overlap_s * frame_rate)``; the last
  window is moved back so that it ends at frame ``T`` (it is never shorter than the others).
* Two consecutive windows overlap on frames ``[s_next, e_prev)``; frames before the midpoint
  ``(s_next + e_prev) // 2`` are taken from the earlier window, the rest from the later one. Each
  output frame therefore comes from exactly one window, in which it has at least ``Of // 2``
  frames of context on both sides (except at the ends of the input).
* The result has exactly ``T`` frames, aligned with the unwindowed output; for models with a purely
  local receptive field (convolutions) it equals the unwindowed output exactly.

Batches with per-item ``lengths`` are windowed on the padded batch; each window receives each
item's valid length inside the window, and frames past an item's own ``num_frames(length)`` are
zero.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor


def window_plan(total_frames: int, window_frames: int, overlap_frames: int) -> list[tuple[int, int, int, int]]:
    """Windows as ``(start, end, own_start, own_end)`` frame indices (ends exclusive).

    ``own_*`` is the range of output frames taken from that window; the ranges partition
    ``[0, total_frames)``.
    """
    if window_frames <= 0:
        raise ValueError("window_frames must be positive")
    if not 0 <= overlap_frames < window_frames:
        raise ValueError(f"overlap ({overlap_frames} frames) must be >= 0 and < the window ({window_frames} frames)")
    if total_frames <= window_frames:
        return [(0, total_frames, 0, total_frames)]
    hop = window_frames - overlap_frames
    starts = list(range(0, total_frames - window_frames, hop)) + [total_frames - window_frames]
    plan = []
    own_start = 0
    for i, s in enumerate(starts):
        e = s + window_frames
        if i + 1 < len(starts):
            own_end = (starts[i + 1] + e) // 2
        else:
            own_end = total_frames
        plan.append((s, e, own_start, own_end))
        own_start = own_end
    return plan


def windowed_frames(encode: Callable[[Tensor, Tensor | None], Tensor], wav: Tensor, lengths: Tensor | None, *,
                    window_s: float | None, overlap_s: float, sample_rate: int, stride: int, receptive_field: int,
                    num_frames: Callable[[int], int]) -> Tensor:
    """``encode(wav_window, lengths_window) -> [L, B, t, D]`` applied by the rule in the module doc.

    Returns ``[L, B, T, D]`` with ``T = num_frames(wav.shape[1])``.
    """
    n = wav.shape[1]
    total = num_frames(n)
    frame_rate = sample_rate / stride
    if window_s is None:
        return encode(wav, lengths)
    wf = max(1, int(window_s * frame_rate))
    of = int(round(overlap_s * frame_rate))
    if total <= wf:
        return encode(wav, lengths)
    plan = window_plan(total, wf, of)
    pieces = []
    for start, end, own_start, own_end in plan:
        a = start * stride
        b = min(n, (end - 1) * stride + receptive_field)
        win_len = None
        if lengths is not None:
            win_len = (lengths - a).clamp(min=receptive_field, max=b - a)
        out = encode(wav[:, a:b], win_len)
        pieces.append(out[:, :, own_start - start: own_end - start])
    hs = torch.cat(pieces, dim=2)
    if lengths is not None:
        valid = torch.tensor([num_frames(int(v)) for v in lengths.tolist()], device=hs.device)
        pad = torch.arange(total, device=hs.device)[None, :] >= valid[:, None]
        hs = hs.masked_fill(pad[None, :, :, None], 0.0)
    return hs


def checked_batch(name: str, wav: Tensor, lengths: Tensor | None, shortest: int, what: str,
                  device: torch.device, dtype: torch.dtype) -> tuple[Tensor, Tensor | None]:
    """Validate an encoder's input: ``wav [B, N]`` moved to ``device``/``dtype``, every item at least
    ``shortest`` samples (``what`` names that minimum in the error), ``lengths`` clamped to ``N``."""
    from mertbench.errors import ModelError

    if wav.ndim != 2:
        raise ModelError(f"{name}: expected a waveform batch [B, N]; got shape {tuple(wav.shape)}")
    wav = wav.to(device=device, dtype=dtype)
    if wav.shape[1] < shortest:
        raise ModelError(f"{name}: input of {wav.shape[1]} samples is shorter than {what} ({shortest} samples)")
    if lengths is not None:
        lengths = torch.as_tensor(lengths, device=wav.device).to(torch.long).clamp(max=wav.shape[1])
        if bool((lengths < shortest).any()):
            raise ModelError(f"{name}: some items are shorter than {what} ({shortest} samples)")
    return wav, lengths
