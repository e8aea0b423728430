"""Regression metrics: coefficient of determination R² (sklearn ``r2_score``).

Shapes: ``y_true`` and ``y_pred`` float ``[n, K]`` (``[n]`` is treated as ``K = 1``). With
``dim=k`` the score of column ``k`` alone; without, the uniform average over the K columns
(``multioutput="uniform_average"``), which is MARBLE's ``r2`` monitor for EMO. R² is computed
over all items of the split (torchmetrics ``R2Score`` as used by MARBLE gives the same value).
"""
from __future__ import annotations

import numpy as np

from mertbench.metrics import register_metric


def _as_2d(y: np.ndarray, what: str) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2:
        raise ValueError(f"{what} must have shape [n, K], got {y.shape}")
    if not np.isfinite(y).all():
        raise ValueError(f"{what} contains NaN or inf")
    return y


@register_metric("r2", "max", "unit")
def r2(y_true: np.ndarray, y_pred: np.ndarray, dim: int | None = None) -> float:
    """R² of column ``dim`` (or the uniform average over columns), equal to sklearn ``r2_score``."""
    from sklearn.metrics import r2_score

    t = _as_2d(y_true, "y_true")
    p = _as_2d(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true {t.shape} and y_pred {p.shape} must have the same shape")
    if t.shape[0] < 2:
        raise ValueError("R² needs at least 2 items")
    if dim is not None:
        if not -t.shape[1] <= dim < t.shape[1]:
            raise ValueError(f"dim={dim} is out of range for {t.shape[1]} target columns")
        return float(r2_score(t[:, dim], p[:, dim]))
    return float(r2_score(t, p, multioutput="uniform_average"))
