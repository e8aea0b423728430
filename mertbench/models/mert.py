"""The MERT-v1 encoder in plain PyTorch (no transformers needed at run time).

Architecture (reference notes ``mert_pretraining.md`` §1, §8): HuBERT's convolutional front end
(7 conv layers of 512 channels, kernels (10,3,3,3,3,2,2), strides (5,2,2,2,2,2,2) = total stride 320
samples, GroupNorm on the first layer only, no conv bias, GELU), a feature projection
(LayerNorm(512) -> Linear(512 -> H)), a convolutional positional embedding (Conv1d(H, H, k=128,
groups=16) with weight norm over the kernel axis, last output frame dropped, GELU, added to the
input), and a transformer encoder:

* post-LN (``do_stable_layer_norm=False``, MERT-v1-95M): ``x = LN(x + pos(x))``, then per layer
  ``x = LN1(x + MHA(x)); x = LN2(x + FFN(x))``;
* pre-LN (``do_stable_layer_norm=True``, MERT-v1-330M): ``x = x + pos(x)``, per layer
  ``x = x + MHA(LN1(x)); x = x + FFN(LN2(x))``, and the encoder LayerNorm after the last layer.

Hidden states follow the HF ``HubertModel`` semantics of the released checkpoints exactly
(transformers 4.x, which MERT's remote code builds on): ``num_hidden_layers + 1`` tensors
``[B, T, H]``; ``hidden_states[0]`` is the transformer input (after the encoder LayerNorm for
post-LN, un-normalised for pre-LN), ``hidden_states[i]`` the output of layer ``i``; for pre-LN the
intermediate states are the raw residual stream and only the last one passes the final LayerNorm
(``hidden_states[-1] == last_hidden_state``). Note: transformers >= 5 returns the *un-normalised*
last layer output as ``hidden_states[-1]`` for pre-LN models; its ``last_hidden_state`` is still
the normalised one and equals ours.

Attention runs through :func:`torch.nn.functional.scaled_dot_product_attention` (flash /
memory-efficient kernels on GPU). **Attention relaxation** (``attention_relax = alpha > 0``, MERT
330M uses 32): the scaled scores ``A`` are replaced by ``(A/alpha - rowmax(A/alpha)) * alpha``
before the softmax, computed in fp32. Algebraically this equals ``A - rowmax(A)``, so the
attention weights are mathematically unchanged; the only effect is numerical (the max subtraction
happens explicitly before an fp16 softmax). It is therefore applied only in training mode, where it
reproduces MERT's fp16 training numerics; in eval mode the SDPA kernels (which already subtract the
row max in fp32 accumulators) are used.

Two execution paths compute the same function:

* the *reference path* (training, or whenever autograd is recording): standard modules, dropout,
  LayerDrop, ``feature_grad_mult`` gradient scaling, optional attention relaxation;
* the *inference path* (``model.eval()`` and gradients disabled, e.g. ``torch.inference_mode()``):
  the conv front end as channels-last polyphase GEMMs with the layer-0 GroupNorm statistics computed
  analytically from the 10x10 covariance of the waveform patches (exact up to fp rounding, no pass
  over the 512-channel activation), in-place GELU, a fused QKV projection, the positional conv via
  overlap-save FFT on CPU, and cached weight-norm / fused weights. It matches the reference path
  and transformers ``HubertModel`` within 1e-4 (fp32, tested).

Padding: ``attention_mask`` ``[B, N]`` (1 = valid sample, right padding) is reduced to a frame mask
with the conv length formula; padded frames are zeroed before the positional conv and masked as
attention keys, exactly like HF. With ``masked_group_norm=True`` the layer-0 GroupNorm statistics
are computed over each item's valid frames only, which makes every item's valid frames independent
of the batch it is in (HF instead normalises over the padded length; that is the default here for
parity). :class:`MertEncoder` uses ``masked_group_norm=True``.

Inputs longer than ``window_s`` seconds (MertEncoder option, default 60 s) are processed in
overlapping windows and stitched: see :func:`mertbench.models.windowing.windowed_frames`.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mertbench.errors import ModelError
from mertbench.models import mert_kernels
from mertbench.models.contract import Encoder
from mertbench.models.mert_kernels import (
    autocast_on,
    conv_gemm,
    FastCache,
    fft_grouped_conv,
    gelu_,
    layer_norm_into,
    norm_gelu_,
    polyphase_weights,
    Workspace,
)
from mertbench.models.registry import register_directory_loader, register_encoder

# ----------------------------------------------------------------------------------------------
# configuration
# ----------------------------------------------------------------------------------------------


def conv_num_frames(kernels: Sequence[int], strides: Sequence[int], num_samples: int) -> int:
    """Frames a conv stack (no padding) gives for ``num_samples`` samples: ``floor((L - k) / s) + 1``
    per layer; 0 when the input is shorter than a layer's kernel."""
    n = int(num_samples)
    for k, s in zip(kernels, strides):
        if n < k:
            return 0
        n = (n - k) // s + 1
    return n


