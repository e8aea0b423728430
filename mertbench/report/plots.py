"""Figures of a report (matplotlib, object API only: no pyplot, no global backend change).

- **Layer-wise** (one figure per task with measured runs): the primary metric against the hidden
  layer index, validation dashed and test solid per model, the selected layer starred, the
  learned weighted sum as a horizontal dotted line (its test value). The MERT paper's
  layer-wise figure.
- **Heatmap** (one per table): models × tasks, each cell the task score used by the Avg rule
  (mean of the task's columns, percent or dB). Colours are normalised per task column (best =
  brightest, direction-aware) because tasks have different scales; the numbers are printed.

Each plot is rendered to PNG bytes and SVG text (deterministic: no timestamps, fixed hash salt)
and can be saved as ``<stem>.png`` / ``<stem>.svg``.
"""
from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from mertbench._version import __version__
from mertbench.io import atomic_write_bytes
from mertbench.report.table import Table, TaskGroup, display_factor, task_score, unit_suffix
from mertbench.results import RunResult

PNG_DPI = 110


@dataclass
class Plot:
    """One rendered figure."""

    stem: str  # file name without suffix, e.g. "official_layers_gtzan-genre"
    title: str
    caption: str
    kind: str  # "layers" or "heatmap"
    table: str
    png: bytes
    svg: str
    runs: list[str] = field(default_factory=list)  # run ids drawn
    paths: list[Path] = field(default_factory=list)

    def save(self, directory: str | Path) -> list[Path]:
        """Write ``<stem>.png`` and ``<stem>.svg`` atomically into ``directory``."""
        directory = Path(directory)
        png, svg = directory / f"{self.stem}.png", directory / f"{self.stem}.svg"
        atomic_write_bytes(png, self.png)
        atomic_write_bytes(svg, self.svg.encode("utf-8"))
        self.paths = [png, svg]
        return self.paths


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "x"


def _render(fig) -> tuple[bytes, str]:  # noqa: ANN001 - matplotlib Figure
    import matplotlib

    with matplotlib.rc_context({"svg.hashsalt": "mertbench", "svg.fonttype": "none"}):
        png = io.BytesIO()
        fig.savefig(png, format="png", dpi=PNG_DPI, metadata={"Software": f"mertbench {__version__}"})
        svg = io.StringIO()
        fig.savefig(svg, format="svg", metadata={"Date": None, "Creator": f"mertbench {__version__}"})
    return png.getvalue(), svg.getvalue()


