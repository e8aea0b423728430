"""The :class:`Teacher` base class and :func:`tensor_fingerprint` shared by every teacher."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch


class Teacher:
    """Base class. Subclasses set :attr:`name`, :attr:`codebook_sizes` and implement :meth:`labels`."""

    #: human-readable identity, shown in logs and stored in caches and checkpoints
    name: str = "teacher"
    #: number of classes of each codebook (without the fairseq special symbols)
    codebook_sizes: tuple[int, ...] = ()
    #: labels() needs the file's magnitude CQT ``[T, 336]``
    needs_cqt: bool = False
    #: fit() must run (on a corpus sample) before labels()
    needs_fit: bool = False

    def identity(self) -> dict[str, Any]:
        """JSON-able description (settings + weight fingerprints); its hash keys the label cache."""
        raise NotImplementedError

    def fit(self, samples: Iterable[tuple[torch.Tensor, torch.Tensor | None]]) -> dict[str, Any]:
        """Fit on ``(wav [N], cqt [T, 336] | None)`` pairs; returns a summary for logs."""
        return {}

    def labels(self, wav: torch.Tensor, cqt: torch.Tensor | None = None) -> np.ndarray:
        """Integer labels ``[T, K]`` (int32) of a whole file ``wav`` ``[N]`` at 24 kHz."""
        raise NotImplementedError

    def save(self, folder: Path) -> None:
        """Write the fitted state to ``folder``."""

    def load(self, folder: Path) -> bool:
        """Read a fitted state from ``folder``; False if it is not there."""
        return False


def tensor_fingerprint(*arrays: Any) -> str:
    """Short SHA-256 over tensors / arrays (dtype, shape and bytes)."""
    h = hashlib.sha256()
    for a in arrays:
        t = a.detach().cpu().contiguous().numpy() if isinstance(a, torch.Tensor) else np.ascontiguousarray(a)
        h.update(f"{t.dtype}|{t.shape}".encode())
        h.update(t.tobytes())
    return h.hexdigest()[:16]
