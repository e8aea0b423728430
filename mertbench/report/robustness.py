"""The robustness part of a report: results of ``mertbench robustness`` (``<results>/robustness/``).

- :func:`collect_robustness`: the newest robustness file per model x task (malformed files listed);
- :func:`robustness_scores`: one score per model, the mean relative retention of the primary metric
  (deformed / clean at the clean-selected layer, mean over seeds) over every scored task-deformation
  pair of the tasks a table shows; pairs without a ratio (a dB metric, a clean value that is not
  positive) are left out and counted, and the ``identity`` check never counts; shown as the
  ``Robust.`` column next to Avg (in %);
- :func:`robustness_markdown`: per model x task x deformation, the deformed metric and its drop from
  clean with the 95 % interval over probe seeds (invalid pairs with their reason);
- :func:`robustness_heatmap`: models x tasks (rows) by deformations (columns), coloured by retention.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from mertbench.report.plots import Plot, _render
from mertbench.report.table import display_factor
from mertbench.robustness.schema import RobustnessResult, iter_robustness


@dataclass
class RobustnessView:
    """The robustness files a report shows: ``results[(model, task)]`` (newest), and what was skipped."""

    results: dict[tuple[str, str], RobustnessResult] = field(default_factory=dict)
    malformed: list[str] = field(default_factory=list)
    older: int = 0

    def for_tasks(self, tasks: Iterable[str]) -> list[RobustnessResult]:
        wanted = set(tasks)
        return [r for (m, t), r in sorted(self.results.items()) if t in wanted]


def collect_robustness(results_dir: str | Path | None, models: list[str] | None = None,
                       protocol: str | None = None) -> RobustnessView:
    view = RobustnessView()
    for _path, res in iter_robustness(results_dir):
        if not isinstance(res, RobustnessResult):
            view.malformed.append(str(res))
            continue
        if models is not None and res.model not in models:
            continue
        if protocol is not None and res.provenance.protocol != protocol:
            continue
        key = (res.model, res.task)
        old = view.results.get(key)
        if old is None or res.provenance.created > old.provenance.created:
            if old is not None:
                view.older += 1
            view.results[key] = res
        else:
            view.older += 1
    return view


def robustness_scores(view: RobustnessView, tasks: Iterable[str]) -> dict[str, tuple[float, int, int]]:
    """``model -> (score, pairs scored, pairs left out)``; score = mean retention (1.0 = nothing lost)."""
    acc: dict[str, list[float]] = {}
    left: dict[str, int] = {}
    for res in view.for_tasks(tasks):
        for o in res.deformations:
            if o.status != "scored" or o.deformation.get("kind") == "identity":  # a check, not a deformation
                continue
            r = o.retention.get(res.primary_metric)
            if r is None or not math.isfinite(r.mean):
                left[res.model] = left.get(res.model, 0) + 1
                continue
            acc.setdefault(res.model, []).append(r.mean)
    return {m: (sum(v) / len(v), len(v), left.get(m, 0)) for m, v in acc.items()}


def _fmt(value: float | None, decimals: int) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{decimals}f}"


HEADER = ["Model", "Task", "Deformation", "Metric", "Clean", "Deformed", "Drop", "Retention", "Examples"]
NOTE = ("Each row: the probe heads trained on clean features (`mertbench robustness`), evaluated on the test split "
        "rendered under the deformation, at the layer and learning rate selected on clean validation; Drop = "
        "deformed - clean per seed (± 95% interval over seeds, Student t); Retention = deformed / clean per seed, "
        "where the metric is a percentage that is positive when clean. Robust. (next to Avg) = mean retention over "
        "the scored pairs of the table's tasks.")


def robustness_rows(view: RobustnessView, tasks: Iterable[str], specs: dict[str, Any], decimals: int = 1,
                    names: dict[str, str] | None = None) -> tuple[list[list[str]], list[str]]:
    """``(rows of HEADER cells, notes on pairs not scored)`` for the results of ``tasks``."""
    names = names or {}
    rows: list[list[str]] = []
    invalid: dict[tuple[str, str], list[str]] = {}
    for res in view.for_tasks(tasks):
        spec = specs.get(res.task)
        metric = res.primary_metric
        m = spec.metric(metric) if spec is not None else None
        f = display_factor(m.scale) if m is not None else 1.0
        label = (m.label or m.name) if m is not None else metric
        clean = res.clean.layers[res.selected_layer]["test"].get(metric)
        for o in res.deformations:
            if o.status != "scored":
                invalid.setdefault((res.model, res.task), []).append(f"{o.name} ({o.status}: {o.reason})")
                continue
            v = o.layers.get(res.selected_layer, {}).get(metric)
            d = o.drop.get(metric)
            r = o.retention.get(metric)
            drop = "-" if d is None else f"{d.mean * f:+.{decimals}f}" + (f" ± {d.ci95 * f:.{decimals}f}" if d.ci95 else "")
            rows.append([names.get(res.model, res.model), res.task, o.name, label,
                         _fmt(clean.mean * f if clean else None, decimals), _fmt(v.mean * f if v else None, decimals),
                         drop, _fmt(r.mean * 100 if r else None, decimals) + ("%" if r else ""), str(o.examples)])
    notes = [f"Not scored for {names.get(model, model)} on {task}: " + "; ".join(items) + "."
             for (model, task), items in sorted(invalid.items())]
    return rows, notes


def robustness_markdown(view: RobustnessView, tasks: Iterable[str], specs: dict[str, Any], decimals: int = 1,
                        names: dict[str, str] | None = None, esc: Callable[[str], str] = str) -> str:
    """The long robustness table (markdown) of the results for ``tasks``; '' when there are none.
    ``esc`` escapes cell text (the markdown module's escaper)."""
    rows, notes = robustness_rows(view, tasks, specs, decimals, names)
    if not rows and not notes:
        return ""
    lines = ["## Robustness", "", "| " + " | ".join(HEADER) + " |", "|" + "|".join([":---"] * 4 + ["---:"] * 5) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    lines += ["", f"- {esc(NOTE)}"] + [f"- {esc(n)}" for n in notes]
    return "\n".join(lines) + "\n"


def robustness_html(view: RobustnessView, tasks: Iterable[str], specs: dict[str, Any], decimals: int = 1,
                    names: dict[str, str] | None = None) -> str:
    """The same table as HTML (inside a scrolling box); '' when there are none."""
    from html import escape

    rows, notes = robustness_rows(view, tasks, specs, decimals, names)
    if not rows and not notes:
        return ""
    head = "".join(f"<th>{escape(h)}</th>" for h in HEADER)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return ('<div class="scroll"><table class="leaderboard robustness"><thead><tr>' + head + "</tr></thead><tbody>"
            + body + '</tbody></table></div><ul class="notes">'
            + "".join(f"<li>{escape(n)}</li>" for n in [NOTE, *notes]) + "</ul>")


def robustness_heatmap(view: RobustnessView, tasks: Iterable[str], names: dict[str, str] | None = None) -> Plot | None:
    """Rows: model · task; columns: deformations; colour and number: retention in % (blank: not scored)."""
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    rows = view.for_tasks(tasks)
    if not rows:
        return None
    names = names or {}
    defs: list[str] = []
    for res in rows:
        for o in res.deformations:
            if o.name not in defs:
                defs.append(o.name)
    data = np.full((len(rows), len(defs)), np.nan)
    for i, res in enumerate(rows):
        for o in res.deformations:
            r = o.retention.get(res.primary_metric)
            if o.status == "scored" and r is not None and math.isfinite(r.mean):
                data[i, defs.index(o.name)] = 100.0 * r.mean
    if np.all(np.isnan(data)):
        return None
    labels = [f"{names.get(r.model, r.model)} · {r.task}" for r in rows]
    ylab = max(len(x) for x in labels) * 0.07
    xlab = max(len(d) for d in defs) * 0.07 * 0.7
    fig = Figure(figsize=(2.0 + ylab + 0.5 * len(defs), 1.6 + xlab + 0.34 * len(rows)), layout="constrained")
    ax = fig.add_subplot()
    cmap = colormaps["magma"].with_extremes(bad="#eeeeee")
    im = ax.imshow(np.ma.masked_invalid(np.clip(data, 0, 120)), cmap=cmap, vmin=0, vmax=110, aspect="auto")
    for i in range(len(rows)):
        for j in range(len(defs)):
            if not np.isnan(data[i, j]):
                ax.text(j, i, f"{data[i, j]:.0f}", ha="center", va="center", fontsize=6,
                        color="black" if data[i, j] > 60 else "white")
    ax.set_xticks(range(len(defs)), defs, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(rows)), labels, fontsize=7)
    fig.colorbar(im, ax=ax, shrink=0.6, label="retention (% of clean)")
    ax.set_title("Robustness: primary metric under each deformation, % of clean", fontsize=9)
    png, svg = _render(fig)
    runs = [r.run_id for r in rows]
    return Plot("robustness_heatmap", "Robustness heat map",
                "Retention of each task's primary metric (deformed / clean, %, mean over probe seeds) at the layer "
                "selected on clean validation; grey: not scored (invalid for the task, or no ratio for the metric).",
                "heatmap", "robustness", png, svg, runs)
