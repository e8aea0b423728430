"""The robustness results file: ``<results>/robustness/<model>/<task>/<run_id>.json``.

One file holds one probe pass: the clean result (a complete :class:`~mertbench.results.RunResult`,
the same numbers ``mertbench probe`` gives) and, per deformation, its status, the deformed test
metrics of every layer (the heads trained on clean features, evaluated on the deformed test split),
and at the clean-selected layer the per-seed drop (deformed - clean) and retention (deformed / clean).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mertbench.errors import ResultsError
from mertbench.io import atomic_write_json, remove_stale_temps
from mertbench.paths import results_root
from mertbench.results import MetricValue, Provenance, RunResult, _slug, json_files

SCHEMA = "mertbench.robustness/1"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeformationOutcome(_Strict):
    """One deformation of one robustness run."""

    name: str
    status: Literal["scored", "invalid", "unavailable"]
    reason: str = Field("", description="why it was not scored (invalid / unavailable)")
    deformation: dict[str, Any] = Field(description="the deformation's provenance: kind, params, seed, hash, libraries")
    examples: int = Field(0, description="deformed test examples scored")
    skipped: dict[str, int] = Field(default_factory=dict, description="test examples left out, by reason")
    problems: list[str] = Field(default_factory=list, description="the first left-out examples with their reasons")
    layers: dict[str, dict[str, MetricValue]] = Field(
        default_factory=dict, description="layer -> metric -> deformed test value over seeds (the layer's clean lr)")
    drop: dict[str, MetricValue] = Field(
        default_factory=dict, description="at the selected layer: per seed deformed - clean (display units of the metric)")
    retention: dict[str, MetricValue] = Field(
        default_factory=dict, description="at the selected layer: per seed deformed / clean, for max-direction unit "
                                          "metrics whose clean value is positive for every seed")
    feature_cache: str | None = None


class RobustnessResult(_Strict):
    schema_id: Literal["mertbench.robustness/1"] = SCHEMA
    model: str
    task: str
    task_version: str
    run_id: str
    primary_metric: str
    selected_layer: str
    seeds: list[int]
    clean: RunResult
    deformations: list[DeformationOutcome]
    provenance: Provenance

    def outcome(self, name: str) -> DeformationOutcome | None:
        return next((d for d in self.deformations if d.name == name), None)


def robustness_folder(model: str, task: str, root: str | os.PathLike | None = None) -> Path:
    base = Path(root) if root is not None else results_root()
    return base / "robustness" / _slug(model) / task


def write_robustness(result: RobustnessResult, root: str | os.PathLike | None = None,
                     path: str | os.PathLike | None = None) -> Path:
    """Validate and write atomically (default ``robustness/<model>/<task>/<run_id>.json`` under ``root``)."""
    result = RobustnessResult.model_validate(result.model_dump())
    dest = Path(path) if path is not None else robustness_folder(result.model, result.task, root) / f"{result.run_id}.json"
    if dest.parent.is_dir():
        remove_stale_temps(dest.parent, recursive=False)
    atomic_write_json(dest, result.model_dump(mode="json"))
    return dest


def load_robustness(path: str | os.PathLike) -> RobustnessResult:
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ResultsError(f"{path}: robustness file not found") from exc
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path}: not valid JSON ({exc}); delete it or run `mertbench robustness` again") from exc
    if not isinstance(raw, dict) or raw.get("schema_id") != SCHEMA:
        raise ResultsError(f"{path}: not a {SCHEMA} file (schema_id {raw.get('schema_id') if isinstance(raw, dict) else None!r})")
    try:
        return RobustnessResult.model_validate(raw)
    except ValidationError as exc:
        parts = [f"field {'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ResultsError(f"{path}: {'; '.join(parts)}") from exc


def iter_robustness(root: str | os.PathLike | None = None) -> Iterator[tuple[Path, RobustnessResult | ResultsError]]:
    """Every robustness file under ``root/robustness`` (malformed ones as ResultsError)."""
    for path in json_files((Path(root) if root is not None else results_root()) / "robustness"):
        try:
            yield path, load_robustness(path)
        except ResultsError as exc:
            yield path, exc
