"""transformers audio models behind the mertbench model contract.

* :class:`HFAudioEncoder`: any transformers speech/audio encoder with ``output_hidden_states``
  (HuBERT, wav2vec 2.0, data2vec-audio, WavLM, UniSpeech(-SAT), SEW, ...), from a local folder
  or a hub id. ``L = num_hidden_layers + 1``, ``D = hidden_size``, ``frame_rate = sample_rate /
  prod(conv_stride)``; the sample rate and the waveform normalisation (``do_normalize`` ->
  ``"zmuv"``) come from the folder's preprocessor_config.json (defaults of
  ``Wav2Vec2FeatureExtractor`` -- 16 kHz, normalise -- when it has none). For pre-LN
  ("stable layer norm") models the last hidden state is the final-LayerNorm output, as in
  transformers 4.x and MERT (transformers >= 5 returns the un-normalised one).
* :class:`EncodecEncoder`: EnCodec (transformers ``EncodecModel``, e.g. ``facebook/encodec_24khz``)
  as a baseline: ``mode="latents"`` = the continuous encoder output (1 layer, D=128 at 75 Hz for the
  24 kHz model); ``mode="codes"`` = the RVQ codes at ``bandwidth`` kbps (6 kbps = 8 codebooks, as
  MERT's teacher) as ``n_q`` layers, layer ``k`` = the sum of the first ``k+1`` dequantised
  codewords (the quantised latent refined codebook by codebook). :meth:`EncodecEncoder.codes`
  returns the integer codes.

Batches with ``lengths`` of different values run each distinct length separately (unpadded), so
every item's output equals its unbatched output: HF's padding is not exact for these models
(group-norm front ends normalise over the padding; data2vec-audio's stacked positional convs leak
padding into valid frames). Equal-length batches run in one call; models whose processor sets
``return_attention_mask`` get an all-ones mask, as their processor would give. Inputs longer than ``window_s`` (default 60 s) use the
window/stitch rule of :mod:`mertbench.models.windowing`.

A MERT-v1 folder given to ``hf-audio`` loads into transformers ``HubertModel`` (same architecture),
which gives a reference implementation to compare mertbench's own MERT encoder with.
"""
from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor

from mertbench.constants import FRAME_RATE, HOP, SAMPLE_RATE
from mertbench.errors import ModelError
from mertbench.models.contract import Encoder
from mertbench.models.registry import register_directory_loader, register_encoder

#: transformers model types handled by :class:`HFAudioEncoder`.
SUPPORTED_TYPES = {"hubert", "wav2vec2", "data2vec-audio", "wavlm", "unispeech", "unispeech-sat", "sew", "sew-d",
                   "wav2vec2-conformer"}
_FE_DEFAULTS = {"sampling_rate": 16000, "do_normalize": True, "return_attention_mask": False}


def _resolve_normalize(option: object, default: str | None) -> str | None:
    from mertbench.models.mert.config import resolve_normalize

    return resolve_normalize(option, default)


