"""Released key layouts of MusicFM / MuQ and random checkpoints in them (tests/models/test_musicfm.py,
test_muq.py).

The key names and shapes below are written out by hand from the reference sources, not derived from
mertbench's port, so that the tests check the port against them:

* ``minzwon/musicfm`` ``modules/conv.py`` (``Conv2dSubsampling``: ``conv = Sequential(Res2dModule,
  Res2dModule)``, each ``conv1``/``bn1``/``conv2``/``bn2``/``conv3``/``bn3`` with 3x3 kernels; ``linear
  = Linear(hdim * n_bands // 4, odim)``) and ``model/musicfm_25hz.py`` (``preprocessor_melspec_2048``
  = ``MelSTFT`` module holding torchaudio's ``MelSpectrogram`` -> ``mel_stft.spectrogram.window``
  [n_fft], ``mel_stft.mel_scale.fb`` [n_fft/2+1, n_mels]; ``quantizer_melspec_2048_0`` with buffers
  ``random_projection`` [n_mels * 4, 16] and ``codebook`` [4096, 16]; ``linear`` [4096, dim];
  ``cls_token`` [dim]; the checkpoint is ``{"state_dict": {"model." + key: tensor}}``);
* tencent-ailab/MuQ ``src/muq/muq/models/muq_model.py`` (same ``conv``/``conformer``/``linear``/
  ``cls_token``; ``quantizer_melspec_2048`` without the ``_0``; ``MelSTFT`` is a plain class, so no
  front-end keys; ``MuQ.model`` gives the ``model.`` prefix);
* transformers ``Wav2Vec2ConformerEncoder`` (both import it): ``embed_positions.inv_freq`` [head/2]
  (rotary, persistent buffer), ``pos_conv_embed.conv`` weight-normed over dim 2 (``weight_g`` [1, 1,
  k], ``weight_v`` [dim, dim/groups, k], ``bias``), ``layer_norm``, and per layer ``ffn1_layer_norm``,
  ``ffn1.intermediate_dense`` [ffn, dim], ``ffn1.output_dense`` [dim, ffn], ``self_attn_layer_norm``,
  ``self_attn.linear_{q,k,v,out}`` [dim, dim], ``conv_module.layer_norm``, ``pointwise_conv1`` [2 dim,
  dim, 1] (no bias), ``depthwise_conv`` [dim, 1, 31] (no bias), ``batch_norm`` (with running stats),
  ``pointwise_conv2`` [dim, dim, 1] (no bias), ``ffn2_*``, ``final_layer_norm``.

Facts about the real MusicFM checkpoint (``pretrained_fma.pt``, 1,316,802,154 bytes) as recorded by a
public loader of it: every key starts with ``model.``; the positional conv uses the legacy
``weight_g``/``weight_v`` names; the 18 BatchNorm ``num_batches_tracked`` counters are float32.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Geo:
    """The shapes the layout depends on (real MusicFM / MuQ-large: the defaults)."""

    n_mels: int = 128
    conv_dim: int = 512
    dim: int = 1024
    depth: int = 12
    heads: int = 16
    ffn: int = 4096
    kernel: int = 31
    pos_kernel: int = 128
    pos_groups: int = 16


SMALL = Geo(n_mels=16, conv_dim=4, dim=32, depth=2, heads=4, ffn=48, kernel=5, pos_kernel=8, pos_groups=4)


def encoder_layout(g: Geo, legacy_weight_norm: bool) -> dict[str, tuple[int, ...]]:
    """Released names (without ``model.``) and shapes of the encoder part: ``conv.*`` and ``conformer.*``."""
    out: dict[str, tuple[int, ...]] = {}

    def bn(prefix: str, c: int) -> None:
        for name in ("weight", "bias", "running_mean", "running_var"):
            out[f"{prefix}.{name}"] = (c,)
        out[f"{prefix}.num_batches_tracked"] = ()

    c = g.conv_dim
    for block, cin in ((0, 1), (1, c)):
        p = f"conv.conv.{block}"
        out[f"{p}.conv1.weight"], out[f"{p}.conv1.bias"] = (c, cin, 3, 3), (c,)
        bn(f"{p}.bn1", c)
        out[f"{p}.conv2.weight"], out[f"{p}.conv2.bias"] = (c, c, 3, 3), (c,)
        bn(f"{p}.bn2", c)
        out[f"{p}.conv3.weight"], out[f"{p}.conv3.bias"] = (c, cin, 3, 3), (c,)
        bn(f"{p}.bn3", c)
    out["conv.linear.weight"], out["conv.linear.bias"] = (g.dim, c * g.n_mels // 4), (g.dim,)
    d = g.dim
    out["conformer.embed_positions.inv_freq"] = (d // g.heads // 2,)
    g_name, v_name = ("weight_g", "weight_v") if legacy_weight_norm else \
        ("parametrizations.weight.original0", "parametrizations.weight.original1")
    out[f"conformer.pos_conv_embed.conv.{g_name}"] = (1, 1, g.pos_kernel)
    out[f"conformer.pos_conv_embed.conv.{v_name}"] = (d, d // g.pos_groups, g.pos_kernel)
    out["conformer.pos_conv_embed.conv.bias"] = (d,)
    out["conformer.layer_norm.weight"], out["conformer.layer_norm.bias"] = (d,), (d,)
    for i in range(g.depth):
        p = f"conformer.layers.{i}"
        for ffn in ("ffn1", "ffn2"):
            out[f"{p}.{ffn}_layer_norm.weight"], out[f"{p}.{ffn}_layer_norm.bias"] = (d,), (d,)
            out[f"{p}.{ffn}.intermediate_dense.weight"] = (g.ffn, d)
            out[f"{p}.{ffn}.intermediate_dense.bias"] = (g.ffn,)
            out[f"{p}.{ffn}.output_dense.weight"], out[f"{p}.{ffn}.output_dense.bias"] = (d, g.ffn), (d,)
        out[f"{p}.self_attn_layer_norm.weight"], out[f"{p}.self_attn_layer_norm.bias"] = (d,), (d,)
        for lin in ("linear_q", "linear_k", "linear_v", "linear_out"):
            out[f"{p}.self_attn.{lin}.weight"], out[f"{p}.self_attn.{lin}.bias"] = (d, d), (d,)
        m = f"{p}.conv_module"
        out[f"{m}.layer_norm.weight"], out[f"{m}.layer_norm.bias"] = (d,), (d,)
        out[f"{m}.pointwise_conv1.weight"] = (2 * d, d, 1)
        out[f"{m}.depthwise_conv.weight"] = (d, 1, g.kernel)
        bn(f"{m}.batch_norm", d)
        out[f"{m}.pointwise_conv2.weight"] = (d, d, 1)
        out[f"{p}.final_layer_norm.weight"], out[f"{p}.final_layer_norm.bias"] = (d,), (d,)
    return out


def htk_filterbank(n_mels: int) -> torch.Tensor:
    """torchaudio's MelSpectrogram filter bank at 24 kHz / n_fft 2048 (HTK, no norm), from nnAudio's
    copy of librosa's ``filters.mel`` (the same triangles): an independent computation."""
    from nnAudio.librosa_functions import get_mel

    return torch.from_numpy(get_mel(24000, 2048, n_mels=n_mels, fmin=0.0, fmax=12000.0, htk=True,
                                    norm=None, dtype=np.float64)).T.float()


