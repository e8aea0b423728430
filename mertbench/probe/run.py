"""``run_probe``: extraction (if the cache is missing) + all heads in one pass + results JSON."""
from __future__ import annotations

import math
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from mertbench.errors import SpecError
from mertbench.extract.runner import Extraction, ExtractOptions, extract_features
from mertbench.io import atomic_write_text
from mertbench.models.contract import Encoder
from mertbench.probe.families.base import FamilyContext, ProbeFamily
from mertbench.probe.heads import WEIGHTED, HeadConfig
from mertbench.probe.registry import get_family
from mertbench.probe.selection import Selection, select
from mertbench.probe.trainer import HeadResult, TrainSettings, TrainStats, train_heads
from mertbench.provenance import provenance
from mertbench.results import RunResult, default_path, write_result
from mertbench.tasks.protocol import ResolvedProtocol, resolve_protocol
from mertbench.tasks.registry import Task, as_task

REQUIRED_SPLITS = ("train", "valid", "test")

LayerArg = str | int | Sequence[int] | None


def parse_layers(layer: LayerArg, stored: list[int]) -> list[int | None]:
    """Head inputs for a ``--layer`` value: ``all`` (every stored layer + the weighted sum; also for
    None), ``weighted``, an index ``N``, or a comma list ``"3,5,7"``. In the returned list None means
    the weighted sum."""
    if layer is None or (isinstance(layer, str) and layer.strip().lower() == "all"):
        out: list[int | None] = list(stored)
        if len(stored) > 1:
            out.append(None)
        return out
    if isinstance(layer, str) and layer.strip().lower() == WEIGHTED:
        if len(stored) < 2:
            raise SpecError(f"--layer weighted needs at least two stored layers; the cache holds {stored}")
        return [None]
    if isinstance(layer, str):
        try:
            items = [int(x) for x in layer.split(",") if x.strip()]
        except ValueError:
            raise SpecError(f"--layer must be 'all', 'weighted', an index or a comma list, got {layer!r}") from None
    elif isinstance(layer, int):
        items = [layer]
    else:
        items = [int(x) for x in layer]
    bad = [x for x in items if x not in stored]
    if bad:
        raise SpecError(f"--layer {bad}: not available; the model/cache has hidden states {stored}")
    return list(dict.fromkeys(items))


def weighted_layers(stored: list[int]) -> list[int]:
    """Layers summed by the weighted head: all stored layers except hidden state 0 (as MARBLE)."""
    rest = [x for x in stored if x != 0]
    return rest or list(stored)


def head_configs(inputs: list[int | None], lrs: Sequence[float], seeds: Sequence[int]) -> list[HeadConfig]:
    return sorted(HeadConfig.make(layer, lr, s) for layer in inputs for lr in lrs for s in seeds)


def positions_for(configs: Sequence[HeadConfig], stored: list[int]) -> tuple[list[int], dict[int, int], list[int]]:
    """``(cache positions to gather, hidden index -> gathered position, weighted gathered positions)``."""
    need: set[int] = {c.layer for c in configs if not c.weighted}
    wl = weighted_layers(stored) if any(c.weighted for c in configs) else []
    need |= set(wl)
    layers = sorted(need)
    cache_pos = [stored.index(x) for x in layers]
    pos = {x: i for i, x in enumerate(layers)}
    return cache_pos, pos, [pos[x] for x in wl]


