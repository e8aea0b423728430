"""Planning a suite: job identity, task selection, unknown models and tasks, missing data, stale results."""
from __future__ import annotations

import pytest

from mertbench.errors import DataError, ModelError, SpecError
from mertbench.probe.synthetic import write_tone_task
from mertbench.suite import SuiteJob, plan_suite
from mertbench.suite.plan import select_tasks
from mertbench.suite.state import write_state
from mertbench.tasks import list_tasks


def _tones(data, specs, *names):
    for name in names:
        write_tone_task(data, specs, name=name, n_classes=3, counts={"train": 2, "valid": 1, "test": 1}, max_epochs=2)


def test_job_key_names_everything_that_changes_results():
    base = dict(model="logmel", task="t", task_version="1", task_type="multiclass", protocol="mertbench",
                protocol_version="1", seeds=3)
    key = SuiteJob(**base).key
    assert key == SuiteJob(**base).key and len(key) == 16
    for field, value in [("model", "cqt"), ("task_version", "2"), ("protocol", "marble-v1"),
                         ("protocol_version", "2"), ("seeds", 1), ("task", "u")]:
        assert SuiteJob(**{**base, field: value}).key != key, field


def test_selections_expand_to_the_suites():
    render = select_tasks("render")
    official = select_tasks("official")
    assert render == [t.name for t in list_tasks("render")] and len(render) == 10
    assert len(official) == 14 and "gtzan-genre" in official
    assert select_tasks("all") == official + render
    assert select_tasks("render-pitch, render-key,render-pitch") == ["render-pitch", "render-key"]


def test_unknown_model_and_task_are_errors_with_close_matches(task_env):
    with pytest.raises(ModelError, match="Did you mean logmel"):
        plan_suite(["logmell"], "render-pitch", calibrate_models=False)
    with pytest.raises(ModelError, match="is now called 'toy'"):
        plan_suite(["tiny"], "render-pitch", calibrate_models=False)
    with pytest.raises(ModelError, match="not importable"):
        plan_suite(["no_such_module_x:factory"], "render-pitch", calibrate_models=False)
    with pytest.raises(SpecError, match="Did you mean render-pitch"):
        plan_suite(["logmel"], "render-pich", calibrate_models=False)
    with pytest.raises(SpecError, match="unknown protocol"):
        plan_suite(["logmel"], "render-pitch", protocol="marble-v9", calibrate_models=False)


def test_missing_data_is_listed_and_counted_or_an_error_with_strict(task_env, tmp_path):
    data, specs = task_env
    _tones(data, specs, "tones-a")
    plan = plan_suite(["logmel"], "tones-a,render-pitch,render-key", results_dir=tmp_path / "r", calibrate_models=False)
    assert [p.job.task for p in plan.jobs] == ["tones-a"]
    assert [t for t, _ in plan.missing] == ["render-pitch", "render-key"]
    assert "mertbench data render" in plan.missing[0][1]
    assert plan.totals()["missing_tasks"] == ["render-pitch", "render-key"]
    with pytest.raises(DataError, match="render-pitch"):
        plan_suite(["logmel"], "tones-a,render-pitch", results_dir=tmp_path / "r", strict=True, calibrate_models=False)


def test_plan_costs_and_calibration(task_env, tmp_path):
    data, specs = task_env
    _tones(data, specs, "tones-a")
    plan = plan_suite(["logmel", "mertbench.probe.synthetic:toy_encoder"], "tones-a", seeds=2,
                      results_dir=tmp_path / "r")
    assert [p.status for p in plan.jobs] == ["todo", "todo"]
    # 3 classes x (2 + 1 + 1) clips of 1 s, one window each
    assert plan.jobs[0].cost.forward_passes == 12
    assert plan.jobs[0].cost.audio_h == pytest.approx(12 / 3600)
    assert plan.calibration["logmel"]["rtf"] > 0 and plan.jobs[0].cost.expected_s > 0
    assert plan.jobs[0].cost.decode_rate > 1  # real files decoded faster than real time
    assert plan.table()[0]["decode_x_realtime"] == round(plan.jobs[0].cost.decode_rate, 1)
    assert plan.totals()["to_run"] == 2 and plan.totals()["uncalibrated_jobs"] == 0


