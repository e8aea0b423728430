"""LAION-CLAP's audio branch (HTS-AT; Wu, Chen et al., ICASSP 2023) as an all-layers encoder.

Implementation: transformers' ``ClapAudioModel`` (its HTS-AT is the one transformers converted
LAION's checkpoints into: ``laion/clap-htsat-unfused`` is ``630k-audioset-best.pt``). The
``laion-clap`` package itself is not used: it pins ``numpy<2`` and pulls librosa, torchlibrosa,
wandb and webdataset. The released checkpoints are read directly, their keys renamed as
transformers' conversion does (``audio_branch.`` -> ``audio_encoder.``, ``attn.qkv`` split into
query/key/value, ``attn.proj`` -> ``attention.output.dense``, ``norm1/2`` ->
``layernorm_before/after``, ``mlp.fc1/2`` -> ``intermediate/output.dense``, ``bn0`` ->
``batch_norm``); transformers is a core dependency, so no extra is needed.

Weights: LAION's ``.pt`` files (CC0), on the Hugging Face hub in ``lukewys/laion_clap``:
``630k-audioset-best.pt`` (HTS-AT tiny, general audio; ``laion-clap``) and
``music_audioset_epoch_15_esc_90.14.pt`` (HTS-AT base, music + AudioSet; ``laion-clap-music``).
A file is a training checkpoint, ``{"epoch", "state_dict", ...}`` with ``module.``-prefixed keys;
it is read with ``torch.load(weights_only=True)`` (or inert stubs for anything else it pickles).
The fusion checkpoints (``*-fusion-*.pt``) are refused: their extra 4-crop input is not supported.

Front end (LAION's torchlibrosa ``Spectrogram`` + ``LogmelFilterBank``, whose tensors are in the
checkpoint and used as they are): 48 kHz mono, reflect-padded by 512, STFT as a stride-480 conv
with the stored 1024-tap windowed-DFT kernels (``conv_real``/``conv_imag``), power, the stored
``melW`` (64 Slaney mel bands, 50 Hz - 14 kHz), ``10 log10(max(x, 1e-10))``.

Input: the waveform is first quantised to 16 bits, as LAION's embedding functions do
(``get_audio_embedding_from_data``/``_filelist``: clipped to [-1, 1], ``int16(x * 32767) / 32767``,
truncating; ``quantize=False`` skips it). HTS-AT sees exactly 10 s (480,000 samples, 1001 frames,
bicubically resized to 1024 and folded into a 256 x 256 image of four 256-frame rows of 64 bands).
Audio is cut into consecutive 10 s windows; a shorter last (or only) window is filled as LAION's
``repeatpad`` (the window's audio repeated, then zeros) unless ``pad="zero"``. Every window gives
256 frames, each 1/25.6 s; frames past the audio's end are dropped: ``T = ceil(N / 1875)``, 25.6 Hz.

Layers (``L = 5``): the patch embedding and the output of each of the four Swin stages (before its
patch merging; the last after the final LayerNorm, the input of LAION's pooled embedding). A
stage's token grid is ``(4 rows x m bands) x w times``; each time position's ``m`` band tokens are
concatenated, so every layer has ``D = 16 x embed_dim`` (1536 for tiny, 2048 for base), and
coarser stages (128, 64, 32 positions per window) are repeated to 256 positions. The AudioSet
tagging head (``tscam_conv``, ``head``), the projection into the joint space and the text branch
are not layers.
"""
from __future__ import annotations

import functools
import math
import re
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mertbench.errors import ModelError
from mertbench.models.contract import Encoder
from mertbench.models.registry import register_encoder

SAMPLE_RATE = 48000
HOP = 480
N_FFT = 1024
WINDOW_SAMPLES = 480000  # 10 s: HTS-AT's fixed input
SPEC_SIZE = 256
HUB_REPO = "lukewys/laion_clap"
#: transformers' HTS-AT geometry of LAION's named audio models
GEOMETRY = {"tiny": (96, (2, 2, 6, 2)), "base": (128, (2, 2, 12, 2)), "large": (256, (2, 2, 12, 2))}
HEADS = (4, 8, 16, 32)
#: checkpoint keys that are not part of the audio encoder's layers
UNUSED = ("text_branch.", "text_projection", "text_transform.", "token_embedding.", "positional_embedding", "ln_final.",
          "audio_projection.", "audio_transform.", "logit_scale_a", "logit_scale_t", "audio_branch.tscam_conv.",
          "audio_branch.head.")
