"""Random-access reads of cached features for training: gather rows, keep the needed layers, float32.

A split whose selected layers fit ``ram_budget_gb`` is copied into memory once (on the target device
when it is a GPU, so batches are gathered there); larger splits stay memory-mapped and each batch is
read from the page cache.

Standardisation: :meth:`FeatureStore.moments` gives the per-(layer, dimension) mean and standard
deviation of a split (the training split), and :meth:`FeatureStore.standardize` makes every later read
return ``(x - mean) / std``. The probe families apply the training split's moments to every split.
"""
from __future__ import annotations

import numpy as np
import torch


class FeatureStore:
    """Rows ``[n, L', D]`` of one split restricted to layer ``positions``.

    Args:
        features: ``[rows, L, D]`` array (memmap or ndarray, float16/float32).
        positions: positions along the cache's layer axis to keep (sorted).
        device: where batches are returned.
        ram_budget_gb: copy into memory when the kept layers are smaller than this.
    """

    def __init__(self, features: np.ndarray, positions: list[int], device: torch.device,
                 ram_budget_gb: float = 4.0) -> None:
        self.device = device
        self.positions = list(positions)
        self.all_layers = self.positions == list(range(features.shape[1]))
        self.shape = (features.shape[0], len(self.positions), features.shape[2])
        nbytes = self.shape[0] * self.shape[1] * self.shape[2] * features.dtype.itemsize
        self.tensor: torch.Tensor | None = None
        self.array = features
        self._shift: torch.Tensor | None = None
        self._scale: torch.Tensor | None = None
        if nbytes <= ram_budget_gb * 1e9:
            arr = np.asarray(features if self.all_layers else features[:, self.positions])
            self.tensor = torch.from_numpy(np.array(arr, copy=True, order="C")).to(device)

    def __len__(self) -> int:
        return self.shape[0]

    def moments(self, chunk_rows: int = 65536) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and standard deviation ``[L', D]`` over all rows (float64 accumulation, in chunks),
        of the raw features (any standardisation set on this store is not applied)."""
        shift, scale = self._shift, self._scale
        self._shift = self._scale = None
        try:
            total = torch.zeros(self.shape[1:], dtype=torch.float64)
            total_sq = torch.zeros(self.shape[1:], dtype=torch.float64)
            for start in range(0, len(self), chunk_rows):
                block = self.slice(start, min(start + chunk_rows, len(self))).double().cpu()
                total += block.sum(dim=0)
                total_sq += (block * block).sum(dim=0)
        finally:
            self._shift, self._scale = shift, scale
        n = max(len(self), 1)
        mean = total / n
        var = (total_sq / n - mean * mean).clamp_min(0.0)
        return mean.float(), var.sqrt().float()

    def standardize(self, mean: torch.Tensor, std: torch.Tensor, eps: float = 1e-5) -> None:
        """Return ``(x - mean) / std`` from now on (``mean``/``std`` ``[L', D]``); dimensions whose
        ``std`` is below ``eps`` (constant in the training split) are only centred."""
        if tuple(mean.shape) != self.shape[1:] or tuple(std.shape) != self.shape[1:]:
            raise ValueError(f"standardisation moments have shape {tuple(mean.shape)}, expected {self.shape[1:]}")
        self._shift = mean.to(self.device, torch.float32)
        std = std.to(self.device, torch.float32)
        self._scale = torch.where(std > eps, 1.0 / std.clamp_min(eps), torch.ones_like(std))

    def _apply(self, x: torch.Tensor) -> torch.Tensor:
        if self._shift is None:
            return x
        return (x - self._shift) * self._scale

    def gather(self, rows: np.ndarray | torch.Tensor) -> torch.Tensor:
        """float32 ``[len(rows), L', D]`` on the device."""
        if self.tensor is not None:
            idx = torch.as_tensor(rows, dtype=torch.long).to(self.tensor.device)
            return self._apply(self.tensor.index_select(0, idx).float())
        rows = np.asarray(rows, dtype=np.int64)
        order = np.argsort(rows, kind="stable")
        block = self.array[rows[order]]
        if not self.all_layers:
            block = block[:, self.positions]
        out = np.empty_like(block)
        out[order] = block
        return self._apply(torch.from_numpy(np.ascontiguousarray(out)).to(self.device).float())

    def slice(self, start: int, stop: int) -> torch.Tensor:
        """float32 rows ``start:stop`` (contiguous read) on the device."""
        if self.tensor is not None:
            return self._apply(self.tensor[start:stop].float())
        block = self.array[start:stop]
        if not self.all_layers:
            block = block[:, self.positions]
        return self._apply(torch.from_numpy(np.require(block, requirements=["C", "W"])).to(self.device).float())