def test_done_stale_failed_and_running_states(task_env, tmp_path):
    data, specs = task_env
    _tones(data, specs, "tones-a", "tones-b", "tones-c", "tones-d")
    out = tmp_path / "r"
    plan = plan_suite(["logmel"], "tones-a,tones-b,tones-c,tones-d", results_dir=out, calibrate_models=False)
    a, b, c, d = (p.job for p in plan.jobs)
    result = out / "a.json"
    out.mkdir(parents=True, exist_ok=True)
    result.write_text("{}")
    write_state(out, a.key, status="done", result=str(result), mertbench_version="0.1.0")
    write_state(out, b.key, status="done", result=str(result), mertbench_version="0.0.1")
    write_state(out, c.key, status="failed", error="boom", log="x.log")
    write_state(out, d.key, status="running", executor="slurm", slurm_job_id="77_3")
    plan = plan_suite(["logmel"], "tones-a,tones-b,tones-c,tones-d", results_dir=out, calibrate_models=False)
    assert [p.status for p in plan.jobs] == ["done", "stale", "failed", "running"]
    notes = [row["note"] for row in plan.table()]
    assert "0.0.1" in notes[1] and "boom" in notes[2] and "77_3" in notes[3]
    assert [p.job.task for p in plan.pending()] == ["tones-b", "tones-c"]
    again = plan_suite(["logmel"], "tones-a,tones-b,tones-c,tones-d", results_dir=out, calibrate_models=False,
                       reuse_stale=True)
    assert [p.status for p in again.jobs][:2] == ["done", "done"]
    result.unlink()  # a done job whose results file is gone runs again
    assert plan_suite(["logmel"], "tones-a", results_dir=out, calibrate_models=False).jobs[0].status == "todo"


def test_killed_local_worker_state_counts_as_todo(task_env, tmp_path):
    data, specs = task_env
    _tones(data, specs, "tones-a")
    out = tmp_path / "r"
    job = plan_suite(["logmel"], "tones-a", results_dir=out, calibrate_models=False).jobs[0].job
    import socket

    write_state(out, job.key, status="running", executor="local", host=socket.gethostname(), pid=2**22 + 12345)
    assert plan_suite(["logmel"], "tones-a", results_dir=out, calibrate_models=False).jobs[0].status == "todo"


def test_damaged_state_file_is_named_with_the_fix(task_env, tmp_path):
    data, specs = task_env
    _tones(data, specs, "tones-a")
    out = tmp_path / "r"
    job = plan_suite(["logmel"], "tones-a", results_dir=out, calibrate_models=False).jobs[0].job
    path = out / "suite" / "jobs" / f"{job.key}.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    from mertbench.errors import ResultsError

    with pytest.raises(ResultsError, match=f"{job.key}.json.*delete it"):
        plan_suite(["logmel"], "tones-a", results_dir=out, calibrate_models=False)


def test_results_written_by_a_worker_killed_before_recording_done_are_adopted(task_env, tmp_path):
    import socket

    from mertbench.probe import run_probe

    data, specs = task_env
    _tones(data, specs, "tones-a")
    out = tmp_path / "r"
    job = plan_suite(["logmel"], "tones-a", seeds=1, results_dir=out, calibrate_models=False).jobs[0].job
    pending = out / "runs" / "logmel" / "tones-a" / "pending.json"
    dead = dict(status="running", executor="local", host=socket.gethostname(), pid=2**22 + 12345,
                result_pending=str(pending), mertbench_version="0.1.0")
    write_state(out, job.key, **dead)
    assert plan_suite(["logmel"], "tones-a", seeds=1, results_dir=out, calibrate_models=False).jobs[0].status == "todo"
    run_probe("logmel", "tones-a", seeds=1, progress=False, path=pending)
    plan = plan_suite(["logmel"], "tones-a", seeds=1, results_dir=out, calibrate_models=False)
    assert plan.jobs[0].status == "done" and plan.jobs[0].state["result"] == str(pending)
    # a pending file of another job (other seeds) is not adopted
    other = plan_suite(["logmel"], "tones-a", seeds=2, results_dir=out, calibrate_models=False).jobs[0].job
    write_state(out, other.key, **dead)
    assert plan_suite(["logmel"], "tones-a", seeds=2, results_dir=out, calibrate_models=False).jobs[0].status == "todo"
