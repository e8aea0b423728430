"""`mertbench data render`: render the offline music suite (ten tasks + pretraining corpus)."""
from __future__ import annotations

from pathlib import Path

import typer


def register(data_app: typer.Typer) -> None:
    @data_app.command("render")
    def render_cmd(
        out: Path = typer.Option(None, "--out", help="Output folder (default: $MERTBENCH_DATA/render, "
                                 "where the render-* task specs look)."),
        size: str = typer.Option("small", "--size", help="tiny (smoke test), small (~1.5 min on 2 cores) "
                                 "or full (about 10x larger)."),
        seed: int = typer.Option(0, "--seed", help="Render seed: same seed and size give identical files."),
        tasks: str = typer.Option(None, "--tasks", help="Comma-separated subset, e.g. render-key,pretrain "
                                  "(default: all ten tasks and the pretraining corpus)."),
        workers: int = typer.Option(None, "--workers", help="Worker processes (default: all usable cores)."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
    ) -> None:
        """Render the offline suite: real compositions (music21 corpus) through a GM soundfont.

        Resumable and idempotent: an interrupted run continues where it stopped; a finished one is
        not redone. Writes 24 kHz mono PCM16 WAV files, one JSONL manifest per split and task, and
        summary.json (counts, durations, seed, versions).
        """
        from rich.console import Console
        from rich.table import Table

        from mertbench.render import render_suite

        console = Console(stderr=True)
        names = [t.strip() for t in tasks.split(",") if t.strip()] if tasks else None
        try:
            report = render_suite(out, size=size, seed=seed, tasks=names, workers=workers, progress=progress,
                                  log=lambda msg: console.print(f"[dim]{msg}[/]"))
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/]: finished files are kept; run the same command again to resume")
            raise typer.Exit(130) from None
        table = Table(title=f"rendered suite at {report.out} (size {size}, seed {seed})")
        for col in ("task", "train", "valid", "test", "audio (s)", "peak max", "limited"):
            table.add_column(col, justify="left" if col == "task" else "right")
        for name, t in sorted(report.summary.get("tasks", {}).items()):
            c = t["counts"]
            lv = t.get("levels") or {}
            table.add_row(name, *(str(c.get(s, "")) for s in ("train", "valid", "test")),
                          f"{sum(t['duration_s'].values()):.0f}", f"{lv.get('peak_max', 0):.3f}",
                          str(lv.get("limited", 0)))
        Console().print(table)
        typer.echo(f"rendered {report.rendered_items} clips, reused {report.reused_items}, "
                   f"removed {report.pruned_files} stale files; {len(report.skipped_tasks)} task(s) already "
                   f"complete; wall time {report.wall_s:.1f} s")
