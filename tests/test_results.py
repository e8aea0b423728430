"""The results schema: atomic write, validated load, clear errors, CI computation."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from mertbench.errors import ResultsError
from mertbench.provenance import provenance
from mertbench.results import RunResult, iter_results, load_result, summarize, write_result


def _result(**over):
    base = dict(
        model="logmel", task="render-pitch", task_version="1", run_id="r1", primary_metric="accuracy",
        metric_directions={"accuracy": "max"},
        layers={"0": {"valid": {"accuracy": summarize([0.5, 0.6])}, "test": {"accuracy": summarize([0.4])}}},
        selected_layer="0", hyperparameters={"lr": 1e-3}, seeds=[0, 1],
        provenance=provenance(config={"a": 1}, task_version=1, seed=[0, 1]),
    )
    base.update(over)
    return RunResult(**base)


def test_roundtrip_and_default_path(tmp_path):
    path = write_result(_result())
    assert path.name == "r1.json" and path.parent.name == "render-pitch"
    back = load_result(path)
    assert back.metric("valid").mean == pytest.approx(0.55)
    assert back.provenance.mertbench_version
    assert back.provenance.config_hash and len(back.provenance.config_hash) == 12
    assert not list(path.parent.glob(".*"))  # no temp files left behind


def test_summarize_ci_matches_scipy_t_interval():
    vals = [0.71, 0.74, 0.69, 0.73, 0.70]
    mv = summarize(vals)
    lo, hi = stats.t.interval(0.95, len(vals) - 1, loc=np.mean(vals), scale=stats.sem(vals))
    assert mv.ci95 == pytest.approx((hi - lo) / 2)
    assert mv.std == pytest.approx(np.std(vals, ddof=1))
    assert summarize([0.3]).ci95 is None


def test_malformed_files_rejected_with_field_named(tmp_path):
    good = write_result(_result(), tmp_path / "runs" / "m" / "t" / "ok.json")
    raw = json.loads(good.read_text())
    raw["layers"]["0"]["test"]["accuracy"]["mean"] = "high"
    bad = tmp_path / "runs" / "m" / "t" / "bad.json"
    bad.write_text(json.dumps(raw))
    with pytest.raises(ResultsError, match=r"bad\.json: field layers\.0\.test\.accuracy\.mean"):
        load_result(bad)
    raw2 = json.loads(good.read_text())
    raw2["surprise"] = 1
    (tmp_path / "runs" / "m" / "t" / "extra.json").write_text(json.dumps(raw2))
    (tmp_path / "runs" / "m" / "t" / "trunc.json").write_text('{"schema_version": 1, "mod')
    found = dict(iter_results(tmp_path))
    errors = {p.name: e for p, e in found.items() if isinstance(e, ResultsError)}
    assert set(errors) == {"bad.json", "extra.json", "trunc.json"}
    assert "surprise" in str(errors["extra.json"]) and "not valid JSON" in str(errors["trunc.json"])


@pytest.mark.parametrize("edit, field", [
    (lambda m: m.update(ci95=float("nan")), "layers.0.test.accuracy.ci95"),
    (lambda m: m.update(std=-0.1), "layers.0.test.accuracy.std"),
    (lambda m: m.update(values=[0.4, float("inf")]), "layers.0.test.accuracy.values"),
])
def test_nan_or_negative_spread_is_rejected(tmp_path, edit, field):
    good = write_result(_result(), tmp_path / "ok.json")
    raw = json.loads(good.read_text())
    edit(raw["layers"]["0"]["test"]["accuracy"])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(raw))  # json writes NaN/Infinity literals, which json.loads reads back
    with pytest.raises(ResultsError, match=rf"bad\.json: field {field}"):
        load_result(bad)


def test_percentage_on_a_unit_scale_metric_is_rejected(tmp_path):
    pct = {"0": {"valid": {"accuracy": summarize([0.5])}, "test": {"accuracy": summarize([57.0])}}}
    with pytest.raises(Exception, match=r"57 on a unit-scale metric .*percentage"):
        _result(layers=pct, metric_scales={"accuracy": "unit"})
    raw = json.loads(write_result(_result(metric_scales={"accuracy": "unit"}), tmp_path / "ok.json").read_text())
    raw["layers"]["0"]["test"]["accuracy"] = {"mean": 57.0, "n": 1, "values": [57.0]}
    (tmp_path / "bad.json").write_text(json.dumps(raw))
    with pytest.raises(ResultsError, match="percentage"):
        load_result(tmp_path / "bad.json")
    # SDR in dB is not unit-scale: 57 dB loads; results written before metric_scales still load
    assert _result(layers=pct, metric_scales={"accuracy": "db"}).metric().mean == 57.0
    assert _result(layers=pct).metric_scales == {}


def test_unknown_selected_metric_raises():
    with pytest.raises(ResultsError, match="no metric 'roc'"):
        _result().metric("test", name="roc")


def test_atomic_write_uses_normal_permissions(tmp_path):
    import os

    from mertbench.io import atomic_write_text

    dest = tmp_path / "x.txt"
    atomic_write_text(dest, "hi")
    mask = os.umask(0)
    os.umask(mask)
    assert dest.stat().st_mode & 0o777 == 0o666 & ~mask


def test_writing_a_result_removes_a_killed_writers_temp(tmp_path):
    """Issue 20: a probe killed during its results write leaves `.<run>.json.tmp-<pid>-...`; the next
    write in that folder removes it (dead writers only)."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # a pid that no longer runs
    from mertbench.results import default_path, write_result

    run = _result()
    dest = default_path(run, tmp_path)
    dest.parent.mkdir(parents=True)
    stale = dest.parent / f".old.json.tmp-{proc.pid}-abc.json"
    stale.write_text("{half")
    write_result(run, dest)
    assert dest.is_file() and not stale.exists()
