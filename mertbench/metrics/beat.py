"""Beat tracking: a madmom-equivalent DBN beat decoder and the two beat F-measures.

Decoding frame activations to beat times
----------------------------------------
:func:`dbn_decode` is a numpy re-implementation (written from madmom's documentation and
published model description, no madmom code) of ``madmom.features.beats.DBNBeatTrackingProcessor``
in offline (Viterbi) mode — what MARBLE applies to the probe's per-frame beat activation:

- State space (Krebs, Böck & Widmer, ISMIR 2015, as madmom's ``BeatStateSpace``): one chain of
  states per beat interval ``d`` (frames per beat); the state at step ``k`` of chain ``d`` has
  position ``k / d`` in the beat. Intervals run from ``round(60 fps / max_bpm)`` to
  ``round(60 fps / min_bpm)``; when ``num_tempi`` is smaller than that count the intervals are
  ``num_tempi`` log-spaced values rounded to integers (the count grown until ``num_tempi`` unique
  intervals remain), as madmom does.
- Transitions (``BeatTransitionModel``): inside a chain the pointer advances one state per frame
  with probability 1; from the last state of chain ``i`` to the first state of chain ``j`` with
  probability proportional to ``exp(-transition_lambda * |d_j / d_i - 1|)``, values ``<= 2.2e-16``
  set to 0, normalised over ``j``.
- Observations (``RNNBeatTrackingObservationModel``): states with position ``< 1 /
  observation_lambda`` are "beat" states with likelihood ``a``; the others have
  ``(1 - a) / (observation_lambda - 1)`` (``a`` = activation of the frame).
- Viterbi with a uniform initial distribution (applied before the first frame's transition),
  ties resolved towards the lowest state index.
- ``correct=True``: each contiguous run of frames in beat states yields one beat at the frame of
  the highest activation in that run; ``correct=False``: frames where the beat position has a
  (wrapped) local minimum and that are in a beat state. ``threshold > 0`` first trims the
  activation to the span from the first to the last frame ``>= threshold``.

Default ``num_tempi``: madmom's ``DBNBeatTrackingProcessor`` defaults to ``NUM_TEMPI = None``
(linear interval spacing, one chain per integer interval), while its *downbeat* processor uses 60.
We follow the beat processor (``None``). At 75 fps this models 62 intervals (21..82 frames)
instead of 60 log-spaced ones; pass ``num_tempi=60`` for the other variant.

Activations that are exactly 0 or 1 give ``log(0) = -inf`` likelihoods exactly as in madmom; if no
path has finite probability the decoder warns and returns no beats (madmom does the same). MARBLE
v2 squeezes probabilities into ``[eps/2, 1 - eps/2]`` (eps = 1e-5) before decoding; pass
``clip=1e-5`` to do that here.

Metrics
-------
``beat_f_measure`` (MARBLE, primary): per track ``mir_eval.util.match_events(reference, estimate,
0.07)``; the numbers of matches, estimates and references are **summed over the split** and one
F-measure ``2PR/(P+R)`` is computed (0 when there are no estimates or no references). No 5 s
trimming. ``beat_f_measure_mir_eval``: the mean over tracks of ``mir_eval.beat.f_measure`` after
``mir_eval.beat.trim_beats`` (beats before 5 s removed), i.e. the ``F-measure`` of
``mir_eval.beat.evaluate``.

Calling convention: ``y_true`` a list of 1-D arrays of reference beat times (s), ``y_pred`` a list
of estimated beat times (s). With ``fps=...`` the entries of ``y_pred`` are frame activations
``[T]`` in ``[0, 1]`` and are decoded with :func:`dbn_decode` first (``dbn={...}`` passes options).
With ``reference_fps=...`` reference times are quantised to that frame rate first
(``round(t * fps) / fps``), as MARBLE's references come from frame labels.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Sequence

import numpy as np

from mertbench.metrics import register_metric

#: Defaults of madmom's DBNBeatTrackingProcessor.
MIN_BPM = 55.0
MAX_BPM = 215.0
TRANSITION_LAMBDA = 100.0
OBSERVATION_LAMBDA = 16
TOLERANCE_S = 0.07

_EPS = float(np.spacing(1))


@dataclass(frozen=True)
class BeatStateSpace:
    """The bar-pointer state space (one chain of states per beat interval).

    Attributes:
        intervals: ``[K]`` beat intervals in frames (ascending).
        first_states / last_states: ``[K]`` index of the first/last state of each chain.
        positions: ``[S]`` position of each state inside the beat, in ``[0, 1)``.
        num_states: ``S = sum(intervals)``.
    """

    intervals: np.ndarray
    first_states: np.ndarray
    last_states: np.ndarray
    positions: np.ndarray

    @property
    def num_states(self) -> int:
        return int(self.positions.size)


def beat_intervals(min_interval: float, max_interval: float, num_intervals: int | None) -> np.ndarray:
    """Integer beat intervals (frames) modelled between ``min_interval`` and ``max_interval``."""
    linear = np.arange(np.round(min_interval), np.round(max_interval) + 1)
    if num_intervals is None or num_intervals >= len(linear):
        return linear.astype(np.int64)
    n = int(num_intervals)
    out = np.empty(0)
    while len(out) < num_intervals:
        out = np.unique(np.round(np.exp2(np.linspace(np.log2(min_interval), np.log2(max_interval), n))))
        n += 1
    return out.astype(np.int64)


@lru_cache(maxsize=16)
def _state_space(min_interval: float, max_interval: float, num_intervals: int | None) -> BeatStateSpace:
    intervals = beat_intervals(min_interval, max_interval, num_intervals)
    if intervals.size == 0 or intervals.min() < 1:
        raise ValueError(f"invalid tempo range: beat intervals {min_interval:.2f}..{max_interval:.2f} frames")
    last = np.cumsum(intervals) - 1
    first = last - intervals + 1
    positions = np.concatenate([np.arange(d) / d for d in intervals])
    return BeatStateSpace(intervals, first, last, positions)


def tempo_log_transitions(intervals: np.ndarray, transition_lambda: float | None) -> np.ndarray:
    """``[K, K]`` log-probabilities of moving from interval ``i`` (row) to interval ``j`` (column)."""
    k = len(intervals)
    if transition_lambda is None:
        prob = np.eye(k)
    else:
        ratio = intervals[None, :].astype(np.float64) / intervals[:, None].astype(np.float64)
        prob = np.exp(-float(transition_lambda) * np.abs(ratio - 1.0))
        prob[prob <= _EPS] = 0.0
        prob /= prob.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        return np.log(prob)


def _viterbi(act: np.ndarray, space: BeatStateSpace, log_trans: np.ndarray,
             observation_lambda: float) -> np.ndarray | None:
    """Most likely state path ``[T]`` (None when every path has zero probability)."""
    n_frames = act.size
    s = space.num_states
    first, last = space.first_states, space.last_states
    is_beat = space.positions < 1.0 / observation_lambda
    with np.errstate(divide="ignore", invalid="ignore"):
        log_beat = np.log(act)
        log_nobeat = np.log((1.0 - act) / (observation_lambda - 1))
    beat_idx = np.nonzero(is_beat)[0]
    k = len(first)
    cols = np.arange(k)
    backptr = np.empty((n_frames, k), dtype=np.int32)  # chain index of the predecessor of each first state
    v = np.full(s, -np.log(s))
    new = np.empty(s)
    for t in range(n_frames):
        cand = v[last][:, None] + log_trans  # [from chain, to chain]
        best = cand.argmax(axis=0)
        backptr[t] = best
        new[1:] = v[:-1]  # advance one state inside each chain ...
        new[first] = cand[best, cols]  # ... except into the first states (tempo transitions)
        at_beat = new[beat_idx]
        new += log_nobeat[t]
        new[beat_idx] = at_beat + log_beat[t]  # (not a difference: a = 0 or 1 gives -inf, never nan)
        v, new = new, v
    state = int(v.argmax())
    if not np.isfinite(v[state]):
        return None
    chain_of_first = {int(f): j for j, f in enumerate(first)}
    path = np.empty(n_frames, dtype=np.int64)
    for t in range(n_frames - 1, -1, -1):
        path[t] = state
        j = chain_of_first.get(state)
        state = int(last[backptr[t, j]]) if j is not None else state - 1
    return path


def dbn_decode(activation: np.ndarray, fps: float, min_bpm: float = MIN_BPM, max_bpm: float = MAX_BPM,
               num_tempi: int | None = None, transition_lambda: float | None = TRANSITION_LAMBDA,
               observation_lambda: float = OBSERVATION_LAMBDA, threshold: float = 0.0,
               correct: bool = True, clip: float | None = None) -> np.ndarray:
    """Decode a frame-wise beat activation to beat times, as madmom's DBNBeatTrackingProcessor.

    Args:
        activation: ``[T]`` beat probability per frame, in ``[0, 1]``.
        fps: frames per second of ``activation`` (75 for MERT-v1 tokens).
        min_bpm / max_bpm: tempo range (beats per minute).
        num_tempi: number of modelled tempi (log-spaced); ``None`` = every integer interval.
        transition_lambda: tempo-change penalty (higher = steadier); ``None`` = no tempo changes.
        observation_lambda: a beat occupies the first ``1/observation_lambda`` of the beat period.
        threshold: trim leading/trailing frames whose activation is below it (0: no trimming).
        correct: move each beat to the activation peak inside its beat-state run.
        clip: if given, map ``a -> a * (1 - clip) + clip / 2`` first (MARBLE v2 does, clip=1e-5).

    Returns:
        float64 ``[B]`` beat times in seconds (ascending; empty if nothing is decoded).
    """
    act = np.asarray(activation, dtype=np.float64).reshape(-1)
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if not np.isfinite(act).all() or (act.size and (act.min() < 0 or act.max() > 1)):
        raise ValueError("activation must hold finite values in [0, 1] (probabilities, not logits)")
    if not 0 < min_bpm < max_bpm:
        raise ValueError(f"need 0 < min_bpm < max_bpm, got {min_bpm}, {max_bpm}")
    if observation_lambda <= 1:
        raise ValueError(f"observation_lambda must be > 1, got {observation_lambda}")
    if clip is not None:
        act = act * (1.0 - clip) + clip / 2.0
    first = 0
    if threshold:
        idx = np.nonzero(act >= threshold)[0]
        if idx.size:
            first, last = int(idx.min()), int(idx.max()) + 1
        else:
            last = 0
        act = act[first:last]
    if not act.any():
        return np.empty(0, dtype=np.float64)
    space = _state_space(60.0 * fps / max_bpm, 60.0 * fps / min_bpm, num_tempi)
    log_trans = tempo_log_transitions(space.intervals, transition_lambda)
    path = _viterbi(act, space, log_trans, float(observation_lambda))
    if path is None:
        warnings.warn("dbn_decode: no state path has a finite probability (activations of exactly 0/1?); "
                      "no beats decoded", RuntimeWarning, stacklevel=2)
        return np.empty(0, dtype=np.float64)
    in_beat = space.positions[path] < 1.0 / observation_lambda
    if correct:
        edges = np.nonzero(np.diff(in_beat.astype(np.int8)))[0] + 1
        if in_beat[0]:
            edges = np.r_[0, edges]
        if in_beat[-1]:
            edges = np.r_[edges, in_beat.size]
        beats = np.array([left + int(np.argmax(act[left:right])) for left, right in edges.reshape(-1, 2)],
                         dtype=np.int64)
    else:
        from scipy.signal import argrelmin

        beats = argrelmin(space.positions[path], mode="wrap")[0]
        beats = beats[in_beat[beats]]
    return (beats + first) / float(fps)


# ---------------------------------------------------------------------------------------------
# F-measures


def _prepare(y_true: Sequence, y_pred: Sequence, fps: float | None, dbn: dict[str, Any] | None,
             reference_fps: float | None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} tracks, y_pred {len(y_pred)}")
    if len(y_true) == 0:
        raise ValueError("no tracks to score")
    refs = [np.asarray(r, dtype=np.float64).reshape(-1) for r in y_true]
    if reference_fps:
        refs = [np.unique(np.round(r * reference_fps)) / reference_fps for r in refs]
    if fps is not None:
        ests = [dbn_decode(a, fps, **(dbn or {})) for a in y_pred]
    else:
        ests = [np.asarray(e, dtype=np.float64).reshape(-1) for e in y_pred]
    return refs, ests


def beat_match_counts(reference: np.ndarray, estimate: np.ndarray, tolerance: float = TOLERANCE_S) -> tuple[int, int, int]:
    """``(matches, num_estimates, num_references)`` for one track (mir_eval.util.match_events)."""
    import mir_eval

    reference = np.asarray(reference, dtype=np.float64)
    estimate = np.asarray(estimate, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mir_eval warns about empty beat arrays
        mir_eval.beat.validate(reference, estimate)
    if reference.size == 0 or estimate.size == 0:
        return 0, int(estimate.size), int(reference.size)
    return len(mir_eval.util.match_events(reference, estimate, tolerance)), int(estimate.size), int(reference.size)


@register_metric("beat_f_measure", "max", "unit")
def beat_f_measure(y_true: Sequence, y_pred: Sequence, tolerance: float = TOLERANCE_S, fps: float | None = None,
                   dbn: dict[str, Any] | None = None, reference_fps: float | None = None) -> float:
    """MARBLE beat F-measure: 70 ms matching, counts pooled over the split, one F."""
    import mir_eval

    refs, ests = _prepare(y_true, y_pred, fps, dbn, reference_fps)
    m = e = r = 0
    for ref, est in zip(refs, ests):
        dm, de, dr = beat_match_counts(ref, est, tolerance)
        m, e, r = m + dm, e + de, r + dr
    if e == 0 or r == 0:
        return 0.0
    precision, recall = m / e, m / r
    if precision == 0 and recall == 0:
        return 0.0
    return float(mir_eval.util.f_measure(precision, recall))


@register_metric("beat_f_measure_mir_eval", "max", "unit")
def beat_f_measure_mir_eval(y_true: Sequence, y_pred: Sequence, tolerance: float = TOLERANCE_S,
                            min_beat_time: float = 5.0, fps: float | None = None,
                            dbn: dict[str, Any] | None = None, reference_fps: float | None = None) -> float:
    """Mean over tracks of mir_eval.beat.f_measure after mir_eval's 5 s trimming (``evaluate``)."""
    import mir_eval

    refs, ests = _prepare(y_true, y_pred, fps, dbn, reference_fps)
    scores = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # empty-beat warnings: f_measure returns 0 as documented
        for ref, est in zip(refs, ests):
            ref_t = mir_eval.beat.trim_beats(ref, min_beat_time)
            est_t = mir_eval.beat.trim_beats(est, min_beat_time)
            scores.append(mir_eval.beat.f_measure(ref_t, est_t, f_measure_threshold=tolerance))
    return float(np.mean(scores))
