"""`mertbench robustness`: clean-trained probes scored on deformed test splits (docs/robustness.md)."""
from __future__ import annotations

from typing import List, Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("robustness")
    def _cmd(
        model: Optional[str] = typer.Option(None, "--model", "-m", help="Model (registered name, checkpoint folder or module:factory)."),
        task: Optional[str] = typer.Option(None, "--task", "-t", help="Task name (mertbench tasks)."),
        deform: Optional[List[str]] = typer.Option(
            None, "--deform", "-d", help="Deformation name, family name, 'all' (default) or a family YAML of your "
                                         "own; repeat or comma-separate."),
        layer: str = typer.Option("all", "--layer", help="all (every layer + weighted sum) | weighted | N | 3,5,7"),
        seeds: int = typer.Option(3, "--seeds", help="Probe seeds (drops and retentions get 95% CIs over them)."),
        root: Optional[str] = typer.Option(None, "--root", help="The task's data folder."),
        device: str = typer.Option("cpu", "--device", help="cpu, cuda, ..."),
        out: Optional[str] = typer.Option(None, "--out", help="Results root folder (default $MERTBENCH_RESULTS)."),
        protocol: str = typer.Option("mertbench", "--protocol", help="Evaluation protocol (docs/protocol.md)."),
        max_epochs: Optional[int] = typer.Option(None, "--max-epochs", help="Override the spec's max_epochs."),
        list_only: bool = typer.Option(False, "--list", help="List the deformations and, with --task, which are "
                                                             "valid for it (and why not), then stop."),
    ) -> None:
        """Train the probes of MODEL on TASK once on clean features; score them on every deformed test split.

        Deformed audio is rendered once into the cache (keyed by the deformation's hash) and its
        features extracted like any split; a rerun reuses both. Invalid task-deformation pairs are
        listed with their reasons, never scored. The results file holds the clean result and, per
        deformation, every layer's metrics, the drop from clean and the retention (CIs over seeds).
        """
        from rich.table import Table

        from mertbench.deform import check_valid
        from mertbench.progress import console
        from mertbench.robustness import resolve_deformations, run_robustness
        from mertbench.tasks import get_task

        defs = resolve_deformations(deform)
        if list_only:
            t = get_task(task) if task else None
            table = Table("deformation", "family", "hash", *(["for " + t.name] if t else []))
            for d in defs:
                cells = [d.name, d.family.family, d.hash]
                if t is not None:
                    ok, why = check_valid(d, t)
                    cells.append(("scored: " if ok else "invalid: ") + why)
                table.add_row(*cells)
            console.print(table)
            return
        if not model or not task:
            raise typer.BadParameter("--model and --task are required (or --list)")
        result, path = run_robustness(model, task, defs, layer=layer, seeds=seeds, root=root, device=device, out=out,
                                      protocol=protocol, max_epochs=max_epochs)
        spec = get_task(task).spec
        metric = spec.metric(spec.primary_metric)
        scale = 100.0 if metric.scale == "unit" else 1.0
        clean = result.clean.layers[result.selected_layer]["test"][metric.name]
        table = Table("deformation", f"{metric.label or metric.name}", "drop", "retention", "examples", "note",
                      title=f"{result.model} on {task}: clean {clean.mean * scale:.1f} at layer {result.selected_layer}")
        for o in result.deformations:
            if o.status != "scored":
                table.add_row(o.name, "-", "-", "-", "-", f"{o.status}: {o.reason}")
                continue
            v = o.layers[result.selected_layer][metric.name]
            d = o.drop.get(metric.name)
            r = o.retention.get(metric.name)
            table.add_row(o.name, f"{v.mean * scale:.1f}", f"{d.mean * scale:+.1f} ± {(d.ci95 or 0) * scale:.1f}" if d else "-",
                          f"{r.mean:.3f}" if r else "-", str(o.examples),
                          ", ".join(f"{k}: {n}" for k, n in o.skipped.items()))
        console.print(table)
        typer.echo(str(path))
