"""Tagging (macro ROC-AUC / AP) and regression (R²) metrics equal sklearn on random inputs."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, r2_score, roc_auc_score

from mertbench.metrics import get_metric
from mertbench.metrics.tagging import TagsExcludedWarning, macro_tag_score


@pytest.fixture
def tags():
    rng = np.random.default_rng(0)
    y = (rng.random((200, 12)) < 0.3).astype(int)
    s = rng.standard_normal((200, 12)) + y  # informative scores
    return y, s


def test_macro_auc_and_ap_equal_sklearn(tags):
    y, s = tags
    assert get_metric("roc_auc_macro")(y, s) == pytest.approx(roc_auc_score(y, s, average="macro"), abs=1e-12)
    assert get_metric("ap_macro")(y, s) == pytest.approx(average_precision_score(y, s, average="macro"), abs=1e-12)
    m = get_metric("roc_auc_macro")
    assert (m.direction, m.scale) == ("max", "unit")


def test_unscorable_tags_are_excluded_and_reported(tags):
    y, s = tags
    y = y.copy()
    y[:, 3] = 0  # no positives
    y[:, 7] = 1  # no negatives
    keep = [j for j in range(12) if j not in (3, 7)]
    names = [f"tag{j}" for j in range(12)]
    with pytest.warns(TagsExcludedWarning, match=r"tag3 \(no positives\).*tag7 \(no negatives\)"):
        auc = get_metric("roc_auc_macro")(y, s, tags=names)
    assert auc == pytest.approx(roc_auc_score(y[:, keep], s[:, keep], average="macro"))
    res = macro_tag_score(y, s, "ap", names)
    assert res.excluded == ["tag3", "tag7"] and res.num_scored == 10
    assert res.reasons == {"tag3": "no positives", "tag7": "no negatives"}
    assert res.value == pytest.approx(average_precision_score(y[:, keep], s[:, keep], average="macro"))


def test_tagging_rejects_bad_input(tags):
    y, s = tags
    with pytest.raises(ValueError, match="same shape"):
        get_metric("ap_macro")(y, s[:, :5])
    with pytest.raises(ValueError, match="no tag has both"):
        get_metric("roc_auc_macro")(np.zeros_like(y), s)


def test_r2_per_dimension_and_average():
    rng = np.random.default_rng(1)
    t = rng.standard_normal((50, 2))
    p = t + 0.5 * rng.standard_normal((50, 2))
    r2 = get_metric("r2")
    assert r2(t, p, dim=0) == pytest.approx(r2_score(t[:, 0], p[:, 0]), abs=1e-12)
    assert r2(t, p, dim=1) == pytest.approx(r2_score(t[:, 1], p[:, 1]), abs=1e-12)
    assert r2(t, p) == pytest.approx(r2_score(t, p), abs=1e-12)
    with pytest.raises(ValueError, match="dim=2 is out of range"):
        r2(t, p, dim=2)


def test_accuracy_still_registered():
    assert get_metric("accuracy")(np.array([0, 1, 2]), np.eye(3)[[0, 2, 2]]) == pytest.approx(2 / 3)
