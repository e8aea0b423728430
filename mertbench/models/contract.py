"""The encoder contract (HEAR-style, all layers) and its validator."""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import torch
from torch import nn

from mertbench.constants import FRAME_RATE, SAMPLE_RATE


class Encoder(nn.Module):
    """Base class of every model mertbench evaluates.

    Subclasses set the attributes below (in ``__init__``) and implement :meth:`forward`.

    Attributes:
        name: identifier used in results and cache keys.
        sample_rate: expected input rate in Hz (callers resample to it).
        frame_rate: output frames per second (Hz); ``T ~= N / sample_rate * frame_rate``.
        num_layers: number of hidden-state layers returned (``L``), counting the
            pre-transformer embedding as HF ``hidden_states`` does (13 for MERT-95M).
        dim: feature dimension ``D``.
        normalize: waveform normalisation applied by *callers* before :meth:`forward`
            (``"zmuv"``, ``"peak"`` or None), e.g. from a checkpoint's preprocessor_config.json.
        min_samples: the shortest input (samples at :attr:`sample_rate`) :meth:`forward` accepts,
            e.g. a convolutional front end's receptive field or an STFT's reflect padding. Callers
            skip (and report) shorter clips instead of calling the model with them.
    """

    name: str = "encoder"
    sample_rate: int = SAMPLE_RATE
    frame_rate: float = FRAME_RATE
    num_layers: int = 1
    dim: int = 1
    normalize: str | None = None

    @property
    def min_samples(self) -> int:
        """Shortest accepted input in samples (1 unless a subclass needs more)."""
        return 1

    def forward(self, wav: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Hidden states of a batch.

        Args:
            wav: float tensor ``[B, N]``, mono, at :attr:`sample_rate`.
            lengths: optional ``[B]`` valid sample counts when the batch is right-padded.

        Returns:
            float tensor ``[L, B, T, D]``.
        """
        raise NotImplementedError

    def num_frames(self, num_samples: int) -> int:
        """Frames ``T`` produced for ``num_samples`` input samples. Override when exact."""
        return int(math.floor(num_samples * self.frame_rate / self.sample_rate))

    def num_parameters(self) -> int:
        """Number of parameters (0 for handcrafted features)."""
        return sum(p.numel() for p in self.parameters())

    def fingerprint(self) -> str:
        """Hash of the encoder's identity and weights; cache keys include it."""
        h = hashlib.sha256()
        h.update(f"{type(self).__module__}.{type(self).__qualname__}|{self.name}|{self.sample_rate}|"
                 f"{self.frame_rate}|{self.num_layers}|{self.dim}|{self.normalize}".encode())
        for key, tensor in sorted(self.state_dict().items()):
            h.update(key.encode())
            t = tensor.detach().to("cpu").contiguous()
            h.update(str(tuple(t.shape)).encode())
            # reshape(-1): a 0-d tensor (BatchNorm's num_batches_tracked) cannot be viewed as bytes
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        return h.hexdigest()[:16]

    def describe(self) -> dict[str, object]:
        """The contract attributes, for listings and provenance."""
        return {
            "name": self.name,
            "sample_rate": self.sample_rate,
            "frame_rate": self.frame_rate,
            "num_layers": self.num_layers,
            "dim": self.dim,
            "normalize": self.normalize,
            "parameters": self.num_parameters(),
        }


@dataclass
class Check:
    """One validation check: its name, whether it passed, and an explanation."""

    name: str
    passed: bool
    detail: str = ""


@dataclass
class ValidationReport:
    """The outcome of :func:`validate_encoder`."""

    spec: str
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.passed for c in self.checks)

    def add(self, name: str, passed: bool, detail: str = "", ok_detail: str | None = None) -> bool:
        """Record a check; ``detail`` explains a failure, ``ok_detail`` (default: detail) a pass."""
        self.checks.append(Check(name, bool(passed), detail if not passed or ok_detail is None else ok_detail))
        return bool(passed)


