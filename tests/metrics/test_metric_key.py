"""Key metrics equal mir_eval.key.weighted_score; GS song-level ensembling follows MARBLE."""
from __future__ import annotations

import mir_eval
import numpy as np
import pytest
from scipy.stats import mode

from mertbench.metrics import get_metric
from mertbench.metrics.key import (
    ENSEMBLE_STRATEGIES,
    KEY_VOCABULARY,
    ensemble_groups,
    normalize_key,
    select_strategy,
    song_level_key_scores,
)


def test_vocabulary_is_marbles_order():
    assert KEY_VOCABULARY[:3] == ["C major", "Db major", "D major"]
    assert KEY_VOCABULARY[12] == "C minor" and KEY_VOCABULARY[-1] == "B minor" and len(KEY_VOCABULARY) == 24
    assert normalize_key("d# Minor") == "Eb minor"


def test_weighted_score_equals_mir_eval_on_random_predictions():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 24, 300)
    logits = rng.standard_normal((300, 24))
    est = logits.argmax(1)
    expected = np.mean([mir_eval.key.weighted_score(KEY_VOCABULARY[a], KEY_VOCABULARY[b]) for a, b in zip(y, est)])
    assert get_metric("key_weighted_score")(y, logits, vocabulary=KEY_VOCABULARY) == pytest.approx(expected, abs=1e-12)
    assert get_metric("key_weighted_score")(y, est) == pytest.approx(expected, abs=1e-12)
    names = [KEY_VOCABULARY[i] for i in y]
    assert get_metric("key_weighted_score")(names, logits) == pytest.approx(expected, abs=1e-12)
    assert get_metric("key_accuracy")(y, logits) == pytest.approx(float((y == est).mean()))


def test_ensembling_strategies_match_marble_definitions():
    rng = np.random.default_rng(3)
    groups = np.repeat(np.array(["s3", "s1", "s2", "s4"]), [5, 3, 4, 2])
    logits = rng.standard_normal((14, 24)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    for strategy in ENSEMBLE_STRATEGIES:
        ids, scores = ensemble_groups(logits, groups, strategy)
        assert ids == ["s1", "s2", "s3", "s4"]
        for g, row in zip(ids, scores):
            sel = groups == g
            expected = {"vote": mode(logits[sel].argmax(1)).mode, "max": logits[sel].max(0).argmax(),
                        "mean_logit": logits[sel].mean(0).argmax(), "mean_softmax": probs[sel].mean(0).argmax()}
            assert row.argmax() == int(np.ravel(expected[strategy])[0]), strategy


def test_song_level_scores_and_validation_selection():
    rng = np.random.default_rng(4)
    song_keys = rng.integers(0, 24, 30)
    groups = np.repeat(np.arange(30), 3)
    y = song_keys[groups]
    logits = rng.standard_normal((90, 24))
    logits[np.arange(90), y] += 1.0
    res = song_level_key_scores(y, logits, groups)
    assert set(res) == {"clip", *ENSEMBLE_STRATEGIES}
    _, ml = ensemble_groups(logits, groups, "mean_logit")
    expected = np.mean([mir_eval.key.weighted_score(KEY_VOCABULARY[a], KEY_VOCABULARY[b])
                        for a, b in zip(song_keys, ml.argmax(1))])
    assert res["mean_logit"]["weighted_score"] == pytest.approx(expected)
    assert get_metric("key_weighted_score")(y, logits, groups=groups, strategy="mean_logit") == pytest.approx(expected)
    best = select_strategy(res)
    assert res[best]["weighted_score"] == max(res[s]["weighted_score"] for s in ENSEMBLE_STRATEGIES)
    tie = {s: {"weighted_score": 0.5} for s in ENSEMBLE_STRATEGIES}
    assert select_strategy(tie) == "vote"  # MARBLE keeps the first on ties


def test_inconsistent_song_labels_rejected():
    with pytest.raises(ValueError, match="different keys"):
        get_metric("key_weighted_score")([0, 1], np.zeros((2, 24)), groups=["a", "a"])
