"""``mertbench robustness``: probes trained once on clean features, evaluated on deformed test splits.

One call is one ordinary probe pass (:func:`mertbench.probe.run.make_setup`: the protocol, the
clean feature cache, every layer x lr x seed head trained together) with extra evaluation splits:
for each deformation, the test split rendered under it (:mod:`mertbench.robustness.render`) and its
features extracted into the feature cache (keyed like any extraction, by the deformed files, so
an interrupted run resumes there). The trained heads' best checkpoints are evaluated on the clean
test split and on every deformed one; selection (lr per layer, the layer) uses clean validation only,
so the clean numbers equal those of ``mertbench probe`` with the same settings, and a deformed number
differs from its clean one only through the deformed audio (an ``identity`` deformation reproduces
the clean metric exactly: tested).
"""
from __future__ import annotations

import dataclasses
import math
import secrets
import time
from pathlib import Path
from typing import Any, Sequence

from mertbench.deform import Deformation, DeformationError, get_deformation, list_deformations, load_family
from mertbench.errors import SpecError
from mertbench.extract.runner import Extraction, ExtractOptions, extract_features
from mertbench.probe.run import LayerArg, _result, make_setup
from mertbench.probe.selection import select
from mertbench.probe.trainer import HeadResult, TrainStats
from mertbench.provenance import provenance
from mertbench.results import MetricValue, summarize
from mertbench.robustness.render import DeformedSplit, render_deformed_split
from mertbench.robustness.schema import DeformationOutcome, RobustnessResult, write_robustness
from mertbench.tasks.data import LoadedDataset
from mertbench.tasks.registry import as_task

SPLIT_PREFIX = "test@"


def resolve_deformations(specs: Sequence[str | Deformation] | None) -> list[Deformation]:
    """Deformations from ``--deform`` values: a name, a family name, ``all`` (default), a path to a
    family YAML of your own, or a Deformation. Duplicates are dropped, the order kept."""
    shipped = list_deformations()
    if not specs:
        return shipped
    families = {d.family.family for d in shipped}
    out: list[Deformation] = []
    for spec in specs:
        if isinstance(spec, Deformation):
            out.append(spec)
            continue
        for item in [s.strip() for s in str(spec).split(",") if s.strip()]:
            if item == "all":
                out += shipped
            elif item in families:
                out += [d for d in shipped if d.family.family == item]
            elif item.endswith((".yaml", ".yml")) or Path(item).is_file():
                fam = load_family(item)
                out += [Deformation(d, fam) for d in fam.deformations]
            else:
                try:
                    out.append(get_deformation(item))
                except DeformationError as exc:
                    raise SpecError(f"--deform {item!r}: {exc} (families: {', '.join(sorted(families))}; or 'all')") from exc
    seen: set[str] = set()
    unique = []
    for d in out:
        if d.name not in seen:
            seen.add(d.name)
            unique.append(d)
    return unique


@dataclasses.dataclass
class _WithDeformed(Extraction):
    """The clean extraction plus the deformed test splits' caches under ``test@<name>``."""

    extra: dict[str, Extraction] = dataclasses.field(default_factory=dict)

    def split(self, name: str):  # type: ignore[override]
        if name in self.extra:
            return self.extra[name].split("test")
        return super().split(name)


def _ratio_ok(scale: str, direction: str, clean: list[float]) -> bool:
    return scale == "unit" and direction == "max" and all(c is not None and math.isfinite(c) and c > 0 for c in clean)


def _summaries(sel_runs: list[HeadResult], split: str, spec: Any) -> tuple[dict[str, MetricValue], dict[str, MetricValue]]:
    """Per-seed drop and retention of every metric between the clean test and ``split``."""
    drop: dict[str, MetricValue] = {}
    keep: dict[str, MetricValue] = {}
    for m in spec.metrics:
        clean = [r.test.get(m.name, math.nan) for r in sel_runs]
        deformed = [r.extra[split].get(m.name, math.nan) for r in sel_runs]
        pairs = list(zip(clean, deformed))
        if not all(math.isfinite(c) and math.isfinite(d) for c, d in pairs):
            continue
        drop[m.name] = summarize([d - c for c, d in pairs])
        if _ratio_ok(m.scale, m.direction, clean):
            keep[m.name] = summarize([d / c for c, d in pairs])
    return drop, keep


