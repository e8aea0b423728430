"""`mertbench tasks`: list every task with type, metrics, splits, data status and example counts."""
from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table


def manifest_counts(root: Path, splits: list[str]) -> dict[str, int] | None:
    """Examples per split of a manifest dataset at ``root`` (non-empty JSONL lines / CSV rows).

    None when a split's manifest is missing. Cheap: reads only the manifests, not the audio.
    """
    import csv

    out: dict[str, int] = {}
    for split in splits:
        jsonl, csv_path = root / f"{split}.jsonl", root / f"{split}.csv"
        if jsonl.is_file():
            with open(jsonl, encoding="utf-8") as f:
                out[split] = sum(1 for line in f if line.strip())
        elif csv_path.is_file():
            with open(csv_path, newline="", encoding="utf-8") as f:
                out[split] = sum(1 for _ in csv.DictReader(f))
        else:
            return None
    return out


def _render_info(root: Path) -> dict | None:
    """Size and seed of a rendered task (from its render.json), if any."""
    try:
        marker = json.loads((root / "render.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return {"size": marker.get("size"), "seed": marker.get("seed")}


def _print_deviations(tasks: list, names: list[str], markdown: bool, as_json: bool) -> None:
    """The deviations table of :func:`mertbench.tasks.protocol.deviations` (all shipped specs are
    also checked for probe options their family does not implement)."""
    from dataclasses import asdict

    from mertbench.probe.registry import get_family
    from mertbench.tasks import get_task
    from mertbench.tasks.protocol import deviations, deviations_markdown

    chosen = [get_task(n) for n in names] if names else tasks
    specs = [t.spec for t in chosen]
    for spec in specs:
        get_family(spec.type).check_options(spec)
    if markdown:
        typer.echo(deviations_markdown(specs), nl=False)
        return
    rows = [asdict(d) for spec in specs for d in deviations(spec)]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="protocol deviations (docs/protocol.md)")
    for col in ("task", "kind", "setting", "MARBLE (or marble-v1)", "here", "reason"):
        table.add_column(col, overflow="fold", no_wrap=col == "task")
    for r in rows:
        table.add_row(r["task"], r["kind"], r["setting"], r["marble"] + (f" (paper: {r['paper']})" if r["paper"] else ""),
                      r["here"], r["reason"])
    Console().print(table)


def register(app: typer.Typer) -> None:
    @app.command("tasks")
    def tasks_cmd(
        suite: str = typer.Option(None, help="Only this suite: official, render or custom."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
        deviations: bool = typer.Option(False, "--deviations", help="Per task, every difference between the mertbench and marble-v1 protocols and from MARBLE/the paper, with the reason."),
        markdown: bool = typer.Option(False, "--markdown", help="With --deviations: print docs/protocol.md."),
        task: list[str] = typer.Option([], "--task", "-t", help="With --deviations: only these tasks."),
    ) -> None:
        """List every task: type, metrics, splits, whether its data is found and how many examples it has.

        Counts are read from the manifests for manifest tasks whose data is found (e.g. the
        render-* tasks); for official datasets the known official counts are shown. With
        --deviations: the protocol deviations table instead (docs/protocol.md).
        """
        from mertbench.paths import data_root
        from mertbench.tasks import list_tasks

        if deviations:
            _print_deviations(list_tasks(suite), task, markdown, as_json)
            return

        rows = []
        for task in list_tasks(suite):
            s = task.spec
            root = task.default_root()
            found = task.data_found()
            counts = manifest_counts(root, s.splits) if found and s.dataset.loader == "manifest" else None
            rows.append({
                "name": s.name, "suite": s.suite, "type": s.type, "version": s.version,
                "metrics": [m.name for m in s.metrics], "primary": s.primary_metric,
                "splits": s.splits, "data_found": found, "root": str(root),
                "counts": s.dataset.counts, "data_counts": counts,
                "render": _render_info(root) if found and s.suite == "render" else None,
                "missing_hint": None if found else s.dataset.missing_hint,
            })
        if as_json:
            typer.echo(json.dumps({"data_root": str(data_root()), "tasks": rows}, indent=2))
            return
        table = Table(title=f"mertbench tasks (data root: {data_root()})")
        # the task name is never cut (it is what users copy); the other columns wrap at 80 columns or when piped
        name_width = max([len("task")] + [len(r["name"]) for r in rows])
        table.add_column("task", no_wrap=True, min_width=name_width)
        for col in ("suite", "type", "metrics", "splits", "data", "examples"):
            short = col in ("suite", "type", "data")  # one short word each: never split
            table.add_column(col, no_wrap=short, overflow="fold")
        for r in rows:
            if r["data_counts"] is not None:
                examples = "/".join(str(r["data_counts"][sp]) for sp in r["splits"])
                if r["render"] and r["render"].get("size"):
                    examples += f" ({r['render']['size']})"
            elif r["counts"]:
                examples = "[dim]" + "/".join(str(r["counts"].get(sp, "?")) for sp in r["splits"]) + " official[/]"
            else:
                examples = ""
            table.add_row(r["name"], r["suite"], r["type"], ", ".join(r["metrics"]), "/".join(r["splits"]),
                          "[green]found[/]" if r["data_found"] else "[red]missing[/]", examples)
        Console().print(table)
        missing = [r for r in rows if not r["data_found"] and r["suite"] == "render"]
        if missing:
            Console().print(f"[dim]{len(missing)} rendered task(s) missing: run `mertbench data render --size small` "
                            "to create them (docs/render.md)[/]")
