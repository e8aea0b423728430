"""Separation probe against trivial estimates (issue 16, item 4).

``separation-baselines``: on a separation task's test split (default ``render-separation``), the
global SDR per stem of

- ``mixture``: the mixture itself as the estimate of every stem;
- ``energy-share``: the mixture scaled by the stem's mean share of the stems' energy on the
  training split (for uncorrelated stems this is the least-squares optimal constant gain);
- the separation probe of each model (``mertbench probe --layer all``, test metric at the layer
  chosen on validation, ``seeds`` seeds, the task's own head and options).

The figure is the smallest margin (dB) of any model over the better trivial estimate on any stem:
positive means every model beats both trivial estimates on every stem.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from mertbench.bench import BenchResult, register_benchmark


def trivial_estimates(task: str, root: str | None = None) -> dict[str, dict[str, float]]:
    """``{"mixture": {stem: sdr}, "energy-share": {stem: sdr}}`` (dB, mean over test tracks), plus
    ``"share"``: each stem's training energy share."""
    from mertbench.audio import load_audio
    from mertbench.metrics.separation import global_sdr
    from mertbench.tasks.registry import get_task

    t = get_task(task)
    stems = list(t.spec.labels.names or [])
    ds = t.load(root)

    def read(ex: Any, path: Any) -> np.ndarray:
        audio, _ = load_audio(str(path), 24000, start_s=ex.start_s, duration_s=ex.duration_s, mono=False)
        return np.atleast_2d(audio).astype(np.float64)

    shares = {s: [] for s in stems}
    for ex in ds.splits["train"]:
        energy = {s: float(np.sum(read(ex, ex.label[s]) ** 2)) for s in stems}
        total = sum(energy.values()) or 1.0
        for s in stems:
            shares[s].append(energy[s] / total)
    share = {s: float(np.mean(v)) for s, v in shares.items()}
    out: dict[str, dict[str, list[float]]] = {"mixture": {s: [] for s in stems}, "energy-share": {s: [] for s in stems}}
    for ex in ds.splits["test"]:
        mix = read(ex, ex.path)
        for s in stems:
            ref = read(ex, ex.label[s])
            n = min(ref.shape[1], mix.shape[1])
            out["mixture"][s].append(global_sdr(ref[:, :n], mix[:, :n]))
            out["energy-share"][s].append(global_sdr(ref[:, :n], share[s] * mix[:, :n]))
    result = {k: {s: float(np.mean(v)) for s, v in d.items()} for k, d in out.items()}
    result["share"] = share
    return result


@register_benchmark("separation-baselines", "separation probe vs the mixture and energy-share estimates, per stem (dB)")
def separation_baselines(task: str = "render-separation", models: str = "cqt,logmel", seeds: int = 3,
                         root: str | None = None, device: str = "cpu") -> BenchResult:
    from mertbench.probe import run_probe
    from mertbench.tasks.registry import get_task

    spec = get_task(task).spec
    stems = list(spec.labels.names or [])
    trivial = trivial_estimates(task, root)
    rows: dict[str, dict[str, float]] = {"mixture": trivial["mixture"], "energy-share": trivial["energy-share"]}
    margins = []
    wall: dict[str, float] = {}
    for model in [m.strip() for m in models.split(",") if m.strip()]:
        t0 = time.perf_counter()
        result, _ = run_probe(model, task, layer="all", seeds=int(seeds), root=root, device=device,
                              progress=False, write=False)
        wall[model] = round(time.perf_counter() - t0, 1)
        layer = result.selected_layer
        test = result.layers[layer]["test"]
        metric_of = {m.options.get("stem"): m.name for m in spec.metrics if m.function == "sdr_global"}
        rows[f"{model} (layer {layer})"] = {s: float(test[metric_of[s]].mean) for s in stems}
        for s in stems:
            best_trivial = max(trivial["mixture"][s], trivial["energy-share"][s])
            margins.append(rows[f"{model} (layer {layer})"][s] - best_trivial)
    table = {name: {s: round(v, 2) for s, v in r.items()} for name, r in rows.items()}
    return BenchResult(
        figure=float(min(margins)) if margins else float("nan"),
        meaning=(f"dB: smallest margin of any probe over the better trivial estimate on any stem of {task} "
                 "(positive: every probe beats both on every stem)"),
        details={"sdr_by_estimate": table, "energy_share": {s: round(v, 3) for s, v in trivial["share"].items()},
                 "seeds": int(seeds), "head": spec.probe.head, "probe_wall_s": wall},
    )
