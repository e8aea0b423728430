"""`mertbench demo`: render, pretrain a tiny MERT, probe every rendered task, print the leaderboard."""
from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo_cmd(
        out: Path = typer.Option(Path("runs/demo"), help="Folder for models, results and the report."),
        size: str = typer.Option("small", help="Rendered suite size: tiny, small or full."),
        steps: int = typer.Option(300, help="Pretraining steps of the tiny MERT."),
        seed: int = typer.Option(0, help="Seed of rendering, pretraining and the random-init baseline."),
        seeds: int = typer.Option(3, help="Probe seeds of clip-level tasks (>1 gives confidence intervals; "
                                  "beat and separation use 1)."),
        jobs: int = typer.Option(0, help="Probe worker processes (0: one per core, at most 4; 1: sequential "
                                 "with progress bars)."),
        quick: bool = typer.Option(False, "--quick", help="Smoke test: tiny render, 6 steps, 2 tasks."),
        update_readme: Path = typer.Option(None, "--update-readme", help="Write the table and a plot into this "
                                           "README between its demo-sample markers."),
    ) -> None:
        """The main job on the embedded default: render -> pretrain -> probe -> leaderboard (resumable)."""
        from mertbench.demo import DemoPlan, run_demo

        plan = DemoPlan.quick(out) if quick else DemoPlan(out=out, size=size, seed=seed, pretrain_steps=steps,
                                                           seeds=seeds)
        if jobs:
            plan.jobs = jobs
        summary = run_demo(plan)
        typer.echo(summary.leaderboard)
        typer.echo(f"\nHTML report: {summary.report_html.resolve()}")
        typer.echo("timings: " + ", ".join(f"{k} {v:.0f} s" for k, v in summary.timings_s.items()))
        if update_readme is not None:
            from mertbench.demo import update_readme as _update

            _update(summary, update_readme, update_readme.parent / "docs" / "demo")
            typer.echo(f"updated the demo sample in {update_readme}")
