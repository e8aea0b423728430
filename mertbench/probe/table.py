"""The per-layer table printed at the end of ``mertbench probe``."""
from __future__ import annotations

from rich.table import Table

from mertbench.probe.selection import layer_sort_key
from mertbench.results import MetricValue, RunResult


def _fmt(v: MetricValue | None, scale: str) -> str:
    if v is None:
        return "-"
    k = 100.0 if scale == "unit" else 1.0
    text = f"{v.mean * k:.2f}"
    if v.ci95 is not None:
        text += f" ±{v.ci95 * k:.2f}"
    return text


def render_table(result: RunResult, scales: dict[str, str] | None = None) -> Table:
    """A rich Table: one row per layer key, validation primary then every test metric; the selected
    layer is marked with ``*``. ``unit`` metrics are shown in %, ``db``/``raw`` as is; ``±`` is the
    95% confidence half-width over seeds."""
    scales = scales or {}
    primary = result.primary_metric
    names = list(result.metric_directions)
    lr_per_layer = result.hyperparameters.get("lr_per_layer", {})
    title = (f"{result.model} on {result.task} (v{result.task_version}), {len(result.seeds)} seed(s); "
             f"* = selected on valid {primary}")
    table = Table(title=title)
    table.add_column("layer")
    table.add_column("lr", justify="right")
    table.add_column(f"valid {primary}", justify="right")
    for n in names:
        table.add_column(f"test {n}", justify="right")
    for key in sorted(result.layers, key=layer_sort_key):
        splits = result.layers[key]
        mark = "*" if key == result.selected_layer else ""
        lr = lr_per_layer.get(key)
        row = [f"{key}{mark}", f"{lr:g}" if isinstance(lr, (int, float)) else "-",
               _fmt(splits.get("valid", {}).get(primary), scales.get(primary, "unit"))]
        row += [_fmt(splits.get("test", {}).get(n), scales.get(n, "unit")) for n in names]
        table.add_row(*row, style="bold" if mark else None)
    return table