@dataclass
class MertConfig:
    """Geometry and regularisation of a MERT-v1 encoder.

    Field names follow HF ``HubertConfig`` / MERT's ``config.json``. Units: sample_rate in Hz;
    conv kernels and strides in samples (layer 0) or frames of the previous layer.
    """

    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    conv_dim: tuple[int, ...] = (512,) * 7
    conv_kernel: tuple[int, ...] = (10, 3, 3, 3, 3, 2, 2)
    conv_stride: tuple[int, ...] = (5, 2, 2, 2, 2, 2, 2)
    conv_bias: bool = False
    feat_extract_norm: str = "group"
    num_conv_pos_embeddings: int = 128
    num_conv_pos_embedding_groups: int = 16
    do_stable_layer_norm: bool = False  # False: post-LN (95M); True: pre-LN (330M)
    layer_norm_eps: float = 1e-5
    attention_relax: float = -1.0  # > 0 enables CogView-style relaxation with that alpha
    hidden_dropout: float = 0.1
    attention_dropout: float = 0.1
    activation_dropout: float = 0.0
    feat_proj_dropout: float = 0.1
    layerdrop: float = 0.05
    feature_grad_mult: float = 1.0
    sample_rate: int = 24000
    #: config.json keys we do not interpret, kept so a load/save round trip preserves them.
    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.conv_dim = tuple(int(v) for v in self.conv_dim)
        self.conv_kernel = tuple(int(v) for v in self.conv_kernel)
        self.conv_stride = tuple(int(v) for v in self.conv_stride)
        if not (len(self.conv_dim) == len(self.conv_kernel) == len(self.conv_stride)):
            raise ModelError(f"MertConfig: conv_dim, conv_kernel and conv_stride must have the same length "
                             f"(got {len(self.conv_dim)}, {len(self.conv_kernel)}, {len(self.conv_stride)})")
        if self.feat_extract_norm not in ("group", "layer"):
            raise ModelError(f"MertConfig: feat_extract_norm must be 'group' or 'layer', got {self.feat_extract_norm!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ModelError(f"MertConfig: hidden_size {self.hidden_size} is not divisible by "
                             f"num_attention_heads {self.num_attention_heads}")
        if self.hidden_size % self.num_conv_pos_embedding_groups:
            raise ModelError(f"MertConfig: hidden_size {self.hidden_size} is not divisible by "
                             f"num_conv_pos_embedding_groups {self.num_conv_pos_embedding_groups}")

    # -- derived geometry ---------------------------------------------------------------------
    @property
    def total_stride(self) -> int:
        """Samples per output frame (320 for MERT-v1)."""
        return math.prod(self.conv_stride)

    @property
    def receptive_field(self) -> int:
        """Samples seen by one output frame (400 for MERT-v1)."""
        rf = 1
        for k, s in zip(reversed(self.conv_kernel), reversed(self.conv_stride)):
            rf = (rf - 1) * s + k
        return rf

    @property
    def frame_rate(self) -> float:
        """Output frames per second (75.0 Hz for MERT-v1 at 24 kHz)."""
        return self.sample_rate / self.total_stride

    def num_frames(self, num_samples: int) -> int:
        """Frames produced by the conv stack for ``num_samples`` input samples (0 if too short)."""
        return conv_num_frames(self.conv_kernel, self.conv_stride, num_samples)

    def num_parameters(self) -> int:
        """Parameter count of :class:`MertModel` (= the HF state dict), computed analytically."""
        n = 0
        c_in = 1
        for i, (c, k) in enumerate(zip(self.conv_dim, self.conv_kernel)):
            n += c * c_in * k + (c if self.conv_bias else 0)
            if self.feat_extract_norm == "layer" or (self.feat_extract_norm == "group" and i == 0):
                n += 2 * c
            c_in = c
        h, f = self.hidden_size, self.intermediate_size
        n += 2 * c_in + c_in * h + h  # feature_projection: LayerNorm + Linear
        n += h  # masked_spec_embed
        k, g = self.num_conv_pos_embeddings, self.num_conv_pos_embedding_groups
        n += h * (h // g) * k + k + h  # pos conv weight_v, weight_g [1,1,k], bias
        n += 2 * h  # encoder.layer_norm
        per_layer = 4 * (h * h + h) + 2 * (2 * h) + (h * f + f) + (f * h + h)
        return n + self.num_hidden_layers * per_layer

    # -- presets and HF config.json -------------------------------------------------------------
    @classmethod
    def preset(cls, name: str) -> "MertConfig":
        """A named geometry: ``mert-95m``, ``mert-330m`` (released), ``tiny``, ``small`` (CPU tests)."""
        key = name.lower().removeprefix("random-")
        if key not in _PRESETS:
            raise ModelError(f"unknown MERT preset {name!r}; choose one of {sorted(_PRESETS)}")
        return replace(_PRESETS[key], extra={})

    @classmethod
    def from_hf_dict(cls, d: dict[str, Any]) -> "MertConfig":
        """Build from a HF ``config.json`` dict (MERT-v1 or HuBERT style); unknown keys go to ``extra``.

        Raises ModelError for settings this implementation does not support (e.g. a non-GELU
        activation, the CQT input branch, DeepNorm), naming the field.
        """
        known = {f.name for f in fields(cls)} - {"extra"}
        kwargs: dict[str, Any] = {k: d[k] for k in known if k in d}
        unsupported = {
            "hidden_act": ("gelu",), "feat_extract_activation": ("gelu",),
            "feature_extractor_cqt": (False, None), "deepnorm": (False, None),
            "conv_pos_batch_norm": (False, None), "feat_proj_layer_norm": (True, None),
            "adapter_attn_dim": (None,),
        }
        for key, allowed in unsupported.items():
            if key in d and d[key] not in allowed:
                raise ModelError(f"config.json field {key}={d[key]!r} is not supported by mertbench's MERT "
                                 f"encoder (supported: {allowed[0]!r}); load this model with the "
                                 f"transformers wrapper instead (`hf-audio`)")
        if "num_feat_extract_layers" in d and "conv_dim" in d and int(d["num_feat_extract_layers"]) != len(d["conv_dim"]):
            raise ModelError(f"config.json: num_feat_extract_layers={d['num_feat_extract_layers']} does not match "
                             f"len(conv_dim)={len(d['conv_dim'])}")
        kwargs["extra"] = {k: v for k, v in d.items() if k not in known}
        try:
            return cls(**kwargs)
        except TypeError as exc:  # wrong types in config.json
            raise ModelError(f"config.json: {exc}") from exc

    def to_hf_dict(self) -> dict[str, Any]:
        """A MERT-v1 style ``config.json`` dict (``architectures: ["MERTModel"]``, ``model_type: mert_model``).

        Keys kept in ``extra`` (from a loaded config.json) are written back unchanged, except the
        geometry fields, which always come from this config.
        """
        d: dict[str, Any] = dict(_HF_CONFIG_DEFAULTS)
        d.update(self.extra)
        own = asdict(self)
        own.pop("extra")
        for k in ("conv_dim", "conv_kernel", "conv_stride"):
            own[k] = list(own[k])
        d.update(own)
        d["num_feat_extract_layers"] = len(self.conv_dim)
        d["architectures"] = ["MERTModel"]
        d["model_type"] = "mert_model"
        d.pop("auto_map", None)  # we ship no remote code; see docs/models.md
        return d


_PRESETS: dict[str, MertConfig] = {
    "mert-95m": MertConfig(feature_grad_mult=0.1),
    "mert-330m": MertConfig(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
                            do_stable_layer_norm=True, attention_relax=32.0, hidden_dropout=0.0,
                            attention_dropout=0.0, activation_dropout=0.0, feat_proj_dropout=0.0, layerdrop=0.0,
                            feature_grad_mult=1.0),
    # small CPU geometries (same structure, far fewer channels) for tests and smoke runs
    "tiny": MertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                       conv_dim=(32,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4),
    "small": MertConfig(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024,
                        conv_dim=(128,) * 7, num_conv_pos_embeddings=64, num_conv_pos_embedding_groups=16),
}

#: Non-geometry fields of the released MERT-v1 config.json (written by :meth:`MertConfig.to_hf_dict`).
_HF_CONFIG_DEFAULTS: dict[str, Any] = {
    "activation_dropout": 0.0, "apply_spec_augment": True, "bos_token_id": 1, "classifier_proj_size": 256,
    "conv_pos_batch_norm": False, "ctc_loss_reduction": "sum", "ctc_zero_infinity": False, "deepnorm": False,
    "eos_token_id": 2, "feat_extract_activation": "gelu", "feat_proj_layer_norm": True,
    "feature_extractor_cqt": False, "feature_extractor_cqt_bins": 336, "final_dropout": 0.1,
    "hidden_act": "gelu", "initializer_range": 0.02, "mask_feature_length": 10, "mask_feature_min_masks": 0,
    "mask_feature_prob": 0.0, "mask_time_length": 10, "mask_time_min_masks": 2, "mask_time_prob": 0.05,
    "pad_token_id": 0, "tokenizer_class": "Wav2Vec2CTCTokenizer", "torch_dtype": "float32",
    "use_weighted_layer_sum": False, "vocab_size": 32,
}

# ----------------------------------------------------------------------------------------------
# building blocks
# ----------------------------------------------------------------------------------------------


class _GradMultiply(torch.autograd.Function):
    """Identity forward; multiplies the gradient by ``scale`` (fairseq ``GradMultiply``)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, scale: float) -> Tensor:  # type: ignore[override]
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        return grad * ctx.scale, None


class _ConvLayer(nn.Module):
    """One conv block: Conv1d, optional norm (GroupNorm(C, C) or channel LayerNorm), GELU."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, bias: bool, norm: str | None):
        super().__init__()
        self.conv = nn.Conv1d(c_in, c_out, kernel_size=kernel, stride=stride, bias=bias)
        self.norm_kind = norm
        if norm == "group":
            self.layer_norm: nn.Module | None = nn.GroupNorm(c_out, c_out, affine=True)
        elif norm == "layer":
            self.layer_norm = nn.LayerNorm(c_out, elementwise_affine=True)
        else:
            self.layer_norm = None

    def forward(self, x: Tensor, frame_mask: Tensor | None = None) -> Tensor:
        """``x [B, C_in, N] -> [B, C_out, T]``. ``frame_mask [B, T]`` (True = valid) restricts GroupNorm stats."""
        x = self.conv(x)
        if self.norm_kind == "group":
            gn = self.layer_norm
            assert isinstance(gn, nn.GroupNorm)
            if frame_mask is None:
                x = gn(x)
            else:
                m = frame_mask[:, None, :].to(x.dtype)
                n = m.sum(-1, keepdim=True).clamp_min(1.0)
                mean = (x * m).sum(-1, keepdim=True) / n
                var = (((x - mean) ** 2) * m).sum(-1, keepdim=True) / n
                x = (x - mean) * torch.rsqrt(var + gn.eps) * gn.weight[:, None] + gn.bias[:, None]
        elif self.norm_kind == "layer":
            x = self.layer_norm(x.transpose(1, 2)).transpose(1, 2)  # type: ignore[misc]
        return F.gelu(x)


#: longest first conv kernel (samples) for which the CPU inference path uses the GEMM front end
FAST_FRONT_END_MAX_KERNEL = 32


class _FeatureExtractor(nn.Module):
    """HuBERT/wav2vec 2.0 conv front end: waveform ``[B, N]`` -> features."""

    def __init__(self, config: MertConfig):
        super().__init__()
        layers = []
        c_in = 1
        for i, (c, k, s) in enumerate(zip(config.conv_dim, config.conv_kernel, config.conv_stride)):
            norm = "layer" if config.feat_extract_norm == "layer" else ("group" if i == 0 else None)
            layers.append(_ConvLayer(c_in, c, k, s, config.conv_bias, norm))  # norms: torch default eps 1e-5, as HF
            c_in = c
        self.conv_layers = nn.ModuleList(layers)
        self.config = config

    def forward(self, wav: Tensor, valid_frames0: Tensor | None = None) -> Tensor:
        """Reference path: ``[B, N] -> [B, C, T]``. ``valid_frames0 [B]``: masked layer-0 GroupNorm."""
        x = wav[:, None, :]
        for i, layer in enumerate(self.conv_layers):
            mask = None
            if i == 0 and valid_frames0 is not None:
                t0 = (x.shape[-1] - layer.conv.kernel_size[0]) // layer.conv.stride[0] + 1
                mask = torch.arange(t0, device=x.device)[None, :] < valid_frames0[:, None]
            x = layer(x, mask)
        return x

    # -- inference path -------------------------------------------------------------------------
    def forward_fast(self, wav: Tensor, cache: FastCache, valid_frames0: Tensor | None = None) -> Tensor:
        """Inference path: ``[B, N] -> [B, T, C]`` (channels-last) via polyphase GEMMs, one item at a time.

        Layer 0 (one input channel) is a GEMM over ``[T0, k]`` waveform patches. Its GroupNorm is
        folded into that GEMM: the per-channel mean and variance of ``W @ patch`` are ``W mu`` and
        ``diag(W Sigma W^T)`` with ``mu``/``Sigma`` the mean and covariance of the patches (float64),
        so the wide activation is never reduced over; the affine shift rides along as an extra
        GEMM column. Layers with kernel ``k`` and stride ``s`` are ``ceil(k/s)`` GEMMs on strided
        views of the channels-last input (no im2col copy). Layers 0 and 1 run fused in tiles of
        ``mert_kernels.CNN_TILE_ROWS`` layer-1 frames, so the wide layer-0 activation never exists in full; items
        run one after the other through two reused buffers.
        """
        b, n = wav.shape
        dtype, device = wav.dtype, wav.device
        layers = self.conv_layers
        conv0 = layers[0].conv
        k0, s0 = conv0.kernel_size[0], conv0.stride[0]
        c0 = conv0.out_channels
        t0 = (n - k0) // s0 + 1
        patches = wav.unfold(-1, k0, s0)  # [B, T0, k0] strided view
        w0 = conv0.weight.reshape(c0, k0)  # [C, k0]
        group0 = layers[0].norm_kind == "group"
        if group0:
            w_aug = self._folded_layer0(patches, w0, valid_frames0, t0)  # [B, k0 + 1, C]
        else:
            bias0 = conv0.bias if conv0.bias is not None else torch.zeros(c0, dtype=dtype, device=device)
            w_aug = torch.cat([w0.t(), bias0[None, :]]).to(dtype)[None].expand(b, -1, -1)
        # geometry of every layer, and two flat ping-pong buffers big enough for any layer output
        shapes = [(t0, c0)]
        for layer in list(layers)[1:]:
            k, s = layer.conv.kernel_size[0], layer.conv.stride[0]
            t_out = (shapes[-1][0] - k) // s + 1
            if t_out <= 0:
                raise ModelError(f"input too short for the conv stack: {n} samples")
            shapes.append((t_out, layer.conv.out_channels))
        tiled = len(layers) > 1
        size_even = max([t * c for i, (t, c) in enumerate(shapes) if i % 2 == 0 and (i > 0 or not tiled)] or [1])
        size_odd = max([t * c for i, (t, c) in enumerate(shapes) if i % 2 == 1] or [1])
        bufs = (torch.empty(size_even, dtype=dtype, device=device), torch.empty(size_odd, dtype=dtype, device=device))
        p_aug = torch.empty(t0, k0 + 1, dtype=dtype, device=device)
        p_aug[:, k0] = 1.0
        feats = torch.empty(b, shapes[-1][0], shapes[-1][1], dtype=dtype, device=device)
        blocks = [None] + [cache.get(("conv_blocks", li), lambda li=li: polyphase_weights(
            layers[li].conv.weight, layers[li].conv.stride[0]), [layers[li].conv.weight]) for li in range(1, len(layers))]
        if tiled:
            k1, s1 = layers[1].conv.kernel_size[0], layers[1].conv.stride[0]
            rows = mert_kernels.CNN_TILE_ROWS
            chunk = torch.empty(((rows - 1) * s1 + k1) * c0, dtype=dtype, device=device)
        for i in range(b):
            p_aug[:, :k0] = patches[i]
            if not tiled:
                x = bufs[0][: t0 * c0].view(t0, c0)
                torch.mm(p_aug, w_aug[i], out=x)
                norm_gelu_(x, layers[0])
                x = feats[i].copy_(x)
                continue
            # layers 0 and 1 fused in tiles of `rows` layer-1 frames: the wide layer-0 activation only
            # ever exists one cache-sized tile at a time
            t1, c1 = shapes[1]
            x = feats[i] if len(layers) == 2 else bufs[1][: t1 * c1].view(t1, c1)
            for r0 in range(0, t1, rows):
                r1 = min(t1, r0 + rows)
                a, e = r0 * s1, (r1 - 1) * s1 + k1
                x0 = chunk[: (e - a) * c0].view(e - a, c0)
                torch.mm(p_aug[a:e], w_aug[i], out=x0)
                norm_gelu_(x0, layers[0])
                conv_gemm(x0, blocks[1], s1, r1 - r0, layers[1].conv.bias, x[r0:r1])
                norm_gelu_(x[r0:r1], layers[1])
            for li in range(2, len(layers)):
                layer = layers[li]
                t_out, c_out = shapes[li]
                y = feats[i] if li == len(layers) - 1 else bufs[li % 2][: t_out * c_out].view(t_out, c_out)
                conv_gemm(x, blocks[li], layer.conv.stride[0], t_out, layer.conv.bias, y)
                x = norm_gelu_(y, layer)
        return feats

    def _folded_layer0(self, patches: Tensor, w0: Tensor, valid_frames0: Tensor | None, t0: int) -> Tensor:
        """``[B, k+1, C]`` GEMM weights of layer 0 with its GroupNorm folded in (last row = shift)."""
        b = patches.shape[0]
        gn = self.conv_layers[0].layer_norm
        assert isinstance(gn, nn.GroupNorm)
        p64 = patches.to(torch.float64)
        if valid_frames0 is None:
            counts = torch.full((b,), float(t0), dtype=torch.float64, device=patches.device)
            mu = p64.mean(1)  # [B, k]
            cen = p64 - mu[:, None, :]
        else:
            m = (torch.arange(t0, device=patches.device)[None, :] < valid_frames0[:, None]).to(torch.float64)
            counts = m.sum(1).clamp_min(1.0)
            mu = (p64 * m[..., None]).sum(1) / counts[:, None]
            cen = (p64 - mu[:, None, :]) * m[..., None]
        cov = cen.transpose(1, 2) @ cen / counts[:, None, None]  # [B, k, k]
        w64 = w0.to(torch.float64)  # [C, k]
        mean_c = mu @ w64.t()  # [B, C]
        var_c = ((cov @ w64.t()) * w64.t()[None]).sum(1)  # [B, C] = diag(W cov W^T)
        scale = gn.weight.to(torch.float64) * torch.rsqrt(var_c + gn.eps)  # [B, C]
        shift = gn.bias.to(torch.float64) - mean_c * scale  # a conv bias cancels in (y - mean)
        w_aug = torch.cat([w64.t()[None] * scale[:, None, :], shift[:, None, :]], dim=1)
        return w_aug.to(patches.dtype)


class _FeatureProjection(nn.Module):
    """LayerNorm(C) -> Linear(C -> H) -> dropout. Names as HF (``layer_norm``, ``projection``)."""

    def __init__(self, config: MertConfig):
        super().__init__()
        c = config.conv_dim[-1]
        self.layer_norm = nn.LayerNorm(c, eps=config.layer_norm_eps)
        self.projection = nn.Linear(c, config.hidden_size)
        self.dropout = nn.Dropout(config.feat_proj_dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.projection(self.layer_norm(x)))


class _PosConv(nn.Module):
    """Weight-normalised grouped conv: the HF ``pos_conv_embed.conv`` with legacy g/v parameters.

    Parameters ``weight_g [1, 1, k]`` and ``weight_v [H, H/groups, k]`` and ``bias [H]``; the
    effective weight is ``g * v / ||v||`` with the norm over dims (0, 1) per kernel tap (weight
    norm with ``dim=2``), computed by ``torch._weight_norm`` exactly as torch's weight norm does.
    """

    def __init__(self, hidden: int, kernel: int, groups: int):
        super().__init__()
        self.kernel, self.groups = kernel, groups
        self.weight_g = nn.Parameter(torch.ones(1, 1, kernel))
        self.weight_v = nn.Parameter(torch.empty(hidden, hidden // groups, kernel))
        self.bias = nn.Parameter(torch.zeros(hidden))

    def effective_weight(self) -> Tensor:
        """``g * v / ||v||`` ``[H, H/groups, k]``."""
        return torch._weight_norm(self.weight_v, self.weight_g, 2)


class _PositionalConvEmbedding(nn.Module):
    """Conv positional embedding: conv (pad k//2), drop last frame when k is even, GELU."""

    def __init__(self, config: MertConfig):
        super().__init__()
        self.conv = _PosConv(config.hidden_size, config.num_conv_pos_embeddings, config.num_conv_pos_embedding_groups)
        self.num_pad_remove = 1 if config.num_conv_pos_embeddings % 2 == 0 else 0

    def forward(self, x: Tensor) -> Tensor:
        """``x [B, T, H] -> [B, T, H]`` (reference path)."""
        k = self.conv.kernel
        y = F.conv1d(x.transpose(1, 2), self.conv.effective_weight(), self.conv.bias, padding=k // 2,
                     groups=self.conv.groups)
        if self.num_pad_remove:
            y = y[:, :, : -self.num_pad_remove]
        return F.gelu(y).transpose(1, 2)

    def forward_fast(self, x: Tensor, cache: FastCache) -> Tensor:
        """Inference path; FFT overlap-save on CPU, cuDNN/oneDNN conv elsewhere."""
        conv = self.conv
        params = [conv.weight_g, conv.weight_v]
        if x.device.type != "cpu":
            w = cache.get(("pos_weight", x.dtype), lambda: conv.effective_weight().to(x.dtype), params)
            y = F.conv1d(x.transpose(1, 2), w, conv.bias.to(x.dtype), padding=conv.kernel // 2, groups=conv.groups)
            if self.num_pad_remove:
                y = y[:, :, : -self.num_pad_remove]
            return gelu_(y).transpose(1, 2)
        y = fft_grouped_conv(x, conv, cache, params)
        return gelu_(y)


class _Attention(nn.Module):
    """Multi-head self-attention with HF names ``q_proj``, ``k_proj``, ``v_proj``, ``out_proj``."""

    def __init__(self, config: MertConfig):
        super().__init__()
        h = config.hidden_size
        self.num_heads = config.num_attention_heads
        self.head_dim = h // self.num_heads
        self.dropout = config.attention_dropout
        self.relax = config.attention_relax
        self.q_proj = nn.Linear(h, h)
        self.k_proj = nn.Linear(h, h)
        self.v_proj = nn.Linear(h, h)
        self.out_proj = nn.Linear(h, h)

    def _heads(self, x: Tensor) -> Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, x: Tensor, key_mask: Tensor | None) -> Tensor:
        """Reference path. ``x [B, T, H]``; ``key_mask [B, 1, 1, T]`` bool, True = attend."""
        b, t, h = x.shape
        q, k, v = self._heads(self.q_proj(x)), self._heads(self.k_proj(x)), self._heads(self.v_proj(x))
        p = self.dropout if self.training else 0.0
        if self.training and self.relax > 0:
            out = _relaxed_attention(q, k, v, key_mask, self.relax, p)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask, dropout_p=p)
        return self.out_proj(out.transpose(1, 2).reshape(b, t, h))

    def forward_fast(self, x: Tensor, key_mask: Tensor | None, cache: FastCache, ws: Workspace) -> Tensor:
        """Inference path: one fused QKV GEMM into a reused buffer; returns ``[B*T, H]`` (workspace)."""
        b, t, h = x.shape
        params = [self.q_proj.weight, self.k_proj.weight, self.v_proj.weight,
                  self.q_proj.bias, self.k_proj.bias, self.v_proj.bias]
        w, bias = cache.get(("qkv", id(self), x.dtype), lambda: (
            torch.cat([self.q_proj.weight, self.k_proj.weight, self.v_proj.weight]).to(x.dtype).contiguous(),
            torch.cat([self.q_proj.bias, self.k_proj.bias, self.v_proj.bias]).to(x.dtype).contiguous()), params)
        qkv = torch.addmm(bias, x.reshape(b * t, h), w.t(), out=ws.get("qkv", (b * t, 3 * h), x))
        qkv = qkv.view(b, t, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=key_mask)
        out = out.transpose(1, 2).reshape(b * t, h)
        return torch.addmm(self.out_proj.bias, out, self.out_proj.weight.t(), out=ws.get("attn_out", (b * t, h), x))


def _relaxed_attention(q: Tensor, k: Tensor, v: Tensor, key_mask: Tensor | None, alpha: float, p: float) -> Tensor:
    """Attention with CogView-style relaxation: softmax of ``(A/alpha - max(A/alpha)) * alpha`` in fp32."""
    scale = q.shape[-1] ** -0.5
    scores = torch.matmul(q * scale, k.transpose(-1, -2)).float()
    if key_mask is not None:
        scores = scores.masked_fill(~key_mask, float("-inf"))
    scaled = scores / alpha
    scaled = (scaled - scaled.amax(dim=-1, keepdim=True).detach()) * alpha
    attn = torch.softmax(scaled, dim=-1).to(v.dtype)
    if p > 0:
        attn = F.dropout(attn, p=p)
    return torch.matmul(attn, v)


class _FeedForward(nn.Module):
    """``intermediate_dense`` -> GELU -> dropout -> ``output_dense`` -> dropout (HF names)."""

    def __init__(self, config: MertConfig):
        super().__init__()
        self.intermediate_dropout = nn.Dropout(config.activation_dropout)
        self.intermediate_dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.output_dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.output_dropout = nn.Dropout(config.hidden_dropout)

    def forward(self, x: Tensor) -> Tensor:
        x = self.intermediate_dropout(F.gelu(self.intermediate_dense(x)))
        return self.output_dropout(self.output_dense(x))

    def forward_fast(self, x2d: Tensor, ws: Workspace) -> Tensor:
        """``[B*T, H] -> [B*T, H]`` through reused workspace buffers (inference path)."""
        n = x2d.shape[0]
        mid = torch.addmm(self.intermediate_dense.bias, x2d, self.intermediate_dense.weight.t(),
                          out=ws.get("ffn_mid", (n, self.intermediate_dense.out_features), x2d))
        gelu_(mid)
        return torch.addmm(self.output_dense.bias, mid, self.output_dense.weight.t(),
                           out=ws.get("ffn_out", (n, self.output_dense.out_features), x2d))


class _EncoderLayer(nn.Module):
    """One transformer layer, post-LN or pre-LN (``layer_norm`` = fairseq ``self_attn_layer_norm``)."""

    def __init__(self, config: MertConfig):
        super().__init__()
        self.pre_ln = config.do_stable_layer_norm
        self.attention = _Attention(config)
        self.dropout = nn.Dropout(config.hidden_dropout)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.feed_forward = _FeedForward(config)
        self.final_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, x: Tensor, key_mask: Tensor | None) -> Tensor:
        if self.pre_ln:
            x = x + self.dropout(self.attention(self.layer_norm(x), key_mask))
            return x + self.feed_forward(self.final_layer_norm(x))
        x = self.layer_norm(x + self.dropout(self.attention(x, key_mask)))
        return self.final_layer_norm(x + self.feed_forward(x))

    def forward_fast(self, x: Tensor, key_mask: Tensor | None, cache: FastCache, ws: Workspace,
                     out: Tensor) -> Tensor:
        """Inference path: ``x [B, T, H]`` -> ``out`` (``[B, T, H]``, written in place, e.g. a slice of the stack)."""
        b, t, h = x.shape
        x2d = x.reshape(b * t, h)
        out2d = out.view(b * t, h)
        if self.pre_ln:
            ln1 = layer_norm_into(x2d, self.layer_norm, ws.get("ln", (b * t, h), x))
            a = self.attention.forward_fast(ln1.view(b, t, h), key_mask, cache, ws)
            mid = torch.add(x2d, a, out=ws.get("mid", (b * t, h), x))
            ln2 = layer_norm_into(mid, self.final_layer_norm, ws.get("ln", (b * t, h), x))
            torch.add(mid, self.feed_forward.forward_fast(ln2, ws), out=out2d)
            return out
        a = self.attention.forward_fast(x, key_mask, cache, ws).add_(x2d)
        mid = layer_norm_into(a, self.layer_norm, ws.get("mid", (b * t, h), x))
        f = self.feed_forward.forward_fast(mid, ws).add_(mid)
        layer_norm_into(f, self.final_layer_norm, out2d)
        return out


class _TransformerEncoder(nn.Module):
    """``pos_conv_embed``, ``layer_norm`` and ``layers`` (HF names)."""

    def __init__(self, config: MertConfig):
        super().__init__()
        self.config = config
        self.pos_conv_embed = _PositionalConvEmbedding(config)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout)
        self.layers = nn.ModuleList([_EncoderLayer(config) for _ in range(config.num_hidden_layers)])

    def forward(self, x: Tensor, padding_mask: Tensor | None) -> tuple[Tensor, ...]:
        """Reference path: ``x [B, T, H]`` -> ``num_hidden_layers + 1`` tensors ``[B, T, H]``."""
        key_mask = None
        if padding_mask is not None:
            x = x.masked_fill(padding_mask[..., None], 0.0)
            key_mask = ~padding_mask[:, None, None, :]
        x = x + self.pos_conv_embed(x)
        pre_ln = self.config.do_stable_layer_norm
        if not pre_ln:
            x = self.layer_norm(x)
        x = self.dropout(x)
        states = [x]
        for layer in self.layers:
            if self.training and self.config.layerdrop > 0 and float(torch.rand(())) < self.config.layerdrop:
                states.append(x)  # dropped layer: identity (HF/fairseq keep the state count)
                continue
            x = layer(x, key_mask)
            states.append(x)
        if pre_ln:
            states[-1] = self.layer_norm(states[-1])
        return tuple(states)

    def forward_fast(self, x: Tensor, padding_mask: Tensor | None, cache: FastCache) -> Tensor:
        """Inference path: all hidden states written into one ``[L, B, T, H]`` tensor."""
        b, t, h = x.shape
        n_layers = len(self.layers)
        stack = torch.empty(n_layers + 1, b, t, h, dtype=x.dtype, device=x.device)
        key_mask = None
        if padding_mask is not None:
            x = x.masked_fill(padding_mask[..., None], 0.0)
            key_mask = ~padding_mask[:, None, None, :]
        pos = self.pos_conv_embed.forward_fast(x, cache)
        pre_ln = self.config.do_stable_layer_norm
        if pre_ln:
            torch.add(x, pos, out=stack[0])
        else:
            layer_norm_into(pos.add_(x).reshape(b * t, h), self.layer_norm, stack[0].view(b * t, h))
        ws = Workspace()
        for i, layer in enumerate(self.layers):
            layer.forward_fast(stack[i], key_mask, cache, ws, stack[i + 1])
        if pre_ln:
            last = stack[n_layers].view(b * t, h)
            last.copy_(layer_norm_into(last, self.layer_norm, ws.get("ln", (b * t, h), x)))
        return stack


