"""The mel-spectrogram conformer shared by MusicFM and MuQ, as an all-layers encoder.

MusicFM (minzwon/musicfm, ``model/musicfm_25hz.py``) and MuQ (tencent-ailab/MuQ, package ``muq``,
``muq/models/muq_model.py``, derived from MusicFM) run the same network on 24 kHz audio; this module
is a PyTorch port of its inference path that reads their released state dicts (the wrappers
:mod:`mertbench.models.musicfm` and :mod:`mertbench.models.muq` know each release's files).

* **Mel front end** (their ``MelSTFT``: torchaudio ``MelSpectrogram(sample_rate=24000, n_fft=2048,
  hop_length=240, n_mels=128)`` then ``AmplitudeToDB()``): ``torch.stft`` with a periodic Hann
  window of 2048, centred frames with reflect padding, power 2; a triangular HTK-mel filter bank
  0-12 kHz without area normalisation (torchaudio's ``melscale_fbanks``, recomputed here; MusicFM's
  checkpoint carries torchaudio's own ``window`` and ``fb`` buffers, which are loaded instead);
  ``10 * log10(max(x, 1e-10))``; the last frame dropped (``[..., :-1]``), so ``N // 240`` mel frames
  (100 Hz); then ``(x - mean) / std`` with the scalar statistics of the release.
* **Conv subsampling** (their ``Conv2dSubsampling``): two residual blocks over ``[1, mels, time]``,
  each ``conv1 3x3 (stride (2, s)) -> BN -> ReLU -> conv2 3x3 -> BN`` plus a ``conv3 3x3 (stride (2,
  s)) -> BN`` shortcut, summed, ReLU; ``s = 2, 2`` (25 Hz; MuQ's ``label_rate`` 50 uses ``2, 1``);
  channels ``conv_dim`` (512); then ``[B, C, F/4, T'] -> [B, T', C * F/4] -> Linear(-> dim)``.
* **Conformer**: transformers' ``Wav2Vec2ConformerEncoder`` (the implementation both releases
  import; rotary position embeddings, 12 layers of 1024, 16 heads, FFN 4096, Swish, depthwise
  kernel 31). Its unused ``pos_conv_embed`` weights are part of the released state dicts and are
  loaded (not used by the forward, as in transformers). The layers are run here one by one because
  transformers >= 5 no longer returns ``hidden_states`` from the bare encoder.

Layers: the 13 hidden states of transformers 4.x ``Wav2Vec2ConformerEncoder(...,
output_hidden_states=True)``, which the releases' ``get_latent(layer_ix)`` indexes: ``[0]`` the conv
subsampling output (the conformer input), ``[i]`` layer ``i``'s output for ``i = 1..11``, ``[12]``
the final LayerNorm of layer 12's output. ``T = ceil(ceil((N // 240) / 2) / 2)`` frames (25 Hz).

Batches with different ``lengths`` run each distinct length unpadded (exact per item; the releases'
attention masks are not used). Inputs longer than ``window_s`` (default 30 s, the training clip
length of both) use the window/stitch rule of :mod:`mertbench.models.windowing`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Mapping

import torch
from torch import Tensor, nn

from mertbench.errors import ModelError
from mertbench.models.contract import Encoder

SAMPLE_RATE = 24000
N_FFT = 2048
HOP = 240
AMIN = 1e-10

#: legacy weight-norm names (torch.nn.utils.weight_norm) -> parametrization names (torch >= 2.1)
WEIGHT_NORM_KEYS = {"weight_g": "parametrizations.weight.original0", "weight_v": "parametrizations.weight.original1"}


@dataclass(frozen=True)
class Geometry:
    """Shapes of a mel conformer (defaults: MusicFM's and MuQ-large's)."""

    n_mels: int = 128
    conv_dim: int = 512
    dim: int = 1024
    depth: int = 12
    heads: int = 16
    ffn: int = 4096
    time_strides: tuple[int, int] = (2, 2)
    depthwise_kernel: int = 31
    pos_conv_kernel: int = 128
    pos_conv_groups: int = 16
    hidden_act: str = "swish"
    position_embeddings: str = "rotary"
    rotary_base: int = 10000
    max_source_positions: int = 5000
    layer_norm_eps: float = 1e-5

    @property
    def frame_rate(self) -> float:
        return SAMPLE_RATE / HOP / math.prod(self.time_strides)

    def conformer_config(self) -> Any:
        """The transformers ``Wav2Vec2ConformerConfig`` of the conformer (dropouts off)."""
        from transformers import Wav2Vec2ConformerConfig

        cfg = Wav2Vec2ConformerConfig(
            hidden_size=self.dim, num_hidden_layers=self.depth, num_attention_heads=self.heads,
            intermediate_size=self.ffn, hidden_act=self.hidden_act, position_embeddings_type=self.position_embeddings,
            rotary_embedding_base=self.rotary_base, max_source_positions=self.max_source_positions,
            layer_norm_eps=self.layer_norm_eps, conv_depthwise_kernel_size=self.depthwise_kernel,
            num_conv_pos_embeddings=self.pos_conv_kernel, num_conv_pos_embedding_groups=self.pos_conv_groups,
            hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, conformer_conv_dropout=0.0,
            layerdrop=0.0)
        cfg._attn_implementation = "eager"  # the released code's attention (transformers 4.x eager)
        return cfg

    def num_parameters(self) -> int:
        """Parameters of the encoder (front end + conformer, no training heads), from the shapes."""
        c, d, f = self.conv_dim, self.dim, self.ffn
        conv = (9 * c + c) + (9 * c * c + c) + (9 * c + c) + 3 * 2 * c  # block 1: conv1, conv2, conv3, 3 BN
        conv += 3 * (9 * c * c + c) + 3 * 2 * c                      # block 2
        conv += c * self.n_mels // 4 * d + d                          # linear
        pos = d * (d // self.pos_conv_groups) * self.pos_conv_kernel + self.pos_conv_kernel + d
        layer = 2 * (2 * d + d * f + f + f * d + d)                   # two FFNs with their LayerNorms
        layer += 2 * d + 4 * (d * d + d)                              # attention LayerNorm + q, k, v, out
        if self.position_embeddings == "relative":
            layer += d * d + 2 * d                                    # linear_pos, pos_bias_u, pos_bias_v
        layer += 2 * d + 2 * d * d + d * self.depthwise_kernel + 2 * d + d * d  # conv module
        layer += 2 * d                                                # final LayerNorm
        return conv + pos + 2 * d + self.depth * layer


def hz_to_mel(f: float | Tensor) -> Any:
    """HTK mel scale."""
    if isinstance(f, Tensor):
        return 2595.0 * torch.log10(1.0 + f / 700.0)
    return 2595.0 * math.log10(1.0 + f / 700.0)


def mel_filterbank(sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = 128, f_min: float = 0.0,
                   f_max: float | None = None) -> Tensor:
    """``[n_fft // 2 + 1, n_mels]`` triangular HTK-mel filters without normalisation (torchaudio's
    ``melscale_fbanks(..., norm=None, mel_scale="htk")``, ``f_max`` = ``sample_rate // 2``)."""
    f_max = float(sample_rate // 2) if f_max is None else float(f_max)
    all_freqs = torch.linspace(0, sample_rate // 2, n_fft // 2 + 1, dtype=torch.float64)
    m_pts = torch.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2, dtype=torch.float64)
    f_pts = 700.0 * (10.0 ** (m_pts / 2595.0) - 1.0)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts[None, :] - all_freqs[:, None]
    down = -slopes[:, :-2] / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    return torch.clamp(torch.minimum(down, up), min=0.0).float()


class MelFrontEnd(nn.Module):
    """Waveform ``[B, N]`` -> normalised dB mel ``[B, n_mels, N // 240]`` (see the module doc)."""

    def __init__(self, n_mels: int = 128, mean: float = 0.0, std: float = 1.0) -> None:
        super().__init__()
        self.register_buffer("window", torch.hann_window(N_FFT))
        self.register_buffer("fb", mel_filterbank(n_mels=n_mels))
        self.mean, self.std = float(mean), float(std)

    def mel_db(self, wav: Tensor) -> Tensor:
        """torchaudio's ``AmplitudeToDB()(MelSpectrogram(...)(wav))``: ``[B, n_mels, 1 + N // 240]``."""
        spec = torch.stft(wav.float(), N_FFT, HOP, N_FFT, window=self.window, center=True, pad_mode="reflect",
                          normalized=False, onesided=True, return_complex=True).abs().pow(2.0)
        mel = torch.matmul(spec.transpose(-1, -2), self.fb).transpose(-1, -2)
        return 10.0 * torch.log10(torch.clamp(mel, min=AMIN))

    def forward(self, wav: Tensor) -> Tensor:
        return (self.mel_db(wav)[..., :-1] - self.mean) / self.std


class ResBlock2d(nn.Module):
    """A residual conv block of the subsampling (parameter names as the releases')."""

    def __init__(self, cin: int, cout: int, stride: tuple[int, int]) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, stride=stride)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(cout)
        if not (cin != cout or stride[0] > 1):
            raise ValueError("the released blocks always have a conv3 shortcut")
        self.conv3 = nn.Conv2d(cin, cout, 3, padding=1, stride=stride)
        self.bn3 = nn.BatchNorm2d(cout)

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(self.bn3(self.conv3(x)) + out)


class ConvSubsampling(nn.Module):
    """Mel ``[B, F, T]`` -> ``[B, T', dim]`` (two residual blocks and a projection)."""

    def __init__(self, g: Geometry) -> None:
        super().__init__()
        self.conv = nn.Sequential(ResBlock2d(1, g.conv_dim, (2, g.time_strides[0])),
                                  ResBlock2d(g.conv_dim, g.conv_dim, (2, g.time_strides[1])))
        self.linear = nn.Linear(g.conv_dim * g.n_mels // 4, g.dim)

    def forward(self, mel: Tensor) -> Tensor:
        x = self.conv(mel[:, None])  # [B, C, F', T']
        return self.linear(x.permute(0, 3, 1, 2).flatten(2))


class MelConformer(nn.Module):
    """Front end + conv subsampling + transformers conformer; :meth:`hidden_states` gives the layers."""

    def __init__(self, g: Geometry, mean: float = 0.0, std: float = 1.0) -> None:
        super().__init__()
        from transformers.models.wav2vec2_conformer.modeling_wav2vec2_conformer import Wav2Vec2ConformerEncoder

        self.geometry = g
        self.frontend = MelFrontEnd(g.n_mels, mean, std)
        self.conv = ConvSubsampling(g)
        self.conformer = Wav2Vec2ConformerEncoder(g.conformer_config())

    def hidden_states(self, wav: Tensor) -> Tensor:
        """``[depth + 1, B, T, dim]`` (transformers 4.x ``hidden_states`` order, see the module doc)."""
        x = self.conv(self.frontend(wav).to(self.conv.linear.weight.dtype))
        enc = self.conformer
        pos = enc.embed_positions(x) if enc.embed_positions is not None else None
        states = []
        for layer in enc.layers:
            states.append(x)
            x = layer(x, attention_mask=None, relative_position_embeddings=pos)
            if isinstance(x, tuple):  # transformers 4.x layers return (hidden_states, attentions)
                x = x[0]
        states.append(enc.layer_norm(x))
        return torch.stack(states)


def num_frames(num_samples: int, time_strides: tuple[int, ...] = (2, 2)) -> int:
    """Output frames for ``num_samples``: ``N // 240`` mel frames, then ``ceil(t / s)`` per block."""
    t = int(num_samples) // HOP
    for s in time_strides:
        t = (t - 1) // s + 1 if t > 0 else 0
    return t


class MelConformerEncoder(Encoder):
    """A :class:`MelConformer` behind the encoder contract (``[depth + 1, B, T, dim]``)."""

    def __init__(self, net: MelConformer, name: str, *, window_s: float | None = 30.0, window_overlap_s: float = 5.0,
                 weights_info: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        g = net.geometry
        self.net = net
        self.name = name
        self.sample_rate = SAMPLE_RATE
        self.frame_rate = g.frame_rate
        self.num_layers = g.depth + 1
        self.dim = g.dim
        self.normalize = None  # absolute-level dB mel inside, as both releases (no waveform normalisation)
        self.window_s, self.window_overlap_s = window_s, window_overlap_s
        self.stride = HOP * math.prod(g.time_strides)
        self.weights_info: dict[str, Any] = dict(weights_info or {})

    @property
    def min_samples(self) -> int:
        """torch.stft's reflect padding needs more than ``n_fft // 2`` samples."""
        return N_FFT // 2 + 1

    @property
    def receptive_field(self) -> int:
        # for windowing: a window of (W - 1) * stride + this many samples yields >= W frames
        return self.stride + N_FFT

    def num_frames(self, num_samples: int) -> int:
        return num_frames(num_samples, self.net.geometry.time_strides)

    def _encode(self, wav: Tensor, lengths: Tensor | None) -> Tensor:
        n = wav.shape[1]
        if lengths is None or bool((lengths >= n).all()):
            return self.net.hidden_states(wav)
        out = None
        for length in sorted(set(lengths.tolist())):  # each distinct length unpadded: exact per item
            idx = (lengths == length).nonzero().flatten()
            hs = self.net.hidden_states(wav[idx, :length])
            if out is None:
                out = hs.new_zeros(hs.shape[0], wav.shape[0], self.num_frames(n), hs.shape[-1])
            out[:, idx, : hs.shape[2]] = hs
        assert out is not None
        return out

    def forward(self, wav: Tensor, lengths: Tensor | None = None) -> Tensor:
        """``wav [B, N]`` at 24 kHz -> ``[L, B, T, D]``."""
        from mertbench.models.windowing import checked_batch, windowed_frames

        wav, lengths = checked_batch(self.name, wav, lengths, self.min_samples, "the STFT's window",
                                     self.net.frontend.fb.device, torch.float32)
        return windowed_frames(self._encode, wav, lengths, window_s=self.window_s, overlap_s=self.window_overlap_s,
                               sample_rate=self.sample_rate, stride=self.stride,
                               receptive_field=self.receptive_field, num_frames=self.num_frames)

    def describe(self) -> dict[str, object]:
        d = super().describe()
        d.update(window_s=self.window_s, weights=self.weights_info)
        return d


def own_key(key: str, own: Mapping[str, Tensor]) -> str:
    """A released key in this module's naming (legacy weight-norm names mapped when needed)."""
    if key not in own:
        for old, new in WEIGHT_NORM_KEYS.items():
            if key.endswith("." + old) and key[: -len(old)] + new in own:
                return key[: -len(old)] + new
    return key


def load_released(net: MelConformer, tensors: Mapping[str, Tensor], source: str,
                  renames: Mapping[str, str] | None = None, computed: tuple[str, ...] = ()) -> int:
    """Load a release's encoder tensors into ``net`` strictly: every parameter and buffer filled
    (but the ``computed`` ones, which the release does not store), every given tensor used, shapes
    equal (dtypes cast to the module's, e.g. BatchNorm counters saved as float). ``renames`` maps
    released names to this module's. Returns the number of tensors loaded."""
    own = net.state_dict()
    renames = dict(renames or {})
    state: dict[str, Tensor] = {}
    unexpected = []
    for key, value in tensors.items():
        k = own_key(renames.get(key, key), own)
        if k not in own:
            unexpected.append(key)
            continue
        if tuple(value.shape) != tuple(own[k].shape):
            raise ModelError(f"{source}: {key} has shape {tuple(value.shape)}, expected {tuple(own[k].shape)} "
                             f"for this geometry ({net.geometry})")
        state[k] = value.to(own[k].dtype)
    n_loaded = len(state)
    state.update({k: own[k] for k in computed if k not in state})
    missing = sorted(set(own) - set(state))
    if missing or unexpected:
        raise ModelError(f"{source}: the state dict does not match the architecture: missing {missing[:6]}"
                         f"{' ...' if len(missing) > 6 else ''}, unexpected {sorted(unexpected)[:6]}"
                         f"{' ...' if len(unexpected) > 6 else ''}")
    net.load_state_dict(state, strict=True)
    return n_loaded


def infer_geometry(sd: Mapping[str, Tensor], base: Geometry = Geometry()) -> Geometry:
    """The geometry of a released state dict (keys without the ``model.`` prefix) from its shapes;
    fields the shapes do not fix (activation, strides, eps, rotary base) come from ``base``."""
    try:
        conv1 = sd["conv.conv.0.conv1.weight"]
        linear = sd["conv.linear.weight"]
        depth = 1 + max(int(k.split(".")[2]) for k in sd if k.startswith("conformer.layers."))
        ffn = sd["conformer.layers.0.ffn1.intermediate_dense.weight"].shape[0]
        kernel = sd["conformer.layers.0.conv_module.depthwise_conv.weight"].shape[-1]
        v = next(sd[k] for k in ("conformer.pos_conv_embed.conv.weight_v",
                                 "conformer.pos_conv_embed.conv.parametrizations.weight.original1") if k in sd)
    except (KeyError, StopIteration, ValueError) as exc:
        raise ModelError(f"not a MusicFM/MuQ state dict: no {exc} among its keys") from exc
    dim, conv_dim = int(linear.shape[0]), int(conv1.shape[0])
    g = replace(base, dim=dim, conv_dim=conv_dim, n_mels=int(linear.shape[1]) * 4 // conv_dim, depth=depth,
                ffn=int(ffn), depthwise_kernel=int(kernel), pos_conv_kernel=int(v.shape[-1]),
                pos_conv_groups=dim // int(v.shape[1]))
    inv_freq = sd.get("conformer.embed_positions.inv_freq")
    if inv_freq is not None:  # rotary: head_size / 2 frequencies
        g = replace(g, position_embeddings="rotary", heads=dim // (2 * int(inv_freq.shape[0])))
    return g


def offline() -> bool:
    """True when ``MERTBENCH_OFFLINE`` or ``HF_HUB_OFFLINE`` is set (no hub download is tried)."""
    import os

    return os.environ.get("MERTBENCH_OFFLINE", "") not in ("", "0") or \
        os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")


def hub_file(repo: str, filename: str, *, revision: str | None, download: bool, how: str) -> str:
    """Path of ``filename`` of hub ``repo``: the HF cache, else a download when allowed and the hub
    is reachable; else a ModelError naming the file and ``how`` to get it."""
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as exc:  # pragma: no cover - transformers depends on it
        raise ModelError(f"huggingface_hub is not installed; {how}") from exc
    try:
        return hf_hub_download(repo, filename, revision=revision, local_files_only=True)
    except Exception:  # noqa: BLE001 - not cached (or an unreadable cache): try the hub below
        pass
    why = "downloading is off (download=False)" if not download else "MERTBENCH_OFFLINE/HF_HUB_OFFLINE is set"
    if download and not offline():
        from mertbench.models.hf_audio import hub_reachable

        if hub_reachable():
            try:
                return hf_hub_download(repo, filename, revision=revision)
            except Exception as exc:  # noqa: BLE001 - gated, renamed, disk full...
                raise ModelError(f"cannot download {filename} from the hub repo {repo} "
                                 f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); {how}") from exc
        why = "the hub is unreachable"
    raise ModelError(f"{filename} of {repo} is not in the Hugging Face cache and {why}; {how}")
