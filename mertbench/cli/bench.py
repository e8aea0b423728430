"""`mertbench bench NAME`: run a named benchmark; the last line is `NAME: <figure> <meaning>`."""
from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("bench")
    def bench_cmd(
        name: str = typer.Argument(None, help="Benchmark name; omit to list them."),
        option: list[str] = typer.Option([], "--option", "-o", help="KEY=VALUE passed to the benchmark."),
    ) -> None:
        """Run a named benchmark (ours vs the reference way, side by side in one run)."""
        import ast

        from mertbench.bench import final_line, get_benchmark, list_benchmarks

        if name is None:
            for b in list_benchmarks():
                typer.echo(f"{b.name:16s} {b.description}")
            return
        try:
            bench = get_benchmark(name)
        except KeyError as exc:
            typer.echo(str(exc.args[0]), err=True)
            raise typer.Exit(1) from None
        kwargs = {}
        for item in option:
            key, _, value = item.partition("=")
            try:
                kwargs[key] = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                kwargs[key] = value
        result = bench.fn(**kwargs)
        for key, value in result.details.items():
            typer.echo(f"  {key}: {value:.4g}" if isinstance(value, float) else f"  {key}: {value}")
        typer.echo(final_line(name, result))