@dataclass
class ProbeSetup:
    """Everything needed to train heads on one task (reused by benchmarks)."""

    task: Task
    extraction: Extraction
    settings: TrainSettings
    batch_size: int
    options: dict[str, Any]
    device: torch.device
    protocol: ResolvedProtocol
    head: str = "mlp"

    def family(self, configs: Sequence[HeadConfig], ram_budget_gb: float = 4.0) -> tuple[ProbeFamily, dict[int, int], list[int]]:
        stored = self.extraction.cache.layers
        cache_pos, pos, wpos = positions_for(configs, stored)
        ctx = FamilyContext(self.task.spec, self.extraction.dataset, self.extraction, cache_pos, self.device,
                            self.batch_size, self.options, ram_budget_gb, self.head)
        return get_family(self.task.spec.type)(ctx), pos, wpos

    def heads(self, layer: LayerArg, lrs: float | Sequence[float] | None,
              seeds: int | Sequence[int]) -> tuple[Any, list[float], list[int], list[HeadConfig]]:
        """``(layer argument, lrs, seeds, head configs)`` of a pass: ``layer`` ``"spec"`` becomes the
        spec's ``probe.layer``; lrs default to the protocol budget's grid, else the spec's; the
        protocol's budget caps the seeds."""
        spec = self.task.spec
        layer_arg = layer
        if isinstance(layer, str) and layer.strip().lower() == "spec":
            layer_arg = spec.probe.layer if spec.probe.layer is not None else "all"
        inputs = parse_layers(layer_arg, self.extraction.cache.layers)
        budget = self.protocol.settings.get("probe_budget") or {}
        lr_list = [float(lrs)] if isinstance(lrs, (int, float)) else (
            list(map(float, lrs)) if lrs else [float(x) for x in budget.get("lr_grid") or default_lrs(self.task)])
        seed_list = list(range(int(seeds))) if isinstance(seeds, int) else [int(s) for s in seeds]
        if not seed_list:
            raise SpecError("--seeds must be at least 1")
        if budget.get("seeds"):
            seed_list = seed_list[: int(budget["seeds"])]  # the protocol's compute budget caps the seeds
        return layer_arg, lr_list, seed_list, head_configs(inputs, lr_list, seed_list)

    def train_with_progress(self, configs: Sequence[HeadConfig], progress: bool, stats: TrainStats,
                            threads: int | None = None,
                            extra_splits: Sequence[str] = ()) -> tuple[list[HeadResult], ProbeFamily]:
        """:meth:`train` with an epoch progress bar when ``progress``."""
        bar_cb, bar = _epoch_progress(progress, self.task.name, len(configs), self.settings.max_epochs)
        try:
            return self.train(configs, bar_cb, stats, threads, extra_splits)
        finally:
            if bar is not None:
                bar.stop()

    def train(self, configs: Sequence[HeadConfig], on_epoch: Callable | None = None,
              stats: TrainStats | None = None, threads: int | None = None,
              extra_splits: Sequence[str] = ()) -> tuple[list[HeadResult], ProbeFamily]:
        family, pos, wpos = self.family(configs)
        dim = int(self.extraction.encoder_info["dim"])
        return train_heads(family, configs, pos, wpos, dim, self.settings, self.device, on_epoch, stats,
                           threads, extra_splits), family


def make_setup(model: str | Encoder, task: str | Task, *, head: str | None = None, max_epochs: int | None = None,
               batch_size: int | None = None, root: str | Path | None = None, device: str = "cpu",
               options: dict[str, Any] | None = None, extract_options: ExtractOptions | None = None,
               progress: bool = True, protocol: str | None = None) -> ProbeSetup:
    """Resolve the task and the protocol, extract features when the cache is missing, and merge
    probe options: the protocol's settings, then the spec's ``probe.options``, then ``options``."""
    task = as_task(task)
    missing = [s for s in REQUIRED_SPLITS if s not in task.spec.splits]
    if missing:
        raise SpecError(f"task {task.name}: probing needs the splits {list(REQUIRED_SPLITS)}; "
                        f"the spec has {task.spec.splits}")
    resolved = resolve_protocol(task.spec, protocol)
    budget = resolved.settings.get("probe_budget") or {}
    opts: dict[str, Any] = {"standardize": resolved.settings["standardize"]}
    opts.update(task.spec.probe.options)
    opts.update(budget.get("options") or {})
    opts.update(options or {})
    get_family(task.spec.type).check_options(task.spec, opts)  # before any extraction
    get_family(task.spec.type).check_head(task.spec, head or task.spec.probe.head)
    ext = extract_features(model, task, root=root, device=device, options=extract_options, progress=progress)
    if not ext.complete:
        raise SpecError(f"task {task.name}: feature extraction is incomplete (another rank still running?)")
    p = task.spec.probe
    head = head or p.head
    get_family(task.spec.type).check_head(task.spec, head)
    settings = TrainSettings(hidden=p.hidden if head != "linear" else None,
                             dropout=p.dropout if head != "linear" else 0.0,
                             max_epochs=int(max_epochs or budget.get("max_epochs") or p.max_epochs),
                             lr_patience=p.lr_patience,
                             early_stop_patience=p.early_stop_patience)
    return ProbeSetup(task, ext, settings, int(batch_size or p.batch_size), opts, torch.device(device), resolved, head)