def _colors(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


@dataclass
class LayerSeries:
    """What the layer-wise figure draws for one run, on the display scale.

    ``valid``/``test``: ``(layer index, mean, ci95 or None)`` for every numeric layer holding the
    metric; ``weighted``: the weighted-sum test value (None if absent); ``selected``: the
    run's selected layer key and its test value (None if not recorded).
    """

    valid: list[tuple[int, float, float | None]]
    test: list[tuple[int, float, float | None]]
    weighted: float | None
    selected: tuple[str, float] | None


def layer_series(run: RunResult, metric: str, factor: float = 1.0) -> LayerSeries:
    """Extract the layer-wise curves of ``metric`` from a run (values multiplied by ``factor``)."""
    layers = sorted((k for k in run.layers if k.isdigit()), key=int)

    def series(split: str) -> list[tuple[int, float, float | None]]:
        out = []
        for k in layers:
            mv = run.layers[k].get(split, {}).get(metric)
            if mv is not None:
                ci = mv.ci95 * factor if (mv.n > 1 and mv.ci95 is not None) else None
                out.append((int(k), mv.mean * factor, ci))
        return out

    weighted = run.layers.get("weighted", {}).get("test", {}).get(metric)
    sel = run.selected_layer
    sel_mv = run.layers.get(sel, {}).get("test", {}).get(metric) if sel is not None else None
    return LayerSeries(valid=series("valid"), test=series("test"),
                       weighted=weighted.mean * factor if weighted is not None else None,
                       selected=(sel, sel_mv.mean * factor) if sel_mv is not None else None)


def layer_plot(table: Table, group: TaskGroup) -> Plot | None:
    """The layer-wise figure of one task (None when no measured run has layer metrics)."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    rows = [r for r in table.rows if group.task in r.selections]
    if not rows:
        return None
    metric = group.primary_metric or rows[0].selections[group.task].chosen.result.primary_metric
    factor = display_factor(group.primary_scale)
    unit = unit_suffix(group.primary_scale)
    many = len(rows) > 2
    fig = Figure(figsize=(8.0 if many else 6.5, 3.6), layout="constrained")
    ax = fig.add_subplot()
    drawn = False
    max_layer = 0
    colors = _colors(len(rows))
    for color, row in zip(colors, rows):
        ser = layer_series(row.selections[group.task].chosen.result, metric, factor)
        for points, style in ((ser.valid, "--"), (ser.test, "-")):
            if not points:
                continue
            xs, ys, cis = [p[0] for p in points], [p[1] for p in points], [p[2] for p in points]
            ax.plot(xs, ys, style, color=color, marker="o", markersize=3, linewidth=1.4)
            if points is ser.test and all(c is not None for c in cis):
                ax.fill_between(xs, [y - c for y, c in zip(ys, cis)], [y + c for y, c in zip(ys, cis)],
                                color=color, alpha=0.15, linewidth=0)
            max_layer = max(max_layer, max(xs))
            drawn = True
        if ser.weighted is not None:
            ax.axhline(ser.weighted, color=color, linestyle=":", linewidth=1.4)
            drawn = True
        if ser.selected is not None:
            key, value = ser.selected
            x = int(key) if key.isdigit() else (max((p[0] for p in ser.test), default=0) + 0.5)
            ax.plot([x], [value], marker="*", markersize=13, color=color, markeredgecolor="black",
                    linestyle="none")
    if not drawn:
        return None
    ax.set_xlabel("hidden layer")
    ax.set_ylabel(f"{group.primary_label or metric}" + (f" ({unit})" if unit else ""))
    if max_layer > 0:
        ax.set_xticks(range(0, max_layer + 1, max(1, math.ceil((max_layer + 1) / 13))))
    ax.set_title(f"{group.task}: {metric} per layer")
    ax.grid(alpha=0.3)
    handles = [Line2D([], [], color=c, linewidth=2, label=r.name) for c, r in zip(colors, rows)]
    handles += [Line2D([], [], color="grey", linestyle="--", label="validation"),
                Line2D([], [], color="grey", linestyle="-", label="test"),
                Line2D([], [], color="grey", linestyle=":", label="weighted sum (test)"),
                Line2D([], [], color="grey", marker="*", markersize=10, linestyle="none", label="selected layer")]
    if many:
        fig.legend(handles=handles, fontsize=7, loc="outside right upper")
    else:
        ax.legend(handles=handles, fontsize=7, loc="best")
    png, svg = _render(fig)
    caption = (f"{group.task}: {metric} per hidden layer (dashed: validation, solid: test, shaded: 95% CI "
               f"over seeds; star: layer selected on validation; dotted: learned weighted sum, test).")
    return Plot(stem=f"{table.key}_layers_{_safe(group.task)}", title=f"{group.task}: layer-wise {metric}",
                caption=caption, kind="layers", table=table.key, png=png, svg=svg,
                runs=[r.selections[group.task].chosen.result.run_id for r in rows])


def heatmap(table: Table) -> Plot | None:
    """Models × tasks heatmap of task scores (None when the table holds no numbers)."""
    import numpy as np
    from matplotlib.figure import Figure

    rows = [r for r in table.rows if not r.aggregate]
    groups = table.groups
    data = np.full((len(rows), len(groups)), np.nan)
    for i, row in enumerate(rows):
        for j, g in enumerate(groups):
            s = task_score(row, g)
            if s is not None:
                data[i, j] = s
    if not rows or np.all(np.isnan(data)):
        return None
    norm = np.full_like(data, np.nan)
    for j, g in enumerate(groups):
        col = data[:, j]
        ok = ~np.isnan(col)
        if not ok.any():
            continue
        lo, hi = np.nanmin(col), np.nanmax(col)
        scaled = np.where(ok, 0.5, np.nan) if hi == lo else (col - lo) / (hi - lo)
        if all(c.direction == "min" for c in g.columns):
            scaled = 1.0 - scaled
        norm[:, j] = scaled
    # room for the tick labels (about 0.07 in per 8-pt character) so that constrained layout never collapses
    # the axes when a model or task name is long and the table is small
    ylab = max(len(r.name) + 2 for r in rows) * 0.07
    xlab = max(len(g.task) for g in groups) * 0.07 * 0.65  # x labels are rotated by 40 degrees
    fig = Figure(figsize=(2.2 + ylab + 0.85 * len(groups), 1.4 + xlab + 0.42 * len(rows)), layout="constrained")
    ax = fig.add_subplot()
    from matplotlib import colormaps

    cmap = colormaps["viridis"].with_extremes(bad="#eeeeee")
    ax.imshow(np.ma.masked_invalid(norm), cmap=cmap, vmin=0, vmax=1, aspect="auto")
    for i in range(len(rows)):
        for j in range(len(groups)):
            if not np.isnan(data[i, j]):
                ax.text(j, i, f"{data[i, j]:.{table.decimals}f}", ha="center", va="center", fontsize=7,
                        color="black" if norm[i, j] > 0.55 else "white")
    ax.set_xticks(range(len(groups)), [g.task for g in groups], rotation=40, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), [r.name + (" †" if r.published else "") for r in rows], fontsize=8)
    ax.set_title(f"{table.title}: task scores", fontsize=9)
    png, svg = _render(fig)
    caption = ("Task score per model (mean of the task's columns; % or dB). Colours are scaled within each "
               "task (brightest = best); grey = no result."
               + (" † published, not measured." if any(r.published for r in rows) else ""))
    return Plot(stem=f"{table.key}_heatmap", title=f"{table.title}: heatmap", caption=caption,
                kind="heatmap", table=table.key, png=png, svg=svg,
                runs=[s.chosen.result.run_id for r in rows for s in r.selections.values()])


#: File names this module writes (used to clear figures of an earlier report from a plots folder).
PLOT_FILE = re.compile(r"^(official|render|custom)_(heatmap|layers_[A-Za-z0-9._-]+)\.(png|svg)$")


def render_plots(tables: list[Table]) -> list[Plot]:
    """The heatmap and the layer-wise figures of every table, in table order."""
    plots: list[Plot] = []
    for table in tables:
        hm = heatmap(table)
        if hm is not None:
            plots.append(hm)
        for group in table.groups:
            lp = layer_plot(table, group)
            if lp is not None:
                plots.append(lp)
    return plots
