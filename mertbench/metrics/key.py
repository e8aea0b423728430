"""Key estimation metrics (GiantSteps) and MARBLE's song-level ensembling.

Metrics
-------
- ``key_weighted_score``: mean over items of ``mir_eval.key.weighted_score(reference, estimate)``
  (1.0 same key; 0.5 estimate a perfect fifth above the reference, same mode; 0.3 relative
  major/minor; 0.2 parallel major/minor; else 0). MARBLE calls this "Acc^Refined".
- ``key_accuracy``: fraction of exact matches.

Calling convention: ``y_true`` ``[n]`` class indices into ``vocabulary`` (or key names);
``y_pred`` ``[n, 24]`` scores (logits; argmax taken) or ``[n]`` class indices. ``vocabulary`` is
a list of 24 key names ``"<tonic> major|minor"``; it defaults to :data:`KEY_VOCABULARY`
(MARBLE's order: C, Db, D, Eb, E, F, Gb, G, Ab, A, Bb, B major, then the same tonics minor).

Song-level ensembling (GiantSteps)
----------------------------------
GS is trained and scored per 30 s clip, and MARBLE (after jukemir) ensembles the clip predictions
of each song four ways (:data:`ENSEMBLE_STRATEGIES`):

=================  ==========================================  ==================
strategy           song prediction                             MARBLE name
=================  ==========================================  ==================
``vote``           most frequent clip argmax (ties: lowest)    ``vote``
``max``            argmax of the per-class max clip logit      ``max``
``mean_logit``     argmax of the mean clip logits              ``gmean``
``mean_softmax``   argmax of the mean clip softmax             ``mean``
=================  ==========================================  ==================

The validation split picks the strategy (best weighted score, earlier strategy in the table on a
tie, as MARBLE's strict ``>`` does) and the test split is scored with it
(``test_ensemble_score_val-select``). Use :func:`song_level_key_scores` on each split and
:func:`select_strategy` on the validation result, or pass ``groups=`` and ``strategy=`` to the
registered metrics.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np

from mertbench.metrics import register_metric

TONICS = ["C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B"]

#: MARBLE's 24 GiantSteps classes, in output order.
KEY_VOCABULARY: list[str] = [f"{t} major" for t in TONICS] + [f"{t} minor" for t in TONICS]

#: Song-level ensembling strategies in MARBLE's order (which decides ties in :func:`select_strategy`).
ENSEMBLE_STRATEGIES: tuple[str, ...] = ("vote", "max", "mean_logit", "mean_softmax")

_SHARP_TO_FLAT = {"C#": "Db", "D#": "Eb", "F#": "Gb", "G#": "Ab", "A#": "Bb"}


def normalize_key(name: str) -> str:
    """``"d# Minor"`` -> ``"Eb minor"``: capitalised flat-spelled tonic, lower-case mode.

    Raises:
        ValueError: not ``"<tonic> major|minor"``.
    """
    parts = str(name).replace("\t", " ").split()
    if len(parts) != 2 or parts[1].lower() not in ("major", "minor"):
        raise ValueError(f"key {name!r} is not '<tonic> major|minor'")
    tonic = parts[0][0].upper() + parts[0][1:].lower()
    tonic = _SHARP_TO_FLAT.get(tonic, tonic)
    if tonic not in TONICS:
        raise ValueError(f"key {name!r}: unknown tonic {parts[0]!r}")
    return f"{tonic} {parts[1].lower()}"


@lru_cache(maxsize=8)
def _score_table(vocabulary: tuple[str, ...]) -> np.ndarray:
    """``[C, C]`` table: ``table[ref, est] = mir_eval.key.weighted_score(vocab[ref], vocab[est])``."""
    import mir_eval

    for k in vocabulary:
        mir_eval.key.validate_key(k)
    c = len(vocabulary)
    table = np.empty((c, c), dtype=np.float64)
    for i, ref in enumerate(vocabulary):
        for j, est in enumerate(vocabulary):
            table[i, j] = mir_eval.key.weighted_score(ref, est)
    return table


def _indices(y: np.ndarray | Sequence, vocabulary: Sequence[str], what: str) -> np.ndarray:
    """Class indices ``[n]`` from indices, key names or ``[n, C]`` scores (argmax)."""
    arr = np.asarray(y)
    if arr.ndim == 2:
        if arr.shape[1] != len(vocabulary):
            raise ValueError(f"{what} has {arr.shape[1]} score columns for a vocabulary of {len(vocabulary)} keys")
        return arr.argmax(axis=1)
    if arr.ndim != 1:
        raise ValueError(f"{what} must be [n] class indices/key names or [n, C] scores, got shape {arr.shape}")
    if arr.dtype.kind in "USO":
        index = {k: i for i, k in enumerate(vocabulary)}
        out = []
        for v in arr:
            name = normalize_key(str(v))
            if name not in index:
                raise ValueError(f"{what}: key {v!r} is not in the vocabulary")
            out.append(index[name])
        return np.asarray(out, dtype=np.int64)
    idx = arr.astype(np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= len(vocabulary)):
        raise ValueError(f"{what}: class index out of range [0, {len(vocabulary)})")
    return idx


def _softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def ensemble_groups(scores: np.ndarray, groups: Sequence, strategy: str) -> tuple[list, np.ndarray]:
    """Combine clip scores of each group (song) into one row per group.

    Args:
        scores: clip logits ``[n, C]``.
        groups: group id per clip ``[n]`` (e.g. ``Example.group`` = song id).
        strategy: one of :data:`ENSEMBLE_STRATEGIES`.

    Returns:
        ``(group_ids, group_scores)``: the sorted unique group ids and ``[G, C]`` scores whose
        argmax is the song prediction (for ``vote`` the scores are vote counts).
    """
    scores = np.asarray(scores, dtype=np.float64)
    groups = np.asarray(groups)
    if scores.ndim != 2 or len(groups) != scores.shape[0]:
        raise ValueError(f"scores must be [n, C] and groups [n]; got {scores.shape} and {groups.shape}")
    if strategy not in ENSEMBLE_STRATEGIES:
        raise ValueError(f"unknown ensembling strategy {strategy!r}; use one of {ENSEMBLE_STRATEGIES}")
    uniq, inverse = np.unique(groups, return_inverse=True)
    out = np.zeros((len(uniq), scores.shape[1]), dtype=np.float64)
    if strategy == "vote":
        np.add.at(out, (inverse, scores.argmax(axis=1)), 1.0)
    elif strategy == "max":
        out[:] = -np.inf
        np.maximum.at(out, inverse, scores)
    else:
        vals = scores if strategy == "mean_logit" else _softmax(scores)
        np.add.at(out, inverse, vals)
        out /= np.bincount(inverse, minlength=len(uniq))[:, None]
    return list(uniq), out


def group_labels(y_true: np.ndarray | Sequence, groups: Sequence, vocabulary: Sequence[str] = KEY_VOCABULARY) -> np.ndarray:
    """The label of each group ``[G]`` (sorted group ids), checking all clips of a group agree."""
    idx = _indices(y_true, vocabulary, "y_true")
    groups = np.asarray(groups)
    uniq, inverse = np.unique(groups, return_inverse=True)
    labels = np.full(len(uniq), -1, dtype=np.int64)
    for i, g in enumerate(inverse):
        if labels[g] == -1:
            labels[g] = idx[i]
        elif labels[g] != idx[i]:
            raise ValueError(f"group {uniq[g]!r} has clips with different keys "
                             f"({vocabulary[labels[g]]!r} and {vocabulary[idx[i]]!r})")
    return labels


def _scores(ref: np.ndarray, est: np.ndarray, vocabulary: Sequence[str]) -> tuple[float, float]:
    if len(ref) != len(est):
        raise ValueError(f"y_true has {len(ref)} items, y_pred {len(est)}")
    if len(ref) == 0:
        raise ValueError("no items to score")
    table = _score_table(tuple(vocabulary))
    return float(table[ref, est].mean()), float((ref == est).mean())


def song_level_key_scores(y_true: np.ndarray | Sequence, y_pred: np.ndarray, groups: Sequence,
                          vocabulary: Sequence[str] = KEY_VOCABULARY) -> dict[str, dict[str, float]]:
    """Weighted score and accuracy per clip (``"clip"``) and per ensembling strategy (song level).

    Returns ``{"clip": {"weighted_score": .., "accuracy": ..}, "vote": {...}, "max": {...},
    "mean_logit": {...}, "mean_softmax": {...}}``.
    """
    vocabulary = list(vocabulary)
    ref = _indices(y_true, vocabulary, "y_true")
    est = _indices(y_pred, vocabulary, "y_pred")
    out: dict[str, dict[str, float]] = {}
    ws, acc = _scores(ref, est, vocabulary)
    out["clip"] = {"weighted_score": ws, "accuracy": acc}
    song_ref = group_labels(ref, groups, vocabulary)
    for strategy in ENSEMBLE_STRATEGIES:
        _, song_scores = ensemble_groups(y_pred, groups, strategy)
        ws, acc = _scores(song_ref, song_scores.argmax(axis=1), vocabulary)
        out[strategy] = {"weighted_score": ws, "accuracy": acc}
    return out


def select_strategy(valid_scores: dict[str, dict[str, float]], metric: str = "weighted_score") -> str:
    """The strategy with the best ``metric`` on validation (earliest in MARBLE's order on a tie)."""
    best, best_value = None, -np.inf
    for strategy in ENSEMBLE_STRATEGIES:
        value = valid_scores[strategy][metric]
        if value > best_value:
            best, best_value = strategy, value
    assert best is not None
    return best


def _prepare(y_true, y_pred, vocabulary, groups, strategy) -> tuple[np.ndarray, np.ndarray, list[str]]:
    vocabulary = list(vocabulary) if vocabulary is not None else list(KEY_VOCABULARY)
    if len(set(vocabulary)) != len(vocabulary):
        raise ValueError("vocabulary has duplicate keys")
    ref = _indices(y_true, vocabulary, "y_true")
    if groups is None:
        return ref, _indices(y_pred, vocabulary, "y_pred"), vocabulary
    scores = np.asarray(y_pred, dtype=np.float64)
    if scores.ndim != 2:
        raise ValueError("song-level ensembling (groups=...) needs y_pred scores [n, C]")
    _, song_scores = ensemble_groups(scores, groups, strategy)
    return group_labels(ref, groups, vocabulary), song_scores.argmax(axis=1), vocabulary


@register_metric("key_weighted_score", "max", "unit")
def key_weighted_score(y_true, y_pred, vocabulary: Sequence[str] | None = None, groups: Sequence | None = None,
                       strategy: str = "mean_logit") -> float:
    """Mean mir_eval.key.weighted_score; with ``groups`` scored per song after ``strategy`` ensembling."""
    ref, est, vocab = _prepare(y_true, y_pred, vocabulary, groups, strategy)
    return _scores(ref, est, vocab)[0]


@register_metric("key_accuracy", "max", "unit")
def key_accuracy(y_true, y_pred, vocabulary: Sequence[str] | None = None, groups: Sequence | None = None,
                 strategy: str = "mean_logit") -> float:
    """Exact-key accuracy; with ``groups`` scored per song after ``strategy`` ensembling."""
    ref, est, vocab = _prepare(y_true, y_pred, vocabulary, groups, strategy)
    return _scores(ref, est, vocab)[1]
