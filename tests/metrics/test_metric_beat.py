"""Beat F-measures equal mir_eval; the DBN decoder recovers beats of known tempo."""
from __future__ import annotations

import mir_eval
import numpy as np
import pytest

from mertbench.metrics import get_metric
from mertbench.metrics.beat import beat_intervals, dbn_decode, tempo_log_transitions

FPS = 75


def _activation(beats: np.ndarray, seconds: float, rng, peak: float = 0.8, floor: float = 0.03) -> np.ndarray:
    act = floor + 0.02 * rng.random(int(seconds * FPS))
    for b in beats:
        i = int(round(b * FPS))
        act[i] = peak
        for d, w in ((1, 0.5), (2, 0.2)):
            for j in (i - d, i + d):
                if 0 <= j < act.size:
                    act[j] = max(act[j], peak * w)
    return act


def _check_recovered(reference: np.ndarray, estimate: np.ndarray) -> None:
    matched = mir_eval.util.match_events(reference, estimate, 0.07)
    assert len(matched) == len(reference), "every reference beat must be decoded within 70 ms"
    # the HMM keeps the beat going where the activation is flat: extra beats are allowed only
    # before the first / after the last annotated beat, at most one on each side
    unmatched = np.delete(estimate, [j for _, j in matched])
    assert np.all((unmatched < reference[0]) | (unmatched > reference[-1]))
    assert len(unmatched) <= 2


def test_dbn_constant_tempo():
    rng = np.random.default_rng(5)
    ref = np.arange(0.4, 29.6, 60 / 100)  # 100 BPM
    est = dbn_decode(_activation(ref, 30, rng), FPS)
    _check_recovered(ref, est)


def test_dbn_tempo_change():
    rng = np.random.default_rng(6)
    first = np.arange(0.5, 14.6, 0.5)  # 120 BPM
    second = first[-1] + np.cumsum(np.full(40, 60 / 150))  # then 150 BPM
    ref = np.concatenate([first, second[second < 29.5]])
    est = dbn_decode(_activation(ref, 30, rng), FPS)
    _check_recovered(ref, est)
    ibi = np.diff(est)
    assert np.median(ibi[est[1:] < 14]) == pytest.approx(0.5, abs=0.02)
    assert np.median(ibi[est[:-1] > 16]) == pytest.approx(0.4, abs=0.02)


def test_dbn_options_and_edge_cases():
    rng = np.random.default_rng(7)
    ref = np.arange(1.0, 9.5, 0.6)
    act = _activation(ref, 10, rng)
    _check_recovered(ref, dbn_decode(act, FPS, correct=False))
    _check_recovered(ref, dbn_decode(act, FPS, num_tempi=60, threshold=0.1))
    assert dbn_decode(np.zeros(300), FPS).size == 0
    with pytest.raises(ValueError, match="probabilities"):
        dbn_decode(act * 3, FPS)


def test_state_space_matches_madmom_rules():
    # linear spacing: every integer interval between round(60*fps/max) and round(60*fps/min)
    assert beat_intervals(60 * 75 / 215, 60 * 75 / 55, None).tolist() == list(range(21, 83))
    log = beat_intervals(60 * 75 / 215, 60 * 75 / 55, 60)
    assert len(log) == 60 and log[0] == 21 and log[-1] == 82
    lt = tempo_log_transitions(np.array([20, 21, 40]), 100.0)
    p = np.exp(lt)
    assert np.allclose(p.sum(1), 1.0) and p[0, 2] == 0.0  # a doubling of tempo is below machine eps
    assert p[0, 1] / p[0, 0] == pytest.approx(np.exp(-100 * (21 / 20 - 1)))


def test_beat_f_measure_marble_pooled_counts():
    rng = np.random.default_rng(8)
    refs = [np.sort(rng.uniform(0, 30, n)) for n in (40, 55, 10)]
    ests = [np.sort(np.r_[r[: len(r) // 2] + rng.normal(0, 0.04, len(r) // 2), rng.uniform(0, 30, 5)]) for r in refs]
    m = sum(len(mir_eval.util.match_events(r, e, 0.07)) for r, e in zip(refs, ests))
    p, r_ = m / sum(map(len, ests)), m / sum(map(len, refs))
    expected = 2 * p * r_ / (p + r_)
    assert get_metric("beat_f_measure")(refs, ests) == pytest.approx(expected, abs=1e-12)
    assert get_metric("beat_f_measure")(refs, [np.array([])] * 3) == 0.0


def test_beat_f_measure_mir_eval_equals_evaluate():
    rng = np.random.default_rng(9)
    refs = [np.arange(0.3, 30, 0.5), np.arange(0.1, 20, 0.7)]
    ests = [r + rng.normal(0, 0.05, r.size) for r in refs]
    ests = [np.sort(e[e > 0]) for e in ests]
    expected = np.mean([mir_eval.beat.evaluate(r, e)["F-measure"] for r, e in zip(refs, ests)])
    assert get_metric("beat_f_measure_mir_eval")(refs, ests) == pytest.approx(expected, abs=1e-12)


def test_beat_metric_decodes_activations_with_fps():
    rng = np.random.default_rng(10)
    ref = np.arange(0.5, 9.5, 0.5)
    act = _activation(ref, 10, rng)
    f = get_metric("beat_f_measure")([ref], [act], fps=FPS, reference_fps=FPS)
    assert f == pytest.approx(get_metric("beat_f_measure")([ref], [dbn_decode(act, FPS)]))
    assert f > 0.9


def test_viterbi_equals_dense_generic_hmm():
    """The chain-structured Viterbi equals a textbook dense-matrix Viterbi on the same model."""
    from mertbench.metrics.beat import _state_space, _viterbi

    fps, lam_obs = 20, 16
    space = _state_space(60 * fps / 215, 60 * fps / 55, None)
    lt = tempo_log_transitions(space.intervals, 100.0)
    s = space.num_states
    log_a = np.full((s, s), -np.inf)
    for st in range(s):
        if st not in set(space.first_states.tolist()):
            log_a[st - 1, st] = 0.0
    log_a[np.ix_(space.last_states, space.first_states)] = lt
    rng = np.random.default_rng(13)
    act = _activation(np.arange(0.3, 14.8, 0.55), 15, rng)[:: -(-75 // fps)]
    act = np.clip(act + 0.05 * rng.random(act.size), 0, 1)
    act[[7, 40, 41]] = 0.0  # exact 0/1 give -inf likelihoods, as in madmom: must not produce nan
    act[int(np.argmax(act))] = 1.0
    beat = space.positions < 1 / lam_obs
    v = np.full(s, -np.log(s))
    bps = []
    for a in act:
        m = v[:, None] + log_a
        bps.append(m.argmax(0))
        with np.errstate(divide="ignore"):
            v = m.max(0) + np.where(beat, np.log(a), np.log((1 - a) / (lam_obs - 1)))
    path = [int(v.argmax())]
    for bp in bps[:0:-1]:
        path.append(int(bp[path[-1]]))
    np.testing.assert_array_equal(_viterbi(act, space, lt, lam_obs), np.array(path[::-1]))