def default_lrs(task: Task) -> list[float]:
    """The spec's ``probe.lr_grid`` when it sets one, else ``[probe.lr]``."""
    p = task.spec.probe
    return list(p.lr_grid) if "lr_grid" in p.model_fields_set else [p.lr]


def run_probe(
    model: str | Encoder,
    task: str | Task,
    *,
    layer: LayerArg = "all",
    seeds: int | Sequence[int] = 1,
    lrs: float | Sequence[float] | None = None,
    head: str | None = None,
    max_epochs: int | None = None,
    batch_size: int | None = None,
    root: str | Path | None = None,
    device: str = "cpu",
    out: str | Path | None = None,
    options: dict[str, Any] | None = None,
    extract_options: ExtractOptions | None = None,
    progress: bool = True,
    write: bool = True,
    threads: int | None = None,
    protocol: str | None = None,
    path: str | Path | None = None,
) -> tuple[RunResult, Path | None]:
    """Probe ``model`` on ``task`` with MARBLE's protocol; every head in one pass.

    Args:
        model: model spec or Encoder. task: task name or Task.
        layer: ``"all"`` (default: every layer + the weighted sum in one pass), ``"weighted"``, an
            index, a comma list, or ``"spec"`` for the spec's ``probe.layer`` (MARBLE's per-task layer).
        seeds: number of seeds K (seeds 0..K-1) or an explicit list.
        lrs: one learning rate or a grid (default: the spec's grid); chosen per layer on validation.
        head: ``mlp`` (512 hidden, ReLU, dropout; the spec's sizes) or ``linear``.
        max_epochs / batch_size: override the spec.
        root: the task's data folder. device: ``cpu``/``cuda``.
        out: results root folder (default ``$MERTBENCH_RESULTS``).
        options: family options overriding ``probe.options`` (e.g. ``{"eval_crop_s": 30}``).
        write: write the results JSON.
        path: write it to this file (default ``<out>/runs/<model>/<task>/<run_id>.json``).
        threads: torch CPU threads for training (None: one thread for small heads or a busy machine,
            see :func:`mertbench.probe.trainer.auto_threads`).
        protocol: evaluation protocol (``protocols/<name>.yaml``; default ``mertbench``), refined by
            the spec's ``protocols:`` block; recorded in provenance and the config hash.

    Returns:
        ``(result, path)`` (path None when ``write`` is False).
    """
    t0 = time.perf_counter()
    task = as_task(task)
    setup = make_setup(model, task, head=head, max_epochs=max_epochs, batch_size=batch_size, root=root,
                       device=device, options=options, extract_options=extract_options, progress=progress,
                       protocol=protocol)
    layer_arg, lr_list, seed_list, configs = setup.heads(layer, lrs, seeds)
    stats = TrainStats()
    results, family = setup.train_with_progress(configs, progress, stats, threads)
    sel = select(results, family.monitor, family.primary_direction())
    wall = time.perf_counter() - t0
    result = _result(setup, family, sel, results, configs, lr_list, seed_list, layer_arg, stats, wall)
    written = None
    if write:
        dest = Path(path) if path is not None else (default_path(result, out) if out is not None else None)
        written = write_result(result, dest)
        listed = setup.extraction.skipped_files()
        if listed:
            write_skipped_list(skipped_list_path(written), listed)
    return result, written


def skipped_list_path(result_path: Path) -> Path:
    """``<run_id>.skipped.tsv`` next to the results JSON: every example the run left out."""
    return result_path.with_name(result_path.stem + ".skipped.tsv")


def write_skipped_list(path: Path, items: list[dict[str, str]]) -> None:
    """Tab-separated ``split, id, path, reason, problem`` (tabs/newlines in fields become spaces)."""
    cols = ("split", "id", "path", "reason", "problem")
    clean = [[" ".join(str(it.get(c, "")).split()) for c in cols] for it in items]
    atomic_write_text(path, "\t".join(cols) + "\n" + "".join("\t".join(r) + "\n" for r in clean))


