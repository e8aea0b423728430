"""Span masking: fairseq compute_mask_indices semantics and MERT's ~55 % masked statistic."""
from __future__ import annotations

import math

import numpy as np

from mertbench.pretrain.masking import compute_mask_indices


def test_masked_fraction_is_about_55_percent():
    rng = np.random.default_rng(0)
    fracs = [compute_mask_indices((8, 374), None, 0.8, 5, rng).mean() for _ in range(200)]
    mean = float(np.mean(fracs))
    # 1 - exp(-0.8) = 0.551 for independent spans; require_same_masks trims rows to the batch minimum
    assert 0.50 < mean < 0.56, mean
    assert abs(mean - (1 - math.exp(-0.8))) < 0.04


def test_same_count_per_row_and_spans_of_five():
    rng = np.random.default_rng(1)
    m = compute_mask_indices((6, 200), None, 0.8, 5, rng, require_same_masks=False)
    # without thinning every masked run is a union of length-5 spans: runs are at least 5 long
    for row in m:
        runs, cur = [], 0
        for v in list(row) + [False]:
            if v:
                cur += 1
            elif cur:
                runs.append(cur)
                cur = 0
        assert runs and min(runs) >= 5 or row[-5:].any()
    m2 = compute_mask_indices((6, 200), None, 0.8, 5, rng)
    counts = m2.sum(1)
    assert (counts == counts[0]).all()


def test_min_masks_and_padding():
    rng = np.random.default_rng(2)
    m = compute_mask_indices((3, 12), None, 0.01, 5, rng, min_masks=2)
    assert (m.sum(1) >= 5).all()  # two spans of 5 at least (may overlap: >= 5)
    pad = np.zeros((2, 100), dtype=bool)
    pad[1, 60:] = True
    m = compute_mask_indices((2, 100), pad, 0.8, 5, rng, require_same_masks=False)
    assert not (m & pad).any()


def test_deterministic_given_generator():
    a = compute_mask_indices((4, 150), None, 0.8, 5, np.random.default_rng(7))
    b = compute_mask_indices((4, 150), None, 0.8, 5, np.random.default_rng(7))
    assert np.array_equal(a, b)
