"""Training checkpoints: everything needed to continue a run exactly, written atomically.

A checkpoint (``runs/X/checkpoints/step_0000300.pt``, ``torch.save`` format) holds the model
(pretraining heads included), optimizer, LR scheduler and loss-scaler states, the RNG states
(python, numpy, torch CPU and CUDA), the data position (step; batches are a pure function of
``(seed, step, micro-batch)``), counters (updates, skipped steps), the resolved config, the teacher's
identity and a provenance block. The newest ``keep`` checkpoints are kept.
"""
from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mertbench.errors import SpecError
from mertbench.io import atomic_path

FORMAT = "mertbench-pretrain-checkpoint-v1"
_NAME = re.compile(r"^step_(\d+)\.pt$")


def rng_state() -> dict[str, Any]:
    """Python, numpy and torch (CPU, CUDA) RNG states."""
    state: dict[str, Any] = {"python": random.getstate(), "numpy": np.random.get_state(),
                             "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore :func:`rng_state`."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoint_path(folder: Path, step: int) -> Path:
    return folder / f"step_{step:07d}.pt"


def list_checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """``(step, path)`` of the checkpoints in ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return sorted(found)


def latest_checkpoint(folder: Path) -> Path | None:
    found = list_checkpoints(folder)
    return found[-1][1] if found else None


def save_checkpoint(folder: Path, step: int, state: dict[str, Any], keep: int = 2) -> Path:
    """Write ``state`` as ``step_<step>.pt`` atomically, then delete all but the newest ``keep``."""
    path = checkpoint_path(folder, step)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, **state}, tmp)
    if keep > 0:
        for _, old in list_checkpoints(folder)[:-keep]:
            old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (our own file: full unpickling)."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise SpecError(f"{path}: not a mertbench pretraining checkpoint ({FORMAT})")
    return state


#: config sections that may differ between a run and its resumption
RESUMABLE_CHANGES = {"run", "data.num_workers"}


def config_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Dotted keys whose values differ between two config dicts, ignoring :data:`RESUMABLE_CHANGES`."""
    diffs = []
    for section, values in current.items():
        if section in RESUMABLE_CHANGES:
            continue
        if not isinstance(values, dict):
            if saved.get(section) != values:
                diffs.append(section)
            continue
        old = saved.get(section, {})
        for key, value in values.items():
            name = f"{section}.{key}"
            if name in RESUMABLE_CHANGES:
                continue
            if old.get(key) != value:
                diffs.append(f"{name}: {old.get(key)!r} -> {value!r}")
    return diffs
