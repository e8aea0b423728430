"""Figures: the layer-wise curves come from every layer of the run, files carry a manifest."""
from __future__ import annotations

import json
import os

import pytest
from conftest import make_run

from mertbench.report import build_report
from mertbench.report.plots import heatmap, layer_series


def test_layer_series_reads_every_layer_and_the_weighted_sum():
    run = make_run("m", "t", {"acc": [0.80, 0.82, 0.81]}, layers=4, selected="2")
    ser = layer_series(run, "acc", 100.0)
    # make_run: selected layer scores the given values, layer k otherwise loses 5 + k points;
    # validation is 1 point below test; the weighted sum loses 2 points.
    assert [x for x, _, _ in ser.test] == [0, 1, 2, 3]
    assert [round(y, 6) for _, y, _ in ser.test] == [76.0, 75.0, 81.0, 73.0]
    assert [round(y, 6) for _, y, _ in ser.valid] == [75.0, 74.0, 80.0, 72.0]
    assert all(ci == pytest.approx(2.4841, abs=1e-4) for _, _, ci in ser.test)
    assert ser.weighted == pytest.approx(79.0)
    assert ser.selected == ("2", pytest.approx(81.0))
    single = layer_series(make_run("m", "t", {"acc": 0.5}, weighted=False, selected=None), "acc")
    assert single.weighted is None and single.selected is None and all(ci is None for *_, ci in single.test)


def test_saved_plots_have_manifest_and_replace_stale_figures(specs_dir, put, results_dir, tmp_path):
    put("a", "gtzan-genre", {"acc": 0.8})
    put("a", "emo", {"r2_valence": 0.5, "r2_arousal": 0.4})
    out = tmp_path / "plots"
    out.mkdir()
    (out / "official_layers_gone-task.png").write_bytes(b"old")
    (out / "notes.txt").write_text("mine")  # not ours: kept
    report = build_report(results_dir, tasks=["gtzan-genre", "emo"])
    paths = report.save_plots(out)
    names = sorted(p.name for p in paths)
    assert names == sorted(f"official_{s}.{e}" for s in ("heatmap", "layers_gtzan-genre", "layers_emo")
                           for e in ("png", "svg"))
    assert not (out / "official_layers_gone-task.png").exists() and (out / "notes.txt").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["mertbench_version"] and manifest["created"]
    fig = {f["stem"]: f for f in manifest["figures"]}
    assert fig["official_layers_emo"]["runs"] == [report.table("official").rows[0].selections["emo"].chosen.result.run_id]
    umask = os.umask(0)
    os.umask(umask)
    assert (out / "official_heatmap.png").stat().st_mode & 0o777 == 0o666 & ~umask


def test_figures_are_deterministic(specs_dir, put, results_dir):
    put("a", "gtzan-genre", {"acc": 0.8})
    put("b", "gtzan-genre", {"acc": 0.6})
    one = heatmap(build_report(results_dir, tasks=["gtzan-genre"]).table("official"))
    two = heatmap(build_report(results_dir, tasks=["gtzan-genre"]).table("official"))
    assert one is not None and one.svg == two.svg and one.png == two.png