# ----------------------------------------------------------------------------------------------
# the model
# ----------------------------------------------------------------------------------------------


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


# ----------------------------------------------------------------------------------------------
# the mertbench encoder wrapper
# ----------------------------------------------------------------------------------------------


class MertEncoder(Encoder):
    """A :class:`MertModel` behind the mertbench model contract: ``[B, N] -> [L, B, T, D]``.

    ``L = num_hidden_layers + 1`` (13 for 95M, 25 for 330M), ``D = hidden_size``,
    ``frame_rate = sample_rate / 320`` (75 Hz at 24 kHz). Batched inputs with ``lengths`` are
    right-padded; every item's valid frames are independent of the batch (masked GroupNorm), and
    padded frames are zero in the output. ``normalize`` (``"zmuv"`` or None) is the waveform
    normalisation callers apply first (from the checkpoint's preprocessor_config.json
    ``do_normalize``). Inputs longer than ``window_s`` seconds run in windows with
    ``window_overlap_s`` overlap, stitched at the overlap midpoints (see
    :func:`mertbench.models.windowing.windowed_frames`); ``window_s=None`` disables windowing.
    """

    model: MertModel

    def __init__(self, model: MertModel, name: str, normalize: str | None, *, window_s: float | None = 60.0,
                 window_overlap_s: float = 5.0, source: str | None = None):
        super().__init__()
        if normalize not in (None, "zmuv", "peak"):
            raise ModelError(f"normalize must be 'zmuv', 'peak' or None; got {normalize!r}")
        cfg = model.config
        self.model = model
        self.name = name
        self.sample_rate = int(cfg.sample_rate)
        self.frame_rate = float(cfg.frame_rate)
        self.num_layers = cfg.num_hidden_layers + 1
        self.dim = cfg.hidden_size
        self.normalize = normalize
        self.window_s = window_s
        self.window_overlap_s = window_overlap_s
        #: where the weights came from (checkpoint folder, preset + seed), for provenance
        self.source = source or name

    def num_frames(self, num_samples: int) -> int:
        return self.model.num_frames(num_samples)

    def _encode(self, wav: Tensor, lengths: Tensor | None) -> Tensor:
        mask = None
        if lengths is not None and bool((lengths < wav.shape[1]).any()):
            mask = torch.arange(wav.shape[1], device=wav.device)[None, :] < lengths[:, None]
        out = self.model(wav, attention_mask=mask, masked_group_norm=True)
        hs = out.stacked_hidden_states if out.stacked_hidden_states is not None else torch.stack(out.hidden_states)
        if out.padding_mask is not None:
            hs = hs.masked_fill(out.padding_mask[None, :, :, None], 0.0)
        return hs

    def forward(self, wav: Tensor, lengths: Tensor | None = None) -> Tensor:
        """``wav [B, N]`` (optional ``lengths [B]`` valid samples) -> ``[L, B, T, D]`` float."""
        from mertbench.models.windowing import windowed_frames

        if wav.ndim != 2:
            raise ModelError(f"{self.name}: expected a waveform batch [B, N]; got shape {tuple(wav.shape)}")
        wav = wav.to(next(self.model.parameters()).device)
        if lengths is not None:
            lengths = torch.as_tensor(lengths, device=wav.device).to(torch.long)
            short = lengths < self.model.config.receptive_field
            if bool(short.any()):
                raise ModelError(f"{self.name}: item(s) {short.nonzero().flatten().tolist()} have fewer than "
                                 f"{self.model.config.receptive_field} samples (one frame)")
        cfg = self.model.config
        return windowed_frames(self._encode, wav, lengths, window_s=self.window_s,
                               overlap_s=self.window_overlap_s, sample_rate=cfg.sample_rate,
                               stride=cfg.total_stride, receptive_field=cfg.receptive_field,
                               num_frames=self.num_frames)

    def describe(self) -> dict[str, object]:
        d = super().describe()
        d.update(source=self.source, window_s=self.window_s, window_overlap_s=self.window_overlap_s,
                 pre_ln=self.model.config.do_stable_layer_norm)
        return d

    def save_pretrained(self, out_dir: str | Path, safe_serialization: bool = True) -> None:
        """Write a HF MERT-v1 folder (see :func:`save_pretrained`), keeping this encoder's normalisation."""
        save_pretrained(self.model, out_dir, normalize=self.normalize == "zmuv",
                        safe_serialization=safe_serialization)