class HFAudioEncoder(Encoder):
    """A transformers audio model returning ``[L, B, T, D]`` hidden states."""

    def __init__(self, model: Any, name: str, sample_rate: int, normalize: str | None, use_attention_mask: bool,
                 *, window_s: float | None = 60.0, window_overlap_s: float = 5.0, source: str | None = None):
        super().__init__()
        cfg = model.config
        if not hasattr(cfg, "conv_stride") or not hasattr(cfg, "num_hidden_layers"):
            raise ModelError(f"{name}: transformers model type {cfg.model_type!r} has no conv front end / hidden "
                             f"states; supported types: {sorted(SUPPORTED_TYPES)}")
        self.model = model.eval()
        self.name = name
        self.sample_rate = int(sample_rate)
        self.stride = math.prod(cfg.conv_stride)
        self.frame_rate = self.sample_rate / self.stride
        self.num_layers = int(cfg.num_hidden_layers) + 1
        self.dim = int(cfg.hidden_size)
        self.normalize = normalize
        self.use_attention_mask = bool(use_attention_mask)
        self.window_s, self.window_overlap_s = window_s, window_overlap_s
        self.source = source or name
        self._kernels = list(cfg.conv_kernel)
        self._strides = list(cfg.conv_stride)
        self._pre_ln = bool(getattr(cfg, "do_stable_layer_norm", False))

    @property
    def receptive_field(self) -> int:
        rf = 1
        for k, s in zip(reversed(self._kernels), reversed(self._strides)):
            rf = (rf - 1) * s + k
        return rf

    @property
    def min_samples(self) -> int:
        """One frame of the convolutional front end."""
        return self.receptive_field

    def num_frames(self, num_samples: int) -> int:
        n = int(num_samples)
        for k, s in zip(self._kernels, self._strides):
            if n < k:
                return 0
            n = (n - k) // s + 1
        return n

    def _states(self, wav: Tensor, mask: Tensor | None) -> Tensor:
        out = self.model(wav, attention_mask=mask, output_hidden_states=True)
        states = list(out.hidden_states)
        if self._pre_ln and len(states) == self.num_layers:
            states[-1] = out.last_hidden_state
        return torch.stack(states)

    def _encode(self, wav: Tensor, lengths: Tensor | None) -> Tensor:
        n = wav.shape[1]
        if lengths is None or bool((lengths >= n).all()):
            mask = torch.ones_like(wav, dtype=torch.long) if self.use_attention_mask else None
            return self._states(wav, mask)
        out = None
        for length in sorted(set(lengths.tolist())):  # each distinct length unpadded: exact per item
            idx = (lengths == length).nonzero().flatten()
            hs = self._states(wav[idx, :length], None)
            if out is None:
                out = hs.new_zeros(hs.shape[0], wav.shape[0], self.num_frames(n), hs.shape[-1])
            out[:, idx, : hs.shape[2]] = hs
        assert out is not None
        return out

    def forward(self, wav: Tensor, lengths: Tensor | None = None) -> Tensor:
        """``wav [B, N]`` at :attr:`sample_rate` -> ``[L, B, T, D]``."""
        from mertbench.models.windowing import checked_batch, windowed_frames

        param = next(self.model.parameters())
        wav, lengths = checked_batch(self.name, wav, lengths, self.receptive_field, "one frame", param.device,
                                     param.dtype)
        return windowed_frames(self._encode, wav, lengths, window_s=self.window_s, overlap_s=self.window_overlap_s,
                               sample_rate=self.sample_rate, stride=self.stride,
                               receptive_field=self.receptive_field, num_frames=self.num_frames)

    def describe(self) -> dict[str, object]:
        d = super().describe()
        d.update(source=self.source, model_type=self.model.config.model_type, window_s=self.window_s)
        return d


