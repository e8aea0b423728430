"""The training-curve figure of a pretraining run: online-evaluation scores against steps.

``plot_eval_curves(metrics_csv) -> png bytes`` draws, from the rows of ``metrics.csv`` that carry
online-evaluation columns (:mod:`mertbench.pretrain.online_eval`):

- left: the best-layer validation accuracy of each online probe task against the step, with the
  step-0 value (the random-init model) as a dashed line of the same colour;
- right: the held-out teacher cross-entropy at masked and unmasked frames against the step, with
  the label prior (the CE of predicting the label frequencies) as a dotted line.

matplotlib's object API only (no pyplot, no global backend change), like the report's figures.
The trainer writes ``eval_curves.png`` into the run folder after every evaluation.
"""
from __future__ import annotations

import io
import re
from pathlib import Path

from mertbench.io import atomic_write_bytes
from mertbench.pretrain.metrics import read_metrics

_PROBE = re.compile(r"^probe_(.+)_best$")


def eval_rows(metrics_csv: str | Path) -> list[dict[str, float]]:
    """The rows of ``metrics_csv`` that hold online-evaluation values, in step order."""
    rows = [r for r in read_metrics(metrics_csv)
            if any(k.startswith("probe_") or k.startswith("eval_ce") for k in r)]
    return sorted(rows, key=lambda r: r["step"])


def probe_tasks(rows: list[dict[str, float]]) -> list[str]:
    """Names of the online probe tasks present in ``rows``."""
    names: list[str] = []
    for r in rows:
        for k in r:
            m = _PROBE.match(k)
            if m and m.group(1) not in names:
                names.append(m.group(1))
    return names


def _finish(ax, ylabel: str, title: str) -> None:  # noqa: ANN001 (a matplotlib Axes)
    ax.set_xlabel("pretraining step")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)


def plot_eval_curves(metrics_csv: str | Path, title: str = "") -> bytes | None:
    """PNG of the online-evaluation curves of a run, or None when it has no evaluation rows."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = eval_rows(metrics_csv)
    if not rows:
        return None
    tasks = probe_tasks(rows)
    has_ce = any("eval_ce_masked" in r for r in rows)
    panels = int(bool(tasks)) + int(has_ce)
    fig = Figure(figsize=(5.4 * panels, 3.8))
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, panels, i + 1) for i in range(panels)]
    if tasks:
        ax = axes[0]
        for i, task in enumerate(tasks):
            key = f"probe_{task}_best"
            pts = [(r["step"], r[key]) for r in rows if key in r]
            color = f"C{i % 10}"
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, color=color, label=task)
            init = [r[key] for r in rows if key in r and r["step"] == 0]
            if init:
                ax.axhline(init[0], color=color, ls="--", lw=0.8)
        _finish(ax, "valid accuracy (best layer, ridge)", "online probes (dashed: random init)")
    if has_ce:
        ax = axes[-1]
        for key, label, color in (("eval_ce_masked", "masked frames", "C0"),
                                  ("eval_ce_unmasked", "unmasked frames", "C1")):
            pts = [(r["step"], r[key]) for r in rows if key in r and r[key] == r[key]]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, color=color, label=label)
        prior = [r["eval_prior_ce"] for r in rows if "eval_prior_ce" in r]
        if prior:
            ax.axhline(prior[0], color="k", ls=":", lw=1.0, label="label prior")
        _finish(ax, "teacher CE (nats, sum of codebooks)", "teacher prediction on held-out corpus clips")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.94) if title else None)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return buf.getvalue()


def write_eval_curves(run_dir: str | Path) -> Path | None:
    """Write ``<run_dir>/eval_curves.png`` from its metrics.csv (atomically); None without eval rows."""
    run_dir = Path(run_dir)
    png = plot_eval_curves(run_dir / "metrics.csv", title=run_dir.name)
    if png is None:
        return None
    out = run_dir / "eval_curves.png"
    atomic_write_bytes(out, png)
    return out
