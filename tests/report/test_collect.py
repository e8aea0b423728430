"""Reading results for a report: malformed files counted, several runs, missing models/tasks."""
from __future__ import annotations

import json

import pytest
from conftest import make_run, write_json

from mertbench.errors import ResultsError, SpecError
from mertbench.report import build_report
from mertbench.report.collect import collect_results


def test_malformed_files_are_counted_and_listed(specs_dir, put, results_dir):
    good_path = put("mine", "gtzan-genre", {"acc": 0.8})
    runs = results_dir / "runs"
    (runs / "bad").mkdir(parents=True)
    (runs / "bad" / "truncated.json").write_text('{"schema_version": 1, "model"', encoding="utf-8")
    good = json.loads(good_path.read_text())
    missing = dict(good)
    del missing["primary_metric"]
    write_json(runs / "bad" / "no_primary.json", missing)
    write_json(runs / "bad" / "future.json", {**good, "schema_version": 9})
    coll = collect_results(results_dir)
    assert coll.files == 4 and len(coll.runs) == 1 and len(coll.malformed) == 3
    report = build_report(results_dir)
    text = report.to_markdown()
    assert "4 results file(s), 1 valid, 3 malformed" in text
    for name, why in (("truncated.json", "not valid JSON"), ("no_primary.json", "primary_metric"),
                      ("future.json", "schema_version 9")):
        assert any(name in n and why in n for n in report.notes), name
    assert "3 malformed" in report.summary()
    with pytest.raises(ResultsError, match="strict"):
        build_report(results_dir, strict=True)


def test_newest_run_is_shown_and_others_counted(specs_dir, put, results_dir):
    put("mine", "gtzan-genre", {"acc": 0.70}, created="2026-01-01T00:00:00+00:00", run_id="old",
        valid={"acc": 0.95})
    put("mine", "gtzan-genre", {"acc": 0.80}, created="2026-03-01T00:00:00Z", run_id="new", valid={"acc": 0.50})
    put("mine", "gtzan-genre", {"acc": 0.75}, created="2026-02-01T00:00:00+00:00", run_id="mid", valid={"acc": 0.60})
    table = build_report(results_dir).table("official")
    row = table.rows[0]
    assert row.selections["gtzan-genre"].chosen.result.run_id == "new"
    assert row.cell("gtzan_genre_acc").value == pytest.approx(80.0)
    assert any("3 runs; showing the newest (run new" in n and "2 set aside" in n for n in table.notes)
    best = build_report(results_dir, pick="best-valid").table("official").rows[0]
    assert best.selections["gtzan-genre"].chosen.result.run_id == "old"
    with pytest.raises(SpecError, match="pick"):
        build_report(results_dir, pick="random")


def test_runs_of_the_current_task_version_are_preferred(specs_dir, put, results_dir):
    put("mine", "emo", {"r2_valence": 0.5, "r2_arousal": 0.6}, task_version="2", run_id="v2",
        created="2026-01-01T00:00:00+00:00")
    put("mine", "emo", {"r2_valence": 0.9, "r2_arousal": 0.9}, task_version="1", run_id="v1",
        created="2026-05-01T00:00:00+00:00")
    put("other", "emo", {"r2_valence": 0.5, "r2_arousal": 0.6}, task_version="1", run_id="stale")
    with pytest.raises(SpecError, match=r"emo: protocol mertbench v1, task version 1: other, protocol mertbench v1, "
                                        r"task version 2: mine.*--mix-protocols"):
        build_report(results_dir)
    table = build_report(results_dir, mix_protocols=True).table("official")
    rows = {r.model: r for r in table.rows}
    assert rows["mine"].selections["emo"].chosen.result.run_id == "v2"
    assert any("run stale used task version 1, the current spec is version 2" in n for n in table.notes)


def test_missing_models_and_tasks_give_blank_cells_and_notes(specs_dir, put, results_dir):
    put("mine", "gtzan-genre", {"acc": 0.8})
    put("mine", "render-pitch", {"acc": 0.9})
    report = build_report(results_dir, models=["mine,ghost"], tasks=["gtzan-genre", "nsynth-pitch"])
    table = report.table("official")
    rows = {r.model: r for r in table.rows}
    assert list(rows) == ["mine", "ghost"]  # requested order
    assert rows["ghost"].cell("gtzan_genre_acc").value is None
    assert rows["mine"].cell("nsynth_pitch_acc").value is None
    assert any(n.startswith("ghost: no results for any task") for n in table.notes)
    assert any(n.startswith("mine: no results for nsynth-pitch") for n in table.notes)
    assert "| ghost | - | - |" in report.to_markdown()
    assert [t.key for t in report.tables] == ["official"]  # render task filtered out by --tasks
    assert any("Left out by the filters: 0 run(s) of other models, 1 run(s) of other tasks" in n
               for n in report.notes)


def test_unknown_task_name_is_an_error_with_suggestion(specs_dir, put, results_dir):
    put("mine", "gtzan-genre", {"acc": 0.8})
    with pytest.raises(SpecError, match="Did you mean gtzan-genre"):
        build_report(results_dir, tasks=["gtzan-genra"])


def test_results_of_tasks_without_spec_are_reported(specs_dir, put, results_dir):
    put("mine", "gtzan-genre", {"acc": 0.8})
    put("mine", "vanished-task", {"acc": 0.8})
    report = build_report(results_dir)
    assert any("vanished-task (1 run(s))" in n for n in report.notes)


def test_nothing_found_raises_clear_error(specs_dir, results_dir, put):
    with pytest.raises(ResultsError, match="nothing to report: no results under"):
        build_report(results_dir)
    put("mine", "gtzan-genre", {"acc": 0.8})
    with pytest.raises(ResultsError, match="for models ghost"):
        build_report(results_dir, models=["ghost"])
    with pytest.raises(ResultsError, match="suite render"):
        build_report(results_dir, suite="render", tasks=["render-key"])


def test_layer_choice(specs_dir, put, results_dir):
    put("mine", "gtzan-genre", {"acc": 0.8}, selected="3")
    put("nosel", "gtzan-genre", {"acc": 0.6}, selected=None, valid={"acc": 0.5})
    table = build_report(results_dir).table("official")
    rows = {r.model: r for r in table.rows}
    assert rows["mine"].cell("gtzan_genre_acc").layer == "3"
    # no selected layer recorded: the report picks the best validation layer (here the weighted sum)
    assert rows["nosel"].cell("gtzan_genre_acc").layer == "weighted"
    assert any("records no selected layer; the report chose W on validation" in n for n in table.notes)
    weighted = build_report(results_dir, layer="weighted").table("official").rows[0]
    assert weighted.cell("gtzan_genre_acc").layer == "weighted"
    assert weighted.cell("gtzan_genre_acc").value == pytest.approx(78.0)


def test_runs_dir_itself_is_accepted(specs_dir, put, results_dir):
    put("mine", "gtzan-genre", {"acc": 0.8})
    assert build_report(results_dir / "runs").collection.files == 1


def test_make_run_helper_is_valid():
    run = make_run("m", "t", {"acc": [0.5, 0.6]})
    assert run.metric("test").n == 2 and run.selected_layer == "2"
