"""The building blocks of :class:`~mertbench.models.mert.model.MertModel`: conv front end, feature
projection, positional conv, attention, feed-forward, encoder layers.

Each block has ``forward`` (autograd: training, dropout, LayerDrop, gradient scaling) and, where the
inference kernels of :mod:`mertbench.models.mert.kernels` apply, ``forward_fast`` (eval mode with
gradients off). :meth:`MertModel.forward` picks one per call; see the package docstring.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mertbench.errors import ModelError
from mertbench.models.mert import kernels as mert_kernels
from mertbench.models.mert.config import MertConfig
from mertbench.models.mert.kernels import (
    FastCache,
    Workspace,
    conv_gemm,
    fft_grouped_conv,
    gelu_,
    layer_norm_into,
    norm_gelu_,
    polyphase_weights,
)


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