def _epoch_progress(enabled: bool, name: str, n_heads: int, max_epochs: int) -> tuple[Callable | None, Any]:
    if not enabled:
        return None, None
    from mertbench.progress import progress_bar

    bar = progress_bar()
    bar.start()
    tid = bar.add_task(f"probe {name}: {n_heads} heads", total=max_epochs)

    def cb(epoch: int, active: int, best: float) -> None:
        bar.update(tid, completed=epoch + 1,
                   description=f"probe {name}: {active}/{n_heads} heads training, best valid {best:.4g}")

    return cb, bar


def _result(setup: ProbeSetup, family: ProbeFamily, sel: Selection, results: list[HeadResult],
            configs: list[HeadConfig], lrs: list[float], seeds: list[int], layer_arg: Any,
            stats: TrainStats, wall: float) -> RunResult:
    spec = setup.task.spec
    ext = setup.extraction
    s = setup.settings
    hyper: dict[str, Any] = {
        "layer": str(layer_arg if layer_arg is not None else "all"), "spec_layer": spec.probe.layer,
        "head": setup.head,
        "hidden": s.hidden, "dropout": s.dropout, "batch_size": setup.batch_size,
        "optimizer": "adam", "lr_grid": lrs, "lr": sel.lr_per_layer[sel.selected],
        "lr_per_layer": sel.lr_per_layer, "valid_grid": sel.grid,
        "lr_scheduler": {"type": "reduce_on_plateau", "factor": s.lr_factor, "patience": s.lr_patience},
        "early_stop_patience": s.early_stop_patience, "max_epochs": s.max_epochs,
        "best_epoch": sel.best_epochs, "weighted_layers": weighted_layers(ext.cache.layers),
        "heads_trained": len(configs), "train_steps": stats.steps, "train_wall_s": round(stats.wall_s, 3),
        "feature_cache": ext.key, "windowing": ext.windowing.as_dict(),
        "options": setup.options,
    }
    hyper.update(family.hyperparameters())
    hyper["standardize"] = family.standardized
    hyper["protocol"] = setup.protocol.record()
    if sel.undefined:
        hyper["undefined_metrics"] = sel.undefined
    if family.notes:
        hyper["metric_notes"] = list(family.notes)
    hyper["monitor"] = family.monitor
    strategies = {k: [c.get("strategy") for c in v] for k, v in sel.contexts.items() if any("strategy" in c for c in v)}
    if strategies:
        hyper["ensemble_strategy"] = strategies
    skipped = ext.skipped()
    for split, n in family.excluded.items():
        # examples without features that the extraction did not already count as skipped (counted once)
        counted = sum(v for k, v in skipped.items() if k.startswith(f"{split}/"))
        if n - counted > 0:
            skipped[f"{split}/no_features"] = n - counted
    config = {"model": ext.model_spec, "model_fingerprint": ext.encoder_info.get("fingerprint"),
              "task": spec.name, "task_version": spec.version, "feature_cache": ext.key,
              "hyperparameters": {k: v for k, v in hyper.items() if k not in ("valid_grid", "best_epoch", "lr",
                                                                             "lr_per_layer", "train_steps",
                                                                             "train_wall_s", "ensemble_strategy")},
              "seeds": seeds}
    prov = provenance(config=config, task_version=spec.version, dataset_fingerprint=ext.dataset.fingerprint(),
                      seed=seeds, device=setup.device, wall_time_s=round(wall, 3),
                      protocol=setup.protocol.name, protocol_version=setup.protocol.version)
    run_id = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)
    return RunResult(
        model=ext.model_spec, model_fingerprint=ext.encoder_info.get("fingerprint"), task=spec.name,
        task_version=str(spec.version), run_id=run_id, primary_metric=spec.primary_metric,
        metric_directions={m.name: m.direction for m in spec.metrics}, layers=sel.layers,
        metric_scales={m.name: m.scale for m in spec.metrics},
        selected_layer=sel.selected, hyperparameters=_json_safe(hyper), seeds=seeds, skipped=skipped,
        examples={split: n - family.excluded.get(split, 0) for split, n in ext.dataset.counts().items()},
        provenance=prov,
    )


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj
