"""Run a planned suite: submit what is missing, follow it, list what failed."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mertbench.suite.executors import LocalExecutor, SlurmExecutor, wait_for
from mertbench.suite.plan import SuiteJob, SuitePlan
from mertbench.suite.state import now, read_state, read_submission, write_submission


@dataclass
class SuiteOutcome:
    """What a run did: jobs done before it, done by it, failed (with log), still running elsewhere,
    tasks left out for missing data, and the wall time."""

    already_done: list[SuiteJob] = field(default_factory=list)
    done: list[tuple[SuiteJob, str]] = field(default_factory=list)  # (job, results path)
    failed: list[tuple[SuiteJob, str, str]] = field(default_factory=list)  # (job, error, log)
    unfinished: list[SuiteJob] = field(default_factory=list)
    missing: list[tuple[str, str]] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed and not self.unfinished


def run_suite(plan: SuitePlan, executor: LocalExecutor | SlurmExecutor | None = None, *, wait: bool = True,
              progress: bool = True, poll_s: float = 10.0, timeout_s: float | None = None) -> SuiteOutcome:
    """Run the plan's pending jobs (most expensive first) on ``executor`` (default: local).

    With the local executor this returns when every job has ended. With Slurm it returns after
    submission unless ``wait`` (then it polls the jobs' states every ``poll_s`` seconds).
    A failing job is recorded and listed in the outcome; it never stops the others.
    """
    from mertbench.io import remove_stale_temps
    from mertbench.suite.state import suite_dir

    executor = executor or LocalExecutor()
    t0 = time.perf_counter()
    for folder in (suite_dir(plan.results_dir), suite_dir(plan.results_dir) / "jobs"):
        if folder.is_dir():  # temps of state writes a killed suite left behind (dead writers only)
            remove_stale_temps(folder, recursive=False)
    todo = [p.job for p in plan.pending()]
    outcome = SuiteOutcome(already_done=[p.job for p in plan.jobs if p.status == "done"],
                           missing=list(plan.missing))
    running_elsewhere = [p.job for p in plan.jobs if p.status == "running"]
    write_submission(plan.results_dir, {"created": now(), "executor": executor.name,
                                        "jobs": [asdict(p.job) | {"key": p.job.key} for p in plan.jobs],
                                        "missing": [list(m) for m in plan.missing]})
    bar, tid = _progress(progress, len(plan.jobs), len(outcome.already_done))

    def on_done(job: SuiteJob, state: dict[str, Any]) -> None:
        if state.get("status") == "done":
            outcome.done.append((job, str(state.get("result"))))
        else:
            outcome.failed.append((job, str(state.get("error")), str(state.get("log"))))
        if bar is not None:
            bar.update(tid, advance=1, description=_description(outcome))

    try:
        if isinstance(executor, SlurmExecutor):
            handles = executor.submit(todo, plan.results_dir)
            if wait:
                outcome.unfinished = wait_for(todo + running_elsewhere, plan.results_dir, on_done, poll_s=poll_s,
                                              timeout_s=timeout_s, handles=handles + [None] * len(running_elsewhere))
            else:
                outcome.unfinished = todo + running_elsewhere
        else:
            executor.run(todo, plan.results_dir, on_done)
            outcome.unfinished = running_elsewhere
    finally:
        if bar is not None:
            bar.stop()
    outcome.wall_s = time.perf_counter() - t0
    return outcome


def _progress(enabled: bool, total: int, done: int) -> tuple[Any, Any]:
    if not enabled or total == 0:
        return None, None
    from mertbench.progress import progress_bar

    bar = progress_bar()
    bar.start()
    tid = bar.add_task(f"suite: {done} of {total} jobs done before this run", total=total, completed=done)
    return bar, tid


def _description(outcome: SuiteOutcome) -> str:
    job = (outcome.done[-1][0] if outcome.done else None)
    last = f", last: {job.label}" if job is not None else ""
    return f"suite: {len(outcome.done)} done, {len(outcome.failed)} failed{last}"


def suite_status(results_dir: str | Path) -> list[dict[str, Any]]:
    """The state of every job of the last submission under ``results_dir`` (``--status``): one row
    per job with ``status`` as recorded (``never started`` when no worker touched it)."""
    results_dir = Path(results_dir)
    record = read_submission(results_dir)
    if record is None:
        return []
    rows = []
    for job in record.get("jobs", []):
        state = read_state(results_dir, job["key"]) or {}
        rows.append({"model": job["model"], "task": job["task"], "key": job["key"],
                     "status": state.get("status", "never started"), "result": state.get("result"),
                     "log": state.get("log"), "error": state.get("error"), "slurm_job_id": state.get("slurm_job_id"),
                     "started": state.get("started"), "finished": state.get("finished"),
                     "wall_s": state.get("wall_s")})
    return rows
