"""MERT's pretraining loss (HuBERT criterion + CQT reconstruction).

Per micro-batch with ``M`` masked frames, in "sum" form (divided later by the masked-frame count
of the whole optimisation step, across accumulation and processes, as fairseq does)::

    L_sum = w_pred * sum_k CE_k  +  M * (w_cqt * MSE_cqt + w_pen * mean(features^2))

* ``CE_k``: cross-entropy summed over masked frames of codebook ``k``; logits are the cosine
  similarities (fp32) between the frame's projection chunk ``k`` and every label embedding of
  codebook ``k``, divided by the temperature 0.1. (fairseq builds ``[positive, all classes]`` with
  the positive's duplicate set to -inf and takes class 0 as target; that equals a softmax
  cross-entropy over all classes, which is what is computed here; tested.)
* ``MSE_cqt``: ``nn.MSELoss`` (mean over masked frames x bins) between the CQT head and the
  clean-audio magnitude CQT at masked frames.
* ``features``: the CNN features (before the projection LayerNorm), fp32.

The per-masked-frame objective is therefore ``sum_k CE_k / M + w_cqt MSE + w_pen pen``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F


@dataclass
class PretrainOutput:
    """What the losses need from one forward pass (M = number of masked frames in the batch);
    produced by :class:`mertbench.pretrain.heads.MertPretrainingModel`."""

    proj_masked: list[torch.Tensor]  # K tensors [M, final_dim]
    cqt_masked: torch.Tensor | None  # [M, cqt_bins]
    features_pen: torch.Tensor  # scalar: mean of squared CNN features (fp32)
    num_frames: int  # M: frames the heads ran on


def transform_cqt_target(cqt: torch.Tensor, mode: str = "linear", ref: float = 0.01) -> torch.Tensor:
    """MERT regresses the linear magnitude (``mode="linear"``); ``"log"`` uses ``log1p(cqt / ref)``."""
    if mode == "linear":
        return cqt
    if mode == "log":
        return torch.log1p(cqt.float() / ref)
    raise ValueError(f"unknown CQT target transform {mode!r}; use linear or log")


def cosine_logits(proj: torch.Tensor, embs: torch.Tensor, temp: float) -> torch.Tensor:
    """Cosine similarity ``[M, C]`` between ``proj`` ``[M, D]`` and ``embs`` ``[C, D]``, over ``temp`` (fp32)."""
    p = F.normalize(proj.float(), dim=-1, eps=1e-8)
    e = F.normalize(embs.float(), dim=-1, eps=1e-8)
    return (p @ e.T) / temp


@dataclass
class LossTerms:
    """Sums (over masked frames) of one micro-batch; divide by ``num_masked`` to report per frame."""

    total: torch.Tensor  # the L_sum above (differentiable)
    num_masked: int
    ce: list[float] = field(default_factory=list)  # per codebook, summed over masked frames
    correct: list[int] = field(default_factory=list)  # per codebook, argmax == target count
    cqt_mse: float = 0.0  # mean over masked frames x bins
    features_pen: float = 0.0
    ce_nomask: list[float] = field(default_factory=list)  # optional unmasked-frame terms (HuBERT pred_nomask)
    cqt_mse_nomask: float = 0.0
    num_unmasked: int = 0


def pretraining_loss(out: PretrainOutput, *, label_embs: list[torch.Tensor], targets: torch.Tensor | None,
                     cqt_target: torch.Tensor | None, num_special: int = 4, logit_temp: float = 0.1,
                     pred_weight: float = 1.0, cqt_weight: float = 1.0, pen_weight: float = 10.0) -> LossTerms:
    """The loss of one micro-batch.

    Args:
        out: model output at the masked frames.
        label_embs: per-codebook embedding tables.
        targets: ``[M, K]`` codes at the masked frames (before the special-symbol offset) or None.
        cqt_target: ``[M, bins]`` clean magnitude CQT at the masked frames, or None (term off).
        num_special: offset of code 0 in the class list (fairseq dictionary: 4).
        logit_temp: cosine temperature.
        pred_weight, cqt_weight, pen_weight: term weights (0 switches a term off).
    """
    with torch.autocast(out.features_pen.device.type, enabled=False):
        return _loss(out, label_embs, targets, cqt_target, num_special, logit_temp, pred_weight, cqt_weight,
                     pen_weight)


def _loss(out: PretrainOutput, label_embs: list[torch.Tensor], targets: torch.Tensor | None,
          cqt_target: torch.Tensor | None, num_special: int, logit_temp: float, pred_weight: float,
          cqt_weight: float, pen_weight: float) -> LossTerms:
    m = out.num_frames  # frames the heads ran on
    device = out.features_pen.device
    total = torch.zeros((), device=device, dtype=torch.float32)
    terms = LossTerms(total=total, num_masked=int(m))
    if targets is not None and pred_weight > 0 and out.proj_masked:
        for k, (proj, embs) in enumerate(zip(out.proj_masked, label_embs)):
            logits = cosine_logits(proj, embs, logit_temp)
            tgt = targets[:, k].long() + num_special
            ce = F.cross_entropy(logits, tgt, reduction="sum")
            total = total + pred_weight * ce
            terms.ce.append(float(ce.detach()))
            terms.correct.append(int((logits.detach().argmax(-1) == tgt).sum()))
    if cqt_target is not None and cqt_weight > 0 and out.cqt_masked is not None and m > 0:
        mse = F.mse_loss(out.cqt_masked.float(), cqt_target.float())
        total = total + m * cqt_weight * mse
        terms.cqt_mse = float(mse.detach())
    if pen_weight > 0:
        total = total + m * pen_weight * out.features_pen
    terms.features_pen = float(out.features_pen.detach())
    terms.total = total
    return terms
