"""Many probe heads trained as one model: every parameter carries a leading head axis.

A head is one training configuration (:class:`HeadConfig`): an input (one hidden-state layer, or the
softmax-weighted sum of layers), a learning rate and a seed. Heads never interact: each has its own
weights, its own loss term, its own Adam state, learning-rate schedule and early stopping, so training
``H`` heads together gives what ``H`` separate runs give, in one pass over the data (batched matrix
products over the head axis).

Determinism across the two ways of running (one pass vs one head at a time) comes from giving every
random stream to a *seed*, never to the model: the initial weights of a head depend only on its seed
(all heads of a seed start from the same weights, like separate runs with that seed), the batch order
and the dropout masks come from per-seed generators that draw the same numbers however many heads
share the seed.

Head kinds (MARBLE v1 ``ProberForBertUtterCLS``): ``mlp`` = Linear(D, hidden) -> ReLU -> Dropout ->
Linear(hidden, C); ``linear`` = Linear(D, C). Weighted-sum heads learn one logit per layer (initialised
from a standard normal, as MARBLE) and use ``softmax(logits) . layers``; MARBLE leaves out hidden state
0 (the CNN/embedding output) and so do we whenever the cache holds more than layer 0.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch

WEIGHTED = "weighted"

_STREAMS = {"init": 1, "data": 2, "dropout": 3}


def seed_stream(seed: int, stream: str) -> int:
    """The generator seed of one random stream (``init``, ``data``, ``dropout``) of a run seed."""
    return (int(seed) * 1_000_003 + _STREAMS[stream]) % (2 ** 63 - 1)


@dataclass
class TrainSettings:
    """Hyperparameters shared by all heads of a pass (MARBLE defaults come from the task spec)."""

    hidden: int | None = 512
    dropout: float = 0.2
    max_epochs: int = 100
    lr_patience: int = 5
    early_stop_patience: int = 10
    lr_factor: float = 0.5


@dataclass(frozen=True, order=True)
class HeadConfig:
    """One training configuration. ``layer`` is a hidden-state index, or None for the weighted sum."""

    seed: int
    weighted: bool
    layer: int
    lr: float

    @classmethod
    def make(cls, layer: int | None, lr: float, seed: int) -> "HeadConfig":
        return cls(seed=int(seed), weighted=layer is None, layer=-1 if layer is None else int(layer), lr=float(lr))

    @property
    def key(self) -> str:
        """The layer key used in results: the hidden-state index as a string, or ``"weighted"``."""
        return WEIGHTED if self.weighted else str(self.layer)


@dataclass
class _Group:
    seed: int
    start: int
    stop: int
    n_single: int
    single_pos: torch.Tensor  # positions (in the gathered layer axis) of the single-layer heads


class _HeadLinear(torch.autograd.Function):
    """``baddbmm(b, x, w)`` over the head axis whose backward computes the input gradient only for the
    heads listed in ``grad_heads`` (the weighted-sum heads; single-layer heads read frozen features,
    so their input gradient would be wasted work)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, grad_heads: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x, w, grad_heads)
        return torch.baddbmm(b.unsqueeze(1), x, w)

    @staticmethod
    def backward(ctx, g: torch.Tensor):  # type: ignore[override]
        x, w, heads = ctx.saved_tensors
        gx = None
        if ctx.needs_input_grad[0]:
            gx = torch.zeros_like(x)
            if heads.numel():
                gx[heads] = torch.bmm(g.index_select(0, heads), w.index_select(0, heads).transpose(1, 2))
        gw = torch.bmm(x.transpose(1, 2), g) if ctx.needs_input_grad[1] else None
        gb = g.sum(dim=1) if ctx.needs_input_grad[2] else None
        return gx, gw, gb, None


def _uniform(shape: Sequence[int], bound: float, gen: torch.Generator) -> torch.Tensor:
    return torch.rand(*shape, generator=gen, dtype=torch.float32) * (2 * bound) - bound


