"""Provenance: what produced a result (versions, git hash, config hash, device, time).

Every results JSON, cache entry and checkpoint carries a provenance block built here.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import platform
import subprocess
from dataclasses import asdict, is_dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from mertbench._version import __version__
from mertbench.paths import PACKAGE_DIR


def _jsonable(obj: Any) -> Any:
    if is_dataclass(obj) and not isinstance(obj, type):
        return _jsonable(asdict(obj))
    if hasattr(obj, "model_dump"):  # pydantic models
        return _jsonable(obj.model_dump())
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and obj.is_integer():
        return obj  # keep floats as floats; json writes 1.0
    return obj


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace: equal configs give equal strings."""
    return json.dumps(_jsonable(obj), sort_keys=True, separators=(",", ":"), default=str)


def config_hash(obj: Any, length: int = 12) -> str:
    """Short SHA-256 of the canonical JSON of ``obj`` (dicts, dataclasses, pydantic models)."""
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()[:length]


@lru_cache(maxsize=1)
def git_hash() -> str | None:
    """Commit of the mertbench source tree (with ``-dirty`` if modified), or None if not a checkout."""
    repo = PACKAGE_DIR.parent
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
        if out.returncode != 0:
            return None
        commit = out.stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5,
        ).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def device_description(device: Any = None) -> str:
    """Human-readable device: the GPU name for CUDA devices, else the CPU model."""
    import torch

    dev = torch.device(device) if device is not None else torch.device("cpu")
    if dev.type == "cuda" and torch.cuda.is_available():
        return f"cuda:{torch.cuda.get_device_name(dev)}"
    return f"cpu:{platform.processor() or platform.machine()}"


def now_iso() -> str:
    """Current UTC time, ISO 8601 with seconds."""
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def provenance(
    *,
    config: Any = None,
    task_version: str | int | None = None,
    dataset_fingerprint: str | None = None,
    seed: int | list[int] | None = None,
    device: Any = None,
    wall_time_s: float | None = None,
    protocol: str | None = None,
    protocol_version: int | None = None,
) -> dict[str, Any]:
    """The provenance block stored with every result, cache entry and checkpoint (``protocol``:
    the evaluation protocol's name and version, for probe results)."""
    import torch

    extra = {"protocol": protocol, "protocol_version": protocol_version} if protocol is not None else {}
    return {**extra,
        "mertbench_version": __version__,
        "git_hash": git_hash(),
        "config_hash": config_hash(config) if config is not None else None,
        "task_version": None if task_version is None else str(task_version),
        "dataset_fingerprint": dataset_fingerprint,
        "seed": seed,
        "torch_version": str(torch.__version__),
        "python_version": platform.python_version(),
        "device": device_description(device),
        "wall_time_s": wall_time_s,
        "created": now_iso(),
    }
