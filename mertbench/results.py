"""The results schema: one JSON per (model, task, run), written atomically, validated on load.

Layout of a results file (``schema_version`` 1; every key required unless marked optional)::

    {
      "schema_version": 1,
      "model": "mert-95m",                 # the model spec as the user typed it
      "model_fingerprint": "ab12...",      # Encoder.fingerprint() (optional)
      "task": "gtzan-genre",
      "task_version": "1",
      "run_id": "20261124T203000-3f2a9c",  # unique per run
      "primary_metric": "acc",
      "metric_directions": {"acc": "max"},
      "layers": {                          # hidden-state index as a string, or "weighted"
        "7": {"valid": {"acc": {"mean": 0.81, "ci95": 0.02, "std": 0.015, "n": 3,
                                 "values": [0.80, 0.82, 0.81]}},
              "test":  {...}},
        "weighted": {...}
      },
      "selected_layer": "7",               # chosen on the validation primary metric (optional)
      "hyperparameters": {"lr": 0.001, "head": "mlp", ...},
      "seeds": [0, 1, 2],
      "skipped": {"unreadable_audio": 1},  # anything skipped, counted (optional)
      "examples": {"test": 290},           # examples evaluated per split (optional)
      "provenance": {mertbench_version, git_hash, config_hash, task_version, dataset_fingerprint,
                     seed, torch_version, python_version, device, wall_time_s, created}
    }

Metric values are on their natural scale (accuracy in [0, 1], SDR in dB); reports rescale.
"""
from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any, Iterator, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mertbench.errors import ResultsError
from mertbench.io import atomic_write_json, remove_stale_temps
from mertbench.paths import results_root

SCHEMA_VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MetricValue(_Strict):
    """A metric over ``n`` seeds: mean, 95% confidence half-width (Student t), std, raw values."""

    mean: float
    ci95: float | None = None
    std: float | None = None
    n: int = 1
    values: list[float] = Field(default_factory=list)

    @field_validator("mean")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("metric mean must be finite")
        return v

    @field_validator("ci95", "std")
    @classmethod
    def _spread(cls, v: float | None) -> float | None:
        if v is not None and not (math.isfinite(v) and v >= 0):
            raise ValueError(f"must be a finite number >= 0 or null, got {v!r}")
        return v

    @field_validator("values")
    @classmethod
    def _finite_values(cls, v: list[float]) -> list[float]:
        bad = [x for x in v if not math.isfinite(x)]
        if bad:
            raise ValueError(f"per-seed values must be finite, got {bad[:3]}")
        return v

    @field_validator("n")
    @classmethod
    def _count(cls, v: int) -> int:
        if v < 1:
            raise ValueError(f"n (number of seeds) must be >= 1, got {v}")
        return v


class Provenance(_Strict):
    """What produced a result; see :func:`mertbench.provenance.provenance`."""

    mertbench_version: str
    git_hash: str | None = None
    config_hash: str | None = None
    task_version: str | None = None
    dataset_fingerprint: str | None = None
    seed: int | list[int] | None = None
    torch_version: str | None = None
    python_version: str | None = None
    device: str | None = None
    wall_time_s: float | None = None
    created: str
    #: evaluation protocol (protocols/<name>.yaml) and its version; None in results written before
    #: protocols existed, which ran what is now the ``mertbench`` protocol
    protocol: str | None = None
    protocol_version: int | None = None


SplitMetrics = dict[str, MetricValue]


class RunResult(_Strict):
    """One run of one model on one task (all layers)."""

    schema_version: Literal[1] = SCHEMA_VERSION
    model: str
    model_fingerprint: str | None = None
    task: str
    task_version: str
    run_id: str
    primary_metric: str
    metric_directions: dict[str, Literal["max", "min"]]
    layers: dict[str, dict[str, SplitMetrics]]
    selected_layer: str | None = None
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    seeds: list[int] = Field(default_factory=list)
    skipped: dict[str, int] = Field(default_factory=dict)
    #: examples each split's metrics were computed over (after skipping); with ``skipped`` it
    #: gives the share of a split that was left out (the report flags runs that skipped much)
    examples: dict[str, int] = Field(default_factory=dict)
    provenance: Provenance
    #: each metric's scale (the task spec's ``scale``); unit-scale values must lie at or below 1
    metric_scales: dict[str, Literal["unit", "db", "raw"]] = Field(default_factory=dict)

    @field_validator("layers")
    @classmethod
    def _nonempty(cls, v: dict) -> dict:
        if not v:
            raise ValueError("at least one layer must have metrics")
        return v

    @model_validator(mode="after")
    def _unit_scale(self) -> "RunResult":
        """A unit-scale metric (accuracy, AUC, AP, F1, R²) above 1 was stored as a percentage."""
        for layer, splits in self.layers.items():
            for split, metrics in splits.items():
                for name, mv in metrics.items():
                    if self.metric_scales.get(name) != "unit":
                        continue
                    worst = max([mv.mean, *mv.values])
                    if worst > 1.0 + 1e-6:
                        raise ValueError(f"layers.{layer}.{split}.{name}: {worst:g} on a unit-scale metric "
                                         f"(stored in [0, 1]); was it written as a percentage? Divide by 100")
        return self

    def metric(self, split: str = "test", layer: str | None = None, name: str | None = None) -> MetricValue:
        """The value of ``name`` (default: primary) on ``split`` for ``layer`` (default: selected)."""
        layer = layer if layer is not None else self.selected_layer
        if layer is None:
            raise ResultsError(f"run {self.run_id}: no layer given and no selected_layer recorded")
        name = name or self.primary_metric
        try:
            return self.layers[layer][split][name]
        except KeyError as exc:
            raise ResultsError(f"run {self.run_id}: no metric {name!r} for layer {layer!r} split {split!r}") from exc