def validate_encoder(encoder: object, spec: str = "", *, seconds: tuple[float, ...] = (1.0, 2.5)) -> ValidationReport:
    """Check ``encoder`` against the contract and explain each failure.

    Checks: attributes and their types; eval mode; output is a 4-D float tensor
    ``[num_layers, B, T, dim]``; ``T`` matches ``frame_rate`` (within 2 frames) for inputs of
    several lengths; finite values; determinism (two calls agree); batch independence (item 0 of a
    batch equals the same item run alone, within 1e-4 relative).
    """
    report = ValidationReport(spec or getattr(encoder, "name", type(encoder).__name__))
    attrs = {"name": str, "sample_rate": int, "frame_rate": (int, float), "num_layers": int, "dim": int}
    for attr, typ in attrs.items():
        val = getattr(encoder, attr, None)
        if not report.add(f"attribute {attr}", isinstance(val, typ) and not isinstance(val, bool),
                          f"{attr}={val!r}" if isinstance(val, typ) else
                          f"missing or wrong type ({type(val).__name__}); expected {typ}"):
            return report
    if not report.add("positive geometry", encoder.sample_rate > 0 and encoder.frame_rate > 0
                      and encoder.num_layers > 0 and encoder.dim > 0,
                      "sample_rate, frame_rate, num_layers and dim must all be > 0", "all > 0"):
        return report
    if not report.add("is a torch.nn.Module", isinstance(encoder, nn.Module),
                      "an Encoder must subclass mertbench.models.Encoder (a torch.nn.Module)", "yes"):
        return report
    encoder.eval()
    gen = torch.Generator().manual_seed(0)
    for sec in seconds:
        n = int(round(sec * encoder.sample_rate))
        wav = torch.randn(2, n, generator=gen) * 0.1
        try:
            with torch.no_grad():
                out = encoder(wav)
        except Exception as exc:  # report, don't crash
            report.add(f"forward {sec}s", False, f"raised {type(exc).__name__}: {exc}")
            return report
        if not report.add(f"output type {sec}s", isinstance(out, torch.Tensor) and out.is_floating_point(),
                          f"got {type(out).__name__}; expected a float torch.Tensor [L, B, T, D]"):
            return report
        shape_ok = out.ndim == 4 and out.shape[0] == encoder.num_layers and out.shape[1] == 2 \
            and out.shape[3] == encoder.dim
        if not report.add(f"output shape {sec}s", shape_ok,
                          f"got {tuple(out.shape)}; expected [num_layers={encoder.num_layers}, B=2, T, "
                          f"dim={encoder.dim}]", f"{tuple(out.shape)}"):
            return report
        expected_t = n * encoder.frame_rate / encoder.sample_rate
        report.add(f"frame rate {sec}s", abs(out.shape[2] - expected_t) <= 2,
                   f"T={out.shape[2]} for {n} samples; frame_rate={encoder.frame_rate} Hz implies "
                   f"{expected_t:.1f} (+-2 allowed)")
        report.add(f"finite {sec}s", bool(torch.isfinite(out).all()), "output holds NaN or inf"
                   if not torch.isfinite(out).all() else "all finite")
        with torch.no_grad():
            again = encoder(wav)
            single = encoder(wav[:1])
        report.add(f"deterministic {sec}s", torch.equal(out, again) or
                   torch.allclose(out, again, rtol=1e-5, atol=1e-6),
                   "two calls on the same input differ: call model.eval() and avoid randomness in forward",
                   "two calls agree")
        scale = out[:, :1].abs().max().clamp_min(1e-6)
        diff = (out[:, :1] - single).abs().max() / scale if single.shape == out[:, :1].shape else torch.tensor(1.0)
        report.add(f"batch independence {sec}s", bool(diff <= 1e-4),
                   f"item 0 differs by {float(diff):.2e} (relative) when run alone vs in a batch")
    return report
