"""Clip-level families: multiclass, key, multilabel and regression.

Training uses every window as an independent example (MARBLE v1 collate); batches hold
``batch_size`` windows drawn in a per-seed random order. Evaluation follows ``spec.aggregate``:

- ``mean_logits`` (MARBLE): the head's outputs of a clip's windows are averaged, then scored;
- ``mean_embeddings``: a clip's window features are averaged first (train and evaluation), so each clip
  is one row;
- ``none``: every window is scored on its own (with its clip's label).

Losses: cross-entropy (multiclass, key), binary cross-entropy on logits (multilabel; metrics see the
sigmoid), mean squared error (regression; one output per ``labels.names`` entry, metrics per
dimension through their ``dim`` option). Key tasks whose examples carry a ``group`` (GiantSteps: the
30 s clips of one song) are scored per song with MARBLE's four ensembling strategies; the strategy
is chosen on validation and reused on test (:mod:`mertbench.metrics.key`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from mertbench.errors import DataError, SpecError
from mertbench.probe.families.base import (
    USED,
    Batch,
    FamilyContext,
    ProbeFamily,
    segment_mean,
    to_numpy,
    weighted_mean,
)
from mertbench.probe.features import FeatureStore
from mertbench.probe.registry import register_family
from mertbench.tasks.data import Example


@dataclass
class ClipSplit:
    """One split ready for the probe.

    Attributes:
        store: rows ``[R, L', D]``.
        row_item: ``[R]`` evaluation item of each row (clip index, or the row itself for ``none``).
        item_targets: targets of the evaluation items (``[n_items]`` or ``[n_items, K]``).
        row_targets: targets of each row (training).
        groups: group id per evaluation item (None when no example has a group).
        n_items: number of evaluation items.
    """

    store: FeatureStore
    row_item: torch.Tensor
    item_targets: np.ndarray
    row_targets: torch.Tensor
    groups: list[str] | None
    n_items: int


class ClipFamily(ProbeFamily):
    """Shared machinery of the clip-level families; subclasses define labels, loss and scores."""

    OPTIONS = {"loss": USED}
    #: accepted values of the ``loss`` option (the family's own loss only)
    LOSS_ALIASES: tuple[str, ...] = ()

    def __init__(self, ctx: FamilyContext) -> None:
        super().__init__(ctx)
        loss = self.options.get("loss")
        if loss is not None and loss not in self.LOSS_ALIASES:
            raise SpecError(f"task {self.spec.name}: probe.options.loss {loss!r} is not supported by the "
                            f"{self.spec.type} probe (it trains with {self.LOSS_ALIASES[0]})")
        self.vocabulary = self._vocabulary()
        self.aggregate = self.spec.aggregate
        self.splits: dict[str, ClipSplit] = {}
        for name in self.spec.splits:
            self.splits[name] = self._prepare(name)
        self.standardize_stores({name: sp.store for name, sp in self.splits.items()})
        self.out_dim = self._out_dim()

    # --- labels (subclasses) ----------------------------------------------------------------
    def _vocabulary(self) -> list[str] | None:
        return self.ctx.dataset.vocabulary or self.spec.labels.vocabulary

    def _out_dim(self) -> int:
        raise NotImplementedError

    def encode_labels(self, examples: Sequence[Example]) -> np.ndarray:
        raise NotImplementedError

    def target_tensor(self, targets: np.ndarray) -> torch.Tensor:
        raise NotImplementedError

    def scores(self, out: torch.Tensor) -> torch.Tensor:
        """What the metrics see, from aggregated outputs ``[H, n, C]`` (default: the outputs)."""
        return out

    def metric_extras(self) -> dict[str, Any]:
        return {}

    # --- data -------------------------------------------------------------------------------
    def _prepare(self, split: str) -> ClipSplit:
        feats = self.ctx.extraction.split(split)
        examples = self.ctx.dataset.splits[split]
        if [e.id for e in examples] != feats.ids:
            raise DataError(f"cached features of split {split!r} do not match the dataset's examples "
                            f"(ids differ); delete {self.ctx.extraction.cache.folder} and extract again")
        counts = feats.rows_per_example
        usable = np.nonzero(counts > 0)[0]
        if len(usable) < len(examples):
            self.excluded[split] = len(examples) - len(usable)
        if len(usable) == 0:
            raise DataError(f"split {split!r}: no example has features (all {len(examples)} were skipped)")
        used = [examples[i] for i in usable]
        targets = self.encode_labels(used)
        has_groups = any(e.group is not None for e in used)
        groups = [e.group if e.group is not None else e.id for e in used] if has_groups else None
        positions = self.ctx.positions
        if self.aggregate == "mean_embeddings":
            arr = feats.features
            means = np.stack([np.asarray(arr[feats.offsets[i]:feats.offsets[i + 1]][:, positions],
                                         dtype=np.float32).mean(axis=0) for i in usable])
            store = FeatureStore(means, list(range(len(positions))), self.device, self.ctx.ram_budget_gb)
            row_item = np.arange(len(usable))
            item_targets = targets
        else:
            store = FeatureStore(feats.features, positions, self.device, self.ctx.ram_budget_gb)
            ex_of_row = feats.example_of_row()
            remap = np.full(len(examples), -1, dtype=np.int64)
            remap[usable] = np.arange(len(usable))
            row_clip = remap[ex_of_row]
            if self.aggregate == "none":
                row_item = np.arange(len(row_clip))
                item_targets = targets[row_clip]
                groups = None if groups is None else [groups[c] for c in row_clip]
            else:
                row_item = row_clip
                item_targets = targets
        row_targets = item_targets[row_item]
        return ClipSplit(store, torch.as_tensor(row_item, dtype=torch.long, device=self.device), item_targets,
                         self.target_tensor(row_targets), groups, len(item_targets))

    # --- training ---------------------------------------------------------------------------
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.splits["train"].store) / self.batch_size)

    def epoch_plan(self, gen: torch.Generator) -> list[Any]:
        perm = torch.randperm(len(self.splits["train"].store), generator=gen)
        return [perm[i:i + self.batch_size] for i in range(0, len(perm), self.batch_size)]

    def make_batch(self, item: torch.Tensor) -> Batch:
        tr = self.splits["train"]
        idx = item.to(tr.row_targets.device)
        return Batch(tr.store.gather(item), tr.row_targets.index_select(0, idx))

    # --- evaluation -------------------------------------------------------------------------
    def outputs(self, bank: Any, split: str) -> torch.Tensor:
        """Aggregated outputs ``[H, n_items, C]`` of every head on ``split``."""
        sp = self.splits[split]
        rows = bank.eval_chunk_rows()
        parts = [bank.predict(sp.store.slice(a, min(a + rows, len(sp.store))), rows)
                 for a in range(0, len(sp.store), rows)]
        out = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        if self.aggregate == "mean_logits":
            out = segment_mean(out, sp.row_item, sp.n_items)
        return out

    def metric_kwargs(self, split: str, head: int, pred: np.ndarray, context: dict[str, Any]) -> dict[str, Any]:
        """Extra keyword arguments for the metrics of one head (hook for song-level scoring)."""
        return {}

    def evaluate(self, bank: Any, split: str, names: Sequence[str] | None,
                 contexts: list[dict[str, Any]]) -> list[dict[str, float]]:
        sp = self.splits[split]
        preds = to_numpy(self.scores(self.outputs(bank, split)))
        specs = self.metric_specs(names)
        extras = self.metric_extras()
        results = []
        for h in range(preds.shape[0]):
            kw = dict(extras, **self.metric_kwargs(split, h, preds[h], contexts[h]))
            results.append({m.name: self.metric(m, sp.item_targets, preds[h], kw) for m in specs})
        return results

    def hyperparameters(self) -> dict[str, Any]:
        return {"aggregate": self.aggregate, "loss": self.loss_name,
                "train_rows": len(self.splits["train"].store)}


@register_family("multiclass")
class MulticlassFamily(ClipFamily):
    """One class per clip: softmax cross-entropy; metrics get class indices and logits."""

    loss_name = "cross_entropy"
    LOSS_ALIASES = ("cross_entropy", "ce")

    def _out_dim(self) -> int:
        if not self.vocabulary:
            raise DataError(f"task {self.spec.name}: no label vocabulary (set labels.vocabulary in the spec)")
        return len(self.vocabulary)

    def encode_labels(self, examples: Sequence[Example]) -> np.ndarray:
        index = {c: i for i, c in enumerate(self.vocabulary or [])}
        try:
            return np.asarray([index[str(e.label)] for e in examples], dtype=np.int64)
        except KeyError as exc:
            raise DataError(f"task {self.spec.name}: label {exc.args[0]!r} is not in the vocabulary") from None

    def target_tensor(self, targets: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(targets, dtype=torch.long, device=self.device)

    def loss(self, out: torch.Tensor, batch: Batch) -> torch.Tensor:
        hg, b, c = out.shape
        per = F.cross_entropy(out.reshape(hg * b, c), batch.target.repeat(hg), reduction="none").view(hg, b)
        return weighted_mean(per, batch.weight)

    def metric_extras(self) -> dict[str, Any]:
        return {"vocabulary": list(self.vocabulary or [])}


@register_family("key")
class KeyFamily(MulticlassFamily):
    """Musical key (24 classes). With ``Example.group`` set, scored per song (GiantSteps protocol).

    Options: ``song_ensemble`` (strategies to choose from, default all four of
    :data:`mertbench.metrics.key.ENSEMBLE_STRATEGIES`), ``song_ensemble_select: valid`` (the only
    choice: the strategy is picked on validation). MARBLE's LR finder for GS is not implemented: the
    learning-rate grid is searched on validation (protocol choice ``gs-lr-finder``).
    """

    OPTIONS = {"song_ensemble": USED, "song_ensemble_select": USED}

    def __init__(self, ctx: FamilyContext) -> None:
        from mertbench.metrics.key import ENSEMBLE_STRATEGIES

        super().__init__(ctx)
        chosen = list(self.options.get("song_ensemble") or ENSEMBLE_STRATEGIES)
        bad = [x for x in chosen if x not in ENSEMBLE_STRATEGIES]
        if bad:
            raise SpecError(f"task {self.spec.name}: unknown song_ensemble strategies {bad}; use {ENSEMBLE_STRATEGIES}")
        self.strategies = [x for x in ENSEMBLE_STRATEGIES if x in chosen]  # MARBLE's order breaks ties
        if self.options.get("song_ensemble_select", "valid") != "valid":
            raise SpecError(f"task {self.spec.name}: song_ensemble_select must be 'valid'")

    def _vocabulary(self) -> list[str] | None:
        from mertbench.metrics.key import KEY_VOCABULARY

        return self.spec.labels.vocabulary or self.ctx.dataset.vocabulary or list(KEY_VOCABULARY)

    def encode_labels(self, examples: Sequence[Example]) -> np.ndarray:
        from mertbench.metrics.key import normalize_key

        index = {normalize_key(c): i for i, c in enumerate(self.vocabulary or [])}
        try:
            return np.asarray([index[normalize_key(str(e.label))] for e in examples], dtype=np.int64)
        except (KeyError, ValueError) as exc:
            raise DataError(f"task {self.spec.name}: key label {exc.args[0]!r} is not in the vocabulary") from None

    def metric_kwargs(self, split: str, head: int, pred: np.ndarray, context: dict[str, Any]) -> dict[str, Any]:
        from mertbench.metrics.key import song_level_key_scores

        groups = self.splits[split].groups
        if groups is None:
            return {}
        if "strategy" not in context or split == "valid":
            scores = song_level_key_scores(self.splits[split].item_targets, pred, groups, self.vocabulary)
            best, best_value = self.strategies[0], -math.inf
            for strategy in self.strategies:  # MARBLE's order decides ties (strict >)
                if scores[strategy]["weighted_score"] > best_value:
                    best, best_value = strategy, scores[strategy]["weighted_score"]
            context["strategy"] = best
        return {"groups": groups, "strategy": context["strategy"]}


@register_family("multilabel")
class MultilabelFamily(ClipFamily):
    """Tags: one sigmoid output per tag, binary cross-entropy; metrics see sigmoid probabilities."""

    loss_name = "binary_cross_entropy"
    LOSS_ALIASES = ("binary_cross_entropy", "bce")

    def _out_dim(self) -> int:
        if not self.vocabulary:
            raise DataError(f"task {self.spec.name}: no tag vocabulary (set labels.vocabulary in the spec)")
        return len(self.vocabulary)

    def encode_labels(self, examples: Sequence[Example]) -> np.ndarray:
        index = {c: i for i, c in enumerate(self.vocabulary or [])}
        y = np.zeros((len(examples), len(index)), dtype=np.float32)
        for i, e in enumerate(examples):
            for tag in e.label:
                if tag not in index:
                    raise DataError(f"task {self.spec.name}: tag {tag!r} of {e.id!r} is not in the vocabulary")
                y[i, index[tag]] = 1.0
        return y

    def target_tensor(self, targets: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(targets, dtype=torch.float32, device=self.device)

    def loss(self, out: torch.Tensor, batch: Batch) -> torch.Tensor:
        hg = out.shape[0]
        target = batch.target.unsqueeze(0).expand(hg, -1, -1)
        per = F.binary_cross_entropy_with_logits(out, target, reduction="none").mean(dim=2)
        return weighted_mean(per, batch.weight)

    def scores(self, out: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(out)

    def metric_extras(self) -> dict[str, Any]:
        return {"tags": list(self.vocabulary or [])}


@register_family("regression")
class RegressionFamily(ClipFamily):
    """Continuous targets (``labels.names`` order): mean squared error, raw outputs."""

    loss_name = "mse"
    LOSS_ALIASES = ("mse",)

    def _vocabulary(self) -> list[str] | None:
        return None

    def _out_dim(self) -> int:
        sizes = {len(e.label) for exs in self.ctx.dataset.splits.values() for e in exs}
        if len(sizes) != 1:
            raise DataError(f"task {self.spec.name}: regression labels have different lengths {sorted(sizes)}")
        k = sizes.pop()
        names = self.spec.labels.names
        if names is not None and len(names) != k:
            raise DataError(f"task {self.spec.name}: labels.names has {len(names)} entries but labels have {k} values")
        return k

    def encode_labels(self, examples: Sequence[Example]) -> np.ndarray:
        return np.asarray([list(map(float, e.label)) for e in examples], dtype=np.float32)

    def target_tensor(self, targets: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(targets, dtype=torch.float32, device=self.device)

    def loss(self, out: torch.Tensor, batch: Batch) -> torch.Tensor:
        per = ((out - batch.target.unsqueeze(0)) ** 2).mean(dim=2)
        return weighted_mean(per, batch.weight)