FRONT_END = {"audio_branch.spectrogram_extractor.stft.conv_real.weight": "conv_real",
             "audio_branch.spectrogram_extractor.stft.conv_imag.weight": "conv_imag",
             "audio_branch.logmel_extractor.melW": "melW"}
#: LAION -> transformers names inside a Swin block (transformers' conversion rules)
_BLOCK_RENAMES = (("attn.proj.", "attention.output.dense."), ("attn.relative_position", "attention.self.relative_position"),
                  ("norm1.", "layernorm_before."), ("norm2.", "layernorm_after."), ("mlp.fc1.", "intermediate.dense."),
                  ("mlp.fc2.", "output.dense."))


def audio_config(embed_dim: int, depths: tuple[int, ...], heads: tuple[int, ...] = HEADS, window: int = 8,
                 mel_bins: int = 64) -> Any:
    """transformers ``ClapAudioConfig`` of an unfused LAION HTS-AT."""
    from transformers import ClapAudioConfig

    return ClapAudioConfig(patch_embeds_hidden_size=embed_dim, depths=list(depths), num_attention_heads=list(heads),
                           window_size=window, num_mel_bins=mel_bins, spec_size=SPEC_SIZE, patch_size=4,
                           patch_stride=[4, 4], hidden_size=embed_dim * 2 ** (len(depths) - 1), enable_fusion=False)


class LogMel(nn.Module):
    """LAION's log-mel front end from the checkpoint's own STFT kernels and mel matrix: ``[B, N] -> [B, 1, T, mels]``."""

    def __init__(self, conv_real: Tensor, conv_imag: Tensor, mel: Tensor) -> None:
        super().__init__()
        self.register_buffer("conv_real", conv_real.float().clone())
        self.register_buffer("conv_imag", conv_imag.float().clone())
        self.register_buffer("melW", mel.float().clone())

    def forward(self, wav: Tensor) -> Tensor:
        pad = self.conv_real.shape[-1] // 2
        x = F.pad(wav.float()[:, None], (pad, pad), mode="reflect")
        power = F.conv1d(x, self.conv_real, stride=HOP).square() + F.conv1d(x, self.conv_imag, stride=HOP).square()
        mel = torch.matmul(power.transpose(1, 2), self.melW)
        return (10.0 * torch.log10(mel.clamp(min=1e-10)))[:, None]


def laion_to_hf(sd: dict[str, Tensor], source: str) -> tuple[dict[str, Tensor], dict[str, Tensor], list[str]]:
    """``(transformers audio-model state dict, front-end tensors, unused keys)``; ModelError on unknown keys."""
    hf: dict[str, Tensor] = {}
    front: dict[str, Tensor] = {}
    unused: list[str] = []
    unknown: list[str] = []
    for key, v in sd.items():
        if key in FRONT_END:
            front[FRONT_END[key]] = v
        elif key.startswith(UNUSED):
            unused.append(key)
        elif re.fullmatch(r"audio_branch\.layers\.\d+\.blocks\.\d+\.attn_mask", key):
            unused.append(key)  # the shifted-window mask: recomputed by transformers (a constant of the geometry)
        elif key.startswith("audio_branch."):
            k = "audio_encoder." + key.removeprefix("audio_branch.")
            k = k.replace("audio_encoder.bn0.", "audio_encoder.batch_norm.")
            if ".blocks." in k:
                if ".attn.qkv." in k:
                    q, kk, val = v.chunk(3, dim=0)
                    for part, t in (("query", q), ("key", kk), ("value", val)):
                        hf[k.replace("attn.qkv.", f"attention.self.{part}.")] = t
                    continue
                for old, new in _BLOCK_RENAMES:
                    k = k.replace(old, new)
            hf[k] = v
        else:
            unknown.append(key)
    if unknown:
        raise ModelError(f"{source}: keys that are not LAION-CLAP's: {unknown[:4]}")
    return hf, front, unused


