"""Metric registry. Every metric declares its direction (max/min) and scale.

Calling conventions (``fn(y_true, y_pred, **options) -> float``), by task type:

- multiclass / key: ``y_true`` int array ``[n]`` (class indices), ``y_pred`` float ``[n, C]``
  scores (logits or probabilities; argmax is taken); key metrics get ``vocabulary=[...]``.
- multilabel: ``y_true`` 0/1 array ``[n, C]``, ``y_pred`` float scores ``[n, C]``.
- regression: ``y_true`` and ``y_pred`` float ``[n, K]``; per-dimension metrics take ``dim=k``.
- beat: ``y_true`` list of 1-D arrays of reference beat times (s), ``y_pred`` list of estimates.
- separation: ``y_true`` / ``y_pred`` lists (one per track) of ``{stem: array [C, N]}``; per-stem
  metrics take ``stem=name``.

Metric functions live in the submodules listed in :data:`METRIC_MODULES` and register themselves.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal

import numpy as np

from mertbench.registry import Registry

MetricFn = Callable[..., float]

#: Modules whose import registers metrics.
METRIC_MODULES: list[str] = ["mertbench.metrics.builtin"]


@dataclass(frozen=True)
class Metric:
    """A registered metric."""

    name: str
    fn: MetricFn
    direction: Literal["max", "min"]
    scale: Literal["unit", "db", "raw"]
    description: str = ""

    def __call__(self, y_true: Any, y_pred: Any, **options: Any) -> float:
        return float(self.fn(y_true, y_pred, **options))


#: registered metrics (built-ins plus plugins of the ``mertbench.metrics`` entry-point group)
METRICS: Registry[Metric] = Registry("metric", builtins=METRIC_MODULES, group="mertbench.metrics", error=KeyError)


def register_metric(name: str, direction: Literal["max", "min"] = "max",
                    scale: Literal["unit", "db", "raw"] = "unit", description: str = "") -> Callable[[MetricFn], MetricFn]:
    """Decorator: register ``fn`` as metric ``name``."""

    def deco(fn: MetricFn) -> MetricFn:
        if name in METRICS._items and METRICS._items[name].fn is not fn:
            raise ValueError(f"metric {name!r} registered twice")
        METRICS.add(name, Metric(name, fn, direction, scale, description or (fn.__doc__ or "").strip().split("\n")[0]),
                    same=lambda old, new: old.fn is new.fn)
        return fn

    return deco


def get_metric(name: str) -> Metric:
    """The metric registered under ``name``."""
    return METRICS.get(name)


@register_metric("accuracy", "max", "unit")
def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of items whose argmax score equals the true class (sklearn accuracy_score)."""
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    pred = y_pred.argmax(axis=1) if y_pred.ndim == 2 else y_pred
    return float((pred == y_true).mean())
