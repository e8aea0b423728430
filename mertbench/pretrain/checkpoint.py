"""Training checkpoints: everything needed to continue a run exactly, written atomically.

A checkpoint (``runs/X/checkpoints/step_0000300.pt``, ``torch.save`` format) holds the model
(pretraining heads included), optimizer, LR scheduler and loss-scaler states, the RNG states
(python, numpy, torch CPU and CUDA), the data position (step; batches are a pure function of
``(seed, step, micro-batch)``), counters (updates, skipped steps), the resolved config, the teacher's
identity and a provenance block. The newest ``keep`` checkpoints are kept.

Checkpoints hold only tensors, numbers, strings, lists, tuples and dicts (the RNG states are
stored as tensors), so they are read with ``torch.load(weights_only=True)``: a run folder someone
hands you cannot run code when it is resumed. Files of the older format (v1, which pickled numpy's
RNG state) are refused with the reason; they came only from mertbench before this change.
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

FORMAT = "mertbench-pretrain-checkpoint-v2"
_OLD_FORMATS = ("mertbench-pretrain-checkpoint-v1",)
_NAME = re.compile(r"^step_(\d+)\.pt$")


def rng_state() -> dict[str, Any]:
    """Python, numpy and torch (CPU, CUDA) RNG states, as tensors and numbers only (no pickled objects)."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": {"version": int(version), "internal": torch.tensor(internal, dtype=torch.int64),
                   "gauss": None if gauss is None else float(gauss)},
        "numpy": {"kind": str(kind), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore :func:`rng_state`."""
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["internal"].tolist()), py["gauss"]))
    npy = state["numpy"]
    np.random.set_state((npy["kind"], npy["keys"].numpy().astype(np.uint32), npy["pos"], npy["has_gauss"],
                         npy["cached_gaussian"]))
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
    """Read a checkpoint written by :func:`save_checkpoint` with ``torch.load(weights_only=True)``.

    Nothing in the file is executed: a file holding anything but tensors and plain containers
    (e.g. a crafted pickle) is refused with :class:`SpecError` naming the file.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 (torch raises UnpicklingError, RuntimeError, EOFError, ...)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SpecError(f"{path}: not a readable mertbench pretraining checkpoint ({FORMAT}); it was refused "
                        f"unread because it holds more than tensors and plain values, or is damaged ({first}). "
                        "Delete it to resume from the previous checkpoint, or start the run again.") from exc
    if isinstance(state, dict) and state.get("format") in _OLD_FORMATS:
        raise SpecError(f"{path}: checkpoint format {state['format']} (written before checkpoints became weights-only) pickled numpy "
                        f"objects and is not resumed by this version ({FORMAT}); start the run again")
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise SpecError(f"{path}: not a mertbench pretraining checkpoint ({FORMAT})")
    return state


#: config sections that may differ between a run and its resumption
RESUMABLE_CHANGES = {"run", "data.num_workers"}
#: keys inside :data:`RESUMABLE_CHANGES` sections that must not change: the seed picks the held-out
#: clips, the k-means fit sample and every batch, so resuming with another seed is another run
NOT_RESUMABLE = {"run.seed"}


def config_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Dotted keys whose values differ between two config dicts, ignoring :data:`RESUMABLE_CHANGES`."""
    diffs = []
    for name in sorted(NOT_RESUMABLE):
        section, key = name.split(".", 1)
        old_value = saved.get(section, {}).get(key) if isinstance(saved.get(section), dict) else None
        new_value = current.get(section, {}).get(key) if isinstance(current.get(section), dict) else None
        if old_value != new_value:
            diffs.append(f"{name}: {old_value!r} -> {new_value!r}")
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
