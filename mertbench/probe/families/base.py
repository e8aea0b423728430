"""The interface every probe family implements, plus shared helpers.

A family turns cached features + labels into training batches, a loss per head, and per-head metrics
on an evaluation split. The trainer (:mod:`mertbench.probe.trainer`) is family-agnostic.
"""
from __future__ import annotations

import inspect
import logging
import math
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Sequence, TypeVar

import numpy as np
import torch

from mertbench.errors import DataError, SpecError
from mertbench.metrics import get_metric
from mertbench.probe.features import FeatureStore
from mertbench.tasks.data import Example, LoadedDataset
from mertbench.tasks.spec import MetricSpec, TaskSpec

if TYPE_CHECKING:
    from mertbench.extract.runner import Extraction
    from mertbench.probe.heads import HeadBank, HeadConfig, TrainSettings

#: a frame-level family's per-example record
T = TypeVar("T")


@dataclass
class Batch:
    """One training batch of one seed: inputs ``x`` ``[B, L', D]``, family targets, row weights
    ``[B]`` (0 marks padding rows; None = all rows count)."""

    x: torch.Tensor
    target: Any
    weight: torch.Tensor | None = None


@dataclass
class FamilyContext:
    """What a family is built from.

    Attributes:
        spec: the task spec; dataset: its loaded splits and vocabulary.
        extraction: the feature cache and encoder facts (``encoder_info["frame_rate"]``, ...).
        positions: positions along the cache's layer axis that the heads read (sorted).
        device: training device; batch_size: rows (clip) or excerpts (frame) per batch.
        options: the spec's ``probe.options`` merged with caller overrides.
        ram_budget_gb: cached splits smaller than this are held in memory.
        head: the head kind (``mlp``, ``linear``, or one the family adds to :attr:`ProbeFamily.HEADS`).
    """

    spec: TaskSpec
    dataset: LoadedDataset
    extraction: "Extraction"
    positions: list[int]
    device: torch.device
    batch_size: int
    options: dict[str, Any] = field(default_factory=dict)
    ram_budget_gb: float = 4.0
    head: str = "mlp"


USED = "used"


