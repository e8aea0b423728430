"""Multilabel tagging metrics: macro ROC-AUC and macro average precision (sklearn).

Both are the unweighted mean over tags of the per-tag score, exactly
``sklearn.metrics.roc_auc_score(..., average="macro")`` and
``sklearn.metrics.average_precision_score(..., average="macro")`` on the tags that can be scored.

Tags that cannot be scored
--------------------------
A tag with no positive (or no negative) example in the evaluated split has no defined ROC-AUC
(sklearn raises) and a degenerate AP. Such a tag is **excluded** from the macro average, never
scored 0 (torchmetrics, used by MARBLE, scores it 0 — a documented difference). Every exclusion is
reported: :func:`macro_tag_score` returns a :class:`TagScore` holding the value and the excluded
tags; the registered metric functions return the float and emit a :class:`TagsExcludedWarning`
(a ``UserWarning``) naming the tags, and log it on the ``mertbench.metrics`` logger. Callers that
store results should call :func:`macro_tag_score` and keep ``excluded`` alongside the number.

Shapes: ``y_true`` 0/1 ``[n, C]``, ``y_pred`` float scores ``[n, C]`` (logits or probabilities:
both metrics are rank-based, so a monotone transform such as the sigmoid does not change them).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Literal, Sequence

import numpy as np

from mertbench.metrics import register_metric


class TagsExcludedWarning(UserWarning):
    """Some tags had no positives or no negatives in the evaluated split and were not scored."""


@dataclass(frozen=True)
class TagScore:
    """A macro tag score and the tags left out of it.

    Attributes:
        value: macro average over the scored tags.
        excluded: names (or column indices as strings) of tags left out.
        reasons: tag -> ``"no positives"`` or ``"no negatives"``.
        num_scored: number of tags in the average.
    """

    value: float
    excluded: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)
    num_scored: int = 0


def _check(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if y_true.ndim == 1:
        y_true = y_true[:, None]
    if y_pred.ndim == 1:
        y_pred = y_pred[:, None]
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true {y_true.shape} and y_pred {y_pred.shape} must have the same shape [n, C]")
    if y_true.size and not np.isin(y_true, (0, 1)).all():
        raise ValueError("y_true must hold 0/1 values (multi-hot tags)")
    if not np.isfinite(y_pred).all():
        raise ValueError("y_pred contains NaN or inf scores")
    return y_true.astype(np.int64), y_pred


def scorable_tags(y_true: np.ndarray) -> tuple[np.ndarray, dict[int, str]]:
    """Boolean mask ``[C]`` of tags with both positives and negatives, and the reasons for the others."""
    y_true = np.asarray(y_true)
    pos = y_true.sum(axis=0)
    n = y_true.shape[0]
    reasons: dict[int, str] = {}
    for j in range(y_true.shape[1]):
        if pos[j] == 0:
            reasons[j] = "no positives"
        elif pos[j] == n:
            reasons[j] = "no negatives"
    mask = np.ones(y_true.shape[1], dtype=bool)
    mask[list(reasons)] = False
    return mask, reasons


def macro_tag_score(y_true: np.ndarray, y_pred: np.ndarray, kind: Literal["roc_auc", "ap"],
                    tags: Sequence[str] | None = None) -> TagScore:
    """Macro ROC-AUC (``kind="roc_auc"``) or AP (``kind="ap"``) over the scorable tags.

    Args:
        y_true: 0/1 ``[n, C]``.
        y_pred: scores ``[n, C]``.
        kind: which sklearn score.
        tags: optional names of the ``C`` columns (used in :attr:`TagScore.excluded`).

    Raises:
        ValueError: shapes differ, labels are not 0/1, or no tag can be scored.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    y_true, y_pred = _check(y_true, y_pred)
    names = list(tags) if tags is not None else [str(j) for j in range(y_true.shape[1])]
    if len(names) != y_true.shape[1]:
        raise ValueError(f"tags has {len(names)} names for {y_true.shape[1]} columns")
    mask, reasons = scorable_tags(y_true)
    if not mask.any():
        raise ValueError(f"no tag has both positive and negative examples among the {y_true.shape[0]} "
                         "evaluated items; macro ROC-AUC/AP is undefined")
    fn = roc_auc_score if kind == "roc_auc" else average_precision_score
    value = float(fn(y_true[:, mask], y_pred[:, mask], average="macro"))
    excluded = [names[j] for j in sorted(reasons)]
    return TagScore(value, excluded, {names[j]: r for j, r in reasons.items()}, int(mask.sum()))


def _report(score: TagScore, metric: str) -> float:
    if score.excluded:
        shown = ", ".join(f"{t} ({score.reasons[t]})" for t in score.excluded[:10])
        more = f" and {len(score.excluded) - 10} more" if len(score.excluded) > 10 else ""
        msg = (f"{metric}: {len(score.excluded)} tag(s) excluded from the macro average because the "
               f"evaluated split has no positives or no negatives for them: {shown}{more}; "
               f"averaged over {score.num_scored} tags")
        warnings.warn(msg, TagsExcludedWarning, stacklevel=3)  # shown once per message by default
    return score.value


@register_metric("roc_auc_macro", "max", "unit")
def roc_auc_macro(y_true: np.ndarray, y_pred: np.ndarray, tags: Sequence[str] | None = None) -> float:
    """Macro ROC-AUC over tags (sklearn ``roc_auc_score(average="macro")``); unscorable tags excluded."""
    return _report(macro_tag_score(y_true, y_pred, "roc_auc", tags), "roc_auc_macro")


@register_metric("ap_macro", "max", "unit")
def ap_macro(y_true: np.ndarray, y_pred: np.ndarray, tags: Sequence[str] | None = None) -> float:
    """Macro average precision over tags (sklearn ``average_precision_score(average="macro")``)."""
    return _report(macro_tag_score(y_true, y_pred, "ap", tags), "ap_macro")
