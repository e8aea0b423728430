"""Handcrafted single-layer baseline encoders (spectral features as frames), computed with nnAudio.

All run at 24 kHz with hop 320 samples, i.e. 75 frames/s like MERT-v1, so frame-level probes see
the same time grid; frames are centred (``center=True``), so ``T = N // 320 + 1``. Each returns
one "layer": ``[1, B, T, D]``. No waveform normalisation (``normalize=None``).

* ``logmel``: ``log(mel + 1e-6)``, 128 mel bands (nnAudio's mel filter bank, power spectrogram),
  2048-point FFT, reflect padding at the edges (nnAudio's MelSpectrogram default).
* ``mfcc``: 13 MFCCs (nnAudio, 128 mel bands, 1024-point FFT, dB without ``top_db`` clipping so
  every frame depends only on its own window) + deltas + delta-deltas = 39 dims. Deltas use the
  HTK/Kaldi regression over +-2 frames, ``d_t = sum_n n (c_{t+n} - c_{t-n}) / 10``, edges
  replicated -- the recipe of HuBERT's k-means MFCC features.
* ``chroma``: 12 pitch classes (C..B) from a 4096-point power spectrogram through nnAudio's
  chroma filter bank (librosa's ``chroma_stft`` recipe, A440 tuning), each frame divided by its
  maximum (frames below 1e-10 energy stay 0).
* ``cqt``: ``log(|CQT| + 1e-6)`` with MERT-v1's CQT-teacher bins (336 at 48 bins/octave from
  32.7 Hz (C1) up to ~4.2 kHz, hop 320) computed with nnAudio's ``CQT2010v2`` (octave-wise
  downsampling). It is about 25x faster on CPU than the ``CQT1992v2`` long-kernel convolution the
  pretraining teacher uses and gives the same bins up to small resampling differences; the baseline
  is a feature, not a target, so speed wins here.

The spectrograms are computed with ``torch.stft`` (an FFT, periodic Hann window, centred with zero
padding), which equals nnAudio's convolutional STFT to float precision and is several times faster
on CPU.
"""
from __future__ import annotations

import torch

from mertbench.constants import FRAME_RATE, HOP, SAMPLE_RATE
from mertbench.models.contract import Encoder
from mertbench.models.registry import register_encoder