class ProbeFamily:
    """Base class. Subclasses set :attr:`out_dim` and implement the methods; the features they get
    (clip or frame) are declared by the task type (:data:`mertbench.tasks.spec.FEATURE_LEVELS`).

    ``OPTIONS`` lists the ``probe.options`` keys a family implements (options of base classes are
    inherited). Any other key in a spec is a :class:`SpecError` (:meth:`check_options`), so no spec
    option is ever silently ignored; where this harness does not do what MARBLE does, that is a
    recorded protocol choice (``protocols/*.yaml``, docs/protocol.md), not a spec option.
    """

    #: short description of the loss and head used (goes into results hyperparameters).
    loss_name: ClassVar[str] = ""
    OPTIONS: ClassVar[dict[str, str]] = {"monitor": USED, "standardize": USED}
    #: head kinds this family trains (``probe.head`` / ``--head``)
    HEADS: ClassVar[tuple[str, ...]] = ("mlp", "linear")

    out_dim: int

    def __init__(self, ctx: FamilyContext) -> None:
        self.ctx = ctx
        self.spec = ctx.spec
        self.device = ctx.device
        self.batch_size = ctx.batch_size
        self.options = dict(ctx.options)
        self.excluded: dict[str, int] = {}
        self.notes: dict[str, None] = {}
        self.check_options(self.spec, self.options)
        names = [m.name for m in self.spec.metrics]
        self.monitor = str(self.options.get("monitor") or self.spec.primary_metric)
        if self.monitor not in names:
            raise SpecError(f"task {self.spec.name}: probe.options.monitor {self.monitor!r} is not one of the metrics {names}")

    @classmethod
    def known_options(cls) -> set[str]:
        """Every ``probe.options`` key this family (and its base classes) implements."""
        known: set[str] = set()
        for klass in cls.__mro__:
            known |= set(getattr(klass, "OPTIONS", {}))
        return known

    @classmethod
    def check_options(cls, spec: TaskSpec, options: dict[str, Any] | None = None) -> None:
        """SpecError naming every option of ``options`` (default: the spec's ``probe.options``) that
        this family does not implement, with the keys it does."""
        opts = spec.probe.options if options is None else options
        cls.check_head(spec, spec.probe.head)
        unknown = sorted(set(opts) - cls.known_options())
        if unknown:
            raise SpecError(
                f"task {spec.name}: probe.options {', '.join(unknown)} not implemented by the {spec.type} probe "
                f"({cls.__name__}); it implements {', '.join(sorted(cls.known_options()))}. Remove the option; "
                "where MARBLE does something this harness does not, record it as a protocol choice "
                "(protocols/*.yaml, docs/protocol.md)")

    @classmethod
    def check_head(cls, spec: TaskSpec, head: str) -> None:
        """SpecError unless this family trains heads of kind ``head``."""
        if head not in cls.HEADS:
            raise SpecError(f"task {spec.name}: head {head!r} is not implemented by the {spec.type} probe "
                            f"({cls.__name__}); use one of {', '.join(cls.HEADS)}")

    @property
    def feature_level(self) -> str:
        """``"clip"`` (time-mean vector per window) or ``"frame"`` (every frame): from the task type."""
        return self.spec.feature_level

    # --- training ---------------------------------------------------------------------------
    def steps_per_epoch(self) -> int:
        raise NotImplementedError

    def epoch_plan(self, gen: torch.Generator) -> list[Any]:
        """The batches of one epoch for one seed (all randomness drawn here from ``gen``)."""
        raise NotImplementedError

    def make_batch(self, item: Any) -> Batch:
        raise NotImplementedError

    def loss(self, out: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Per-head loss ``[Hg]`` of outputs ``[Hg, B, C]`` of the heads that share ``batch``."""
        raise NotImplementedError

    def make_bank(self, configs: Sequence["HeadConfig"], positions: dict[int, int], weighted_positions: list[int],
                  dim: int, settings: "TrainSettings", device: torch.device | str,
                  params: dict[str, torch.Tensor] | None = None) -> "HeadBank":
        """The heads this family trains: by default the per-frame/clip :class:`HeadBank` (MLP or
        linear, from ``settings.hidden``); a family with another head kind overrides this."""
        from mertbench.probe.heads import HeadBank

        return HeadBank(configs, positions, weighted_positions, dim, settings.hidden, self.out_dim,
                        settings.dropout, device, params)

    # --- evaluation -------------------------------------------------------------------------
    def evaluate(self, bank: "HeadBank", split: str, names: Sequence[str] | None,
                 contexts: list[dict[str, Any]]) -> list[dict[str, float]]:
        """Metrics ``names`` (None: all of the spec's) of every head of ``bank`` on ``split``.

        ``contexts[h]`` carries per-head state from the validation to the test evaluation (e.g. the
        song-level ensembling strategy chosen on validation).
        """
        raise NotImplementedError

    def hyperparameters(self) -> dict[str, Any]:
        """Family-specific settings recorded in the results."""
        return {}

    @property
    def standardized(self) -> bool:
        """Whether features are standardised with the training split's moments (option
        ``standardize``, default true; false reproduces MARBLE, which feeds raw features)."""
        value = self.options.get("standardize", True)
        if isinstance(value, str):
            if value.strip().lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise SpecError(f"task {self.spec.name}: probe.options.standardize must be true or false, got {value!r}")
            return value.strip().lower() in ("true", "1", "yes")
        return bool(value)

    def standardize_stores(self, stores: dict[str, FeatureStore]) -> None:
        """Apply the ``"train"`` store's per-(layer, dimension) mean and std to every store of ``stores``
        when :attr:`standardized`. An affine map of the inputs leaves what a probe can represent
        unchanged; it makes one Adam learning rate suit features of any scale (raw MFCCs span
        hundreds, transformer states about one) and keeps regression heads from diverging."""
        if not self.standardized:
            return
        mean, std = stores["train"].moments()
        for store in stores.values():
            store.standardize(mean, std)

    def frame_splits(self, make_track: Callable[[Example, int, int], T],
                     check: Callable[[str, list[Example]], None] | None = None,
                     ) -> tuple[dict[str, FeatureStore], dict[str, list[T]]]:
        """Frame-level features of every split: ``(stores, tracks)``.

        Each split's store holds all frames (standardised with the training split's moments, see
        :meth:`standardize_stores`); its tracks are ``make_track(example, first_row, n_frames)`` for
        every example with frames. Examples without frames are counted in :attr:`excluded`.
        ``check(split, examples)`` runs on each split's examples once they match the cache.
        """
        ctx = self.ctx
        stores: dict[str, FeatureStore] = {}
        tracks: dict[str, list[T]] = {}
        for split in self.spec.splits:
            feats = ctx.extraction.split(split)
            examples = ctx.dataset.splits[split]
            if [e.id for e in examples] != feats.ids:
                raise DataError(f"cached features of split {split!r} do not match the dataset; delete "
                                f"{ctx.extraction.cache.folder} and extract again")
            if check is not None:
                check(split, examples)
            stores[split] = FeatureStore(feats.features, ctx.positions, self.device, ctx.ram_budget_gb)
            kept = []
            for i, ex in enumerate(examples):
                n = int(feats.offsets[i + 1] - feats.offsets[i])
                if n == 0:
                    self.excluded[split] = self.excluded.get(split, 0) + 1
                    continue
                kept.append(make_track(ex, int(feats.offsets[i]), n))
            if not kept:
                raise DataError(f"split {split!r}: no track has features")
            tracks[split] = kept
        self.standardize_stores(stores)
        return stores, tracks

    # --- helpers ----------------------------------------------------------------------------
    def metric_specs(self, names: Sequence[str] | None) -> list[MetricSpec]:
        return list(self.spec.metrics) if names is None else [self.spec.metric(n) for n in names]

    def metric(self, m: MetricSpec, y_true: Any, y_pred: Any, extras: dict[str, Any] | None = None) -> float:
        """:func:`call_metric`, collecting metric warnings into :attr:`notes`."""
        return call_metric(m, y_true, y_pred, extras, self.notes)

    def primary_direction(self) -> str:
        """Direction of the monitored metric (early stopping, checkpoints, lr schedule, selection)."""
        return self.spec.metric(self.monitor).direction


def call_metric(m: MetricSpec, y_true: Any, y_pred: Any, extras: dict[str, Any] | None = None,
                notes: dict[str, None] | None = None) -> float:
    """``get_metric(m.function)(y_true, y_pred, **m.options)`` plus those ``extras`` the function
    accepts (e.g. ``vocabulary``, ``tags``) and the spec does not set.

    Predictions holding NaN/inf (a diverged head) give NaN without calling the metric. Warnings the
    metric emits (e.g. tags left out of a macro average) are collected once each into ``notes``
    instead of being repeated for every head and epoch; the probe reports them with the result."""
    if isinstance(y_pred, np.ndarray) and y_pred.dtype.kind == "f" and not np.isfinite(y_pred).all():
        return math.nan
    metric = get_metric(m.function)
    kwargs = dict(m.options)
    if extras:
        params = inspect.signature(metric.fn).parameters
        for k, v in extras.items():
            if k in params and k not in kwargs:
                kwargs[k] = v
    logger = logging.getLogger("mertbench.metrics")
    disabled = logger.disabled
    logger.disabled = True
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value = metric(y_true, y_pred, **kwargs)
    finally:
        logger.disabled = disabled
    if notes is not None:
        for w in caught:
            text = str(w.message)
            notes.setdefault(text if text.startswith(f"{m.name}:") else f"{m.name}: {text}", None)
    return float(value) if value is not None else math.nan


def segment_mean(values: torch.Tensor, segment: torch.Tensor, n_segments: int) -> torch.Tensor:
    """Mean of ``values`` ``[H, R, C]`` over rows sharing a segment id (``[R]``) -> ``[H, n_segments, C]``."""
    out = torch.zeros(values.shape[0], n_segments, values.shape[2], dtype=values.dtype, device=values.device)
    out.index_add_(1, segment, values)
    counts = torch.bincount(segment, minlength=n_segments).clamp_min(1).to(values.dtype)
    return out / counts.view(1, -1, 1)


def weighted_mean(per_row: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """``[Hg, B]`` per-row losses -> ``[Hg]`` (weighted by ``weight`` ``[B]`` when given)."""
    if weight is None:
        return per_row.mean(dim=1)
    return (per_row * weight).sum(dim=1) / weight.sum().clamp_min(1e-12)


def to_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy()