def random_tensors(layout: dict[str, tuple[int, ...]], seed: int, counters_dtype=torch.int64,
                   heads: int | None = None) -> dict[str, torch.Tensor]:
    """Random tensors in ``layout``: weights ~ N(0, 0.1^2), LayerNorm/BatchNorm scales near 1,
    positive running variances, rotary frequencies as transformers computes them."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for key, shape in layout.items():
        if key.endswith("num_batches_tracked"):
            out[key] = torch.tensor(1234, dtype=counters_dtype)
        elif key.endswith("inv_freq"):
            head = 2 * shape[0]
            out[key] = 1.0 / (10000 ** (torch.arange(0, head, 2, dtype=torch.int64).float() / head))
        elif key.endswith("running_var"):
            out[key] = torch.rand(shape, generator=gen) + 0.5
        elif ("norm" in key or ".bn" in key) and key.endswith("weight"):
            out[key] = 1.0 + 0.1 * torch.randn(shape, generator=gen)
        else:
            out[key] = 0.1 * torch.randn(shape, generator=gen)
    return out


def reference_hidden_states(sd: dict[str, torch.Tensor], g: Geo, wav: torch.Tensor, mean: float, std: float,
                            window: torch.Tensor, fb: torch.Tensor, time_strides=(2, 2)) -> torch.Tensor:
    """The releases' ``get_predictions`` path written out from the raw released tensors (keys
    without ``model.``): numpy STFT power -> ``fb`` -> dB -> drop last frame -> normalise -> the
    residual conv blocks with ``torch.nn.functional`` -> transformers' conformer layers, collecting
    the 4.x ``hidden_states`` (each layer's input, then the final LayerNorm)."""
    import torch.nn.functional as F
    from transformers import Wav2Vec2ConformerConfig
    from transformers.models.wav2vec2_conformer.modeling_wav2vec2_conformer import Wav2Vec2ConformerEncoder

    x = wav.double().numpy()
    pad = np.pad(x, ((0, 0), (1024, 1024)), mode="reflect")
    n_frames = 1 + x.shape[1] // 240
    frames = np.stack([pad[:, i * 240: i * 240 + 2048] for i in range(n_frames)], axis=1)  # [B, t, 2048]
    power = np.abs(np.fft.rfft(frames * window.double().numpy(), axis=-1)) ** 2
    mel = torch.from_numpy(power @ fb.double().numpy()).float().transpose(1, 2)  # [B, mels, t]
    mel = 10.0 * torch.log10(mel.clamp(min=1e-10))
    h = ((mel[..., :-1] - mean) / std)[:, None]

    def bn(h, p):
        return F.batch_norm(h, sd[f"{p}.running_mean"], sd[f"{p}.running_var"], sd[f"{p}.weight"],
                            sd[f"{p}.bias"], training=False, eps=1e-5)

    def conv(h, name, stride=(1, 1)):
        return F.conv2d(h, sd[f"{name}.weight"], sd[f"{name}.bias"], stride, 1)

    for block, s in enumerate(time_strides):
        p = f"conv.conv.{block}"
        main = bn(conv(torch.relu(bn(conv(h, f"{p}.conv1", (2, s)), f"{p}.bn1")), f"{p}.conv2"), f"{p}.bn2")
        h = torch.relu(bn(conv(h, f"{p}.conv3", (2, s)), f"{p}.bn3") + main)
    b, c, f, t = h.shape
    h = F.linear(h.permute(0, 3, 1, 2).reshape(b, t, c * f), sd["conv.linear.weight"], sd["conv.linear.bias"])
    cfg = Wav2Vec2ConformerConfig(hidden_size=g.dim, num_hidden_layers=g.depth, num_attention_heads=g.heads,
                                  intermediate_size=g.ffn, hidden_act="swish", position_embeddings_type="rotary",
                                  conv_depthwise_kernel_size=g.kernel, num_conv_pos_embeddings=g.pos_kernel,
                                  num_conv_pos_embedding_groups=g.pos_groups)
    enc = Wav2Vec2ConformerEncoder(cfg).eval()
    conf = {k[len("conformer."):]: v for k, v in sd.items() if k.startswith("conformer.")}
    for old, new in (("weight_g", "parametrizations.weight.original0"), ("weight_v", "parametrizations.weight.original1")):
        if f"pos_conv_embed.conv.{old}" in conf:
            conf[f"pos_conv_embed.conv.{new}"] = conf.pop(f"pos_conv_embed.conv.{old}")
    enc.load_state_dict({k: v.long() if k.endswith("num_batches_tracked") else v for k, v in conf.items()}, strict=True)
    states = []
    with torch.no_grad():
        pos = enc.embed_positions(h)
        for layer in enc.layers:
            states.append(h)
            h = layer(h, relative_position_embeddings=pos)
            h = h[0] if isinstance(h, tuple) else h
        states.append(enc.layer_norm(h))
    return torch.stack(states)
