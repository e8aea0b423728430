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

from typing import Any

import torch

from mertbench.pretrain.teachers.base import Teacher, tensor_fingerprint

__all__ = ["Teacher", "build_teacher", "tensor_fingerprint"]


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
