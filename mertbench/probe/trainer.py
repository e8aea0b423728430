"""Train many probe heads in one pass (MARBLE v1 protocol per head).

Per head: Adam (no weight decay) at the head's learning rate; after each epoch the primary metric is
computed on the validation split; a strict improvement saves the head's best-validation checkpoint;
``ReduceLROnPlateau(factor, patience)`` halves its learning rate after ``lr_patience`` epochs without
improvement (relative threshold 1e-4); the head stops (is frozen and dropped from the batch) after
``early_stop_patience`` epochs without improvement or at ``max_epochs``. When every head has stopped,
each head's best checkpoint is evaluated on validation and test with every metric of the task.

Training one head with this function gives the same numbers as training it inside a bigger pass
(up to float rounding of batched matrix products): see :mod:`mertbench.probe.heads` for how random
streams belong to seeds, not to the batch of heads.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch

from mertbench.probe.families.base import ProbeFamily
from mertbench.probe.heads import HeadConfig, TrainSettings, seed_stream
from mertbench.probe.optim import BatchedAdam, EarlyStopping, PlateauSchedule
from mertbench.threads import cpu_threads, machine_busy


@dataclass
class HeadResult:
    """The outcome of one head: its best epoch (0-based; -1 = never improved), epochs trained, final
    learning rate, all metrics of its best checkpoint on validation and test."""

    config: HeadConfig
    best_epoch: int
    epochs: int
    final_lr: float
    valid: dict[str, float]
    test: dict[str, float]
    context: dict[str, Any] = field(default_factory=dict)
    #: metrics of the best checkpoint on further evaluation splits (e.g. deformed test splits), by split
    extra: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass
class TrainStats:
    """Timing of a pass: wall time, optimisation steps, heads."""

    wall_s: float = 0.0
    steps: int = 0
    head_steps: int = 0
    epochs: int = 0


#: Below this many multiply-adds per training step, CPU training uses one intra-op thread: thread
#: hand-offs cost more than they save on small matrices (and much more on a shared machine).
SMALL_STEP_MACS = 2e7


def step_macs(n_heads: int, batch: int, dim: int, hidden: int | None, out_dim: int) -> float:
    """Multiply-adds of one forward pass of ``n_heads`` heads on ``batch`` rows."""
    width = (dim * hidden + hidden * out_dim) if hidden else dim * out_dim
    return float(n_heads) * batch * width


def auto_threads(macs: float) -> int | None:
    """One intra-op thread when a step is small (< :data:`SMALL_STEP_MACS`) or when the machine is
    already busy (:func:`mertbench.threads.machine_busy`: extra threads then mostly wait for each
    other); None (torch's setting) otherwise."""
    if macs < SMALL_STEP_MACS or machine_busy():
        return 1
    return None


def _finite(values: Sequence[float]) -> np.ndarray:
    return np.asarray([v if v is not None and math.isfinite(v) else math.nan for v in values], dtype=np.float64)


def train_heads(
    family: ProbeFamily,
    configs: Sequence[HeadConfig],
    positions: dict[int, int],
    weighted_positions: list[int],
    dim: int,
    settings: TrainSettings,
    device: torch.device | str = "cpu",
    on_epoch: Callable[[int, int, float], None] | None = None,
    stats: TrainStats | None = None,
    threads: int | None = None,
    extra_splits: Sequence[str] = (),
) -> list[HeadResult]:
    """Train ``configs`` together; returns one :class:`HeadResult` per config (in sorted config order).

    Args:
        family: data, loss and metrics of the task.
        configs: the heads (layer or weighted, lr, seed).
        positions: hidden-state index -> position in the family's gathered layer axis.
        weighted_positions: positions summed by weighted heads.
        dim: feature size ``D``.
        settings: shared hyperparameters.
        on_epoch: called after each epoch with ``(epoch, active_heads, best_primary_so_far)``.
        stats: filled with timing information when given.
        threads: torch intra-op threads on CPU; None = :func:`auto_threads`.
        extra_splits: further splits of the family to evaluate the best checkpoints on, like test
            (each starts from the state validation left, as test does); never used for training or
            selection. Results in :attr:`HeadResult.extra`.
    """
    if threads is None and torch.device(device).type == "cpu":
        threads = auto_threads(step_macs(len(configs), family.batch_size, dim, settings.hidden, family.out_dim))
    with cpu_threads(threads):
        return _train_heads(family, configs, positions, weighted_positions, dim, settings, device, on_epoch, stats,
                            extra_splits)


def _train_heads(
    family: ProbeFamily,
    configs: Sequence[HeadConfig],
    positions: dict[int, int],
    weighted_positions: list[int],
    dim: int,
    settings: TrainSettings,
    device: torch.device | str,
    on_epoch: Callable[[int, int, float], None] | None,
    stats: TrainStats | None,
    extra_splits: Sequence[str] = (),
) -> list[HeadResult]:
    t0 = time.perf_counter()
    device = torch.device(device)
    bank = family.make_bank(configs, positions, weighted_positions, dim, settings, device)
    all_configs = list(bank.configs)
    n = len(all_configs)
    mode = family.primary_direction()
    primary = family.monitor
    adam = BatchedAdam(bank.parameters())
    sched = PlateauSchedule([c.lr for c in all_configs], mode, settings.lr_factor, settings.lr_patience)
    stopper = EarlyStopping(n, mode, settings.early_stop_patience)
    best = bank.state()
    active = np.arange(n)
    epochs_run = np.zeros(n, dtype=np.int64)
    data_gens = {s: torch.Generator().manual_seed(seed_stream(s, "data")) for s in bank.seeds}
    drop_gens = {s: torch.Generator().manual_seed(seed_stream(s, "dropout")) for s in bank.seeds}
    st = stats if stats is not None else TrainStats()
    n_steps = family.steps_per_epoch()
    for epoch in range(settings.max_epochs):
        plans = {s: family.epoch_plan(data_gens[s]) for s in bank.seeds}
        if any(len(p) != n_steps for p in plans.values()):
            raise RuntimeError("every seed must have the same number of batches per epoch")
        lr_now = sched.lr[active].tolist()
        for step in range(n_steps):
            batches = [family.make_batch(plans[s][step]) for s in bank.seeds]
            sizes = {b.x.shape[0] for b in batches}
            if len(sizes) != 1:
                raise RuntimeError(f"seeds produced batches of different sizes {sorted(sizes)}")
            masks = bank.dropout_masks(drop_gens, sizes.pop())
            out = bank.forward([b.x for b in batches], masks)
            losses = torch.cat([family.loss(out[g.start:g.stop], b) for g, b in zip(bank.groups, batches)])
            adam.zero_grad()
            losses.sum().backward()
            adam.step(lr_now)
            st.steps += 1
            st.head_steps += len(active)
        with torch.no_grad():
            vals = family.evaluate(bank, "valid", [primary], [{} for _ in active])
        scores = _finite([v[primary] for v in vals])
        improved = stopper.update(active, scores, epoch)
        if improved.any():
            local = np.nonzero(improved)[0]
            idx_l = torch.as_tensor(local, dtype=torch.long, device=device)
            idx_g = torch.as_tensor(active[local], dtype=torch.long, device=device)
            for name, p in bank.params.items():
                best[name].index_copy_(0, idx_g, p.detach().index_select(0, idx_l))
        sched.step(active, scores)
        epochs_run[active] = epoch + 1
        st.epochs = epoch + 1
        stop = stopper.stopped[active]
        if on_epoch is not None:
            finite = stopper.best[np.isfinite(stopper.best)]
            top = (finite.max() if mode == "max" else finite.min()) if finite.size else math.nan
            on_epoch(epoch, int((~stop).sum()), float(top))
        if stop.all() or epoch + 1 >= settings.max_epochs:
            break
        if stop.any():
            keep = np.nonzero(~stop)[0]
            sub = bank.subset(keep)
            adam = adam.subset(keep, sub.parameters())
            bank = sub
            active = active[keep]
            for s in list(data_gens):
                if s not in bank.seeds:
                    del data_gens[s], drop_gens[s]
    final = family.make_bank(all_configs, positions, weighted_positions, dim, settings, device,
                             {k: v.clone() for k, v in best.items()})
    contexts: list[dict[str, Any]] = [{} for _ in all_configs]
    with torch.no_grad():
        valid = family.evaluate(final, "valid", None, contexts)
        after_valid = copy.deepcopy(contexts) if extra_splits else []
        test = family.evaluate(final, "test", None, contexts)
        extra = {split: family.evaluate(final, split, None, copy.deepcopy(after_valid)) for split in extra_splits}
    st.wall_s = time.perf_counter() - t0
    return [HeadResult(c, int(stopper.best_epoch[i]), int(epochs_run[i]), float(sched.lr[i]), valid[i], test[i],
                       contexts[i], {split: vals[i] for split, vals in extra.items()})
            for i, c in enumerate(all_configs)]