_REACHABLE: dict[str, bool] = {}


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the HF hub (``HF_ENDPOINT`` or huggingface.co) accepts a TCP connection; False when offline mode is set."""
    import os
    import socket
    from urllib.parse import urlparse

    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        return False
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme != "http" else 80)
    if host not in _REACHABLE:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            _REACHABLE[host] = True
        except OSError:
            _REACHABLE[host] = False
    return _REACHABLE[host]


def _from_pretrained(loader: Callable[..., Any], spec: str, **kwargs: Any) -> Any:
    """``loader(spec)`` from a folder, the local HF cache, then the hub (only when it is reachable)."""
    if Path(spec).expanduser().is_dir():
        return loader(str(Path(spec).expanduser()), **kwargs)
    try:
        return loader(spec, local_files_only=True, **kwargs)
    except Exception as exc:
        if not hub_reachable():
            raise ModelError(f"{spec}: not a local folder, not in the HF cache, and the hub is unreachable; "
                             f"download it and pass the folder (model=DIR)") from exc
    return loader(spec, **kwargs)


def _read_processor(spec: str, revision: str | None) -> dict[str, Any]:
    """preprocessor_config.json of a folder or hub id as a dict; Wav2Vec2FeatureExtractor defaults if absent."""
    path = Path(spec).expanduser()
    if path.is_dir():
        f = path / "preprocessor_config.json"
        if f.is_file():
            from mertbench.models.mert.checkpoint import read_json

            return {**_FE_DEFAULTS, **read_json(f)}
        return dict(_FE_DEFAULTS)
    try:
        from transformers import AutoFeatureExtractor

        fe = _from_pretrained(AutoFeatureExtractor.from_pretrained, spec, revision=revision)
        return {**_FE_DEFAULTS, **fe.to_dict()}
    except Exception:
        return dict(_FE_DEFAULTS)


def _hubert_from_mert(path: Path) -> Any:
    """A MERT-v1 folder loaded into transformers ``HubertModel`` (the reference implementation)."""
    from transformers import HubertConfig, HubertModel

    from mertbench.models.mert.checkpoint import read_json, read_state_dict, to_mert_keys

    d = read_json(path / "config.json")
    keep = {k: v for k, v in d.items() if k not in ("model_type", "architectures", "auto_map", "transformers_version")}
    cfg = HubertConfig(**keep)
    model = HubertModel(cfg)
    sd, _ = to_mert_keys(read_state_dict(path)[0])
    own = model.state_dict()
    fixed = {}
    for k, v in sd.items():
        if k not in own and k.endswith("conv.weight_g"):
            k = k.replace("weight_g", "parametrizations.weight.original0")
        elif k not in own and k.endswith("conv.weight_v"):
            k = k.replace("weight_v", "parametrizations.weight.original1")
        fixed[k] = v
    missing, unexpected = model.load_state_dict(fixed, strict=False)
    if missing or unexpected:
        raise ModelError(f"{path}: cannot load into HubertModel (missing {missing[:5]}, unexpected {unexpected[:5]})")
    return model


def load_hf_audio(model: str, normalize: object = "model", device: str | None = None,
                  dtype: str | torch.dtype | None = None, revision: str | None = None, window_s: float | None = 60.0,
                  window_overlap_s: float = 5.0, name: str | None = None) -> HFAudioEncoder:
    """A transformers audio model from a local folder or hub id as an :class:`HFAudioEncoder`."""
    from transformers import AutoConfig, AutoModel

    from mertbench.models.mert.checkpoint import is_mert_config, read_json
    from mertbench.models.mert.config import torch_dtype

    path = Path(model).expanduser()
    if path.is_dir() and (path / "config.json").is_file() and is_mert_config(read_json(path / "config.json")):
        hf = _hubert_from_mert(path)
        fe = _read_processor(str(path), None)
        cfg_d = read_json(path / "config.json")
        sr = int(cfg_d.get("sample_rate", fe["sampling_rate"]))
    else:
        try:
            cfg = _from_pretrained(AutoConfig.from_pretrained, model, revision=revision)
        except ModelError:
            raise
        except Exception as exc:
            raise ModelError(f"{model}: not a local transformers folder or a reachable hub id "
                             f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from exc
        if cfg.model_type not in SUPPORTED_TYPES:
            raise ModelError(f"{model}: model type {cfg.model_type!r} is not a supported audio encoder; "
                             f"supported: {sorted(SUPPORTED_TYPES)} (EnCodec: use 'encodec-latents'/'encodec-codes')")
        try:
            hf = _from_pretrained(AutoModel.from_pretrained, model, revision=revision)
        except ModelError:
            raise
        except Exception as exc:
            raise ModelError(f"{model}: cannot load weights ({type(exc).__name__}: {exc})") from exc
        fe = _read_processor(model, revision)
        sr = int(fe["sampling_rate"])
    if device is not None or dtype is not None:
        hf.to(device=device, dtype=torch_dtype(dtype))
    norm = _resolve_normalize(normalize, "zmuv" if fe.get("do_normalize") else None)
    return HFAudioEncoder(hf, name or (path.name if path.is_dir() else model), sr, norm,
                          bool(fe.get("return_attention_mask")), window_s=window_s,
                          window_overlap_s=window_overlap_s, source=str(model))


# ----------------------------------------------------------------------------------------------
# EnCodec
# ----------------------------------------------------------------------------------------------


class EncodecEncoder(Encoder):
    """EnCodec latents or RVQ codes as a baseline representation (see module doc)."""

    def __init__(self, model: Any, name: str, mode: str = "latents", bandwidth: float = 6.0,
                 source: str | None = None):
        super().__init__()
        cfg = model.config
        if mode not in ("latents", "codes"):
            raise ModelError(f"EnCodec mode must be 'latents' or 'codes', got {mode!r}")
        if cfg.chunk_length_s is not None or cfg.normalize:
            raise ModelError(f"{name}: EnCodec models with chunking/normalisation (e.g. the 48 kHz model) are not "
                             f"supported; use a 24 kHz EnCodec (facebook/encodec_24khz)")
        if mode == "codes" and bandwidth not in cfg.target_bandwidths:
            raise ModelError(f"{name}: bandwidth {bandwidth} kbps not available; choose one of {cfg.target_bandwidths}")
        self.model = model.eval()
        self.name = name
        self.mode = mode
        self.bandwidth = float(bandwidth)
        self.sample_rate = int(cfg.sampling_rate)
        self.hop = int(cfg.hop_length)
        self.frame_rate = self.sample_rate / self.hop
        self.channels = int(cfg.audio_channels)
        self.n_q = int(model.quantizer.get_num_quantizers_for_bandwidth(self.bandwidth)) if mode == "codes" else 0
        self.num_layers = 1 if mode == "latents" else self.n_q
        self.dim = int(cfg.hidden_size if mode == "latents" else cfg.codebook_dim)
        self.normalize = None
        self.source = source or name

    def num_frames(self, num_samples: int) -> int:
        return int(math.ceil(num_samples / self.hop))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.model.encoder.parameters())

    def _latents(self, wav: Tensor) -> Tensor:
        x = wav[:, None, :]
        if self.channels == 2:
            x = x.expand(-1, 2, -1)
        return self.model.encoder(x)  # [B, D, T]

    def codes(self, wav: Tensor) -> Tensor:
        """Integer RVQ codes ``[B, n_q, T]`` (values in ``[0, codebook_size)``) of a ``[B, N]`` batch."""
        wav = wav.to(next(self.model.parameters()).device)
        return self.model.quantizer.encode(self._latents(wav), self.bandwidth).transpose(0, 1)

    def forward(self, wav: Tensor, lengths: Tensor | None = None) -> Tensor:
        """``[B, N] -> [L, B, T, D]``; causal model: frames within an item's length do not see its padding."""
        if wav.ndim != 2:
            raise ModelError(f"{self.name}: expected a waveform batch [B, N]; got shape {tuple(wav.shape)}")
        param = next(self.model.parameters())
        wav = wav.to(device=param.device, dtype=param.dtype)
        lat = self._latents(wav)
        if self.mode == "latents":
            out = lat.transpose(1, 2)[None]
        else:
            codes = self.model.quantizer.encode(lat, self.bandwidth)  # [n_q, B, T]
            parts = [layer.decode(c) for layer, c in zip(self.model.quantizer.layers, codes)]  # [B, D, T] each
            out = torch.stack(parts).cumsum(0).transpose(2, 3)  # [n_q, B, T, D]
        if lengths is not None:
            valid = torch.as_tensor([self.num_frames(int(v)) for v in torch.as_tensor(lengths).tolist()],
                                    device=out.device)
            pad = torch.arange(out.shape[2], device=out.device)[None, :] >= valid[:, None]
            out = out.masked_fill(pad[None, :, :, None], 0.0)
        return out

    def describe(self) -> dict[str, object]:
        d = super().describe()
        d.update(source=self.source, mode=self.mode, bandwidth_kbps=self.bandwidth, codebooks=self.n_q)
        return d


