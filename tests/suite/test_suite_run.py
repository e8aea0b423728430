"""Running a suite: local workers, failures that do not stop the others, a dying worker, resume after
kill -9, the Slurm path through submitit's local executor, and the command line."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mertbench.probe.synthetic import write_tone_task
from mertbench.results import load_result
from mertbench.suite import plan_suite, run_suite, suite_status
from mertbench.suite.executors import LocalExecutor, SlurmExecutor
from mertbench.suite.state import read_state

TOY = "mertbench.probe.synthetic:toy_encoder"
REPO = Path(__file__).resolve().parents[2]


def _tones(data, specs, *names):
    for name in names:
        write_tone_task(data, specs, name=name, n_classes=3, counts={"train": 3, "valid": 1, "test": 1}, max_epochs=3)


def _result_files(out: Path) -> list[Path]:
    return sorted((out / "runs").rglob("*.json"))


def test_local_suite_runs_every_job_once_and_a_rerun_does_nothing(task_env, tmp_path):
    data, specs = task_env
    _tones(data, specs, "tones-a", "tones-b")
    out = tmp_path / "results"
    plan = plan_suite([TOY, "logmel"], "tones-a,tones-b", seeds=2, results_dir=out, calibrate_models=False)
    outcome = run_suite(plan, LocalExecutor(workers=2), progress=False)
    assert outcome.ok and len(outcome.done) == 4 and not outcome.already_done
    files = _result_files(out)
    assert len(files) == 4
    for job, path in outcome.done:
        result = load_result(path)
        assert (result.task, result.seeds) == (job.task, [0, 1])
        state = read_state(out, job.key)
        assert state["status"] == "done" and state["result"] == path and state["wall_s"] > 0
        log = Path(state["log"]).read_text()
        assert job.task in log and "done:" in log
    assert load_result([p for j, p in outcome.done if j.model == TOY and j.task == "tones-a"][0]).selected_layer in ("2", "weighted")
    again = run_suite(plan_suite([TOY, "logmel"], "tones-a,tones-b", seeds=2, results_dir=out, calibrate_models=False),
                      LocalExecutor(workers=2), progress=False)
    assert again.ok and not again.done and len(again.already_done) == 4
    assert _result_files(out) == files
    rows = suite_status(out)
    assert [r["status"] for r in rows] == ["done"] * 4


def test_failing_jobs_are_listed_with_their_log_and_do_not_stop_the_others(task_env, tmp_path):
    data, specs = task_env
    _tones(data, specs, "tones-a")
    out = tmp_path / "results"
    plan = plan_suite(["tests.suite.plugins:broken_encoder", "tests.suite.plugins:crashing_encoder", "logmel"],
                      "tones-a", seeds=1, results_dir=out, calibrate_models=False)
    outcome = run_suite(plan, LocalExecutor(workers=1), progress=False)
    assert [j.model for j, _ in outcome.done] == ["logmel"]
    failed = {j.model.rsplit(":", 1)[1]: (err, log) for j, err, log in outcome.failed}
    assert set(failed) == {"broken_encoder", "crashing_encoder"}
    err, log = failed["broken_encoder"]
    assert "cannot be built" in err and "Traceback" in Path(log).read_text()
    assert "worker process died" in failed["crashing_encoder"][0]
    # failed jobs run again next time (and fail again); the finished one does not
    replan = plan_suite(["tests.suite.plugins:broken_encoder", "logmel"], "tones-a", seeds=1, results_dir=out,
                        calibrate_models=False)
    assert [p.status for p in replan.jobs] == ["failed", "done"]
    assert len(_result_files(out)) == 1


def _cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mertbench", *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.faults
@pytest.mark.slow
def test_kill_9_of_the_suite_then_rerun_finishes_without_redoing_finished_jobs(task_env, tmp_path):
    data, specs = task_env
    names = [f"tones-{c}" for c in "abcd"]
    _tones(data, specs, *names)
    out = tmp_path / "results"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    args = ["suite", "-m", "logmel", "--tasks", ",".join(names), "--seeds", "1", "--results", str(out),
            "--workers", "1", "--no-calibrate", "--json"]
    proc = subprocess.Popen([sys.executable, "-m", "mertbench", *args], env=env, cwd=REPO, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and len(_result_files(out)) < 1:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the suite and its workers, as when a machine goes down
    proc.wait(timeout=30)
    first = _result_files(out)
    assert 1 <= len(first) < 4
    run = _cli(*args, env=env)
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout[run.stdout.index("{"):])
    assert summary["already_done"] == len(first) and len(summary["done"]) == 4 - len(first)
    files = _result_files(out)
    assert len(files) == 4 and set(first) <= set(files)  # finished work kept, not redone
    assert not [p for p in out.rglob("*") if ".tmp-" in p.name]


@pytest.mark.slow
def test_slurm_path_through_submitits_local_executor(task_env, tmp_path):
    data, specs = task_env
    _tones(data, specs, "tones-a", "tones-b")
    out = tmp_path / "results"
    plan = plan_suite(["logmel"], "tones-a,tones-b", seeds=1, results_dir=out, calibrate_models=False)
    ex = SlurmExecutor(folder=tmp_path / "slurm", cluster="local", cpus_per_job=1, time_min=10)
    submitted = run_suite(plan, ex, wait=False, progress=False)
    assert len(submitted.unfinished) == 2 and not submitted.done
    # while the jobs are queued or running, a new plan does not submit them again
    states = [p.status for p in plan_suite(["logmel"], "tones-a,tones-b", seeds=1, results_dir=out,
                                           calibrate_models=False).jobs]
    assert all(s in ("running", "done") for s in states), states
    rows = suite_status(out)
    assert {r["task"] for r in rows} == {"tones-a", "tones-b"} and all(r["slurm_job_id"] for r in rows)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and any(r["status"] != "done" for r in suite_status(out)):
        time.sleep(1)
    rows = suite_status(out)
    assert [r["status"] for r in rows] == ["done", "done"], rows
    for r in rows:
        assert load_result(r["result"]).task == r["task"]
        assert read_state(out, r["key"])["executor"] == "slurm"
    again = plan_suite(["logmel"], "tones-a,tones-b", seeds=1, results_dir=out, calibrate_models=False)
    assert [p.status for p in again.jobs] == ["done", "done"]


def test_cli_dry_run_plan_and_status(task_env, tmp_path):
    data, specs = task_env
    _tones(data, specs, "tones-a")
    out = tmp_path / "results"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    dry = _cli("suite", "-m", "logmel", "--tasks", "tones-a,render-key", "--results", str(out), "--dry-run",
               "--json", env=env)
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)
    assert [(j["task"], j["status"]) for j in plan["jobs"]] == [("tones-a", "todo")]
    assert plan["missing"][0]["task"] == "render-key" and plan["totals"]["to_run"] == 1
    assert plan["calibration"]["logmel"]["rtf"] > 0
    assert not (out / "runs").exists()  # a dry run runs nothing
    status = _cli("suite", "--status", "--results", str(out), env=env)
    assert "no suite was submitted" in status.stdout
    bad = _cli("suite", "-m", "logmell", "--tasks", "tones-a", "--results", str(out), env=env)
    assert bad.returncode == 1 and "Did you mean logmel" in bad.stdout + bad.stderr


def test_robustness_is_a_dimension_of_the_suite(task_env, tmp_path):
    from mertbench.provenance import config_hash
    from mertbench.robustness import load_robustness

    data, specs = task_env
    _tones(data, specs, "tones-r")
    out = tmp_path / "results"
    probe_only = plan_suite([TOY], "tones-r", seeds=1, results_dir=out, calibrate_models=False)
    plan = plan_suite([TOY], "tones-r", seeds=1, results_dir=out, calibrate_models=False,
                      deform=["identity", "gain-minus-12db"])
    job = plan.jobs[0].job
    assert [d.split("@")[0] for d in job.deform] == ["identity", "gain-minus-12db"]
    legacy = {k: v for k, v in job.__dict__.items() if k != "deform"}
    assert probe_only.jobs[0].job.key == config_hash(legacy, length=16) != job.key  # old keys stay valid
    outcome = run_suite(plan, LocalExecutor(workers=1), progress=False)
    assert outcome.ok, outcome.failed
    ((_, path),) = outcome.done
    (rob_file,) = (out / "robustness").rglob("*.json")
    rob = load_robustness(rob_file)
    assert load_result(path).model_dump() == rob.clean.model_dump()  # the job's probe result is the clean half
    assert rob.outcome("identity").drop["accuracy"].values == [0.0]
    again = plan_suite([TOY], "tones-r", seeds=1, results_dir=out, calibrate_models=False,
                       deform=["identity", "gain-minus-12db"])
    assert again.jobs[0].status == "done"
