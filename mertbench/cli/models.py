"""`mertbench models list|validate`."""
from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

models_app = typer.Typer(help="List registered encoders; validate any encoder against the contract.",
                         no_args_is_help=True)


def _fmt_params(n: object) -> str:
    if not isinstance(n, int):
        return "?"
    return f"{n:,}"


@models_app.command("list")
def list_cmd() -> None:
    """Registered encoders with sample rate, frame rate, layers, dim and parameter count."""
    from mertbench.models import list_encoders

    table = Table(title="registered encoders")
    for col in ("name", "sample rate", "frame rate", "layers", "dim", "parameters", "description"):
        table.add_column(col)
    for e in list_encoders():
        i = e.info
        table.add_row(e.name, str(i.get("sample_rate", "?")), str(i.get("frame_rate", "?")),
                      str(i.get("num_layers", "?")), str(i.get("dim", "?")), _fmt_params(i.get("parameters")),
                      e.description)
    Console().print(table)


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
        raise typer.Exit(1)
    report = validate_encoder(enc, spec)
    for c in report.checks:
        mark = "[green]ok  [/]" if c.passed else "[red]FAIL[/]"
        console.print(f"{mark} {escape(c.name)}: {escape(c.detail)}", highlight=False)
    if report.ok:
        console.print(f"[green]{spec}: passes the model contract[/]", highlight=False)
    else:
        console.print(f"[red]{spec}: {sum(not c.passed for c in report.checks)} check(s) failed[/]", highlight=False)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
