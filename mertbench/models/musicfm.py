"""MusicFM (Won, Hung and Le, ICASSP 2024; minzwon/musicfm) as an all-layers encoder.

Weights the user downloads (MusicFM is not on PyPI; weights MIT-licensed with the code): the hub repo
``minzwon/MusicFM`` holds ``pretrained_msd.pt`` + ``msd_stats.json`` (Million Song Dataset) and
``pretrained_fma.pt`` + ``fma_stats.json`` (FMA-large; the files before 13 Feb 2024 were wrong).
``musicfm-msd`` / ``musicfm-fma`` read them from ``checkpoint=DIR`` (a folder holding the two files,
e.g. the repo's ``data/`` folder), else ``$MERTBENCH_MUSICFM_DIR``, else the Hugging Face cache or the
hub (``download=False`` or ``MERTBENCH_OFFLINE=1``: never download).

Why a port (:mod:`mertbench.models.mel_conformer`) and not the official code: the repository is not a
package, its ``MelSTFT`` imports torchaudio (whose binary does not load with every torch build), its
constructor fetches a transformers config from the hub, and it reads ``hidden_states`` from the bare
``Wav2Vec2ConformerEncoder``, which transformers >= 5 no longer returns. The conformer itself is
transformers' ``Wav2Vec2ConformerEncoder`` (what MusicFM imports), with the configuration of
``facebook/wav2vec2-conformer-rope-large-960h-ft`` (rotary, 16 heads, FFN 4096, Swish) at 12 layers
of 1024; no optional package is needed.

Released file layout (``model/musicfm_25hz.py``): ``torch.load(pt)["state_dict"]`` with every key
prefixed ``model.`` (the reference strips six characters and loads strictly into ``MusicFM25Hz``):
``conv.*`` and ``conformer.*`` (the encoder; legacy weight-norm names ``pos_conv_embed.conv.weight_g``
/ ``weight_v``; BatchNorm ``num_batches_tracked`` saved as float), torchaudio's front-end buffers
``preprocessor_melspec_2048.mel_stft.spectrogram.window`` [2048] and ``...mel_scale.fb`` [1025, 128]
(loaded and used), and the pretraining heads ``linear`` [4096, 1024], ``cls_token`` [1024] and
``quantizer_melspec_2048_0.{random_projection [512, 16], codebook [4096, 16]}`` (checked and
reported in ``weights_info["training_heads"]``, not part of the encoder). Any other key, a missing
key or a wrong shape is an error. The stats JSON gives ``melspec_2048_mean`` / ``melspec_2048_std``.

Layers: the 13 hidden states ``get_latent(layer_ix)`` indexes (0 = conv subsampling output, 12 =
final LayerNorm), ``13 x 1024`` at 25 Hz (see :mod:`mertbench.models.mel_conformer`).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from mertbench.errors import ModelError
from mertbench.models.mel_conformer import (
    Geometry,
    MelConformer,
    MelConformerEncoder,
    hub_file,
    infer_geometry,
    load_released,
)
from mertbench.models.registry import register_directory_loader, register_encoder

HUB_REPO = "minzwon/MusicFM"
ENV_DIR = "MERTBENCH_MUSICFM_DIR"
#: variant -> (checkpoint file, stats file) in the hub repo / the user's folder
FILES = {"msd": ("pretrained_msd.pt", "msd_stats.json"), "fma": ("pretrained_fma.pt", "fma_stats.json")}
PREFIX = "model."
FRONTEND_KEYS = {"preprocessor_melspec_2048.mel_stft.spectrogram.window": "frontend.window",
                 "preprocessor_melspec_2048.mel_stft.mel_scale.fb": "frontend.fb"}
#: pretraining heads of ``MusicFM25Hz`` (not encoder layers): key -> shape given the geometry
HEADS = {"linear.weight": lambda g: (4096, g.dim), "linear.bias": lambda g: (4096,), "cls_token": lambda g: (g.dim,),
         "quantizer_melspec_2048_0.random_projection": lambda g: (g.n_mels * 4, 16),
         "quantizer_melspec_2048_0.codebook": lambda g: (4096, 16)}


def _how(variant: str) -> str:
    pt, stats = FILES[variant]
    return (f"download https://huggingface.co/{HUB_REPO}/resolve/main/{pt} and .../{stats} into a folder and pass "
            f"checkpoint=DIR (or set {ENV_DIR}=DIR)")


def musicfm_files(variant: str, checkpoint: str | os.PathLike | None = None, revision: str | None = None,
                  download: bool = True) -> tuple[Path, Path]:
    """``(checkpoint .pt, stats .json)`` of ``variant``: from ``checkpoint`` (a folder, or the .pt
    file with the stats JSON beside it), ``$MERTBENCH_MUSICFM_DIR``, the HF cache or the hub."""
    if variant not in FILES:
        raise ModelError(f"MusicFM variant {variant!r}: expected one of {sorted(FILES)}")
    pt_name, stats_name = FILES[variant]
    folder = checkpoint if checkpoint is not None else os.environ.get(ENV_DIR) or None
    if folder is not None:
        path = Path(folder).expanduser()
        if path.is_file():
            pt, stats = path, path.parent / stats_name
        elif path.is_dir():
            pt, stats = path / pt_name, path / stats_name
        else:
            raise ModelError(f"checkpoint={str(folder)!r}: no such folder or file; {_how(variant)}")
        for f in (pt, stats):
            if not f.is_file():
                raise ModelError(f"{f}: MusicFM-{variant.upper()} file missing; {_how(variant)}")
        return pt, stats
    return (Path(hub_file(HUB_REPO, pt_name, revision=revision, download=download, how=_how(variant))),
            Path(hub_file(HUB_REPO, stats_name, revision=revision, download=download, how=_how(variant))))


def read_stats(path: Path) -> tuple[float, float]:
    """``(melspec_2048_mean, melspec_2048_std)`` of a MusicFM stats JSON."""
    try:
        stats = json.loads(path.read_text())
        return float(stats["melspec_2048_mean"]), float(stats["melspec_2048_std"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{path}: not a MusicFM stats JSON with melspec_2048_mean and melspec_2048_std "
                         f"({type(exc).__name__}: {exc})") from exc


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The released state dict without its ``model.`` prefix (``torch.load(..., weights_only=True)``)."""
    try:
        try:  # memory-mapped: the 1.3 GB file is not held twice while loading
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # a legacy (non-zip) torch file cannot be mapped
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - truncated download, not a torch file
        raise ModelError(f"{path}: cannot read the MusicFM checkpoint ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''}); download it again") from exc
    sd = obj.get("state_dict", obj) if isinstance(obj, dict) else None
    if not isinstance(sd, dict) or not sd or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise ModelError(f"{path}: not a MusicFM checkpoint (expected a dict with a 'state_dict' of tensors)")
    bad = [k for k in sd if not str(k).startswith(PREFIX)]
    if bad:
        raise ModelError(f"{path}: MusicFM state dict keys must start with {PREFIX!r}; found {bad[:3]}")
    return {k[len(PREFIX):]: v for k, v in sd.items()}


