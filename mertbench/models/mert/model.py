"""The MERT-v1 encoder module :class:`MertModel` (one ``forward``) and its output :class:`MertOutput`."""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from mertbench.errors import ModelError
from mertbench.models.mert.config import MertConfig
from mertbench.models.mert.kernels import FastCache, autocast_on
from mertbench.models.mert.layers import (
    FAST_FRONT_END_MAX_KERNEL,
    _FeatureExtractor,
    _FeatureProjection,
    _GradMultiply,
    _TransformerEncoder,
)


@dataclass
class MertOutput:
    """What :meth:`MertModel.forward` returns.

    Attributes:
        cnn_features: ``[B, T, C]`` conv-stack output (C = conv_dim[-1] = 512 for MERT) before the
            feature projection's LayerNorm; carries the ``feature_grad_mult`` gradient scaling
            (HuBERT's feature penalty is ``cnn_features.float().pow(2).mean()``).
        hidden_states: ``num_hidden_layers + 1`` tensors ``[B, T, H]`` (HF semantics, see module doc).
        last_hidden_state: ``[B, T, H]`` (= ``hidden_states[-1]``).
        padding_mask: ``[B, T]`` bool, True at padded frames; None without ``attention_mask``.
    """

    cnn_features: Tensor
    hidden_states: tuple[Tensor, ...]
    last_hidden_state: Tensor
    padding_mask: Tensor | None
    #: ``[L, B, T, H]`` holding all hidden states (inference path only; ``hidden_states`` are its views)
    stacked_hidden_states: Tensor | None = None


