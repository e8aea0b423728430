"""Span masking of encoder frames, with the semantics of fairseq's ``compute_mask_indices``.

MERT masks with ``mask_prob=0.8``, ``mask_length=5`` (frames, 66.7 ms at 75 Hz), static span
lengths, ``min_masks=2``, overlapping spans allowed and ``require_same_masks=True``:

* per row, the number of spans is ``int(mask_prob * T / mask_length + U[0, 1))`` (at least
  ``min_masks``); with a padding mask, ``T`` is the row's unpadded length and the draw is per row;
* span starts are drawn without replacement from ``[0, T - mask_length)``; spans may overlap and
  are cut at the end of the row;
* with ``require_same_masks``, every row is then randomly thinned to the smallest masked count of
  the batch, so all rows mask the same number of frames.

The expected masked fraction is about ``1 - exp(-0.8) ~= 55 %`` (spans overlap).

Randomness comes from the ``numpy.random.Generator`` passed in (fairseq uses the global numpy
state); the draws per row follow the same order as fairseq.
"""
from __future__ import annotations

import numpy as np


def compute_mask_indices(
    shape: tuple[int, int],
    padding_mask: np.ndarray | None,
    mask_prob: float,
    mask_length: int,
    rng: np.random.Generator,
    *,
    min_masks: int = 2,
    require_same_masks: bool = True,
) -> np.ndarray:
    """Boolean mask ``[B, T]`` (True = masked frame).

    Args:
        shape: ``(B, T)`` batch size and number of frames.
        padding_mask: optional ``[B, T]`` bool, True at padded frames (never masked).
        mask_prob: fraction of frames used to set the number of spans (before overlap).
        mask_length: span length in frames.
        rng: random generator.
        min_masks: minimum number of spans per row.
        require_same_masks: thin rows to the smallest masked count of the batch.
    """
    bsz, all_sz = shape
    if mask_length < 1:
        raise ValueError(f"mask_length must be >= 1, got {mask_length}")
    mask = np.zeros((bsz, all_sz), dtype=bool)
    if all_sz == 0 or mask_prob <= 0:
        return mask
    all_num_mask = max(min_masks, int(mask_prob * all_sz / float(mask_length) + rng.random()))
    rows: list[np.ndarray] = []
    for i in range(bsz):
        if padding_mask is not None:
            sz = all_sz - int(np.asarray(padding_mask[i]).sum())
            num_mask = max(min_masks, int(mask_prob * sz / float(mask_length) + rng.random()))
        else:
            sz = all_sz
            num_mask = all_num_mask
        if sz <= 0:
            rows.append(np.zeros(0, dtype=np.int64))
            continue
        lengths = np.full(num_mask, mask_length, dtype=np.int64)
        min_len = int(lengths.min())
        if sz - min_len <= num_mask:
            min_len = sz - num_mask - 1
        span = sz - min_len
        if span <= 0 or num_mask > span:
            # too short a row for the requested spans: mask what can be masked (fairseq would
            # raise in np.random.choice here)
            num_mask = max(0, min(num_mask, span))
        starts = rng.choice(span, num_mask, replace=False) if num_mask > 0 else np.zeros(0, np.int64)
        idc = (starts[:, None] + np.arange(mask_length)[None, :]).reshape(-1)
        rows.append(np.unique(idc[idc < sz]))
    min_count = min(len(r) for r in rows)
    for i, idc in enumerate(rows):
        if require_same_masks and len(idc) > min_count:
            idc = rng.choice(idc, min_count, replace=False)
        mask[i, idc] = True
    return mask
