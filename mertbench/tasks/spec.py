"""Schema of a task spec file (YAML). Unknown keys anywhere are rejected with the field named.

A spec is data: it names the dataset loader, splits, audio handling, windows and their
aggregation, the label type and vocabulary, metrics with directions, the primary metric and the
probe defaults. Behaviour lives in the task-family classes chosen by ``type``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mertbench.errors import SpecError
from mertbench.tasks.protocol import ProtocolRefinement, explain_validation
from mertbench.tasks.types import TaskType

FeatureLevel = Literal["clip", "frame"]

#: What each task type needs from feature extraction: ``"clip"`` (one time-mean vector per window)
#: or ``"frame"`` (every encoder frame). Extraction reads this; the probe family of the type
#: consumes what it says, so extraction never asks the probe layer.
FEATURE_LEVELS: dict[str, FeatureLevel] = {
    "multiclass": "clip", "multilabel": "clip", "regression": "clip", "key": "clip",
    "beat": "frame", "separation": "frame",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetSpec(_Strict):
    """Where the data comes from."""

    loader: str = Field(description="registered loader name, e.g. 'gtzan', 'manifest'")
    dirname: str = Field(description="folder under the data root holding this dataset")
    options: dict[str, Any] = Field(default_factory=dict, description="loader-specific options")
    missing_hint: str | None = Field(None, description="command or instructions shown when the data is missing")
    counts: dict[str, int] | None = Field(None, description="known official example counts per split")


class AudioSpec(_Strict):
    """How audio is read and cut before it reaches the encoder. Times in seconds."""

    sample_rate: int | None = Field(None, description="None: resample to the model's rate")
    crop_s: float | None = Field(None, description="keep only the first crop_s seconds (None: whole file)")
    window_s: float | None = Field(None, description="sliding-window length (None: whole clip in one pass)")
    hop_s: float | None = Field(None, description="window hop (None: = window_s, non-overlapping)")
    min_window_s: float = Field(1.0, description="drop a trailing window shorter than this")
    normalize: Literal["model", "peak", "zmuv", "none"] = Field(
        "model", description="'model' follows the encoder's own normalisation")


class MetricSpec(_Strict):
    """A metric the task reports."""

    name: str = Field(description="name of this metric in results, e.g. 'accuracy', 'r2_valence'")
    metric: str | None = Field(None, description="registered metric function (default: name)")
    direction: Literal["max", "min"] = "max"
    scale: Literal["unit", "db", "raw"] = Field("unit", description="unit: [0,1] shown as %; db: dB")
    label: str | None = Field(None, description="column label in reports (default: name)")
    options: dict[str, Any] = Field(default_factory=dict, description="keyword options of the function")

    @property
    def function(self) -> str:
        """The registered metric function to call (``metric`` or, by default, ``name``)."""
        return self.metric or self.name


class LabelSpec(_Strict):
    """Label vocabulary (classes/tags) or target names (regression, separation stems)."""

    vocabulary: list[str] | None = Field(None, description="fixed class order; None: built by the loader")
    names: list[str] | None = Field(None, description="regression target names or separation stems")


class ProbeDefaults(_Strict):
    """MARBLE probe defaults for this task (overridable on the command line)."""

    layer: int | Literal["all", "weighted"] | None = None
    head: Literal["mlp", "linear", "openunmix"] = Field(
        "mlp", description="mlp | linear (every family); openunmix: MARBLE's LSTM separation head (separation only)")
    hidden: int = 512
    dropout: float = 0.2
    lr: float = 1e-3
    lr_grid: list[float] = Field(default_factory=lambda: [1e-3])
    batch_size: int = 64
    max_epochs: int = 100
    lr_patience: int = 5
    early_stop_patience: int = 10
    options: dict[str, Any] = Field(default_factory=dict, description="family-specific probe options")


class TaskSpec(_Strict):
    """One task."""

    name: str
    version: int = Field(ge=1, description="bump when anything affecting results changes")
    description: str = ""
    suite: Literal["official", "render", "custom"] = "custom"
    citation: str | None = None
    type: TaskType
    dataset: DatasetSpec
    splits: list[str] = Field(default_factory=lambda: ["train", "valid", "test"])
    audio: AudioSpec = Field(default_factory=AudioSpec)
    aggregate: Literal["mean_logits", "mean_embeddings", "none"] = "mean_logits"
    labels: LabelSpec = Field(default_factory=LabelSpec)
    metrics: list[MetricSpec]
    primary_metric: str
    probe: ProbeDefaults = Field(default_factory=ProbeDefaults)
    report_columns: dict[str, str] = Field(
        default_factory=dict, description="metric name -> Table-1 column id (baselines/mert_table1.csv)")
    protocols: dict[str, ProtocolRefinement] = Field(
        default_factory=dict, description="per-protocol refinements (protocols/<name>.yaml; docs/protocol.md)")

    @model_validator(mode="after")
    def _check(self) -> "TaskSpec":
        names = [m.name for m in self.metrics]
        if not names:
            raise ValueError("metrics: at least one metric is required")
        if len(set(names)) != len(names):
            raise ValueError(f"metrics: duplicate names in {names}")
        if self.primary_metric not in names:
            raise ValueError(f"primary_metric {self.primary_metric!r} is not one of the metrics {names}")
        if "train" not in self.splits:
            raise ValueError("splits: must include 'train'")
        for metric in self.report_columns:
            if metric not in names:
                raise ValueError(f"report_columns: {metric!r} is not one of the metrics {names}")
        return self

    @property
    def feature_level(self) -> FeatureLevel:
        """``"clip"`` or ``"frame"``: the features this task's type is probed on (:data:`FEATURE_LEVELS`)."""
        return FEATURE_LEVELS[self.type]

    def metric(self, name: str) -> MetricSpec:
        for m in self.metrics:
            if m.name == name:
                return m
        raise KeyError(name)


def parse_spec(data: Any, source: str = "<spec>") -> TaskSpec:
    """Validate a spec given as a mapping; errors name ``source`` and the field."""
    if not isinstance(data, dict):
        raise SpecError(f"{source}: a task spec must be a mapping, got {type(data).__name__}")
    try:
        return TaskSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(f"{source}: {explain_validation(exc, 'task')}") from exc


def read_yaml(path: str | Path, what: str) -> Any:
    """The data of a YAML file (``yaml.safe_load``: no code runs); a missing file or invalid YAML is
    a SpecError naming the file and ``what`` it should hold (e.g. ``"task spec"``)."""
    path = Path(path)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SpecError(f"{path}: {what} not found") from exc
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: invalid YAML ({exc})") from exc


def load_spec(path: str | Path) -> TaskSpec:
    """Read and validate a YAML task spec."""
    path = Path(path)
    spec = parse_spec(read_yaml(path, "task spec"), str(path))
    if spec.name != path.stem:
        raise SpecError(f"{path}: field name: {spec.name!r} must equal the file name {path.stem!r}")
    return spec