def run_robustness(model: str, task: str, deformations: Sequence[str | Deformation] | None = None, *,
                   layer: LayerArg = "all", seeds: int | Sequence[int] = 3, lrs: Sequence[float] | None = None,
                   max_epochs: int | None = None, root: str | Path | None = None, device: str = "cpu",
                   out: str | Path | None = None, protocol: str | None = None,
                   extract_options: ExtractOptions | None = None, progress: bool = True, write: bool = True,
                   threads: int | None = None, cache_root: str | Path | None = None,
                   data_root: str | Path | None = None) -> tuple[RobustnessResult, Path | None]:
    """Probe ``model`` on ``task`` once on clean features and score every deformation's test split.

    Args:
        deformations: names / families / ``all`` / family YAML paths / Deformation objects (see
            :func:`resolve_deformations`; default: every shipped deformation).
        layer, seeds, lrs, max_epochs, root, device, protocol: as :func:`mertbench.probe.run.run_probe`.
        out: results root (the file goes to ``<out>/robustness/<model>/<task>/<run_id>.json``).
        cache_root: where deformed audio and features go (default ``$MERTBENCH_CACHE``).
        data_root: where ``stem_noise`` looks for its noise task (default ``$MERTBENCH_DATA``).
    """
    t0 = time.perf_counter()
    task_obj = as_task(task)
    defs = resolve_deformations(deformations)
    setup = make_setup(model, task_obj, max_epochs=max_epochs, root=root, device=device, progress=progress,
                       protocol=protocol, extract_options=extract_options)
    clean_ext = setup.extraction
    spec = task_obj.spec
    splits: dict[str, DeformedSplit] = {}
    extra: dict[str, Extraction] = {}  # "test@<name>" -> the deformed split's features
    opts = dataclasses.replace(extract_options or ExtractOptions(), layers=list(clean_ext.cache.layers))
    for d in defs:
        if progress:
            from mertbench.progress import console

            console.print(f"robustness {task_obj.name}: {d.name}", highlight=False)
        ds = render_deformed_split(task_obj, clean_ext.dataset, d, cache_root=cache_root, data_root=data_root)
        splits[d.name] = ds
        if ds.status != "ready":
            continue
        derived = LoadedDataset(splits={"test": ds.examples}, vocabulary=clean_ext.dataset.vocabulary)
        ext = extract_features(clean_ext.encoder or model, task_obj, splits=["test"], device=device, options=opts,
                               progress=progress, dataset=derived, model_spec=clean_ext.model_spec,
                               cache_root=cache_root)
        extra[SPLIT_PREFIX + d.name] = ext
    composite = _WithDeformed(**{f.name: getattr(clean_ext, f.name) for f in dataclasses.fields(Extraction)},
                              extra=extra)
    composite.dataset = LoadedDataset(
        splits={**clean_ext.dataset.splits, **{k: e.dataset.splits["test"] for k, e in extra.items()}},
        vocabulary=clean_ext.dataset.vocabulary, skipped=dict(clean_ext.dataset.skipped),
        problems=list(clean_ext.dataset.problems))
    extended = dataclasses.replace(task_obj, spec=spec.model_copy(update={"splits": [*spec.splits, *extra]}))
    wide = dataclasses.replace(setup, task=extended, extraction=composite)

    layer_arg, lr_list, seed_list, configs = wide.heads(layer, lrs, seeds)
    stats = TrainStats()
    results, family = wide.train_with_progress(configs, progress, stats, threads, extra_splits=list(extra))
    excluded_extra = {k: family.excluded.pop(k) for k in list(family.excluded) if k in extra}
    sel = select(results, family.monitor, family.primary_direction())
    clean = _result(setup, family, sel, results, configs, lr_list, seed_list, layer_arg, stats,
                    time.perf_counter() - t0)

    # the clean-selected layer's heads at its lr, one per seed: drop and retention compare these
    chosen = sorted((r for r in results if r.config.key == sel.selected and r.config.lr == sel.lr_per_layer[sel.selected]),
                    key=lambda r: r.config.seed)
    outcomes: list[DeformationOutcome] = []
    for d in defs:
        ds = splits[d.name]
        rec = ds.record()
        if ds.status != "ready":
            outcomes.append(DeformationOutcome(name=d.name, status=ds.status, reason=ds.reason,
                                               deformation=rec["deformation"], skipped=rec["skipped"],
                                               problems=rec["problems"]))
            continue
        key = SPLIT_PREFIX + d.name
        swapped = [dataclasses.replace(r, test=r.extra[key]) for r in results]
        dsel = select(swapped, family.monitor, family.primary_direction())
        layers = {k: v["test"] for k, v in dsel.layers.items()}
        drop, keep = _summaries(chosen, key, spec)
        skipped = dict(rec["skipped"])
        if excluded_extra.get(key):
            skipped["no_features"] = skipped.get("no_features", 0) + excluded_extra[key]
        ext = extra[key]
        for s, n in ext.skipped().items():
            skipped[s.split("/", 1)[-1]] = skipped.get(s.split("/", 1)[-1], 0) + n
        outcomes.append(DeformationOutcome(
            name=d.name, status="scored", deformation=rec["deformation"],
            examples=len(ds.examples) - excluded_extra.get(key, 0), skipped=skipped, problems=rec["problems"],
            layers=layers, drop=drop, retention=keep, feature_cache=ext.key))
    prov = provenance(config={"clean_config_hash": clean.provenance.config_hash,
                              "deformations": [d.hash for d in defs]},
                      task_version=spec.version, dataset_fingerprint=clean_ext.dataset.fingerprint(), seed=seed_list,
                      device=setup.device, wall_time_s=round(time.perf_counter() - t0, 3),
                      protocol=setup.protocol.name, protocol_version=setup.protocol.version)
    run_id = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)
    result = RobustnessResult(model=clean.model, task=spec.name, task_version=str(spec.version), run_id=run_id,
                              primary_metric=spec.primary_metric, selected_layer=str(sel.selected), seeds=seed_list,
                              clean=clean, deformations=outcomes, provenance=prov)
    written = write_robustness(result, out) if write else None
    return result, written
