"""EnCodec acoustic teacher (MERT-v1): 24 kHz, 6 kbps = 8 RVQ codebooks of 1024 codes at 75 Hz.

The pretrained model is loaded through ``transformers.EncodecModel`` from a local folder or the hub
id ``facebook/encodec_24khz`` (the causal 24 kHz mono model MERT used). Each whole file is encoded
in one call (files longer than ``max_chunk_seconds`` are encoded in consecutive pieces), giving
``ceil(N / 320)`` codes per codebook, i.e. label ``i`` for the frame starting at sample ``320 i``.

**Offline fallback** (no weights on disk, hub unreachable, or ``source="random"``): the same
EnCodec architecture (transformers' default 24 kHz ``EncodecConfig``) with *fixed random weights*
(seeded), followed by a random-projection quantiser in the spirit of BEST-RQ: the encoder's 128-dim
latents are standardised with per-dimension mean/std measured on a sample of the corpus (random
conv nets give latents dominated by a constant offset, which would otherwise collapse every frame
onto one code), then, for each of 8 codebooks, projected by a fixed Gaussian matrix to 16 dims,
L2-normalised and assigned to the nearest of 1024 fixed random unit vectors. The teacher is named
``"encodec-random (offline fallback)"`` in logs, cache keys and checkpoints. Its codebooks are
independent (not residual): with random codebooks, residual quantisation adds nothing.
"""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlparse

import numpy as np
import torch
import torch.nn.functional as F

from mertbench.constants import FRAME_RATE, HOP, SAMPLE_RATE
from mertbench.errors import ModelError
from mertbench.pretrain.teachers.base import Teacher, tensor_fingerprint
from mertbench.progress import console

HUB_ID = "facebook/encodec_24khz"
FALLBACK_NAME = "encodec-random (offline fallback)"
CODEBOOK_SIZE = 1024
PROJ_DIM = 16


def _hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the HF hub answers a TCP connection (False when HF_HUB_OFFLINE is set)."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def _num_codebooks(bandwidth_kbps: float) -> int:
    """RVQ codebooks used at ``bandwidth_kbps``: 75 Hz x 10 bits = 0.75 kbps per codebook."""
    n = int(round(bandwidth_kbps * 1000 / (FRAME_RATE * 10)))
    if n < 1:
        raise ModelError(f"EnCodec bandwidth {bandwidth_kbps} kbps gives no codebook; use 1.5, 3, 6, 12 or 24")
    return n


