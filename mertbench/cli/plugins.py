"""`mertbench plugins`: third-party plugins found through entry points, and any that failed to load."""
from __future__ import annotations

import json

import typer


def _registries() -> dict[str, object]:
    from mertbench.metrics import METRICS
    from mertbench.models.registry import ENCODERS
    from mertbench.probe.registry import FAMILIES
    from mertbench.tasks.loaders import LOADERS
    from mertbench.tasks.registry import TASK_FOLDERS

    return {"mertbench.models": ENCODERS, "mertbench.tasks": TASK_FOLDERS, "mertbench.loaders": LOADERS,
            "mertbench.families": FAMILIES, "mertbench.metrics": METRICS}


def register(app: typer.Typer) -> None:
    @app.command("plugins")
    def plugins_cmd(
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of lines."),
    ) -> None:
        """List the installed plugins of each entry-point group (mertbench.models, .tasks, .loaders,
        .families, .metrics) and the ones that failed to load, with the error."""
        import importlib.metadata

        from mertbench.registry import plugin_failures

        groups = {}
        for group, registry in _registries().items():
            registry.load()  # type: ignore[attr-defined]
            groups[group] = sorted(f"{ep.name} = {ep.value}" for ep in importlib.metadata.entry_points(group=group))
        failures = plugin_failures()
        if as_json:
            typer.echo(json.dumps({"plugins": groups, "failed": failures}, indent=2))
            return
        for group, eps in groups.items():
            typer.echo(f"{group}: {', '.join(eps) if eps else '(none)'}")
        for f in failures:
            typer.echo(f"FAILED {f['group']} {f['name']}: {f['error']}")
