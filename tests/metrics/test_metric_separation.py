"""SDR metrics: global SDR equals the direct formula; sdr_museval equals museval.evaluate (v4)."""
from __future__ import annotations

import numpy as np
import pytest

from mertbench.metrics import get_metric

SR = 2000  # 1 s museval windows = 2000 samples; keeps BSSEval fast


def _tracks(rng, n_tracks=3, seconds=3):
    stems = ("vocals", "drums")
    refs, ests = [], []
    for _ in range(n_tracks):
        r = {s: rng.standard_normal((2, SR * seconds)) for s in stems}
        e = {s: r[s] + rng.uniform(0.2, 1.0) * rng.standard_normal(r[s].shape) for s in stems}
        refs.append(r)
        ests.append(e)
    return refs, ests


def test_sdr_global_equals_formula():
    rng = np.random.default_rng(11)
    refs, ests = _tracks(rng)
    per_track = [10 * np.log10((np.sum(r["vocals"] ** 2) + 1e-7) / (np.sum((r["vocals"] - e["vocals"]) ** 2) + 1e-7))
                 for r, e in zip(refs, ests)]
    m = get_metric("sdr_global")
    assert (m.direction, m.scale) == ("max", "db")
    assert m(refs, ests, stem="vocals") == pytest.approx(np.mean(per_track), abs=1e-10)
    both = np.mean([m(refs, ests, stem=s) for s in ("vocals", "drums")])
    assert m(refs, ests) == pytest.approx(both)
    with pytest.raises(ValueError, match="stem 'bass' missing"):
        m(refs, ests, stem="bass")


def _museval_or_skip():
    import shutil

    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        pytest.skip("museval's import (musdb/stempeg) needs ffmpeg and ffprobe on PATH; install ffmpeg to run this test")
    import museval

    return museval


def test_sdr_museval_without_ffmpeg_names_the_fix(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_museval(name, *args, **kwargs):
        if name == "museval":
            raise RuntimeError("ffmpeg or ffprobe could not be found!")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_museval)
    monkeypatch.delitem(__import__("sys").modules, "museval", raising=False)
    rng = np.random.default_rng(0)
    refs, ests = _tracks(rng, n_tracks=1, seconds=1)
    from mertbench.errors import SpecError

    with pytest.raises(SpecError, match="needs ffmpeg on PATH: install ffmpeg"):
        get_metric("sdr_museval")(refs, ests)


def test_sdr_museval_equals_museval_evaluate():
    museval = _museval_or_skip()

    rng = np.random.default_rng(12)
    refs, ests = _tracks(rng, n_tracks=3, seconds=2)  # odd number of tracks: a real median
    track_medians = {s: [] for s in ("vocals", "drums")}
    for r, e in zip(refs, ests):
        ref = np.stack([r["vocals"].T, r["drums"].T])
        est = np.stack([e["vocals"].T, e["drums"].T])
        sdr = museval.evaluate(ref, est, win=SR, hop=SR, mode="v4")[0]  # joint evaluation of both stems
        track_medians["vocals"].append(np.nanmedian(sdr[0]))
        track_medians["drums"].append(np.nanmedian(sdr[1]))
    m = get_metric("sdr_museval")
    assert m(refs, ests, stem="vocals", sample_rate=SR) == pytest.approx(np.median(track_medians["vocals"]), abs=1e-6)
    # (drums: same code path; skipped to keep BSSEval time down)
