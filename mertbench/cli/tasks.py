"""`mertbench tasks`: list every task with type, metrics, splits and whether its data is found."""
from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table


def register(app: typer.Typer) -> None:
    @app.command("tasks")
    def tasks_cmd(
        suite: str = typer.Option(None, help="Only this suite: official, render or custom."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
    ) -> None:
        """List every task: type, metrics, splits, and whether its data is under the data root."""
        from mertbench.paths import data_root
        from mertbench.tasks import list_tasks

        rows = []
        for task in list_tasks(suite):
            s = task.spec
            rows.append({
                "name": s.name, "suite": s.suite, "type": s.type, "version": s.version,
                "metrics": [m.name for m in s.metrics], "primary": s.primary_metric,
                "splits": s.splits, "data_found": task.data_found(), "root": str(task.default_root()),
                "counts": s.dataset.counts,
            })
        if as_json:
            typer.echo(json.dumps({"data_root": str(data_root()), "tasks": rows}, indent=2))
            return
        table = Table(title=f"mertbench tasks (data root: {data_root()})")
        for col in ("task", "suite", "type", "metrics", "splits", "data"):
            table.add_column(col)
        for r in rows:
            table.add_row(r["name"], r["suite"], r["type"], ", ".join(r["metrics"]), "/".join(r["splits"]),
                          "[green]found[/]" if r["data_found"] else "[red]missing[/]")
        Console().print(table)