def save_pretrained(model: MertModel, out_dir: str | Path, normalize: bool | None = None,
                    safe_serialization: bool = True) -> None:
    """Write ``config.json``, ``model.safetensors`` (or ``pytorch_model.bin``) and ``preprocessor_config.json``.

    HF MERT-v1 key layout with the legacy ``weight_g``/``weight_v`` names for the positional
    conv; every file is written atomically. ``normalize`` sets the processor's ``do_normalize``
    (None = False: waveforms are not normalised, as in MERT pretraining). A ``mertbench.json``
    with provenance is written next to them.
    """
    from mertbench.models.checkpoint import save_mert_dir

    save_mert_dir(model, out_dir, do_normalize=bool(normalize), safe_serialization=safe_serialization)


# ----------------------------------------------------------------------------------------------
# registry
# ----------------------------------------------------------------------------------------------

RANDOM_SEED = 0
_NORMALIZE_CHOICES = {"model", "zmuv", "peak", "none", None, True, False}


def resolve_normalize(option: object, checkpoint_default: str | None) -> str | None:
    """User option -> ``"zmuv" | "peak" | None``; ``"model"`` (default) keeps the checkpoint's choice."""
    if option not in _NORMALIZE_CHOICES:
        raise ModelError(f"normalize={option!r}: use 'model' (checkpoint default), 'zmuv', 'peak' or 'none'")
    if option == "model":
        return checkpoint_default
    if option is True:
        return "zmuv"
    if option in ("none", None, False):
        return None
    return str(option)


