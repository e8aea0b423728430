"""`mertbench data check TASK --root DIR [--json] [--full]`: validate a dataset copy.

Prints the example count per split, the number of classes and every problem with the file it
concerns; exits 1 when the copy is unusable (any error-level problem), else 0. With ``--json`` it
prints exactly one JSON object (also on failure):
``{"task", "root", "splits": {name: count}, "num_classes", "problems": [{"severity", "file",
"message"}, ...], "usable", "official_counts", "skipped", "audio_files", "decoded"}``.
"""
from __future__ import annotations

import json
from pathlib import Path

import typer


def _emit_json(obj: dict) -> None:
    typer.echo(json.dumps(obj, indent=2, default=str))


def register(data_app: typer.Typer) -> None:
    @data_app.command("check")
    def check_cmd(
        task: str = typer.Argument(..., help="Task name (see `mertbench tasks`), e.g. gtzan-genre."),
        root: Path = typer.Option(None, "--root", help="Dataset folder (default: $MERTBENCH_DATA/<dirname>)."),
        as_json: bool = typer.Option(False, "--json", help="Print exactly one JSON object."),
        full: bool = typer.Option(False, "--full", help="Decode every audio file and verify published checksums."),
        sample: int = typer.Option(8, "--sample", min=0, help="Audio files decoded per split without --full."),
    ) -> None:
        """Validate a dataset copy: presence, split counts, audio decodability, checksums."""
        from mertbench.datasets.check import check_task
        from mertbench.errors import MertbenchError
        from mertbench.tasks import get_task

        try:
            t = get_task(task)
        except MertbenchError as exc:
            if as_json:
                _emit_json({"task": task, "root": str(root) if root else None, "splits": {}, "num_classes": None,
                            "problems": [{"severity": "error", "file": None, "message": str(exc)}], "usable": False})
                raise typer.Exit(1) from None
            raise
        report = check_task(t, root, full=full, sample=sample, progress=not as_json)
        if as_json:
            _emit_json(report.to_json())
        else:
            _print_report(report)
        if not report.usable:
            raise typer.Exit(1)


def _print_report(report) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(highlight=False)
    table = Table(title=escape(f"{report.task}: {report.root}"))
    table.add_column("split")
    table.add_column("examples", justify="right")
    table.add_column("official", justify="right")
    for split, n in report.splits.items():
        official = (report.official_counts or {}).get(split)
        mark = "" if official is None or official == n else " [yellow](differs)[/]"
        table.add_row(split, f"{n}{mark}", "-" if official is None else str(official))
    console.print(table)
    console.print(f"classes: {report.num_classes if report.num_classes is not None else '-'}   "
                  f"audio files: {report.audio_files} ({report.decoded} decoded)")
    if report.skipped:
        for reason, n in report.skipped.items():
            console.print(f"left out: {n} x {reason}")
    colours = {"error": "red", "warning": "yellow", "info": "cyan"}
    for sev in ("error", "warning", "info"):
        for p in (p for p in report.problems if p.severity == sev):
            where = f"{p.file}: " if p.file else ""
            console.print(f"[{colours[sev]}]{sev}[/] {escape(where + p.message)}", markup=True)
    n_err = sum(p.severity == "error" for p in report.problems)
    console.print("[green]usable[/]" if report.usable else f"[red]NOT usable[/]: {n_err} error(s)")