def load_encodec(model: str = "facebook/encodec_24khz", mode: str = "latents", bandwidth: float = 6.0,
                 device: str | None = None, revision: str | None = None, name: str | None = None) -> EncodecEncoder:
    """EnCodec from a local folder or hub id (transformers ``EncodecModel``)."""
    from transformers import EncodecModel

    try:
        m = _from_pretrained(EncodecModel.from_pretrained, model, revision=revision)
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"{model}: cannot load EnCodec ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                         f"download facebook/encodec_24khz and pass model=DIR") from exc
    if device is not None:
        m.to(device)
    return EncodecEncoder(m, name or f"encodec-{mode}", mode=mode, bandwidth=bandwidth, source=model)


# ----------------------------------------------------------------------------------------------
# registry
# ----------------------------------------------------------------------------------------------


def _param_counter(kind: str) -> Callable[[], int]:
    """Parameter count of a transformers architecture's default (base) config, built on the meta device."""

    @functools.lru_cache(maxsize=1)
    def count() -> int:
        import transformers

        with torch.device("meta"):
            if kind == "encodec":
                m = transformers.EncodecModel(transformers.EncodecConfig())
                return sum(p.numel() for p in m.encoder.parameters())
            cls = {"hubert": "Hubert", "wav2vec2": "Wav2Vec2", "data2vec-audio": "Data2VecAudio", "wavlm": "WavLM"}[kind]
            m = getattr(transformers, f"{cls}Model")(getattr(transformers, f"{cls}Config")())
        return sum(p.numel() for p in m.parameters())

    return count