class HeadBank:
    """The parameters of ``H`` heads and their batched forward pass.

    Args:
        configs: the heads; they are kept sorted (by seed, then single-layer before weighted).
        positions: hidden-state index -> position in the layer axis of the inputs given to forward.
        weighted_positions: positions summed by weighted heads.
        dim: input feature size ``D``; hidden: MLP width (None: linear head); out_dim: ``C``.
        dropout: dropout probability after the hidden ReLU (MLP only).
    """

    def __init__(self, configs: Sequence[HeadConfig], positions: dict[int, int], weighted_positions: list[int],
                 dim: int, hidden: int | None, out_dim: int, dropout: float, device: torch.device | str = "cpu",
                 params: dict[str, torch.Tensor] | None = None) -> None:
        self.configs = sorted(configs)
        if list(configs) != self.configs and params is not None:
            raise ValueError("params must follow the sorted order of configs")
        self.positions = dict(positions)
        self.weighted_positions = list(weighted_positions)
        self.dim, self.hidden, self.out_dim, self.dropout = dim, hidden, out_dim, float(dropout)
        self.device = torch.device(device)
        self.params = params if params is not None else self._init()
        self._build_groups()

    # --- construction ---------------------------------------------------------------------
    def _init_one(self, seed: int) -> dict[str, torch.Tensor]:
        """PyTorch's nn.Linear default init (uniform +-1/sqrt(fan_in)) from a generator seeded by ``seed``."""
        gen = torch.Generator().manual_seed(seed_stream(seed, "init"))
        out: dict[str, torch.Tensor] = {}
        if self.hidden is None:
            b = 1.0 / math.sqrt(self.dim)
            out["w1"] = _uniform((self.dim, self.out_dim), b, gen)
            out["b1"] = _uniform((self.out_dim,), b, gen)
        else:
            b = 1.0 / math.sqrt(self.dim)
            out["w1"] = _uniform((self.dim, self.hidden), b, gen)
            out["b1"] = _uniform((self.hidden,), b, gen)
            b = 1.0 / math.sqrt(self.hidden)
            out["w2"] = _uniform((self.hidden, self.out_dim), b, gen)
            out["b2"] = _uniform((self.out_dim,), b, gen)
        out["mix"] = torch.randn(max(len(self.weighted_positions), 1), generator=gen)
        return out

    def _init(self) -> dict[str, torch.Tensor]:
        per_seed = {s: self._init_one(s) for s in sorted({c.seed for c in self.configs})}
        names = list(next(iter(per_seed.values())).keys())
        return {n: torch.stack([per_seed[c.seed][n] for c in self.configs]).to(self.device).requires_grad_(True)
                for n in names}

    def _build_groups(self) -> None:
        self.groups: list[_Group] = []
        i = 0
        while i < len(self.configs):
            seed = self.configs[i].seed
            j = i
            while j < len(self.configs) and self.configs[j].seed == seed:
                j += 1
            singles = [c for c in self.configs[i:j] if not c.weighted]
            pos = torch.tensor([self.positions[c.layer] for c in singles], dtype=torch.long, device=self.device)
            self.groups.append(_Group(seed, i, j, len(singles), pos))
            i = j
        self._wpos = torch.tensor(self.weighted_positions, dtype=torch.long, device=self.device)
        self._weighted_heads = torch.tensor([i for i, c in enumerate(self.configs) if c.weighted],
                                            dtype=torch.long, device=self.device)

    @property
    def num_heads(self) -> int:
        return len(self.configs)

    @property
    def seeds(self) -> list[int]:
        """Seeds in group order (forward takes one input batch per seed)."""
        return [g.seed for g in self.groups]

    def parameters(self) -> list[torch.Tensor]:
        return list(self.params.values())

    def subset(self, keep: Sequence[int]) -> "HeadBank":
        """A bank with heads ``keep`` (indices into this bank), parameters copied."""
        idx = torch.as_tensor(list(keep), dtype=torch.long, device=self.device)
        params = {n: p.detach().index_select(0, idx).clone().requires_grad_(True) for n, p in self.params.items()}
        return HeadBank([self.configs[i] for i in keep], self.positions, self.weighted_positions, self.dim,
                        self.hidden, self.out_dim, self.dropout, self.device, params)

    def state(self) -> dict[str, torch.Tensor]:
        return {n: p.detach().clone() for n, p in self.params.items()}

    # --- forward --------------------------------------------------------------------------
    def mixed_inputs(self, xs: Sequence[torch.Tensor]) -> torch.Tensor:
        """``[H, B, D]``: each head's input from its seed's batch ``xs[g]`` (``[B, L', D]``)."""
        pieces = []
        for g, x in zip(self.groups, xs):
            if g.n_single:
                pieces.append(x.index_select(1, g.single_pos).transpose(0, 1))
            n_w = g.stop - g.start - g.n_single
            if n_w:
                w = torch.softmax(self.params["mix"][g.start + g.n_single:g.stop], dim=-1)  # [n_w, Lw]
                xw = x.index_select(1, self._wpos)  # [B, Lw, D]
                pieces.append(torch.einsum("hl,bld->hbd", w, xw))
        return pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=0)

    def forward(self, xs: Sequence[torch.Tensor] | torch.Tensor,
                masks: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """Outputs ``[H, B, C]``.

        Args:
            xs: one ``[B, L', D]`` batch per seed group (:attr:`seeds` order), or one tensor shared by all.
            masks: dropout keep-masks ``[B, hidden]`` (0/1) per seed group, or None (evaluation).
        """
        if isinstance(xs, torch.Tensor):
            xs = [xs] * len(self.groups)
        x = self.mixed_inputs(xs)
        p = self.params
        first = _HeadLinear.apply(x, p["w1"], p["b1"], self._weighted_heads)
        if self.hidden is None:
            return first
        h = torch.relu(first)
        if masks is not None and self.dropout > 0:
            scale = 1.0 / (1.0 - self.dropout)
            m = torch.cat([mk.unsqueeze(0).expand(g.stop - g.start, -1, -1) for g, mk in zip(self.groups, masks)])
            h = h * (m * scale)
        return torch.baddbmm(p["b2"].unsqueeze(1), h, p["w2"])

    @torch.no_grad()
    def predict(self, x: torch.Tensor, chunk_rows: int | None = None) -> torch.Tensor:
        """Evaluation outputs ``[H, n, C]`` for rows ``x`` ``[n, L', D]`` shared by all heads."""
        rows = chunk_rows or self.eval_chunk_rows()
        if x.shape[0] <= rows:
            return self.forward(x)
        return torch.cat([self.forward(x[i:i + rows]) for i in range(0, x.shape[0], rows)], dim=1)

    def eval_chunk_rows(self, budget_floats: int = 1 << 25) -> int:
        """Rows per evaluation chunk so the activations stay under ``budget_floats`` floats."""
        width = max(self.hidden or 0, self.out_dim, self.dim)
        return max(1, budget_floats // max(1, self.num_heads * width))

    def dropout_masks(self, gens: dict[int, torch.Generator], batch: int) -> list[torch.Tensor] | None:
        """One keep-mask ``[batch, hidden]`` per seed group, drawn from that seed's generator."""
        if self.hidden is None or self.dropout <= 0:
            return None
        keep = 1.0 - self.dropout
        return [torch.bernoulli(torch.full((batch, self.hidden), keep), generator=gens[g.seed]).to(self.device)
                for g in self.groups]