def random_mert(preset: str, seed: int = RANDOM_SEED, normalize: object = "model", device: str | None = None,
                dtype: str | torch.dtype | None = None, window_s: float | None = 60.0,
                window_overlap_s: float = 5.0, **overrides: Any) -> MertEncoder:
    """A randomly initialised MERT (fairseq init, fixed ``seed``) of a preset geometry.

    ``overrides`` replace :class:`MertConfig` fields (e.g. ``do_stable_layer_norm=True``).
    """
    cfg = MertConfig.preset(preset)
    if overrides:
        bad = set(overrides) - {f.name for f in fields(MertConfig)}
        if bad:
            raise ModelError(f"unknown MertConfig field(s) {sorted(bad)} for preset {preset!r}")
        cfg = replace(cfg, **overrides)
    model = MertModel(cfg)
    model.reset_parameters(seed=seed)
    if device is not None or dtype is not None:
        model.to(device=device, dtype=_dtype(dtype))
    name = preset if preset in ("tiny", "small") else f"random-{preset.removeprefix('random-')}"
    return MertEncoder(model.eval(), name, resolve_normalize(normalize, None), window_s=window_s,
                       window_overlap_s=window_overlap_s, source=f"random init, preset {preset}, seed {seed}")


def _dtype(dtype: str | torch.dtype | None) -> torch.dtype | None:
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    table = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
             "float16": torch.float16, "fp16": torch.float16}
    if dtype not in table:
        raise ModelError(f"dtype={dtype!r}: use one of {sorted(table)}")
    return table[dtype]


