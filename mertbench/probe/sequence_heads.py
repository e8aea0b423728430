"""Sequence probe heads (an LSTM per head) behind the :class:`~mertbench.probe.heads.HeadBank` interface.

The per-frame heads of :mod:`mertbench.probe.heads` are batched matrix products over a head axis. A
recurrent head cannot be batched that way, so :class:`SequenceHeadBank` keeps the same contract (a
leading head axis on every tensor, one input batch per seed, ``subset``/``state``/``predict``) and runs
its heads one after another through :func:`torch.func.functional_call` on a single module whose weights
are swapped in. The trainer (:mod:`mertbench.probe.trainer`) does not know the difference: Adam, the
learning-rate schedule, early stopping and best-checkpoint copies all work on the stacked tensors.

Random streams belong to seeds, as for the per-frame heads: initial weights come from the seed's
``init`` stream (all heads of a seed start equal); dropout inside the LSTM is drawn from a generator
seeded per step from the seed's ``dropout`` stream.

:class:`OpenUnmixHead` is MARBLE's MUSDB18 probe head (``MUSDB18_prober.py``, after open-unmix;
``marble_tasks.md`` §2.14): one network per target stem of Linear(D -> hidden, no bias) + BatchNorm +
tanh -> LSTM (``layers`` layers; bidirectional halves the width per direction) -> skip concatenation ->
Linear(2 hidden -> hidden, no bias) + BatchNorm + ReLU -> Linear(hidden -> channels x bins, no bias) +
BatchNorm -> learnable per-bin output scale and offset -> ReLU: a non-negative mask that the
separation family multiplies by the mixture magnitude.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from mertbench.probe.heads import HeadBank, HeadConfig, seed_stream


class _StemNet(nn.Module):
    """One target stem's open-unmix-like network: features ``[B, T, D]`` -> mask ``[B, T, C*F]`` (>= 0)."""

    def __init__(self, dim: int, hidden: int, out: int, layers: int, bidirectional: bool, dropout: float) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden, bias=False)
        self.bn1 = nn.BatchNorm1d(hidden)
        width = hidden // 2 if bidirectional else hidden
        self.lstm = nn.LSTM(hidden, width, num_layers=layers, bidirectional=bidirectional, batch_first=True,
                            dropout=dropout if layers > 1 else 0.0)
        self.fc2 = nn.Linear(2 * hidden, hidden, bias=False)  # skip (hidden) + LSTM output (hidden)
        self.bn2 = nn.BatchNorm1d(hidden)
        self.fc3 = nn.Linear(hidden, out, bias=False)
        self.bn3 = nn.BatchNorm1d(out)
        self.output_scale = nn.Parameter(torch.ones(out))
        self.output_mean = nn.Parameter(torch.zeros(out))

    @staticmethod
    def _bn(bn: nn.BatchNorm1d, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        return bn(x.reshape(b * t, c)).reshape(b, t, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self._bn(self.bn1, self.fc1(x)))
        seq, _ = self.lstm(h)
        y = torch.relu(self._bn(self.bn2, self.fc2(torch.cat([h, seq], dim=-1))))
        y = self._bn(self.bn3, self.fc3(y))
        return torch.relu(y * self.output_scale + self.output_mean)


class OpenUnmixHead(nn.Module):
    """One :class:`_StemNet` per stem; ``forward(x [B, T, D]) -> [B, T, stems * out_per_stem]`` (stem-major)."""

    def __init__(self, dim: int, stems: int, out_per_stem: int, hidden: int = 512, layers: int = 3,
                 bidirectional: bool = True, dropout: float = 0.4) -> None:
        super().__init__()
        if hidden < 2 or (bidirectional and hidden % 2):
            raise ValueError(f"open-unmix head: hidden must be an even number >= 2, got {hidden}")
        self.nets = nn.ModuleList(_StemNet(dim, hidden, out_per_stem, layers, bidirectional, dropout)
                                  for _ in range(stems))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([net(x) for net in self.nets], dim=-1)


class SequenceHeadBank(HeadBank):
    """``H`` sequence heads (one module, weights stacked over a leading head axis).

    Args:
        configs, positions, weighted_positions, dim, out_dim, device, params: as :class:`HeadBank`.
        make_module: ``() -> nn.Module`` mapping ``[B, T, D]`` to ``[B, T, out_dim]``.
        seq_len: frames per training sequence: ``forward`` reads its ``[B * seq_len, L', D]`` rows as
            ``B`` sequences. ``predict`` reads all its rows as one sequence (a whole track).
    """

    def __init__(self, configs: Sequence[HeadConfig], positions: dict[int, int], weighted_positions: list[int],
                 dim: int, out_dim: int, make_module: Callable[[], nn.Module], seq_len: int,
                 device: torch.device | str = "cpu", params: dict[str, torch.Tensor] | None = None) -> None:
        self.make_module = make_module
        self.seq_len = int(seq_len)
        self.module = make_module().to(device)
        self._trainable = {n for n, _ in self.module.named_parameters()} | {"mix"}
        super().__init__(configs, positions, weighted_positions, dim, None, out_dim, 0.0, device, params)

    # --- construction ---------------------------------------------------------------------
    def _init_one(self, seed: int) -> dict[str, torch.Tensor]:
        gen = torch.Generator().manual_seed(seed_stream(seed, "init"))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(0, 2 ** 62, (1,), generator=gen)))
            fresh = self.make_module()
        out = {n: t.detach().clone() for n, t in fresh.state_dict().items()}
        out["mix"] = torch.randn(max(len(self.weighted_positions), 1), generator=gen)
        return out

    def _init(self) -> dict[str, torch.Tensor]:
        per_seed = {s: self._init_one(s) for s in sorted({c.seed for c in self.configs})}
        names = list(next(iter(per_seed.values())).keys())
        out = {}
        for n in names:
            t = torch.stack([per_seed[c.seed][n] for c in self.configs]).to(self.device)
            out[n] = t.requires_grad_(True) if n in self._trainable else t
        return out

    def parameters(self) -> list[torch.Tensor]:
        return [p for n, p in self.params.items() if n in self._trainable]

    def subset(self, keep: Sequence[int]) -> "SequenceHeadBank":
        idx = torch.as_tensor(list(keep), dtype=torch.long, device=self.device)
        params = {}
        for n, p in self.params.items():
            t = p.detach().index_select(0, idx).clone()
            params[n] = t.requires_grad_(True) if n in self._trainable else t
        return SequenceHeadBank([self.configs[i] for i in keep], self.positions, self.weighted_positions, self.dim,
                                self.out_dim, self.make_module, self.seq_len, self.device, params)

    # --- forward --------------------------------------------------------------------------
    def _head_tensors(self, h: int) -> dict[str, torch.Tensor]:
        return {n: p[h] for n, p in self.params.items() if n != "mix"}

    def _run(self, x: torch.Tensor, sequences: int, train: bool, seeds: list[int] | None) -> torch.Tensor:
        """``x`` ``[H, sequences * T, D]`` -> ``[H, sequences * T, out_dim]``, head by head."""
        self.module.train(train)
        outs = []
        for h in range(x.shape[0]):
            seq = x[h].reshape(sequences, -1, x.shape[-1])
            if seeds is not None:
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(seeds[h])
                    y = torch.func.functional_call(self.module, self._head_tensors(h), (seq,))
            else:
                y = torch.func.functional_call(self.module, self._head_tensors(h), (seq,))
            outs.append(y.reshape(x.shape[1], -1))
        return torch.stack(outs)

    def forward(self, xs: Sequence[torch.Tensor] | torch.Tensor,
                masks: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """Training outputs ``[H, B * seq_len, out_dim]`` (train mode: batch statistics, LSTM dropout).

        ``masks`` are the per-seed step seeds from :meth:`dropout_masks` (one-element tensors)."""
        if isinstance(xs, torch.Tensor):
            xs = [xs] * len(self.groups)
        x = self.mixed_inputs(xs)
        rows = x.shape[1]
        if rows % self.seq_len:
            raise ValueError(f"{rows} rows are not a whole number of {self.seq_len}-frame sequences")
        seeds = None
        if masks is not None:
            seeds = [int(m.item()) for g, m in zip(self.groups, masks) for _ in range(g.stop - g.start)]
        return self._run(x, rows // self.seq_len, True, seeds)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, chunk_rows: int | None = None) -> torch.Tensor:
        """Evaluation outputs ``[H, n, out_dim]``: rows ``x`` ``[n, L', D]`` are one sequence (eval mode)."""
        xs = [x] * len(self.groups)
        return self._run(self.mixed_inputs(xs), 1, False, None)

    def dropout_masks(self, gens: dict[int, torch.Generator], batch: int) -> list[torch.Tensor] | None:
        """One step seed per seed group (drawn from that seed's dropout generator)."""
        return [torch.randint(0, 2 ** 62, (1,), generator=gens[g.seed]) for g in self.groups]
