"""`mertbench probe`: MARBLE-protocol probes on frozen features, every layer in one pass."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def _print_skipped_list(result_path: Path | None, shown: int = 10) -> None:
    """The first ``shown`` skipped files (path, reason, problem) and where the full list is."""
    from mertbench.probe.run import skipped_list_path
    from mertbench.progress import console

    if result_path is None or not skipped_list_path(result_path).is_file():
        return
    listing = skipped_list_path(result_path)
    rows = listing.read_text(encoding="utf-8").splitlines()[1:]
    for row in rows[:shown]:
        split, _id, path, reason, problem = (row.split("\t") + [""] * 5)[:5]
        console.print(f"  {reason} {path or split}: {problem}", highlight=False, markup=False)
    more = f" ({len(rows) - shown} more)" if len(rows) > shown else ""
    console.print(f"  every skipped file{more} is listed in {listing}", highlight=False, markup=False)


def _floats(values: list[str]) -> list[float] | None:
    out: list[float] = []
    for v in values:
        for part in v.split(","):
            if part.strip():
                try:
                    out.append(float(part))
                except ValueError:
                    raise typer.BadParameter(f"--lr expects numbers, got {part!r}") from None
    return out or None


def _options(items: list[str]) -> dict:
    import ast

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"--option expects KEY=VALUE, got {item!r}")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def register(app: typer.Typer) -> None:
    @app.command("probe")
    def probe_cmd(
        model: str = typer.Option(..., "--model", "-m", help="Model spec: registered name, checkpoint folder or module:factory."),
        task: str = typer.Option(..., "--task", "-t", help="Task name (see `mertbench tasks`)."),
        layer: str = typer.Option("all", "--layer", help="all (every layer + weighted sum, one pass), weighted, N, a list 3,5,7, or spec (the task's MARBLE layer)."),
        head: Optional[str] = typer.Option(None, "--head", help="mlp (MARBLE: 512 hidden, ReLU, dropout 0.2), linear, or openunmix (separation: MARBLE's LSTM head)."),
        seeds: int = typer.Option(1, "--seeds", help="Number of seeds K (0..K-1); metrics get mean and 95% CI."),
        lr: list[str] = typer.Option([], "--lr", help="Learning rate(s): repeat or comma-separate for a grid chosen on validation."),
        root: Optional[str] = typer.Option(None, "--root", help="The task's data folder."),
        device: str = typer.Option("cpu", "--device", help="cpu, cuda, cuda:1 ..."),
        out: Optional[str] = typer.Option(None, "--out", help="Results root folder (default $MERTBENCH_RESULTS)."),
        max_epochs: Optional[int] = typer.Option(None, "--max-epochs", help="Override the spec's max_epochs."),
        batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Override the spec's batch size."),
        option: list[str] = typer.Option([], "--option", "-o", help="Family option KEY=VALUE (e.g. eval_crop_s=30)."),
        workers: int = typer.Option(2, "--workers", help="Audio decoding threads (extraction)."),
        amp: Optional[str] = typer.Option(None, "--amp", help="Autocast for extraction on GPU: bf16 or fp16."),
        threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads for probe training (default: automatic)."),
        json_out: bool = typer.Option(False, "--json", help="Print the results JSON instead of the table."),
        force: bool = typer.Option(False, "--force", help="Extract the features again (delete this configuration's cache first)."),
        protocol: str = typer.Option("mertbench", "--protocol", help="Evaluation protocol: mertbench (default) or marble-v1 (docs/protocol.md)."),
    ) -> None:
        """Probe MODEL on TASK with MARBLE's protocol and write one results JSON.

        Extraction runs first when the feature cache is missing. With --layer all, every layer and
        the softmax-weighted sum (x every --lr x every seed) train together in one pass; the table
        shows every layer's validation and test metrics and marks the layer selected on validation.
        """
        import json

        from mertbench.extract import ExtractOptions
        from mertbench.probe import render_table, run_probe
        from mertbench.progress import console
        from mertbench.tasks import get_task

        spec = get_task(task).spec
        result, path = run_probe(model, task, layer=layer, seeds=seeds, lrs=_floats(lr), head=head,
                                 max_epochs=max_epochs, batch_size=batch_size, root=root, device=device, out=out,
                                 options=_options(option), extract_options=ExtractOptions(workers=workers, amp=amp, force=force),
                                 threads=threads, protocol=protocol)
        if json_out:
            typer.echo(json.dumps(result.model_dump(mode="json"), indent=2, sort_keys=True))
        else:
            from rich.console import Console

            Console().print(render_table(result, {m.name: m.scale for m in spec.metrics}))
        for note in result.hyperparameters.get("metric_notes", []):
            console.print(f"[yellow]note[/] {note}", highlight=False)
        if result.skipped:
            console.print("[yellow]skipped:[/] " + ", ".join(f"{k}: {v}" for k, v in sorted(result.skipped.items())),
                          highlight=False)
            _print_skipped_list(path)
        sel = result.selected_layer
        console.print(f"selected layer {sel} (lr {result.hyperparameters['lr']:g}): test {result.primary_metric} "
                      f"{result.metric('test').mean:.4f}; wall {result.provenance.wall_time_s:.1f} s")
        typer.echo(str(path))
