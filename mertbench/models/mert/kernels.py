"""Inference-path kernels of the MERT encoder (see :mod:`mertbench.models.mert`).

Pure functions and small helpers: in-place GELU, channels-last polyphase conv GEMMs, the
overlap-save FFT grouped conv (positional embedding), LayerNorm into a given buffer, the per-call
scratch-buffer workspace and the cache of derived weights. All shapes are documented per function.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def autocast_on(device_type: str) -> bool:
    """Whether autocast is active for ``device_type`` (the inference path then steps aside)."""
    try:
        return bool(torch.is_autocast_enabled(device_type))
    except TypeError:  # torch < 2.4: no device argument
        return bool(torch.is_autocast_enabled() or torch.is_autocast_cpu_enabled())


def gelu_(x: Tensor) -> Tensor:
    """In-place exact (erf) GELU when the op exists, else out of place. Inference only."""
    op = getattr(torch.ops.aten, "gelu_", None)
    if op is not None:
        try:
            return op(x)
        except (RuntimeError, NotImplementedError):
            pass
    return F.gelu(x)


#: layer-1 frames per tile of the fused layer-0/1 inference path (layer-0 tile ~4 MB at 512 channels; few
#: large tiles keep the number of parallel regions low, which matters on oversubscribed CPUs)
CNN_TILE_ROWS = 1024


def conv_gemm(x: Tensor, blocks: list[tuple[int, int, Tensor]], stride: int, t_out: int, bias: Tensor | None,
               out: Tensor) -> Tensor:
    """One strided conv on a channels-last ``x [T_in, C_in]`` into ``out [t_out, C_out]`` via polyphase GEMMs."""
    c_in = x.shape[1]
    for qi, (offset, width, wq) in enumerate(blocks):
        view = x.as_strided((t_out, width * c_in), (stride * c_in, 1), x.storage_offset() + offset * c_in)
        if qi == 0:
            if bias is not None:
                torch.addmm(bias, view, wq, out=out)
            else:
                torch.mm(view, wq, out=out)
        else:
            out.addmm_(view, wq)
    return out


def norm_gelu_(x: Tensor, layer: nn.Module) -> Tensor:
    """In place: channel LayerNorm (``feat_extract_norm='layer'`` only), then GELU. ``x [T, C]``."""
    if layer.norm_kind == "layer":
        ln = layer.layer_norm
        x.copy_(F.layer_norm(x, ln.normalized_shape, ln.weight, ln.bias, ln.eps))  # type: ignore[union-attr]
    return gelu_(x)


def polyphase_weights(weight: Tensor, stride: int) -> list[tuple[int, int, Tensor]]:
    """Split a conv weight ``[C_out, C_in, k]`` into ``ceil(k/s)`` GEMM blocks of up to ``s`` taps.

    Returns ``(first_tap, n_taps, W)`` with ``W [(n_taps * C_in), C_out]`` ordered (tap, channel),
    matching a channels-last strided view of ``n_taps`` consecutive frames.
    """
    c_out, c_in, k = weight.shape
    blocks = []
    for first in range(0, k, stride):
        taps = min(stride, k - first)
        w = weight[:, :, first:first + taps].permute(2, 1, 0).reshape(taps * c_in, c_out).contiguous()
        blocks.append((first, taps, w))
    return blocks


def fft_grouped_conv(x: Tensor, conv: nn.Module, cache: "FastCache", params: list[Tensor]) -> Tensor:
    """Same output as the padded grouped conv + SamePad, via overlap-save FFT. ``x [B, T, H] -> [B, T, H]``.

    out[t] = bias + sum_k w[k] x[t + k - k//2] (zero outside [0, T)). Blocks of
    ``L = nfft - k + 1`` outputs; per frequency a grouped matmul ``[G, out, in] @ [G, in, blocks]``.
    """
    b, t, h = x.shape
    k, g = conv.kernel, conv.groups
    cg = h // g
    nfft = 1 << max(6, (2 * k - 1).bit_length())  # 256 for k=128
    blk = nfft - k + 1
    pad_left = k // 2

    def spectrum() -> Tensor:
        w = conv.effective_weight().detach().to(torch.float32)  # [H, cg, k]
        wf = torch.fft.rfft(w, n=nfft).conj()  # correlation = conj in frequency
        return wf.reshape(g, cg, cg, -1).permute(3, 0, 1, 2).contiguous()  # [F, G, out, in]

    wf = cache.get(("pos_fft", nfft), spectrum, params)
    nb = -(-t // blk)
    total = (nb - 1) * blk + nfft
    xf32 = x.to(torch.float32).transpose(1, 2)  # [B, H, T]
    xp = F.pad(xf32, (pad_left, total - t - pad_left))
    segs = xp.unfold(-1, nfft, blk)  # [B, H, nb, nfft]
    xs = torch.fft.rfft(segs, n=nfft)  # [B, H, nb, F]
    nf = xs.shape[-1]
    xs = xs.reshape(b, g, cg, nb, nf).permute(4, 1, 2, 0, 3).reshape(nf, g, cg, b * nb)
    ys = torch.matmul(wf, xs)  # [F, G, out, B*nb]
    ys = ys.reshape(nf, g, cg, b, nb).permute(3, 4, 1, 2, 0).reshape(b, nb, h, nf)
    y = torch.fft.irfft(ys, n=nfft)[..., :blk]  # [B, nb, H, blk]
    y = y.permute(0, 1, 3, 2).reshape(b, nb * blk, h)[:, :t]
    y = y + conv.bias.to(torch.float32)
    return y.to(x.dtype)


def layer_norm_into(x: Tensor, ln: nn.LayerNorm, out: Tensor) -> Tensor:
    """``LayerNorm(x)`` written into ``out`` (same shape, must not alias ``x``)."""
    op = getattr(torch.ops.aten.native_layer_norm, "out", None)
    if op is not None and x.dtype == out.dtype and ln.weight.dtype == x.dtype:
        rows = x.shape[:-1]
        mean = torch.empty((*rows, 1), dtype=x.dtype, device=x.device)
        try:
            op(x, list(ln.normalized_shape), ln.weight, ln.bias, ln.eps, out0=out, out1=mean, out2=torch.empty_like(mean))
            return out
        except (RuntimeError, TypeError):
            pass
    out.copy_(F.layer_norm(x, ln.normalized_shape, ln.weight, ln.bias, ln.eps))
    return out


class Workspace:
    """Named scratch buffers reused across the layers of one forward call (inference path)."""

    def __init__(self) -> None:
        self._bufs: dict[str, Tensor] = {}

    def get(self, name: str, shape: tuple[int, ...], like: Tensor) -> Tensor:
        buf = self._bufs.get(name)
        if buf is None or tuple(buf.shape) != tuple(shape):
            buf = torch.empty(shape, dtype=like.dtype, device=like.device)
            self._bufs[name] = buf
        return buf


class FastCache:
    """Derived weights (fused QKV, weight-norm spectra, polyphase conv blocks) for the inference path.

    An entry is rebuilt when any of its source parameters changes storage, device or version
    (in-place updates such as optimiser steps or ``load_state_dict`` bump ``Tensor._version``).
    """

    def __init__(self) -> None:
        self._store: dict[Any, tuple[tuple, Any]] = {}

    def get(self, key: Any, build: Any, params: list[Tensor]) -> Any:
        stamp = tuple((p.data_ptr(), p._version, p.device, p.dtype) for p in params)
        hit = self._store.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        with torch.no_grad():
            value = build()
        self._store[key] = (stamp, value)
        return value

    def clear(self) -> None:
        self._store.clear()