class MertModel(nn.Module):
    """The MERT-v1 encoder; submodule and parameter names equal the HF state-dict names."""

    def __init__(self, config: MertConfig):
        super().__init__()
        self.config = config
        self.feature_extractor = _FeatureExtractor(config)
        self.feature_projection = _FeatureProjection(config)
        self.masked_spec_embed = nn.Parameter(torch.empty(config.hidden_size))
        self.encoder = _TransformerEncoder(config)
        #: use the inference path in eval mode with gradients disabled (set False to force the reference path)
        self.use_fast_path = True
        self._fast_cache = FastCache()
        self.reset_parameters()

    # -- initialisation ------------------------------------------------------------------------
    def reset_parameters(self, seed: int | None = None) -> None:
        """fairseq initialisation (``mert_pretraining.md`` §1 notes).

        Conv front end: Kaiming-normal; transformer Linear layers: N(0, 0.02), zero bias
        (``init_bert_params``); positional conv: N(0, sqrt(4 / (k * H))), zero bias, then weight
        norm (g = ||v|| per tap); mask embedding U[0, 1); norms 1/0; feature projection: PyTorch's
        default Linear init. ``seed`` makes it deterministic without touching the global RNG.
        """
        ctx = torch.random.fork_rng(devices=[]) if seed is not None else contextlib.nullcontext()
        with ctx, torch.no_grad():
            if seed is not None:
                torch.manual_seed(seed)
            for layer in self.feature_extractor.conv_layers:
                nn.init.kaiming_normal_(layer.conv.weight)
                if layer.conv.bias is not None:
                    layer.conv.bias.zero_()
                if layer.layer_norm is not None:
                    layer.layer_norm.weight.fill_(1.0)
                    layer.layer_norm.bias.zero_()
            self.feature_projection.layer_norm.reset_parameters()
            self.feature_projection.projection.reset_parameters()
            self.masked_spec_embed.uniform_()
            conv = self.encoder.pos_conv_embed.conv
            h, k = self.config.hidden_size, self.config.num_conv_pos_embeddings
            conv.weight_v.normal_(0.0, math.sqrt(4.0 / (k * h)))
            conv.weight_g.copy_(torch.linalg.vector_norm(conv.weight_v, dim=(0, 1), keepdim=True)
                                if conv.weight_v.device.type != "meta" else conv.weight_g)
            conv.bias.zero_()
            self.encoder.layer_norm.reset_parameters()
            for layer in self.encoder.layers:
                for lin in (layer.attention.q_proj, layer.attention.k_proj, layer.attention.v_proj,
                            layer.attention.out_proj, layer.feed_forward.intermediate_dense,
                            layer.feed_forward.output_dense):
                    lin.weight.normal_(0.0, 0.02)
                    lin.bias.zero_()
                layer.layer_norm.reset_parameters()
                layer.final_layer_norm.reset_parameters()
        self._fast_cache.clear()

    # -- geometry --------------------------------------------------------------------------------
    def num_frames(self, num_samples: int) -> int:
        """Output frames ``T`` for ``num_samples`` input samples (conv length formula)."""
        return self.config.num_frames(num_samples)

    def frame_lengths(self, sample_lengths: Tensor) -> Tensor:
        """Valid frames per item for valid sample counts ``[B]`` (HF ``_get_feat_extract_output_lengths``)."""
        n = sample_lengths.to(torch.long)
        for k, s in zip(self.config.conv_kernel, self.config.conv_stride):
            n = torch.div(n - k, s, rounding_mode="floor") + 1
        return n.clamp_min(0)

    # -- forward ---------------------------------------------------------------------------------
    def forward(self, wav: Tensor, attention_mask: Tensor | None = None, mask_time_indices: Tensor | None = None,
                *, masked_group_norm: bool = False) -> MertOutput:
        """Encode a batch.

        Args:
            wav: ``[B, N]`` float waveform at ``config.sample_rate`` (right-padded when lengths differ).
            attention_mask: optional ``[B, N]`` (1 = valid sample), as in HF.
            mask_time_indices: optional ``[B, T]`` bool: those frames (after the feature
                projection) are replaced by ``masked_spec_embed`` before the transformer.
            masked_group_norm: compute the layer-0 GroupNorm statistics over each item's valid
                frames only (batch-independent results); default False = HF semantics.

        Returns:
            :class:`MertOutput`.
        """
        if wav.ndim != 2:
            raise ModelError(f"MertModel expects a waveform batch [B, N]; got shape {tuple(wav.shape)}")
        cfg = self.config
        if wav.shape[1] < cfg.receptive_field:
            raise ModelError(f"input of {wav.shape[1]} samples is shorter than the receptive field of "
                             f"{cfg.receptive_field} samples ({cfg.receptive_field / cfg.sample_rate * 1000:.1f} ms "
                             f"at {cfg.sample_rate} Hz)")
        wav = wav.to(self.masked_spec_embed.dtype)
        t = self.num_frames(wav.shape[1])
        padding_mask = None
        valid0 = None
        if attention_mask is not None:
            lengths = attention_mask.to(torch.long).sum(-1)
            frames = self.frame_lengths(lengths)
            padding_mask = torch.arange(t, device=wav.device)[None, :] >= frames[:, None]
            if masked_group_norm:
                k0, s0 = cfg.conv_kernel[0], cfg.conv_stride[0]
                valid0 = (torch.div(lengths - k0, s0, rounding_mode="floor") + 1).clamp_min(1)
        fast = (self.use_fast_path and not self.training and not torch.is_grad_enabled()
                and not autocast_on(wav.device.type))
        # GEMM front end on CPU (on GPUs cuDNN's convs are used). Its folded layer-0 norm costs
        # O(k0^2) per frame, so long first kernels (the tiny preset's 400 samples) take the conv path.
        if fast and wav.device.type == "cpu" and cfg.conv_kernel[0] <= FAST_FRONT_END_MAX_KERNEL:
            feats = self.feature_extractor.forward_fast(wav, self._fast_cache, valid0)  # [B, T, C]
        elif fast:
            feats = self.feature_extractor(wav, valid0).transpose(1, 2)
        elif cfg.feature_grad_mult > 0:
            feats = self.feature_extractor(wav, valid0)
            if cfg.feature_grad_mult != 1.0 and torch.is_grad_enabled():
                feats = _GradMultiply.apply(feats, cfg.feature_grad_mult)
            feats = feats.transpose(1, 2)
        else:
            with torch.no_grad():
                feats = self.feature_extractor(wav, valid0).transpose(1, 2)
        x = self.feature_projection(feats)
        if mask_time_indices is not None:
            if tuple(mask_time_indices.shape) != tuple(x.shape[:2]):
                raise ModelError(f"mask_time_indices has shape {tuple(mask_time_indices.shape)}; expected "
                                 f"[B, T] = {tuple(x.shape[:2])}")
            x = torch.where(mask_time_indices[..., None].to(torch.bool), self.masked_spec_embed.to(x.dtype), x)
        if fast:
            stack = self.encoder.forward_fast(x, padding_mask, self._fast_cache)
            states = tuple(stack.unbind(0))
            return MertOutput(cnn_features=feats, hidden_states=states, last_hidden_state=states[-1],
                              padding_mask=padding_mask, stacked_hidden_states=stack)
        states = self.encoder(x, padding_mask)
        return MertOutput(cnn_features=feats, hidden_states=states, last_hidden_state=states[-1],
                          padding_mask=padding_mask)

    def _apply(self, fn: Any, *args: Any, **kwargs: Any) -> "MertModel":  # .to(), .half(), ...
        self._fast_cache.clear()
        return super()._apply(fn, *args, **kwargs)

