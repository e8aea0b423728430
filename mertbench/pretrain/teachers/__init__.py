"""Teachers: the discrete per-frame targets MERT predicts at masked frames.

Every teacher turns a whole mono 24 kHz file into integer labels ``[T, K]`` (``K`` codebooks,
``T`` frames at 75 Hz, aligned 1:1 with the encoder's frames: label ``i`` belongs to the frame
starting at sample ``320 * i``). Teachers that must be fitted on the corpus first (k-means, and
the offline EnCodec fallback's feature statistics) implement :meth:`Teacher.fit`, and
:meth:`Teacher.save` / :meth:`Teacher.load` so the fit is reused.

* :class:`~mertbench.pretrain.teachers.encodec.EncodecTeacher`: EnCodec 24 kHz RVQ codes
  (MERT-v1), or the offline fallback "encodec-random (offline fallback)".
* :class:`~mertbench.pretrain.teachers.kmeans.KMeansTeacher`: k-means on MFCC+deltas, or on
  log-mel and chroma (product or parallel labels).
"""
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


def build_teacher(section: Any, device: str | torch.device = "cpu") -> Teacher | None:
    """The teacher described by a :class:`~mertbench.pretrain.config.TeacherSection` (None for ``none``)."""
    kind = section.kind
    if kind == "none":
        return None
    if kind == "encodec":
        from mertbench.pretrain.teachers.encodec import EncodecTeacher

        return EncodecTeacher(source=section.encodec_source, bandwidth=section.encodec_bandwidth,
                              seed=section.random_seed, device=device, fit_max_frames=section.fit_max_frames)
    if kind == "kmeans":
        from mertbench.pretrain.teachers.kmeans import KMeansTeacher

        return KMeansTeacher(features=section.kmeans_features, clusters=tuple(section.kmeans_clusters),
                             combine=section.kmeans_combine, n_init=section.kmeans_n_init,
                             batch_size=section.kmeans_batch_size, max_frames=section.fit_max_frames,
                             seed=section.random_seed)
    from mertbench.errors import SpecError

    raise SpecError(f"teacher.kind {kind!r} unknown; use encodec, kmeans or none")