_HUB_MODELS = {
    # name: (hub id, kind, sample rate, layers, dim, description)
    "hubert-base": ("facebook/hubert-base-ls960", "hubert", 16000, 13, 768, "HuBERT base (LibriSpeech 960 h)"),
    "wav2vec2-base": ("facebook/wav2vec2-base", "wav2vec2", 16000, 13, 768, "wav2vec 2.0 base (LibriSpeech 960 h)"),
    "data2vec-audio-base": ("facebook/data2vec-audio-base", "data2vec-audio", 16000, 13, 768,
                            "data2vec-audio base (LibriSpeech 960 h)"),
    "wavlm-base-plus": ("microsoft/wavlm-base-plus", "wavlm", 16000, 13, 768, "WavLM base+ (94k h speech)"),
}


def _register_hub(name: str, hub_id: str, kind: str, sr: int, layers: int, dim: int, desc: str) -> None:
    @register_encoder(name, f"{desc}: transformers, hub id {hub_id} (model=DIR for a local copy)",
                      sample_rate=sr, frame_rate=sr / HOP, num_layers=layers, dim=dim,
                      parameters=_param_counter(kind), family="speech", weights=f"hub:{hub_id}")
    def factory(model: str = hub_id, **options: Any) -> HFAudioEncoder:
        return load_hf_audio(model, name=name, **options)


for _name, (_hub, _kind, _sr, _l, _d, _desc) in _HUB_MODELS.items():
    _register_hub(_name, _hub, _kind, _sr, _l, _d, _desc)


@register_encoder("hf-audio", "any transformers audio encoder: load_model('hf-audio', model=HUB_ID_OR_DIR)",
                  family="transformers", weights="user")
def _hf_audio(model: str, **options: Any) -> HFAudioEncoder:
    return load_hf_audio(model, **options)


@register_encoder("encodec-latents", "EnCodec 24 kHz encoder latents (pre-quantisation), 75 Hz",
                  sample_rate=SAMPLE_RATE, frame_rate=FRAME_RATE, num_layers=1, dim=128, parameters=_param_counter("encodec"),
                  family="EnCodec", weights="hub:facebook/encodec_24khz")
def _encodec_latents(model: str = "facebook/encodec_24khz", **options: Any) -> EncodecEncoder:
    return load_encodec(model, mode="latents", **options)


@register_encoder("encodec-codes", "EnCodec 24 kHz RVQ codes at 6 kbps (8 codebooks; layer k = first k+1 codewords)",
                  sample_rate=SAMPLE_RATE, frame_rate=FRAME_RATE, num_layers=8, dim=128, parameters=_param_counter("encodec"),
                  family="EnCodec", weights="hub:facebook/encodec_24khz")
def _encodec_codes(model: str = "facebook/encodec_24khz", **options: Any) -> EncodecEncoder:
    return load_encodec(model, mode="codes", **options)


def _dir_loader(path: Path, **options: Any) -> Encoder | None:
    """transformers audio folders (after the MERT loader); EnCodec folders too."""
    from mertbench.models.mert.checkpoint import read_json

    cfg_path = Path(path) / "config.json"
    if not cfg_path.is_file():
        return None
    mt = str(read_json(cfg_path).get("model_type", ""))
    if mt == "encodec":
        return load_encodec(str(path), **options)
    if mt in SUPPORTED_TYPES:
        return load_hf_audio(str(path), **options)
    return None


register_directory_loader("hf-audio", _dir_loader, priority=0)
