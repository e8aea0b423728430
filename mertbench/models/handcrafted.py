"""Handcrafted single-layer baseline encoders (spectral features as frames).

All run at 24 kHz with hop 320 samples, i.e. 75 frames/s like MERT-v1, so frame-level probes see
the same time grid. Each returns one "layer": ``[1, B, T, D]``.
"""
from __future__ import annotations

import torch

from mertbench.models.contract import Encoder
from mertbench.models.registry import register_encoder

SAMPLE_RATE = 24000
HOP = 320


class LogMelEncoder(Encoder):
    """Log-mel spectrogram frames: ``log(mel + 1e-6)``, 128 bands, 2048-point FFT, hop 320."""

    def __init__(self, n_mels: int = 128, n_fft: int = 2048) -> None:
        super().__init__()
        from nnAudio.features import MelSpectrogram

        self.name = "logmel"
        self.sample_rate = SAMPLE_RATE
        self.frame_rate = SAMPLE_RATE / HOP
        self.num_layers = 1
        self.dim = n_mels
        self.mel = MelSpectrogram(sr=SAMPLE_RATE, n_fft=n_fft, hop_length=HOP, n_mels=n_mels,
                                  fmin=20.0, fmax=SAMPLE_RATE / 2, center=True, verbose=False,
                                  trainable_mel=False, trainable_STFT=False)

    def num_frames(self, num_samples: int) -> int:
        return num_samples // HOP + 1

    def forward(self, wav: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        mel = self.mel(wav.float())  # [B, n_mels, T]
        return torch.log(mel + 1e-6).transpose(1, 2).unsqueeze(0)  # [1, B, T, D]


@register_encoder("logmel", "log-mel spectrogram, 128 bands, 75 Hz (handcrafted baseline)",
                  sample_rate=SAMPLE_RATE, frame_rate=75.0, num_layers=1, dim=128, parameters=0)
def logmel(n_mels: int = 128, n_fft: int = 2048) -> LogMelEncoder:
    return LogMelEncoder(n_mels=n_mels, n_fft=n_fft)
