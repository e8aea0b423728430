"""Random-access reads of cached features for training: gather rows, keep the needed layers, float32.

A split whose selected layers fit ``ram_budget_gb`` is copied into memory once (on the target device
when it is a GPU, so batches are gathered there); larger splits stay memory-mapped and each batch is
read from the page cache.
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
        if nbytes <= ram_budget_gb * 1e9:
            arr = np.asarray(features if self.all_layers else features[:, self.positions])
            self.tensor = torch.from_numpy(np.array(arr, copy=True, order="C")).to(device)

    def __len__(self) -> int:
        return self.shape[0]

    def gather(self, rows: np.ndarray | torch.Tensor) -> torch.Tensor:
        """float32 ``[len(rows), L', D]`` on the device."""
        if self.tensor is not None:
            idx = torch.as_tensor(rows, dtype=torch.long).to(self.tensor.device)
            return self.tensor.index_select(0, idx).float()
        rows = np.asarray(rows, dtype=np.int64)
        order = np.argsort(rows, kind="stable")
        block = self.array[rows[order]]
        if not self.all_layers:
            block = block[:, self.positions]
        out = np.empty_like(block)
        out[order] = block
        return torch.from_numpy(np.ascontiguousarray(out)).to(self.device).float()

    def slice(self, start: int, stop: int) -> torch.Tensor:
        """float32 rows ``start:stop`` (contiguous read) on the device."""
        if self.tensor is not None:
            return self.tensor[start:stop].float()
        block = self.array[start:stop]
        if not self.all_layers:
            block = block[:, self.positions]
        return torch.from_numpy(np.ascontiguousarray(block)).to(self.device).float()
