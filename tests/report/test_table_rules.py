"""The numbers a report shows: MARBLE's Avg rule, CI formatting, bold-best by direction."""
from __future__ import annotations

import math

import pytest
from conftest import OFFICIAL, full_official

from mertbench.report import build_report
from mertbench.report.formatting import plain_cell
from mertbench.report.markdown import md_cell
from mertbench.report.table import Cell, Column, Row, Table, TaskGroup, finalize, marble_average
from mertbench.tasks.spec import parse_spec

# Hand-chosen test values per official task (unit metrics in [0, 1], SDR in dB) and the task
# scores they give under MARBLE's rule (tagging/emo/separation averaged within the task first).
HAND = {
    "mtt-tagging": ({"roc_auc": 0.90, "ap": 0.40}, 65.0),
    "gs-key": ({"key_weighted": 0.60, "acc": 0.10}, 60.0),  # acc is not a Table-1 column: ignored
    "gtzan-genre": ({"acc": 0.80}, 80.0),
    "gtzan-beat": ({"beat_f": 0.85}, 85.0),
    "emo": ({"r2_valence": 0.50, "r2_arousal": 0.70}, 60.0),
    "nsynth-instrument": ({"acc": 0.70}, 70.0),
    "nsynth-pitch": ({"acc": 0.90}, 90.0),
    "vocalset-technique": ({"acc": 0.75}, 75.0),
    "vocalset-singer": ({"acc": 0.80}, 80.0),
    "mtg-instrument": ({"roc_auc": 0.78, "ap": 0.20}, 49.0),
    "mtg-moodtheme": ({"roc_auc": 0.76, "ap": 0.14}, 45.0),
    "mtg-genre": ({"roc_auc": 0.86, "ap": 0.18}, 52.0),
    "mtg-top50": ({"roc_auc": 0.82, "ap": 0.30}, 56.0),
    "musdb-separation": ({"sdr_vocals": 5.0, "sdr_drums": 6.0, "sdr_bass": 3.0, "sdr_other": 2.0}, 4.0),
}
# 65+60+80+85+60+70+90+75+80+49+45+52+56+4 = 871 over 14 tasks
HAND_AVG = 871 / 14  # 62.214...


def test_avg_follows_marble_rule(specs_dir, put, results_dir):
    assert set(HAND) == set(OFFICIAL)
    for task, (test, _) in HAND.items():
        put("mine", task, test)
    report = build_report(results_dir)
    table = report.table("official")
    row = next(r for r in table.rows if r.model == "mine")
    assert row.avg == pytest.approx(HAND_AVG, abs=1e-9)
    # not the plain mean over the 23 columns
    flat = [c.value for c in row.cells.values()]
    assert len(flat) == 23 and abs(sum(flat) / len(flat) - HAND_AVG) > 1.0
    assert "| 62.2 |" in report.to_markdown() or "| **62.2** |" in report.to_markdown()


def test_avg_only_for_rows_with_every_task(specs_dir, put, results_dir):
    full_official(put, "complete", base=0.5)
    for task in list(OFFICIAL)[:13]:  # musdb-separation missing
        put("partial", task, {m: 0.9 for m, _ in OFFICIAL[task][1]})
    table = build_report(results_dir).table("official")
    rows = {r.model: r for r in table.rows}
    assert rows["partial"].avg is None
    # complete: 13 tasks at 50 %, musdb 4,5,6,7 dB -> 5.5
    assert rows["complete"].avg == pytest.approx((13 * 50 + 5.5) / 14)
    assert rows["complete"].avg_best
    assert any("partial: no results for musdb-separation" in n for n in table.notes)


def test_avg_omitted_when_tasks_are_left_out(specs_dir, put, results_dir):
    full_official(put, "complete")
    report = build_report(results_dir, tasks=["gtzan-genre", "emo"])
    table = report.table("official")
    assert table.tasks == ["gtzan-genre", "emo"]
    assert not table.avg_enabled and all(r.avg is None for r in table.rows)
    assert "Avg" not in report.to_markdown().split("\n")[4]  # header line of the table
    assert any("No Avg column" in n and "(14)" in n for n in table.notes)


def test_ci_formatting(specs_dir, put, results_dir):
    put("seeded", "gtzan-genre", {"acc": [0.80, 0.82, 0.81]})
    put("single", "gtzan-genre", {"acc": 0.70})
    table = build_report(results_dir).table("official")
    cells = {r.model: r.cell("gtzan_genre_acc") for r in table.rows}
    seeded = cells["seeded"]
    # std 1.0 % over 3 seeds: half-width t(0.975, 2) / sqrt(3) = 4.302653 / 1.732051 = 2.4841
    assert seeded.n == 3 and seeded.value == pytest.approx(81.0)
    assert seeded.ci95 == pytest.approx(4.302652729911275 / math.sqrt(3), rel=1e-6)
    assert plain_cell(seeded, 1) == "81.0 ± 2.5 @L2"
    assert md_cell(seeded, 1) == "**81.0** ± 2.5 @L2"
    assert md_cell(seeded, 2, show_layer=False) == "**81.00** ± 2.48"
    assert plain_cell(cells["single"], 1) == "70.0 @L2"  # one seed: no ±
    assert cells["single"].ci95 is None


def _spec(name: str, metrics: list[dict], suite: str = "custom"):
    return parse_spec({"name": name, "version": 1, "suite": suite, "type": "multiclass",
                       "dataset": {"loader": "manifest", "dirname": name},
                       "metrics": metrics, "primary_metric": metrics[0]["name"]})


def test_bold_best_respects_direction(put, results_dir):
    specs = {"t-err": _spec("t-err", [{"name": "err", "direction": "min", "scale": "raw"},
                                      {"name": "acc", "direction": "max"}])}
    put("a", "t-err", {"err": 0.20, "acc": 0.60})
    put("b", "t-err", {"err": 0.30, "acc": 0.70})
    put("c", "t-err", {"err": 0.20, "acc": 0.65})  # ties a on err at the displayed precision
    table = build_report(results_dir, specs=specs).table("custom")
    best = {r.model: (r.cell("t-err:err").best, r.cell("t-err:acc").best) for r in table.rows}
    assert best == {"a": (True, False), "b": (False, True), "c": (True, False)}
    # raw scale: shown as stored (no x100)
    assert table.rows[0].cell("t-err:err").value == pytest.approx(0.2)


def test_render_avg_disabled_with_min_metric(put, results_dir):
    specs = {"render-x": _spec("render-x", [{"name": "err", "direction": "min"}], suite="render")}
    put("a", "render-x", {"err": 0.2})
    table = build_report(results_dir, specs=specs).table("render")
    assert not table.avg_enabled and any("lower-is-better" in n for n in table.notes)


def test_aggregate_rows_do_not_compete():
    col = Column("c", "t", "m", "M")
    group = TaskGroup("t", [col])
    table = Table("official", "T", [group], avg_enabled=True)
    table.rows = [Row("sota", "published", {"c": Cell(99.0)}, aggregate=True),
                  Row("a", "published", {"c": Cell(80.0)}),
                  Row("b", "measured", {"c": Cell(81.04)})]
    finalize(table)
    assert [r.cell("c").best for r in table.rows] == [False, False, True]
    assert [r.avg for r in table.rows] == [None, 80.0, 81.04]
    assert marble_average(Row("x", "measured", {}), [group]) is None
