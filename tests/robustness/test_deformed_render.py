"""Deformed test splits on disk (mertbench.robustness.render): beat labels follow a time stretch
exactly as the audio does (a stretched click track), excerpts start at 0 s, stems are written."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mertbench.deform import get_deformation
from mertbench.robustness.render import render_deformed_split
from mertbench.tasks.data import Example, LoadedDataset
from mertbench.tasks.registry import Task
from mertbench.tasks.spec import parse_spec

SR = 22050


def _task(type_: str, name: str = "clicks") -> Task:
    metrics = {"beat": [{"name": "beat_f_measure"}],
               "separation": [{"name": "sdr_mean", "metric": "sdr_global", "scale": "db"}]}[type_]
    spec = parse_spec({"name": name, "version": 1, "type": type_, "dataset": {"loader": "manifest", "dirname": name},
                       "metrics": metrics, "primary_metric": metrics[0]["name"],
                       **({"labels": {"names": ["drums", "other"]}} if type_ == "separation" else {})})
    return Task(spec, Path(f"{name}.yaml"))


def _clicks(times: np.ndarray, seconds: float) -> np.ndarray:
    """Short decaying 2 kHz bursts (4 ms) at ``times``: sharp onsets that survive a stretch."""
    out = np.zeros(int(seconds * SR), dtype=np.float32)
    n = int(0.004 * SR)
    burst = (np.sin(2 * np.pi * 2000 * np.arange(n) / SR) * np.exp(-np.arange(n) / (0.001 * SR))).astype(np.float32)
    for t in times:
        i = int(round(t * SR))
        out[i:i + n] += 0.8 * burst[: len(out) - i]
    return out


def _onsets(x: np.ndarray, sr: int) -> np.ndarray:
    """Times where the magnitude first crosses 30 % of the peak, 100 ms apart at least."""
    env = np.abs(x)
    above = np.nonzero(env > 0.3 * env.max())[0]
    found, last = [], -10 * sr
    for i in above:
        if i - last > 0.1 * sr:
            found.append(i / sr)
        last = i if i - last > 0.1 * sr else last
    return np.asarray(found)


@pytest.mark.parametrize("name, rate", [("time-stretch-0.9", 0.9), ("time-stretch-1.1", 1.1)])
def test_beat_labels_scale_with_a_stretched_click_track(tmp_path, name, rate):
    beats = np.arange(0.25, 7.8, 0.5)
    path = tmp_path / "clicks.wav"
    sf.write(str(path), _clicks(beats, 8.0), SR, subtype="FLOAT")
    start, end = 1.1, 6.9  # an excerpt: labels are absolute file times, the excerpt's own file starts at 0 s
    inside = [float(t) for t in beats if start <= t < end]
    ex = Example(id="clicks", path=path, label=inside, start_s=start, end_s=end, meta={"downbeats": inside[::4]})
    split = render_deformed_split(_task("beat"), LoadedDataset(splits={"test": [ex]}), get_deformation(name),
                                  cache_root=tmp_path / "cache")
    assert split.status == "ready"
    (out,) = split.examples
    audio, sr = sf.read(str(out.path), dtype="float32")
    assert sr == SR and out.start_s == 0.0 and out.end_s is None
    assert abs(len(audio) / sr - (end - start) / rate) < 0.05  # the excerpt's length, stretched
    expected = (np.asarray(inside) - start) / rate
    assert np.allclose(out.label, expected)  # the rule: t -> (t - start) / rate, from the excerpt's start
    assert np.allclose(out.meta["downbeats"], expected[::4])
    heard = _onsets(audio, sr)
    assert len(heard) == len(expected)
    assert np.max(np.abs(heard - expected)) < 0.005  # every stretched click within 5 ms of its label


def test_separation_writes_the_stems_the_rule_asks_for(tmp_path):
    rng = np.random.default_rng(0)
    stems = {"drums": 0.3 * rng.standard_normal(3 * SR).astype(np.float32),
             "other": 0.3 * np.sin(2 * np.pi * 330 * np.arange(3 * SR) / SR).astype(np.float32)}
    paths = {}
    for k, v in stems.items():
        paths[k] = str(tmp_path / f"{k}.wav")
        sf.write(paths[k], v, SR, subtype="FLOAT")
    sf.write(str(tmp_path / "mix.wav"), stems["drums"] + stems["other"], SR, subtype="FLOAT")
    ex = Example(id="t0", path=tmp_path / "mix.wav", label=paths, start_s=0.5, end_s=2.5)
    data = LoadedDataset(splits={"test": [ex]})
    task = _task("separation", "seps")
    gain = render_deformed_split(task, data, get_deformation("gain-minus-12db"), cache_root=tmp_path / "c")
    noise = render_deformed_split(task, data, get_deformation("white-noise-10db"), cache_root=tmp_path / "c")
    g, n = gain.examples[0], noise.examples[0]
    scale = 10 ** (-12 / 20)
    for k, v in stems.items():
        clean = v[int(0.5 * SR):int(2.5 * SR)]
        assert np.allclose(sf.read(g.label[k], dtype="float32")[0], clean * scale, atol=1e-6)  # apply_to_stems
        assert np.array_equal(sf.read(n.label[k], dtype="float32")[0], clean)  # keep: the clean stems
    stem_noise = render_deformed_split(task, data, get_deformation("stem-drums-10db"), cache_root=tmp_path / "c")
    assert stem_noise.status == "invalid" and "target class" in stem_noise.reason