def load_musicfm(variant: str, checkpoint: str | os.PathLike | None = None, revision: str | None = None,
                 download: bool = True, device: str | None = None, window_s: float | None = 30.0,
                 window_overlap_s: float = 5.0, name: str | None = None) -> MelConformerEncoder:
    """MusicFM-``variant`` (``msd`` or ``fma``) with its released weights (see the module doc)."""
    pt, stats_path = musicfm_files(variant, checkpoint, revision=revision, download=download)
    mean, std = read_stats(stats_path)
    sd = read_state_dict(pt)
    g = infer_geometry(sd, Geometry())
    heads = {}
    for key, shape in HEADS.items():
        if key not in sd:
            raise ModelError(f"{pt}: not a MusicFM checkpoint (no {PREFIX}{key})")
        if tuple(sd[key].shape) != shape(g):
            raise ModelError(f"{pt}: {PREFIX}{key} has shape {tuple(sd[key].shape)}, expected {shape(g)}")
        heads[key] = tuple(sd.pop(key).shape)
    net = MelConformer(g, mean, std)
    n = load_released(net, sd, str(pt), renames=FRONTEND_KEYS)
    enc = MelConformerEncoder(net, name or f"musicfm-{variant}", window_s=window_s, window_overlap_s=window_overlap_s,
                              weights_info={"checkpoint": str(pt), "stats": str(stats_path), "tensors": n,
                                            "training_heads": sorted(heads)})
    if device is not None:
        enc.to(device)
    return enc.eval()


_INFO = dict(sample_rate=24000, frame_rate=25.0, num_layers=13, dim=1024, parameters=Geometry().num_parameters(),
             family="MusicFM", folder_env=ENV_DIR)


@register_encoder("musicfm-msd", "MusicFM trained on the Million Song Dataset (weights you download: "
                  "minzwon/MusicFM pretrained_msd.pt + msd_stats.json; checkpoint=DIR, $MERTBENCH_MUSICFM_DIR or "
                  "the HF cache/hub): 13 x 1024 at 25 Hz (docs/models.md)",
                  **_INFO, weights=f"hub:{HUB_REPO}", hub_file=FILES["msd"][0])
def musicfm_msd(checkpoint: str | None = None, revision: str | None = None, download: bool = True,
                device: str | None = None, window_s: float | None = 30.0,
                window_overlap_s: float = 5.0) -> MelConformerEncoder:
    return load_musicfm("msd", checkpoint, revision, download, device, window_s, window_overlap_s)


@register_encoder("musicfm-fma", "MusicFM trained on FMA-large (weights you download: minzwon/MusicFM "
                  "pretrained_fma.pt + fma_stats.json; checkpoint=DIR, $MERTBENCH_MUSICFM_DIR or the HF "
                  "cache/hub): 13 x 1024 at 25 Hz (docs/models.md)",
                  **_INFO, weights=f"hub:{HUB_REPO}", hub_file=FILES["fma"][0])
def musicfm_fma(checkpoint: str | None = None, revision: str | None = None, download: bool = True,
                device: str | None = None, window_s: float | None = 30.0,
                window_overlap_s: float = 5.0) -> MelConformerEncoder:
    return load_musicfm("fma", checkpoint, revision, download, device, window_s, window_overlap_s)


def _dir_loader(path: Path, **options: Any) -> MelConformerEncoder | None:
    """A folder holding one MusicFM release (``pretrained_msd.pt`` or ``pretrained_fma.pt`` and its stats)."""
    found = [v for v, (pt, _) in FILES.items() if (Path(path) / pt).is_file()]
    if not found:
        return None
    if len(found) > 1:
        raise ModelError(f"{path}: holds both MusicFM checkpoints ({', '.join(FILES[v][0] for v in found)}); "
                         f"load 'musicfm-msd' or 'musicfm-fma' with checkpoint=DIR")
    return load_musicfm(found[0], checkpoint=path, name=Path(path).name, **options)


register_directory_loader("musicfm", _dir_loader, priority=8)
