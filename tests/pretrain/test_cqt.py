"""The CQT target equals nnAudio's CQT1992v2 with MERT's settings."""
from __future__ import annotations

import numpy as np
import torch

from mertbench.pretrain.cqt import CQTTarget, nnaudio_reference


def test_matches_nnaudio_exactly_enough():
    ours, ref = CQTTarget(), nnaudio_reference()
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((2, 30000)).astype(np.float32) * 0.2)
    a, b = ours(x), ref(x)
    assert a.shape == b.shape == (2, 336, 30000 // 320 + 1)
    assert torch.allclose(a, b, rtol=1e-4, atol=1e-5 * float(b.abs().max()))
    # chunked computation (long files) gives the same frames
    c = ours(x, chunk_frames=17)
    assert torch.allclose(a, c, rtol=1e-4, atol=1e-5 * float(b.abs().max()))


def test_layout_and_pitch_bin(sine):
    cqt = CQTTarget()
    f = cqt.frames_first(torch.from_numpy(sine(440.0, 1.0))[None])
    assert f.shape == (1, 24000 // 320 + 1, 336)
    # A4 = 440 Hz is 45 semitones above C1 (32.7 Hz): bin 45 * 4 = 180 at 48 bins per octave
    assert int(f[0, 30:50].mean(0).argmax()) == 180
