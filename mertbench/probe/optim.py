"""Per-head optimiser, learning-rate schedule and early stopping (head axis first).

- :class:`BatchedAdam`: ``torch.optim.Adam`` (no weight decay, no amsgrad) with one learning rate per
  head, through PyTorch's fused Adam kernel.
- :class:`PlateauSchedule`: ``torch.optim.lr_scheduler.ReduceLROnPlateau`` semantics per head
  (relative threshold 1e-4, cooldown 0, factor and patience from the task spec).
- :class:`EarlyStopping`: Lightning's ``EarlyStopping(min_delta=0)`` semantics per head (strict
  improvement resets the counter; stop once ``patience`` epochs pass without one); the same strict
  improvement decides when a head's best-validation checkpoint is saved (``ModelCheckpoint``).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch


class BatchedAdam:
    """Adam over tensors whose first axis is the head axis, with a learning rate per head.

    Uses PyTorch's fused Adam kernel (``torch._fused_adam_``, the one behind
    ``torch.optim.Adam(fused=True)``) on per-head views, one call per distinct learning rate; falls
    back to the same formula in plain tensor ops where the fused kernel is unavailable.
    """

    def __init__(self, params: Sequence[torch.Tensor], betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        self.params = list(params)
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.step_count = 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self._step_t = torch.zeros((), dtype=torch.float32, device=self.params[0].device)
        self.fused = hasattr(torch, "_fused_adam_")

    @torch.no_grad()
    def step(self, lrs: Sequence[float]) -> None:
        """One update; ``lrs[h]`` is head ``h``'s learning rate (a head with lr 0 does not move)."""
        self.step_count += 1
        self._step_t.fill_(float(self.step_count))
        lrs = [float(x) for x in lrs]
        groups: dict[float, list[int]] = {}
        for h, lr in enumerate(lrs):
            groups.setdefault(lr, []).append(h)
        for lr, heads in groups.items():
            if lr == 0.0:
                continue
            ps, gs, ms, vs = [], [], [], []
            for p, m, v in zip(self.params, self.m, self.v):
                if p.grad is None:
                    continue
                for h in heads:
                    ps.append(p[h])
                    gs.append(p.grad[h])
                    ms.append(m[h])
                    vs.append(v[h])
            if not ps:
                continue
            if self.fused:
                try:
                    torch._fused_adam_(ps, gs, ms, vs, [], [self._step_t] * len(ps), lr=lr, beta1=self.beta1,
                                       beta2=self.beta2, weight_decay=0.0, eps=self.eps, amsgrad=False,
                                       maximize=False)
                    continue
                except (RuntimeError, NotImplementedError):
                    self.fused = False
            self._reference_step(ps, gs, ms, vs, lr)

    def _reference_step(self, ps: list[torch.Tensor], gs: list[torch.Tensor], ms: list[torch.Tensor],
                        vs: list[torch.Tensor], lr: float) -> None:
        bc1 = 1.0 - self.beta1 ** self.step_count
        bc2_sqrt = math.sqrt(1.0 - self.beta2 ** self.step_count)
        for p, g, m, v in zip(ps, gs, ms, vs):
            m.lerp_(g, 1.0 - self.beta1)
            v.mul_(self.beta2).addcmul_(g, g, value=1.0 - self.beta2)
            denom = (v.sqrt() / bc2_sqrt).add_(self.eps)
            p.addcdiv_(m, denom, value=-lr / bc1)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def subset(self, keep: Sequence[int], params: Sequence[torch.Tensor]) -> "BatchedAdam":
        """The optimiser state of heads ``keep`` attached to ``params`` (the subset bank's tensors)."""
        out = BatchedAdam(params, (self.beta1, self.beta2), self.eps)
        idx = torch.as_tensor(list(keep), dtype=torch.long, device=self.m[0].device)
        out.step_count = self.step_count
        out.fused = self.fused
        out.m = [m.index_select(0, idx).clone() for m in self.m]
        out.v = [v.index_select(0, idx).clone() for v in self.v]
        return out


def _better(a: np.ndarray, best: np.ndarray, mode: str) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return (a > best) if mode == "max" else (a < best)


class PlateauSchedule:
    """ReduceLROnPlateau per head (``mode`` max/min, relative threshold)."""

    def __init__(self, lrs: Sequence[float], mode: str, factor: float = 0.5, patience: int = 5,
                 threshold: float = 1e-4, min_lr: float = 0.0, eps: float = 1e-8) -> None:
        self.lr = np.asarray(lrs, dtype=np.float64).copy()
        self.mode, self.factor, self.patience, self.threshold = mode, factor, patience, threshold
        self.min_lr, self.eps = min_lr, eps
        self.best = np.full(len(self.lr), -np.inf if mode == "max" else np.inf)
        self.bad = np.zeros(len(self.lr), dtype=np.int64)

    def step(self, heads: np.ndarray, metrics: np.ndarray) -> None:
        """Record ``metrics`` of heads ``heads`` (global indices) and reduce their lr where due."""
        rel = (1.0 + self.threshold) if self.mode == "max" else (1.0 - self.threshold)
        ref = self.best[heads] * rel
        better = _better(metrics, ref, self.mode)
        self.best[heads] = np.where(better, metrics, self.best[heads])
        self.bad[heads] = np.where(better, 0, self.bad[heads] + 1)
        reduce = heads[self.bad[heads] > self.patience]
        for h in reduce:
            new = max(self.lr[h] * self.factor, self.min_lr)
            if self.lr[h] - new > self.eps:
                self.lr[h] = new
            self.bad[h] = 0


class EarlyStopping:
    """Per-head best-so-far tracking, checkpoint decisions and early stopping."""

    def __init__(self, n_heads: int, mode: str, patience: int) -> None:
        self.mode, self.patience = mode, patience
        self.best = np.full(n_heads, -np.inf if mode == "max" else np.inf)
        self.best_epoch = np.full(n_heads, -1, dtype=np.int64)
        self.wait = np.zeros(n_heads, dtype=np.int64)
        self.stopped = np.zeros(n_heads, dtype=bool)

    def update(self, heads: np.ndarray, metrics: np.ndarray, epoch: int) -> np.ndarray:
        """Record an epoch; returns the boolean mask (over ``heads``) of heads that improved."""
        improved = _better(metrics, self.best[heads], self.mode)
        self.best[heads] = np.where(improved, metrics, self.best[heads])
        self.best_epoch[heads] = np.where(improved, epoch, self.best_epoch[heads])
        self.wait[heads] = np.where(improved, 0, self.wait[heads] + 1)
        self.stopped[heads] |= self.wait[heads] >= self.patience
        return improved