#: HF hub ids of the released checkpoints.
RELEASED = {"mert-95m": "m-a-p/MERT-v1-95M", "mert-330m": "m-a-p/MERT-v1-330M"}


def released_mert(preset: str, checkpoint: str | None = None, revision: str | None = None,
                  **options: Any) -> MertEncoder:
    """The released MERT-v1 weights: ``checkpoint`` folder, else the HF hub cache / the hub.

    Raises ModelError with the fix (download the folder and pass it, or use ``random-<preset>``)
    when neither is available.
    """
    from mertbench.models.checkpoint import load_mert_dir

    if checkpoint is None:
        checkpoint = _hub_snapshot(RELEASED[preset], revision, preset)
    elif not Path(checkpoint).expanduser().is_dir():
        raise ModelError(f"checkpoint={checkpoint!r}: folder not found (expected a HF MERT-v1 folder with "
                         f"config.json and pytorch_model.bin or model.safetensors)")
    enc = load_mert_dir(Path(checkpoint), **options)
    if enc is None:
        raise ModelError(f"{checkpoint}: not a MERT-v1 checkpoint folder (config.json with model_type "
                         f"'mert_model' and pytorch_model.bin or model.safetensors)")
    enc.name = preset
    return enc


def _hub_snapshot(repo_id: str, revision: str | None, preset: str) -> str:
    patterns = ["config.json", "preprocessor_config.json", "*.safetensors", "*.bin", "*.json"]
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:  # pragma: no cover - transformers depends on it
        raise ModelError("huggingface_hub is not installed; pass checkpoint=DIR") from exc
    errors = []
    for local_only in (True, False):
        try:
            return snapshot_download(repo_id, revision=revision, allow_patterns=patterns,
                                     local_files_only=local_only)
        except Exception as exc:  # offline, not cached, auth...
            errors.append(f"{type(exc).__name__}: {exc}".splitlines()[0])
    raise ModelError(f"cannot get {repo_id}: not in the HF cache and the hub is unreachable ({errors[-1]}). "
                     f"Download the folder (config.json, preprocessor_config.json, pytorch_model.bin) and use "
                     f"`mertbench.load_model('/path/to/MERT-v1')` or pass checkpoint=DIR; for a random-init "
                     f"baseline use 'random-{preset}'.")


