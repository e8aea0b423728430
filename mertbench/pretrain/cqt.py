"""MERT's CQT reconstruction target: nnAudio's magnitude CQT, computed exactly but faster.

MERT-v1 regresses the linear-magnitude constant-Q transform of the clean input, computed with
``nnAudio.features.cqt.CQT(sr=24000, hop_length=320, fmin=32.7, n_bins=336, bins_per_octave=48,
filter_scale=1, norm=1, window='hann', center=True, pad_mode='constant')`` (nnAudio's
``CQT1992v2``: one strided ``conv1d`` of the zero-padded signal with 336 complex kernels, each
zero-padded to the longest kernel's power-of-two length, 65,536 taps at these settings; output
scaled by ``sqrt(kernel length)``, "librosa" normalisation).

:class:`CQTTarget` uses nnAudio's own kernels and computes the same sums, but it convolves each
group of neighbouring bins only with the part of the 65,536-tap window where that group's kernels
are non-zero (the high bins' kernels are a few hundred taps long). The result equals nnAudio's up
to float summation order (tested) and is several times faster on CPU.

Shapes: input ``[B, N]`` float32 waveforms at 24 kHz; output ``[B, n_bins, floor(N / hop) + 1]``
(nnAudio's frame count with ``center=True``). Use :meth:`CQTTarget.frames_first` for ``[B, T, bins]``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mertbench.constants import HOP, SAMPLE_RATE


@dataclass(frozen=True)
class CQTSettings:
    """The CQT kernel settings (MERT-v1 values by default; frequencies in Hz, hop in samples)."""

    sample_rate: int = SAMPLE_RATE
    hop_length: int = HOP
    fmin: float = 32.7
    n_bins: int = 336
    bins_per_octave: int = 48


class CQTTarget(nn.Module):
    """Exact, grouped re-computation of nnAudio ``CQT1992v2`` magnitude (MERT's CQT target).

    Args:
        settings: kernel settings; MERT-v1 values by default.
        group_size: bins convolved together (smaller groups trim more zeros but launch more convs).
    """

    def __init__(self, settings: CQTSettings = CQTSettings(), group_size: int = 24) -> None:
        super().__init__()
        from nnAudio.features.cqt import CQT

        self.settings = settings
        ref = CQT(sr=settings.sample_rate, hop_length=settings.hop_length, fmin=settings.fmin, fmax=None,
                  n_bins=settings.n_bins, bins_per_octave=settings.bins_per_octave, filter_scale=1, norm=1,
                  window="hann", center=True, pad_mode="constant", trainable=False,
                  output_format="Magnitude", verbose=False)
        self.kernel_width = int(ref.kernel_width)
        self.hop_length = settings.hop_length
        real = ref.cqt_kernels_real[:, 0]  # [bins, width]
        imag = ref.cqt_kernels_imag[:, 0]
        nonzero = (real != 0) | (imag != 0)
        self.groups: list[tuple[int, int, int, int]] = []  # (bin_lo, bin_hi, tap_lo, tap_hi)
        for i, lo in enumerate(range(0, settings.n_bins, group_size)):
            hi = min(lo + group_size, settings.n_bins)
            cols = nonzero[lo:hi].any(dim=0).nonzero().flatten()
            t0, t1 = int(cols.min()), int(cols.max()) + 1
            self.groups.append((lo, hi, t0, t1))
            # real and imaginary kernels of the group, stacked on the output-channel axis
            k = torch.cat([real[lo:hi, t0:t1], imag[lo:hi, t0:t1]], dim=0).unsqueeze(1).contiguous()
            self.register_buffer(f"kernel_{i}", k, persistent=False)
        self.register_buffer("sqrt_lengths", torch.sqrt(ref.lenghts.float()).view(-1, 1), persistent=False)

    def num_frames(self, num_samples: int) -> int:
        """Frames for ``num_samples`` samples: ``floor(N / hop) + 1`` (``center=True``)."""
        return num_samples // self.hop_length + 1

    @torch.no_grad()
    def forward(self, wav: torch.Tensor, chunk_frames: int = 4500) -> torch.Tensor:
        """Magnitude CQT ``[B, n_bins, T]`` of ``wav`` ``[B, N]`` (or ``[N]``), float32.

        Long signals are processed ``chunk_frames`` output frames at a time (same result).
        """
        if wav.ndim == 1:
            wav = wav.unsqueeze(0)
        x = wav.float().unsqueeze(1)
        x = F.pad(x, (self.kernel_width // 2, self.kernel_width // 2))
        n_frames = (x.shape[-1] - self.kernel_width) // self.hop_length + 1
        if n_frames < 1:
            raise ValueError(f"signal of {wav.shape[-1]} samples is too short for the CQT")
        chunks = []
        for f0 in range(0, n_frames, chunk_frames):
            nf = min(chunk_frames, n_frames - f0)
            reals, imags = [], []
            for i, (lo, hi, t0, t1) in enumerate(self.groups):
                kernel = getattr(self, f"kernel_{i}")
                a = f0 * self.hop_length + t0
                seg = x[..., a:a + (nf - 1) * self.hop_length + (t1 - t0)]
                out = F.conv1d(seg, kernel, stride=self.hop_length)
                reals.append(out[:, : hi - lo])
                imags.append(-out[:, hi - lo:])
            real = torch.cat(reals, dim=1) * self.sqrt_lengths
            imag = torch.cat(imags, dim=1) * self.sqrt_lengths
            chunks.append(torch.sqrt(real.pow(2) + imag.pow(2)))
        return chunks[0] if len(chunks) == 1 else torch.cat(chunks, dim=2)

    def frames_first(self, wav: torch.Tensor) -> torch.Tensor:
        """Magnitude CQT as ``[B, T, n_bins]`` (MERT's target layout)."""
        return self.forward(wav).transpose(1, 2)

    def settings_dict(self) -> dict[str, float | int | str]:
        """The settings plus the nnAudio transform name (for cache keys and provenance)."""
        from dataclasses import asdict

        return {**asdict(self.settings), "transform": "nnAudio CQT1992v2 magnitude (librosa normalisation)"}


class NnAudioCQT(nn.Module):
    """nnAudio's CQT1992v2 itself behind :class:`CQTTarget`'s interface (the reference implementation)."""

    def __init__(self, settings: CQTSettings = CQTSettings()) -> None:
        super().__init__()
        self.settings = settings
        self.ref = nnaudio_reference(settings)

    @torch.no_grad()
    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return self.ref(wav.float())

    def frames_first(self, wav: torch.Tensor) -> torch.Tensor:
        return self.forward(wav).transpose(1, 2)

    def settings_dict(self) -> dict[str, float | int | str]:
        from dataclasses import asdict

        return {**asdict(self.settings), "transform": "nnAudio CQT1992v2 magnitude (librosa normalisation)"}


def nnaudio_reference(settings: CQTSettings = CQTSettings()) -> nn.Module:
    """nnAudio's own CQT module with MERT's arguments (the reference our tests compare against)."""
    from nnAudio.features.cqt import CQT

    return CQT(sr=settings.sample_rate, hop_length=settings.hop_length, fmin=settings.fmin, fmax=None,
               n_bins=settings.n_bins, bins_per_octave=settings.bins_per_octave, filter_scale=1, norm=1,
               window="hann", center=True, pad_mode="constant", trainable=False, output_format="Magnitude",
               verbose=False)