def summarize(values: list[float]) -> MetricValue:
    """Mean, sample std and 95% CI half-width (Student t with n-1 dof) of per-seed values."""
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("summarize needs at least one value")
    n = len(vals)
    mean = sum(vals) / n
    if n == 1:
        return MetricValue(mean=mean, ci95=None, std=None, n=1, values=vals)
    from scipy import stats

    std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1))
    ci = float(stats.t.ppf(0.975, n - 1) * std / math.sqrt(n))
    return MetricValue(mean=mean, ci95=ci, std=std, n=n, values=vals)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text.strip("/")).strip("_") or "model"


def run_folder(model: str, task: str, root: str | os.PathLike | None = None) -> Path:
    """``<results root>/runs/<model slug>/<task>``: where the results of ``model`` on ``task`` go."""
    base = Path(root) if root is not None else results_root()
    return base / "runs" / _slug(model) / task


def default_path(result: RunResult, root: str | os.PathLike | None = None) -> Path:
    """``<results root>/runs/<model slug>/<task>/<run_id>.json``."""
    return run_folder(result.model, result.task, root) / f"{result.run_id}.json"


def write_result(result: RunResult, path: str | os.PathLike | None = None) -> Path:
    """Validate and write ``result`` atomically; returns the path written. Temp files that a killed
    writer left in the same folder (dead pid, see :func:`mertbench.io.remove_stale_temps`) are
    removed first; readers never take them for results (their names start with a dot)."""
    result = RunResult.model_validate(result.model_dump())
    dest = Path(path) if path is not None else default_path(result)
    if dest.parent.is_dir():
        remove_stale_temps(dest.parent, recursive=False)
    atomic_write_json(dest, result.model_dump(mode="json"))
    return dest


def _explain(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
        parts.append(f"field {loc}: {err['msg']}")
    return "; ".join(parts)


def load_result(path: str | os.PathLike) -> RunResult:
    """Load and validate a results JSON; raises ResultsError naming the file and the bad field."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ResultsError(f"{path}: results file not found") from exc
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path}: not valid JSON ({exc}); delete it or re-run the probe") from exc
    if not isinstance(raw, dict):
        raise ResultsError(f"{path}: expected a JSON object at the top level")
    if raw.get("schema_version") != SCHEMA_VERSION:
        raise ResultsError(f"{path}: schema_version {raw.get('schema_version')!r} is not supported "
                           f"(this mertbench reads version {SCHEMA_VERSION})")
    try:
        return RunResult.model_validate(raw)
    except ValidationError as exc:
        raise ResultsError(f"{path}: {_explain(exc)}") from exc


def json_files(folder: Path) -> Iterator[Path]:
    """Every ``*.json`` under ``folder`` in sorted order, without the hidden temp files of writers
    (nothing when the folder does not exist)."""
    if folder.is_dir():
        yield from (p for p in sorted(folder.rglob("*.json")) if not p.name.startswith("."))


def iter_results(root: str | os.PathLike | None = None, *, strict: bool = False) -> Iterator[tuple[Path, RunResult | ResultsError]]:
    """Yield ``(path, result)`` for every ``*.json`` under ``root/runs``; malformed files yield
    ``(path, ResultsError)`` (or raise, with ``strict``), so callers can count and report them."""
    for path in json_files((Path(root) if root is not None else results_root()) / "runs"):
        try:
            yield path, load_result(path)
        except ResultsError as exc:
            if strict:
                raise
            yield path, exc