def power_spectrogram(wav: torch.Tensor, n_fft: int, hop: int = HOP, pad_mode: str = "constant") -> torch.Tensor:
    """``|STFT|^2`` of ``wav [B, N]`` -> ``[B, n_fft // 2 + 1, N // hop + 1]`` (periodic Hann, centred;
    ``pad_mode`` ``"constant"`` (zeros) or ``"reflect"``)."""
    window = torch.hann_window(n_fft, periodic=True, device=wav.device, dtype=torch.float32)
    spec = torch.stft(wav.float(), n_fft=n_fft, hop_length=hop, window=window, center=True,
                      pad_mode=pad_mode, return_complex=True)
    return spec.real.square() + spec.imag.square()


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
        self.n_fft = n_fft
        mel = MelSpectrogram(sr=SAMPLE_RATE, n_fft=n_fft, hop_length=HOP, n_mels=n_mels,
                             fmin=20.0, fmax=SAMPLE_RATE / 2, center=True, verbose=False,
                             trainable_mel=False, trainable_STFT=False)
        self.register_buffer("mel_basis", mel.mel_basis.detach().clone().float(), persistent=False)

    def num_frames(self, num_samples: int) -> int:
        return num_samples // HOP + 1

    @property
    def min_samples(self) -> int:
        """Reflect padding of the centred STFT needs more than ``n_fft // 2`` samples."""
        return self.n_fft // 2 + 1

    def forward(self, wav: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        mel = torch.einsum("mf,bft->bmt", self.mel_basis, power_spectrogram(wav, self.n_fft, pad_mode="reflect"))
        return torch.log(mel + 1e-6).transpose(1, 2).unsqueeze(0)  # [1, B, T, D]


@register_encoder("logmel", "log-mel spectrogram, 128 bands, 75 Hz (handcrafted baseline)",
                  sample_rate=SAMPLE_RATE, frame_rate=FRAME_RATE, num_layers=1, dim=128, parameters=0,
                  family="handcrafted", weights="none")
def logmel(n_mels: int = 128, n_fft: int = 2048) -> LogMelEncoder:
    return LogMelEncoder(n_mels=n_mels, n_fft=n_fft)


def _common(enc: Encoder, name: str, dim: int) -> None:
    enc.name = name
    enc.sample_rate = SAMPLE_RATE
    enc.frame_rate = SAMPLE_RATE / HOP
    enc.num_layers = 1
    enc.dim = dim


def deltas(x: torch.Tensor, width: int = 2) -> torch.Tensor:
    """HTK/Kaldi regression deltas along the last axis (time), edges replicated.

    ``d_t = sum_{n=1..width} n (x_{t+n} - x_{t-n}) / (2 sum_n n^2)``. ``x [..., T] -> [..., T]``.
    """
    t = x.shape[-1]
    padded = torch.cat([x[..., :1].expand(*x.shape[:-1], width), x, x[..., -1:].expand(*x.shape[:-1], width)], dim=-1)
    num = torch.zeros_like(x)
    for n in range(1, width + 1):
        num = num + n * (padded[..., width + n: width + n + t] - padded[..., width - n: width - n + t])
    return num / (2 * sum(n * n for n in range(1, width + 1)))


class MFCCEncoder(Encoder):
    """13 MFCCs + deltas + delta-deltas (39 dims) at 75 Hz; see the module doc."""

    def __init__(self, n_mfcc: int = 13, n_mels: int = 128, n_fft: int = 1024, with_deltas: bool = True) -> None:
        super().__init__()
        from nnAudio.features import MFCC

        _common(self, "mfcc", n_mfcc * (3 if with_deltas else 1))
        self.with_deltas = with_deltas
        self.mfcc = MFCC(sr=SAMPLE_RATE, n_mfcc=n_mfcc, norm="ortho", verbose=False, top_db=None, n_fft=n_fft,
                         n_mels=n_mels, hop_length=HOP, fmin=20.0, fmax=SAMPLE_RATE / 2, center=True,
                         trainable_mel=False, trainable_STFT=False)
        self.n_fft = n_fft

    def num_frames(self, num_samples: int) -> int:
        return num_samples // HOP + 1

    @property
    def min_samples(self) -> int:
        """nnAudio's centred STFT pads by reflection: more than ``n_fft // 2`` samples are needed."""
        return self.n_fft // 2 + 1

    def forward(self, wav: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        c = self.mfcc(wav.float())  # [B, n_mfcc, T]
        if self.with_deltas:
            d = deltas(c)
            c = torch.cat([c, d, deltas(d)], dim=1)
        return c.transpose(1, 2).unsqueeze(0)


class ChromaEncoder(Encoder):
    """12-bin chroma from a power spectrogram (librosa ``chroma_stft`` recipe) at 75 Hz."""

    def __init__(self, n_fft: int = 4096) -> None:
        super().__init__()
        from nnAudio.utils import chroma

        _common(self, "chroma", 12)
        self.n_fft = n_fft
        self.register_buffer("filters", torch.as_tensor(chroma(SAMPLE_RATE, n_fft, n_chroma=12), dtype=torch.float32),
                             persistent=False)

    def num_frames(self, num_samples: int) -> int:
        return num_samples // HOP + 1

    def forward(self, wav: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        power = power_spectrogram(wav, self.n_fft)  # [B, F, T]
        c = torch.einsum("cf,bft->bct", self.filters, power)
        peak = c.amax(dim=1, keepdim=True)
        c = torch.where(peak > 1e-10, c / peak.clamp_min(1e-10), torch.zeros_like(c))
        return c.transpose(1, 2).unsqueeze(0)


class CQTEncoder(Encoder):
    """``log(|CQT| + 1e-6)`` with MERT-v1's CQT settings (336 bins, 48/octave, fmin 32.7 Hz) at 75 Hz."""

    def __init__(self, n_bins: int = 336, bins_per_octave: int = 48, fmin: float = 32.7) -> None:
        super().__init__()
        from nnAudio.features import CQT2010v2

        _common(self, "cqt", n_bins)
        self.cqt = CQT2010v2(sr=SAMPLE_RATE, hop_length=HOP, fmin=fmin, fmax=None, n_bins=n_bins,
                             bins_per_octave=bins_per_octave, filter_scale=1, norm=1, window="hann",
                             pad_mode="constant", trainable=False, output_format="Magnitude", verbose=False)

    def num_frames(self, num_samples: int) -> int:
        return num_samples // HOP + 1

    @property
    def min_samples(self) -> int:
        """nnAudio's CQT2010v2 halves the signal once per octave below the top one; with these
        settings it needs at least 64 samples (measured; ``tests/models`` checks 63 fails, 64 works)."""
        return 64

    def forward(self, wav: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return torch.log(self.cqt(wav.float()) + 1e-6).transpose(1, 2).unsqueeze(0)


@register_encoder("mfcc", "13 MFCC + delta + delta-delta (39 dims), 75 Hz (handcrafted baseline)",
                  sample_rate=SAMPLE_RATE, frame_rate=FRAME_RATE, num_layers=1, dim=39, parameters=0,
                  family="handcrafted", weights="none")
def mfcc(n_mfcc: int = 13, n_mels: int = 128, n_fft: int = 1024, with_deltas: bool = True) -> MFCCEncoder:
    return MFCCEncoder(n_mfcc=n_mfcc, n_mels=n_mels, n_fft=n_fft, with_deltas=with_deltas)


@register_encoder("chroma", "12-bin chroma (STFT, frame max-normalised), 75 Hz (handcrafted baseline)",
                  sample_rate=SAMPLE_RATE, frame_rate=FRAME_RATE, num_layers=1, dim=12, parameters=0,
                  family="handcrafted", weights="none")
def chroma_encoder(n_fft: int = 4096) -> ChromaEncoder:
    return ChromaEncoder(n_fft=n_fft)


@register_encoder("cqt", "log-magnitude CQT, MERT teacher settings (336 bins, 48/oct), 75 Hz (handcrafted baseline)",
                  sample_rate=SAMPLE_RATE, frame_rate=FRAME_RATE, num_layers=1, dim=336, parameters=0,
                  family="handcrafted", weights="none")
def cqt(n_bins: int = 336, bins_per_octave: int = 48, fmin: float = 32.7) -> CQTEncoder:
    return CQTEncoder(n_bins=n_bins, bins_per_octave=bins_per_octave, fmin=fmin)