class EncodecTeacher(Teacher):
    """EnCodec RVQ codes, or the offline random-weight fallback.

    Args:
        source: ``"auto"`` (HF cache, then the hub if reachable, else the fallback), ``"random"``
            (the fallback), a local folder with an HF EnCodec checkpoint, or a hub id.
        bandwidth: target bandwidth in kbps (6.0 = 8 codebooks).
        seed: seed of the fallback's random weights and projections.
        device: where the model runs.
        fit_max_frames: frames used to measure the fallback's latent statistics.
        max_chunk_seconds: longest piece encoded in one call.
    """

    def __init__(self, source: str = "auto", bandwidth: float = 6.0, seed: int = 0,
                 device: str | torch.device = "cpu", fit_max_frames: int = 500_000,
                 max_chunk_seconds: float = 600.0) -> None:
        from transformers import EncodecConfig, EncodecModel

        self.bandwidth = float(bandwidth)
        self.num_codebooks = _num_codebooks(self.bandwidth)
        self.codebook_sizes = (CODEBOOK_SIZE,) * self.num_codebooks
        self.seed = int(seed)
        self.device = torch.device(device)
        self.fit_max_frames = int(fit_max_frames)
        self.max_chunk = int(max_chunk_seconds * SAMPLE_RATE) // HOP * HOP
        self.source = source
        model = None
        self.pretrained_from: str | None = None
        if source != "random":
            candidates: list[tuple[str, bool]] = []
            if source == "auto":
                candidates = [(HUB_ID, True)] + ([(HUB_ID, False)] if _hub_reachable() else [])
            elif Path(source).expanduser().is_dir():
                candidates = [(str(Path(source).expanduser()), True)]
            else:
                candidates = [(source, True)] + ([(source, False)] if _hub_reachable() else [])
            errors = []
            for name, local_only in candidates:
                try:
                    model = EncodecModel.from_pretrained(name, local_files_only=local_only)
                    self.pretrained_from = name
                    break
                except Exception as exc:  # not cached / not reachable / bad folder
                    errors.append(f"{name} ({'local' if local_only else 'hub'}): {type(exc).__name__}")
            if model is None and source != "auto":
                raise ModelError(f"EnCodec teacher: cannot load {source!r} ({'; '.join(errors) or 'hub unreachable'}); "
                                 "pass a folder with config.json + weights, or teacher.encodec_source=random "
                                 "for the offline fallback")
            if model is None:
                console.print(f"[yellow]EnCodec weights for {HUB_ID} are not cached locally and the hub is "
                              f"unreachable: using {FALLBACK_NAME}[/]")
        if model is not None:
            if int(model.config.sampling_rate) != SAMPLE_RATE:
                raise ModelError(f"EnCodec teacher: {self.pretrained_from} is a {model.config.sampling_rate} Hz "
                                 "model; MERT uses the 24 kHz model (facebook/encodec_24khz)")
            self.name = f"encodec-24khz-{self.bandwidth:g}kbps ({self.pretrained_from})"
            self.needs_fit = False
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed)
                model = EncodecModel(EncodecConfig())
            self.name = FALLBACK_NAME
            self.needs_fit = True
            gen = torch.Generator().manual_seed(self.seed + 1)
            dim = int(model.config.hidden_size)
            self.proj = torch.randn(self.num_codebooks, dim, PROJ_DIM, generator=gen)
            self.codebooks = F.normalize(torch.randn(self.num_codebooks, CODEBOOK_SIZE, PROJ_DIM, generator=gen), dim=-1)
            self.mean: torch.Tensor | None = None
            self.std: torch.Tensor | None = None
        self.model = model.eval().to(self.device)
        for p in self.model.parameters():
            p.requires_grad_(False)
        self._weights_fp = tensor_fingerprint(*[v for _, v in sorted(self.model.state_dict().items())])

    @property
    def is_fallback(self) -> bool:
        """True for the offline random-weight fallback."""
        return self.pretrained_from is None

    def identity(self) -> dict[str, Any]:
        ident: dict[str, Any] = {
            "teacher": self.name, "kind": "encodec", "bandwidth_kbps": self.bandwidth,
            "codebooks": list(self.codebook_sizes), "weights": self._weights_fp,
        }
        if self.is_fallback:
            ident.update(seed=self.seed, quantizer=f"random-projection {PROJ_DIM}d x {CODEBOOK_SIZE}",
                         projections=tensor_fingerprint(self.proj, self.codebooks),
                         stats=None if self.mean is None else tensor_fingerprint(self.mean, self.std))
        else:
            ident.update(source=self.pretrained_from)
        return ident

    # ------------------------------------------------------------------ encoding
    @torch.no_grad()
    def _latents(self, wav: torch.Tensor) -> torch.Tensor:
        """Encoder latents ``[T, 128]`` of a whole file (pieces of at most ``max_chunk`` samples)."""
        outs = []
        for start in range(0, wav.shape[-1], self.max_chunk):
            piece = wav[start:start + self.max_chunk].float().to(self.device)
            outs.append(self.model.encoder(piece.view(1, 1, -1))[0].T.float().cpu())
        return torch.cat(outs, dim=0)

    @torch.no_grad()
    def labels(self, wav: torch.Tensor, cqt: torch.Tensor | None = None) -> np.ndarray:
        if not self.is_fallback:
            codes = []
            for start in range(0, wav.shape[-1], self.max_chunk):
                piece = wav[start:start + self.max_chunk].float().to(self.device).view(1, 1, -1)
                out = self.model.encode(piece, bandwidth=self.bandwidth)
                codes.append(out.audio_codes[0, 0].T.cpu())  # [T, n_q]
            return torch.cat(codes, dim=0).numpy().astype(np.int32)
        if self.mean is None or self.std is None:
            raise ModelError(f"{FALLBACK_NAME}: fit() (latent statistics) must run before labels()")
        z = (self._latents(wav) - self.mean) / self.std  # [T, 128]
        proj = F.normalize(torch.einsum("td,kdp->ktp", z, self.proj), dim=-1)  # [K, T, 16]
        sims = torch.einsum("ktp,kcp->ktc", proj, self.codebooks)
        return sims.argmax(dim=-1).T.contiguous().numpy().astype(np.int32)

    # ------------------------------------------------------------------ fitting (fallback only)
    def fit(self, samples: Iterable[tuple[torch.Tensor, torch.Tensor | None]]) -> dict[str, Any]:
        if not self.is_fallback:
            return {}
        feats, total = [], 0
        for wav, _ in samples:
            z = self._latents(wav)
            feats.append(z)
            total += z.shape[0]
            if total >= self.fit_max_frames:
                break
        if not feats:
            raise ModelError(f"{FALLBACK_NAME}: no audio to measure latent statistics on")
        z = torch.cat(feats)[: self.fit_max_frames].double()
        self.mean = z.mean(0).float()
        self.std = z.std(0).clamp_min(1e-12).float()
        return {"frames": int(z.shape[0])}

    def save(self, folder: Path) -> None:
        if not self.is_fallback or self.mean is None:
            return
        from mertbench.io import atomic_path, atomic_write_json

        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / "latent_stats.npz") as tmp:
            np.savez(tmp, mean=self.mean.numpy(), std=self.std.numpy())
        atomic_write_json(folder / "teacher.json", {"name": self.name, "identity": self.identity()})

    def load(self, folder: Path) -> bool:
        path = folder / "latent_stats.npz"
        if not self.is_fallback or not path.is_file():
            return False
        data = np.load(path)
        self.mean = torch.from_numpy(data["mean"]).float()
        self.std = torch.from_numpy(data["std"]).float()
        meta = folder / "teacher.json"
        if meta.is_file():
            saved = json.loads(meta.read_text()).get("identity", {})
            if saved.get("weights") != self._weights_fp:
                raise ModelError(f"{folder}: these latent statistics belong to different random EnCodec weights "
                                 f"({saved.get('weights')} != {self._weights_fp}); delete the folder to refit")
        return True
