"""From per-head outcomes to the results schema: lr per layer, the selected layer, seeds -> CI.

For every layer key (hidden-state index or ``weighted``) the learning rate whose mean validation
primary metric over seeds is best is kept; every metric of that (layer, lr) is summarised over seeds
(mean, 95% CI, std) for validation and test. The selected layer is the layer key with the best mean
validation primary metric. Ties go to the earlier candidate (layers in index order, ``weighted``
last; learning rates ascending), so selection is deterministic.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from mertbench.probe.heads import WEIGHTED
from mertbench.probe.trainer import HeadResult
from mertbench.results import MetricValue, summarize


def layer_sort_key(key: str) -> tuple[int, int]:
    return (1, 0) if key == WEIGHTED else (0, int(key))


@dataclass
class Selection:
    """``layers[key][split][metric]`` summaries, chosen lr per layer, the grid of validation means,
    the selected layer, metrics left out because they were undefined (NaN) for some seed."""

    layers: dict[str, dict[str, dict[str, MetricValue]]]
    lr_per_layer: dict[str, float]
    grid: dict[str, dict[str, float]]
    selected: str
    undefined: list[str] = field(default_factory=list)
    best_epochs: dict[str, list[int]] = field(default_factory=dict)
    contexts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def _mean(values: list[float]) -> float:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return sum(vals) / len(vals) if len(vals) == len(values) and vals else math.nan


def _better(a: float, b: float, direction: str) -> bool:
    if math.isnan(a):
        return False
    if math.isnan(b):
        return True
    return a > b if direction == "max" else a < b


def select(results: list[HeadResult], primary: str, direction: str) -> Selection:
    """Choose lr per layer and the layer, and summarise metrics over seeds."""
    by: dict[tuple[str, float], list[HeadResult]] = defaultdict(list)
    for r in results:
        by[(r.config.key, r.config.lr)].append(r)
    keys = sorted({k for k, _ in by}, key=layer_sort_key)
    grid: dict[str, dict[str, float]] = {}
    lr_per_layer: dict[str, float] = {}
    layers: dict[str, dict[str, dict[str, MetricValue]]] = {}
    undefined: list[str] = []
    best_epochs: dict[str, list[int]] = {}
    contexts: dict[str, list[dict[str, Any]]] = {}
    for key in keys:
        lrs = sorted(lr for k, lr in by if k == key)
        grid[key] = {}
        best_lr, best_val = lrs[0], math.nan
        for lr in lrs:
            val = _mean([r.valid.get(primary, math.nan) for r in by[(key, lr)]])
            grid[key][f"{lr:g}"] = val
            if _better(val, best_val, direction):
                best_lr, best_val = lr, val
        lr_per_layer[key] = best_lr
        runs = sorted(by[(key, best_lr)], key=lambda r: r.config.seed)
        best_epochs[key] = [r.best_epoch for r in runs]
        contexts[key] = [r.context for r in runs]
        layers[key] = {}
        for split in ("valid", "test"):
            out: dict[str, MetricValue] = {}
            names = list(getattr(runs[0], split).keys())
            for name in names:
                vals = [getattr(r, split).get(name, math.nan) for r in runs]
                if all(v is not None and math.isfinite(v) for v in vals):
                    out[name] = summarize(vals)
                else:
                    undefined.append(f"{key}/{split}/{name}")
            layers[key][split] = out
    selected = keys[0]
    for key in keys[1:]:
        a = layers[key]["valid"].get(primary)
        b = layers[selected]["valid"].get(primary)
        if a is not None and (b is None or _better(a.mean, b.mean, direction)):
            selected = key
    for k in list(grid):
        grid[k] = {lr: (None if math.isnan(v) else v) for lr, v in grid[k].items()}  # type: ignore[misc]
    return Selection(layers, lr_per_layer, grid, selected, undefined, best_epochs, contexts)
