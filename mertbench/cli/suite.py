"""`mertbench suite`: plan, run and resume the whole benchmark for one or more models."""
from __future__ import annotations

import json
import os
from pathlib import Path

import typer


def _hours(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def _print_plan(plan, executor_desc: str) -> None:  # noqa: ANN001 - a SuitePlan
    from rich.table import Table

    from mertbench.progress import console

    table = Table(title="suite plan", show_lines=False)
    numeric = ("audio h", "passes", "decode x rt", "expected")
    for col in ("model", "task", "status", *numeric):
        table.add_column(col, justify="right" if col in numeric else "left")
    for row in plan.table():
        table.add_row(Path(row["model"]).name if os.sep in row["model"] else row["model"], row["task"],
                      row["status"] + (f" ({row['note']})" if row["note"] else ""), f"{row['audio_h']:.2f}",
                      str(row["forward_passes"]),
                      "?" if row["decode_x_realtime"] is None else f"{row['decode_x_realtime']:.0f}",
                      _hours(row["expected_s"]))
    console.print(table)
    for model, cal in plan.calibration.items():
        if "rtf" in cal:
            console.print(f"calibration {model}: {cal['rtf']:.4f} s per audio second "
                          f"({cal.get('threads')} threads, this machine)", highlight=False)
        else:
            console.print(f"calibration {model}: not possible here ({cal.get('error')})", highlight=False)
    for task, reason in plan.missing:
        console.print(f"[yellow]skipped[/] {task}: {reason}", highlight=False)
    t = plan.totals()
    console.print(f"{t['to_run']} of {t['jobs']} jobs to run ({plan.counts()}); {len(plan.missing)} task(s) "
                  f"skipped for missing data; audio to extract {t['audio_h_to_run']:.2f} h in "
                  f"{t['forward_passes_to_run']} forward passes; expected wall time {_hours(t['expected_s_to_run'])} "
                  f"on one worker of this machine{' (+ ' + str(t['uncalibrated_jobs']) + ' uncalibrated jobs)' if t['uncalibrated_jobs'] else ''}; "
                  f"executor: {executor_desc}", highlight=False)


def register(app: typer.Typer) -> None:
    @app.command("suite")
    def suite_cmd(
        model: list[str] = typer.Option(None, "--model", "-m", help="Model (registered name, checkpoint folder or "
                                        "module:factory); repeat for several."),
        tasks: str = typer.Option("render", help="official, render, all, or a comma list of task names."),
        seeds: int = typer.Option(3, help="Probe seeds per task (confidence intervals need at least 2)."),
        protocol: str = typer.Option(None, help="Evaluation protocol (mertbench, marble-v1; docs/protocol.md)."),
        results: Path = typer.Option(None, help="Results folder (default $MERTBENCH_RESULTS or ./results); job "
                                     "states and logs go to RESULTS/suite/."),
        data: Path = typer.Option(None, help="Data root (default $MERTBENCH_DATA)."),
        executor: str = typer.Option("local", help="local (worker processes) or slurm (submitit)."),
        workers: int = typer.Option(0, help="local: worker processes (0: one per GPU, else one per core)."),
        device: str = typer.Option(None, help="local: cpu or cuda (default: cuda when a GPU is present)."),
        partition: str = typer.Option(None, help="slurm: partition."),
        gpus: int = typer.Option(0, help="slurm: GPUs per job."),
        cpus: int = typer.Option(4, help="slurm: CPUs per job."),
        mem_gb: float = typer.Option(None, help="slurm: memory per job (GB)."),
        time_min: int = typer.Option(240, "--time", help="slurm: time limit per job (minutes)."),
        array_size: int = typer.Option(32, help="slurm: array tasks running at once."),
        slurm_folder: Path = typer.Option(None, help="slurm: submitit folder on a shared filesystem "
                                          "(default RESULTS/suite/slurm)."),
        slurm_cluster: str = typer.Option("slurm", help="slurm: submitit cluster; 'local' runs the same submission "
                                          "path as subprocesses on this machine (to try a suite before a cluster)."),
        wait: bool = typer.Option(False, "--wait", help="slurm: stay and follow the jobs until they end."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan (done, stale, to run, cost) and stop."),
        status: bool = typer.Option(False, "--status", help="Print the state of the last submission's jobs and stop."),
        strict: bool = typer.Option(False, "--strict", help="A task whose data is missing is an error (default: "
                                    "listed, skipped and counted)."),
        reuse_stale: bool = typer.Option(False, "--reuse-stale", help="Count results of another mertbench version "
                                         "as done instead of running them again."),
        no_calibrate: bool = typer.Option(False, "--no-calibrate", help="Skip the timing calibration of each model."),
        deform: list[str] = typer.Option(None, "--deform", "-d", help="Robustness dimension: every job also scores "
                                         "these deformations (names, families, 'all'; mertbench robustness)."),
        as_json: bool = typer.Option(False, "--json", help="Print the plan / status / outcome as JSON."),
    ) -> None:
        """The whole benchmark for a model in one resumable command (plan, run what is missing, list failures)."""
        from mertbench.paths import results_root
        from mertbench.progress import console
        from mertbench.suite import plan_suite, run_suite, suite_status
        from mertbench.suite.executors import LocalExecutor, SlurmExecutor

        out = results if results is not None else results_root()
        if data is not None:
            os.environ["MERTBENCH_DATA"] = str(data.expanduser().resolve())
        if status:
            rows = suite_status(out)
            if as_json:
                typer.echo(json.dumps(rows, indent=2))
                return
            if not rows:
                typer.echo(f"no suite was submitted with results in {out}")
                return
            counts: dict[str, int] = {}
            for r in rows:
                counts[r["status"]] = counts.get(r["status"], 0) + 1
                extra = r["result"] if r["status"] == "done" else (r["error"] or r["slurm_job_id"] or "")
                typer.echo(f"{r['status']:>13}  {Path(r['model']).name if os.sep in r['model'] else r['model']} x "
                           f"{r['task']}  {extra or ''}")
            typer.echo(f"{len(rows)} jobs: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
            return
        if executor not in ("local", "slurm"):
            raise typer.BadParameter("--executor must be local or slurm")
        ex: LocalExecutor | SlurmExecutor
        if executor == "slurm":
            ex = SlurmExecutor(folder=slurm_folder or (out / "suite" / "slurm"), partition=partition,
                               gpus_per_job=gpus, cpus_per_job=cpus, mem_gb=mem_gb, time_min=time_min,
                               array_parallelism=array_size, cluster=slurm_cluster)
            desc = (f"slurm (partition {partition or 'default'}, {gpus} GPU, {cpus} CPU, {time_min} min per job, "
                    f"{array_size} at once)")
        else:
            ex = LocalExecutor(workers=workers, device=device)
            n, dev, threads = ex.resolved()
            desc = f"local ({n} workers on {dev}, {threads} threads each)"
        plan = plan_suite(list(model or []), tasks, seeds=seeds, protocol=protocol, results_dir=out, strict=strict,
                          calibrate_models=not no_calibrate, reuse_stale=reuse_stale, deform=list(deform or []))
        if as_json and dry_run:
            typer.echo(json.dumps({"jobs": plan.table(), "totals": plan.totals(), "calibration": plan.calibration,
                                   "missing": [{"task": t, "reason": r} for t, r in plan.missing]}, indent=2))
            return
        _print_plan(plan, desc)
        if dry_run:
            return
        outcome = run_suite(plan, ex, wait=wait or executor == "local", progress=not as_json)
        if as_json:
            typer.echo(json.dumps({
                "already_done": len(outcome.already_done), "done": [{"job": j.label, "result": r} for j, r in outcome.done],
                "failed": [{"job": j.label, "error": e, "log": lg} for j, e, lg in outcome.failed],
                "unfinished": [j.label for j in outcome.unfinished],
                "missing": [t for t, _ in outcome.missing], "wall_s": round(outcome.wall_s, 1)}, indent=2))
        else:
            console.print(f"suite: {len(outcome.done)} jobs done now, {len(outcome.already_done)} before, "
                          f"{len(outcome.failed)} failed, {len(outcome.unfinished)} still running, "
                          f"{len(outcome.missing)} task(s) skipped for missing data ({outcome.wall_s:.0f} s)",
                          highlight=False)
            if outcome.unfinished and executor == "slurm":
                console.print(f"follow them with: mertbench suite --status --results {out}", highlight=False)
            for job, error, log in outcome.failed:
                console.print(f"[red]failed[/] {job.label}: {error}\n  log: {log}", highlight=False)
            if outcome.done or outcome.already_done:
                console.print(f"leaderboard: mertbench report --results {out}", highlight=False)
        if outcome.failed:
            raise typer.Exit(1)