def _info(preset: str) -> dict[str, Any]:
    cfg = _PRESETS[preset]
    return dict(sample_rate=cfg.sample_rate, frame_rate=cfg.frame_rate, num_layers=cfg.num_hidden_layers + 1,
                dim=cfg.hidden_size, parameters=cfg.num_parameters())


@register_encoder("mert-95m", "MERT-v1-95M released weights (HF m-a-p/MERT-v1-95M; checkpoint=DIR or HF cache)",
                  **_info("mert-95m"))
def _mert_95m(**options: Any) -> MertEncoder:
    return released_mert("mert-95m", **options)


@register_encoder("mert-330m", "MERT-v1-330M released weights (HF m-a-p/MERT-v1-330M; checkpoint=DIR or HF cache)",
                  **_info("mert-330m"))
def _mert_330m(**options: Any) -> MertEncoder:
    return released_mert("mert-330m", **options)


@register_encoder("random-mert-95m", "MERT-v1-95M geometry, random init (fairseq init, seed 0): baseline",
                  **_info("mert-95m"))
def _random_95m(**options: Any) -> MertEncoder:
    return random_mert("mert-95m", **options)


@register_encoder("random-mert-330m", "MERT-v1-330M geometry (pre-LN), random init (seed 0): baseline",
                  **_info("mert-330m"))
