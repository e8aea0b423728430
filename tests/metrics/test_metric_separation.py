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


_NO_FFMPEG = """
import json, shutil, sys
import numpy as np
assert shutil.which("ffmpeg") is None and shutil.which("ffprobe") is None, "ffmpeg still on PATH"
from mertbench.metrics import get_metric
rng = np.random.default_rng(3)
ref = rng.standard_normal((2, 4000)); est = ref + 0.3 * rng.standard_normal((2, 4000))
value = get_metric("sdr_museval")([{"vocals": ref}], [{"vocals": est}], sample_rate=2000)
print(json.dumps({"sdr": value, "loaded": sorted(m for m in ("museval", "musdb", "stempeg") if m in sys.modules)}))
"""


def test_sdr_museval_works_without_ffmpeg(tmp_path):
    """Issue 20 item 15: BSSEval v4 needs no ffmpeg, so sdr_museval must not import musdb/stempeg."""
    import json
    import os
    import subprocess
    import sys

    bare = tmp_path / "bin"  # a PATH with nothing on it: no ffmpeg, no ffprobe
    bare.mkdir()
    out = subprocess.run([sys.executable, "-c", _NO_FFMPEG], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PATH": str(bare)})
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["loaded"] == []  # museval's package __init__ (and with it musdb, stempeg) never ran
    rng = np.random.default_rng(3)
    ref = rng.standard_normal((2, 4000))
    est = ref + 0.3 * rng.standard_normal((2, 4000))
    same = get_metric("sdr_museval")([{"vocals": ref}], [{"vocals": est}], sample_rate=2000)
    assert got["sdr"] == pytest.approx(same, abs=1e-9) and np.isfinite(same)


def test_sdr_museval_without_the_package_names_the_fix(monkeypatch):
    import importlib.util
    import sys

    from mertbench.errors import SpecError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "museval" else real(name, *a))
    monkeypatch.delitem(sys.modules, "museval.metrics", raising=False)
    monkeypatch.delitem(sys.modules, "mertbench._museval_bsseval", raising=False)
    rng = np.random.default_rng(0)
    refs, ests = _tracks(rng, n_tracks=1, seconds=1)
    with pytest.raises(SpecError, match="pip install museval"):
        get_metric("sdr_museval")(refs, ests, sample_rate=SR)


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


def test_sdr_museval_needs_the_sample_rate():
    from mertbench.errors import SpecError

    rng = np.random.default_rng(0)
    refs, ests = _tracks(rng, n_tracks=1, seconds=1)
    with pytest.raises(SpecError, match="needs sample_rate="):
        get_metric("sdr_museval")(refs, ests)