def read_checkpoint(path: Path, label: str) -> dict[str, Tensor]:
    """The (``module.``-free) state dict of a LAION-CLAP ``.pt`` file."""
    from mertbench.models.user_weights import safe_load

    ckpt = safe_load(path, label)
    sd = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(sd, dict) or not any(str(k).removeprefix("module.").startswith("audio_branch.") for k in sd):
        raise ModelError(f"{path}: not a LAION-CLAP checkpoint (no 'state_dict' with audio_branch.* tensors)")
    return {str(k).removeprefix("module."): v for k, v in sd.items() if isinstance(v, Tensor)}


def geometry(sd: dict[str, Tensor], source: str) -> dict[str, Any]:
    """HTS-AT geometry from the tensor shapes (embed dim, depths, heads, window, mel bands)."""
    if any(".fusion_model." in k or ".mel_conv" in k for k in sd):
        raise ModelError(f"{source}: a fusion checkpoint (*-fusion-*.pt); only the unfused ones are supported "
                         f"(630k-audioset-best.pt, music_audioset_epoch_15_esc_90.14.pt)")
    try:
        embed = int(sd["audio_branch.patch_embed.proj.weight"].shape[0])
        stages = sorted({int(k.split(".")[2]) for k in sd if k.startswith("audio_branch.layers.")})
        depths = tuple(len({k.split(".")[4] for k in sd if k.startswith(f"audio_branch.layers.{s}.blocks.")})
                       for s in stages)
        tables = [sd[f"audio_branch.layers.{s}.blocks.0.attn.relative_position_bias_table"] for s in stages]
        mel_bins = int(sd["audio_branch.logmel_extractor.melW"].shape[1])
    except KeyError as exc:
        raise ModelError(f"{source}: not a LAION-CLAP HTS-AT audio branch (no {exc.args[0]})") from exc
    window = (math.isqrt(int(tables[0].shape[0])) + 1) // 2
    return {"embed_dim": embed, "depths": depths, "heads": tuple(int(t.shape[1]) for t in tables),
            "window": window, "mel_bins": mel_bins}


