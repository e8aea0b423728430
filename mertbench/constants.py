"""Numbers the whole package agrees on: MERT-v1's audio rate and token grid.

Import these instead of writing the literals: ``SAMPLE_RATE`` (24 kHz input audio), ``HOP``
(samples per encoder frame, the conv front end's total stride) and ``FRAME_RATE``
(``SAMPLE_RATE / HOP`` = 75 frames per second). This module imports nothing from mertbench and
sits at the bottom of the layers (see docs/architecture.md).
"""
from __future__ import annotations

#: MERT-v1 input sample rate (Hz); EnCodec 24 kHz, the handcrafted baselines and the pretraining data use it too.
SAMPLE_RATE: int = 24000
#: samples per encoder frame (the product of the MERT-v1 conv strides 5*2*2*2*2*2*2).
HOP: int = 320
#: encoder frames per second at SAMPLE_RATE (75.0).
FRAME_RATE: float = SAMPLE_RATE / HOP
