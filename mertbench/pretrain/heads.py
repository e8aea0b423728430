"""The pretraining model: a MERT encoder plus the heads used only during pretraining.

* ``final_proj``: ``Linear(H -> final_dim * K)``, split into ``K`` chunks, one per codebook
  (MERT's ``untie_final_proj``).
* ``label_embs_concat``: learned label embeddings ``[sum_k C_k, final_dim]``, initialised
  U[0, 1) as in fairseq; ``C_k`` counts the codebook's codes plus the fairseq dictionary's 4
  special symbols (never targets), i.e. 1028 rows per EnCodec codebook.
* ``cqt_head``: ``Linear(H -> 336)`` on the last encoder output (MERT's ``encoder_cqt_model``).

The encoder (:class:`mertbench.models.mert.MertModel`) knows nothing about training; it receives
the frame mask and replaces masked frames by its ``masked_spec_embed``. Only the encoder is exported.
Heads are applied to masked frames only (MERT's ``skip_nomask``). :meth:`MertPretrainingModel.forward`
returns the loss terms (as fairseq's model returns its logits), so every parameter is used inside the
wrapped forward (needed by DDP's unused-parameter detection and by FSDP's unsharding).
"""
from __future__ import annotations

import torch
from torch import nn

from mertbench.pretrain.losses import LossTerms, PretrainOutput, pretraining_loss

__all__ = ["MertPretrainingModel", "PretrainOutput"]


class MertPretrainingModel(nn.Module):
    """Encoder + final projection + label embeddings + CQT head.

    Args:
        encoder: a MertModel (``forward(wav, attention_mask, mask_time_indices) -> MertOutput``).
        hidden_size: the encoder's H.
        codebook_sizes: codes per codebook (empty for no discrete teacher).
        final_dim: projection size per codebook (MERT: 64 for 95M, 128 for 330M).
        num_special: extra never-target classes per codebook (fairseq dictionary specials: 4).
        cqt_bins: output size of the CQT head (0: no head).
    """

    def __init__(self, encoder: nn.Module, hidden_size: int, codebook_sizes: tuple[int, ...], *,
                 final_dim: int = 64, num_special: int = 4, cqt_bins: int = 336,
                 loss_weights: dict[str, float] | None = None, logit_temp: float = 0.1,
                 label_init_std: float = 0.0) -> None:
        super().__init__()
        self.loss_weights = {"pred": 1.0, "cqt": 1.0, "pen": 10.0, **(loss_weights or {})}
        self.logit_temp = float(logit_temp)
        self.encoder = encoder
        self.codebook_sizes = tuple(int(c) for c in codebook_sizes)
        self.num_special = int(num_special)
        self.final_dim = int(final_dim)
        k = len(self.codebook_sizes)
        if k:
            self.final_proj = nn.Linear(hidden_size, final_dim * k)
            rows = sum(c + self.num_special for c in self.codebook_sizes)
            table = torch.empty(rows, final_dim)
            # fairseq: U[0, 1). label_init_std > 0: zero-mean N(0, std^2) (see docs/pretrain.md, "tiny recipe")
            self.label_embs_concat = nn.Parameter(table.normal_(0.0, label_init_std) if label_init_std > 0
                                                  else table.uniform_())
        else:
            self.final_proj = None
            self.register_parameter("label_embs_concat", None)
        self.cqt_head = nn.Linear(hidden_size, cqt_bins) if cqt_bins else None

    def label_embeddings(self) -> list[torch.Tensor]:
        """The label-embedding table of each codebook, ``[C_k + num_special, final_dim]``."""
        if self.label_embs_concat is None:
            return []
        return list(torch.split(self.label_embs_concat, [c + self.num_special for c in self.codebook_sizes], dim=0))

    def _heads_at(self, x: torch.Tensor, features_pen: torch.Tensor) -> PretrainOutput:
        proj = []
        if self.final_proj is not None:
            proj = list(self.final_proj(x).chunk(len(self.codebook_sizes), dim=-1))
        cqt = self.cqt_head(x) if self.cqt_head is not None else None
        return PretrainOutput(proj, cqt, features_pen, int(x.shape[0]))

    def heads(self, wav: torch.Tensor, mask: torch.Tensor, nomask: bool = False) -> tuple[PretrainOutput, PretrainOutput | None]:
        """Encoder on ``wav`` ``[B, N]`` with frames ``mask`` ``[B, T]`` replaced; heads at masked frames
        (and, with ``nomask``, at the unmasked frames too)."""
        out = self.encoder(wav, mask_time_indices=mask)
        x = out.last_hidden_state  # [B, T, H]
        if x.shape[1] != mask.shape[1]:
            raise RuntimeError(f"encoder gave {x.shape[1]} frames for a mask of {mask.shape[1]} frames")
        features_pen = out.cnn_features.float().pow(2).mean()
        masked = self._heads_at(x[mask], features_pen)
        unmasked = self._heads_at(x[~mask], features_pen) if nomask else None
        return masked, unmasked

    def forward(self, wav: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor | None = None,
                cqt: torch.Tensor | None = None) -> LossTerms:
        """Loss terms of one micro-batch.

        Args:
            wav: ``[B, N]`` network input (mixed audio).
            mask: ``[B, T]`` bool, masked frames.
            labels: ``[B, T, K]`` teacher codes of every frame, or None.
            cqt: ``[B, T, bins]`` CQT target (from clean audio) of every frame, or None.
        """
        w = self.loss_weights
        nomask = w.get("pred_nomask", 0.0) > 0 or w.get("cqt_nomask", 0.0) > 0
        out_m, out_u = self.heads(wav, mask, nomask=nomask)
        embs = self.label_embeddings()
        common = dict(label_embs=embs, num_special=self.num_special, logit_temp=self.logit_temp)
        terms = pretraining_loss(out_m, targets=None if labels is None else labels[mask],
                                 cqt_target=None if cqt is None else cqt[mask], pred_weight=w["pred"],
                                 cqt_weight=w["cqt"], pen_weight=w["pen"], **common)
        if out_u is not None:
            inv = ~mask
            extra = pretraining_loss(out_u, targets=None if labels is None else labels[inv],
                                     cqt_target=None if cqt is None else cqt[inv], pred_weight=w.get("pred_nomask", 0.0),
                                     cqt_weight=w.get("cqt_nomask", 0.0), pen_weight=0.0, **common)
            terms.total = terms.total + extra.total
            terms.ce_nomask, terms.cqt_mse_nomask, terms.num_unmasked = extra.ce, extra.cqt_mse, extra.num_masked
        return terms