def frames_of(grid: Tensor, freq_ratio: int, positions: int) -> Tensor:
    """A stage's token grid ``[B, C, rows, w]`` -> ``[B, positions, (rows / freq_ratio) * C]``: rows are
    ``freq_ratio`` time blocks of bands; each time position's band tokens are concatenated (band-major)."""
    b, c, rows, w = grid.shape
    x = grid.reshape(b, c, freq_ratio, rows // freq_ratio, w).permute(0, 2, 4, 3, 1)  # [B, block, w, band, C]
    x = x.reshape(b, freq_ratio * w, -1)
    return x.repeat_interleave(positions // x.shape[1], dim=1) if x.shape[1] < positions else x


class ClapEncoder(Encoder):
    """LAION-CLAP's HTS-AT stages at 25.6 Hz (see the module doc)."""

    def __init__(self, model: Any, front_end: LogMel, name: str, pad: str = "repeat", window_batch: int = 4,
                 quantize: bool = True) -> None:
        super().__init__()
        if pad not in ("repeat", "zero"):
            raise ModelError(f"{name}: pad must be 'repeat' (LAION's repeatpad) or 'zero', got {pad!r}")
        self.model = model.eval()
        self.front_end = front_end
        cfg = model.config
        self.name = name
        self.pad = pad
        self.quantize = bool(quantize)
        self.window_batch = max(1, int(window_batch))
        self.sample_rate = SAMPLE_RATE
        self.freq_ratio = cfg.spec_size // cfg.num_mel_bins
        self.positions = cfg.spec_size * self.freq_ratio // cfg.patch_stride[1]  # 256 frames per window
        self.samples_per_frame = WINDOW_SAMPLES // self.positions  # 1875
        self.frame_rate = SAMPLE_RATE / self.samples_per_frame
        self.num_layers = len(cfg.depths) + 1
        self.dim = cfg.patch_embeds_hidden_size * cfg.spec_size // cfg.patch_stride[0] // self.freq_ratio
        self.normalize = None
        self.weights_info: dict[str, Any] = {}

    def num_frames(self, num_samples: int) -> int:
        return -(-int(num_samples) // self.samples_per_frame)

    def windows(self, wav: Tensor) -> Tensor:
        """``[B, N]`` -> ``[B, n_windows, 480000]``: consecutive 10 s windows, the last filled by ``pad``."""
        b, n = wav.shape
        count = max(1, -(-n // WINDOW_SAMPLES))
        rest = n - (count - 1) * WINDOW_SAMPLES
        last = wav[:, (count - 1) * WINDOW_SAMPLES:]
        if rest < WINDOW_SAMPLES:
            if self.pad == "repeat":
                last = last.repeat(1, WINDOW_SAMPLES // rest)
            last = F.pad(last, (0, WINDOW_SAMPLES - last.shape[1]))
        full = wav[:, :(count - 1) * WINDOW_SAMPLES].reshape(b, count - 1, WINDOW_SAMPLES)
        return torch.cat([full, last[:, None]], dim=1)

    def window_states(self, windows: Tensor) -> Tensor:
        """``[n, 480000]`` -> ``[L, n, 256, D]``."""
        enc = self.model.audio_encoder
        out = enc(self.front_end(windows), output_hidden_states=True, output_hidden_states_before_downsampling=True,
                  return_dict=True)
        grids = list(out.hidden_states)
        grids[-1] = enc.norm(grids[-1].permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return torch.stack([frames_of(g, self.freq_ratio, self.positions) for g in grids])

    def forward(self, wav: Tensor, lengths: Tensor | None = None) -> Tensor:
        """``[L, B, T, D]``. Items shorter than the batch (``lengths``) run alone at their own length (their
        last window is filled from their own audio); their frames past the end are zeros."""
        if wav.ndim != 2:
            raise ModelError(f"{self.name}: expected a waveform batch [B, N]; got shape {tuple(wav.shape)}")
        param = next(self.model.parameters())
        wav = wav.to(device=param.device, dtype=torch.float32)
        if lengths is not None and int(lengths.min()) < wav.shape[1]:
            out = wav.new_zeros(self.num_layers, wav.shape[0], self.num_frames(wav.shape[1]), self.dim)
            for i, n in enumerate(torch.as_tensor(lengths).tolist()):
                h = self.forward(wav[i:i + 1, :int(n)])
                out[:, i, :h.shape[2]] = h[:, 0]
            return out
        b = wav.shape[0]
        if self.quantize:  # LAION's float32_to_int16 / int16_to_float32 round trip
            wav = (wav.clamp(-1.0, 1.0) * 32767.0).to(torch.int16).float() / 32767.0
        win = self.windows(wav)
        flat = win.reshape(-1, WINDOW_SAMPLES)
        states = torch.cat([self.window_states(flat[s:s + self.window_batch])
                            for s in range(0, flat.shape[0], self.window_batch)], dim=1)
        states = states.reshape(self.num_layers, b, win.shape[1] * self.positions, self.dim)
        return states[:, :, :self.num_frames(wav.shape[1])]

    def describe(self) -> dict[str, object]:
        d = super().describe()
        d.update(pad=self.pad, quantize=self.quantize, window_s=WINDOW_SAMPLES / SAMPLE_RATE, weights=self.weights_info)
        return d


def load_clap(checkpoint: str | Path | None = None, file: str = "630k-audioset-best.pt", download: bool = True,
              pad: str = "repeat", window_batch: int = 4, quantize: bool = True, repo: str = HUB_REPO,
              device: str | None = None, name: str | None = None) -> ClapEncoder:
    """A LAION-CLAP checkpoint's audio branch as an encoder.

    ``checkpoint``: the ``.pt`` file or a folder holding ``file``; without it, ``file`` from the Hugging
    Face hub repository ``repo`` (``lukewys/laion_clap``; its cache, else downloaded when ``download``
    and online).
    """
    from transformers import ClapAudioModel

    from mertbench.models.user_weights import resolve_checkpoint

    label = name or "laion-clap"
    if not re.fullmatch(r"[A-Za-z0-9_.-]+\.pt", file) or file.startswith("."):
        raise ModelError(f"{label}: file={file!r} is not a checkpoint file name of {repo} (e.g. 630k-audioset-best.pt)")
    path = resolve_checkpoint(label, file, checkpoint, hub=repo, download=download)
    sd = read_checkpoint(path, label)
    geo = geometry(sd, str(path))
    hf_sd, front, unused = laion_to_hf(sd, str(path))
    cfg = audio_config(geo["embed_dim"], geo["depths"], geo["heads"], geo["window"], geo["mel_bins"])
    model = ClapAudioModel(cfg)
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(hf_sd)), sorted(set(hf_sd) - set(own))
    if missing or unexpected or len(front) != len(FRONT_END):
        raise ModelError(f"{path}: does not fit HTS-AT {geo} (missing {missing[:4]}, unexpected {unexpected[:4]}, "
                         f"front end {sorted(front)})")
    bad = [f"{k} {tuple(v.shape)} != {tuple(own[k].shape)}" for k, v in hf_sd.items() if v.shape != own[k].shape]
    if bad:
        raise ModelError(f"{path}: tensor shapes do not fit HTS-AT {geo}: {bad[:3]}")
    model.load_state_dict(hf_sd, strict=True)
    if front["melW"].shape[0] != N_FFT // 2 + 1 or front["conv_real"].shape != (N_FFT // 2 + 1, 1, N_FFT):
        raise ModelError(f"{path}: front end of shape {tuple(front['conv_real'].shape)} / {tuple(front['melW'].shape)}; "
                         f"expected LAION's 1024-point STFT and [513, mel bands] mel matrix")
    enc = ClapEncoder(model, LogMel(front["conv_real"], front["conv_imag"], front["melW"]), name=label, pad=pad,
                      window_batch=window_batch, quantize=quantize)
    if device is not None:
        enc.to(device)
    enc.weights_info = {"checkpoint": str(path), "geometry": {k: list(v) if isinstance(v, tuple) else v
                                                              for k, v in geo.items()},
                        "unused_tensors": len(unused)}
    return enc.eval()


def _params(size: str) -> Callable[[], int]:
    @functools.lru_cache(maxsize=1)
    def count() -> int:
        from transformers import ClapAudioModel

        with torch.device("meta"):
            return sum(p.numel() for p in ClapAudioModel(audio_config(*GEOMETRY[size])).parameters())

    return count


_INFO = {"sample_rate": SAMPLE_RATE, "frame_rate": SAMPLE_RATE / (WINDOW_SAMPLES // 256), "num_layers": 5,
         "family": "CLAP"}


@register_encoder("laion-clap", "LAION-CLAP audio branch, HTS-AT tiny (630k-audioset-best.pt from the hub repo "
                  "lukewys/laion_clap, or checkpoint=PATH): patch embedding + 4 Swin stages, 5 x 1536 at 25.6 Hz, "
                  "48 kHz, 10 s windows (docs/models.md)", dim=1536, parameters=_params("tiny"),
                  weights=f"hub:{HUB_REPO}:630k-audioset-best.pt", **_INFO)
def laion_clap(checkpoint: str | None = None, file: str = "630k-audioset-best.pt", **options: Any) -> ClapEncoder:
    return load_clap(checkpoint, file=file, name="laion-clap", **options)


@register_encoder("laion-clap-music", "LAION-CLAP audio branch, HTS-AT base, music + AudioSet "
                  "(music_audioset_epoch_15_esc_90.14.pt from lukewys/laion_clap, or checkpoint=PATH): patch "
                  "embedding + 4 Swin stages, 5 x 2048 at 25.6 Hz, 48 kHz, 10 s windows (docs/models.md)",
                  dim=2048, parameters=_params("base"),
                  weights=f"hub:{HUB_REPO}:music_audioset_epoch_15_esc_90.14.pt", **_INFO)
def laion_clap_music(checkpoint: str | None = None, file: str = "music_audioset_epoch_15_esc_90.14.pt",
                     **options: Any) -> ClapEncoder:
    return load_clap(checkpoint, file=file, name="laion-clap-music", **options)
