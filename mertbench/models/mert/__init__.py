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

Files: :mod:`.config` (MertConfig, presets), :mod:`.layers` (blocks), :mod:`.kernels` (inference
kernels), :mod:`.model` (MertModel), :mod:`.encoder` (MertEncoder, the model contract),
:mod:`.checkpoint` (HF / fairseq checkpoint I/O), :mod:`.sources` (random init, HF folder, HF hub,
fairseq; the registered model names). Everything public is re-exported here.

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

from mertbench.models.mert.checkpoint import convert_fairseq, load_fairseq, load_mert_model, save_mert_dir
from mertbench.models.mert.config import (
    RENAMED_PRESETS,
    MertConfig,
    conv_num_frames,
    resolve_normalize,
    torch_dtype,
)
from mertbench.models.mert.encoder import MertEncoder, save_pretrained
from mertbench.models.mert.layers import FAST_FRONT_END_MAX_KERNEL
from mertbench.models.mert.model import MertModel, MertOutput
from mertbench.models.mert.sources import (
    RANDOM_SEED,
    RELEASED,
    load_mert_dir,
    random_mert,
    released_mert,
)

__all__ = [
    "FAST_FRONT_END_MAX_KERNEL", "RANDOM_SEED", "RELEASED", "RENAMED_PRESETS", "MertConfig", "MertEncoder",
    "MertModel", "MertOutput", "conv_num_frames", "convert_fairseq", "load_fairseq", "load_mert_dir",
    "load_mert_model", "random_mert", "released_mert", "resolve_normalize", "save_mert_dir", "save_pretrained",
    "torch_dtype",
]