def _random_330m(**options: Any) -> MertEncoder:
    return random_mert("mert-330m", **options)


@register_encoder("tiny", "tiny MERT geometry (H=32, 2 layers), random init: CPU tests/smoke runs", **_info("tiny"))
def _tiny(**options: Any) -> MertEncoder:
    return random_mert("tiny", **options)


@register_encoder("small", "small MERT geometry (H=256, 4 layers), random init: CPU experiments", **_info("small"))
def _small(**options: Any) -> MertEncoder:
    return random_mert("small", **options)


def _dir_loader(path: Path, **options: Any) -> Encoder | None:
    from mertbench.models.checkpoint import load_mert_dir

    return load_mert_dir(path, **options)


register_directory_loader("hf-mert", _dir_loader, priority=10)


@register_encoder("mert-fairseq", "a fairseq MERT checkpoint: load_model('mert-fairseq', path='MERT-v1-95M_fairseq.pt')")
def _mert_fairseq(path: str, config: str | None = None, normalize: object = "none", **options: Any) -> MertEncoder:
    from mertbench.models.checkpoint import load_fairseq

    model, _report = load_fairseq(path, config)
    enc = MertEncoder(model, Path(path).stem, resolve_normalize(normalize, None), source=str(path), **options)
    enc.load_report = _report  # type: ignore[attr-defined]
    return enc
