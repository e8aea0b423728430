"""MuQ (Zhu et al. 2025; tencent-ailab/MuQ, PyPI ``muq``) as an all-layers encoder.

Weights the user downloads (CC-BY-NC 4.0): the hub repo ``OpenMuQ/MuQ-large-msd-iter`` (trained on
the Million Song Dataset), saved by huggingface_hub's ``PyTorchModelHubMixin``: ``config.json``
(``MuQConfig``: ``encoder_dim``, ``encoder_depth``, ``conv_dim``, ``n_mels``, ``label_rate``,
``stat`` with ``melspec_2048_mean`` / ``_std``, ``w2v2_config`` for the conformer, the target
options) and ``model.safetensors`` (or ``pytorch_model.bin``). ``muq-large`` reads them from
``checkpoint=DIR``, else ``$MERTBENCH_MUQ_DIR``, else the Hugging Face cache or the hub
(``download=False`` or ``MERTBENCH_OFFLINE=1``: never download).

Why a port (:mod:`mertbench.models.mel_conformer`) and not the ``muq`` package: muq 0.1.0 (an sdist
only) requires torchaudio (its ``MelSTFT`` imports it at module import; torchaudio's binary does not
load with every torch build, and pip may replace torch to satisfy it), plus einops, easydict,
librosa and x_clip; and it reads ``hidden_states`` from the bare transformers
``Wav2Vec2ConformerEncoder``, which transformers >= 5 no longer returns. MuQModel's inference path
is MusicFM's (mel front end, residual conv subsampling, transformers' ``Wav2Vec2ConformerEncoder``
built from ``w2v2_config``), so the shared port reads its state dict; no optional package is needed.

Released key layout (``MuQ.state_dict()``, prefix ``model.`` for ``MuQ.model``): ``conv.*`` and
``conformer.*`` (the encoder; weight-norm names ``pos_conv_embed.conv.parametrizations.weight.
original0/1`` or the legacy ``weight_g`` / ``weight_v``), and the pretraining heads: ``linear``
[codebook_size, encoder_dim], ``cls_token`` [encoder_dim], and either ``quantizer_melspec_2048.
{random_projection, codebook}`` (random-projection targets) or ``rvq.*`` (``use_rvq_target`` /
``use_vq_target``: Mel-RVQ), ``recon_proj.*`` with ``recon_loss_ratio``. The heads are checked
against the config and reported in ``weights_info["training_heads"]``; any other key, a missing
key or a wrong shape is an error. MuQ's ``MelSTFT`` is not a module, so the front end has no keys:
its window and filter bank are computed (torchaudio's formulas).

Layers: ``MuQ(x, output_hidden_states=True).hidden_states``: ``encoder_depth + 1`` = 13 x 1024 at
``label_rate`` 25 Hz (0 = conv subsampling output, 12 = final LayerNorm).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from mertbench.errors import ModelError
from mertbench.models.mel_conformer import HOP, Geometry, MelConformer, MelConformerEncoder, hub_file, load_released
from mertbench.models.registry import register_directory_loader, register_encoder

HUB_REPO = "OpenMuQ/MuQ-large-msd-iter"
ENV_DIR = "MERTBENCH_MUQ_DIR"
CONFIG = "config.json"
WEIGHTS = ("model.safetensors", "pytorch_model.bin")
PREFIX = "model."
#: MuQModel's ``n_fold`` -> time strides of the two conv blocks
STRIDES = {4: (2, 2), 2: (2, 1)}
#: w2v2_config fields the reference reads (an EasyDict: a missing one fails there too)
W2V2_FIELDS = ("num_attention_heads", "intermediate_size", "hidden_act", "position_embeddings_type",
               "layer_norm_eps", "conv_depthwise_kernel_size", "num_conv_pos_embeddings",
               "num_conv_pos_embedding_groups")


def _how() -> str:
    return (f"download {CONFIG} and {WEIGHTS[0]} from https://huggingface.co/{HUB_REPO} into a folder and pass "
            f"checkpoint=DIR (or set {ENV_DIR}=DIR)")


def muq_files(checkpoint: str | os.PathLike | None = None, revision: str | None = None,
              download: bool = True) -> tuple[Path, Path]:
    """``(config.json, weights file)`` from ``checkpoint`` (a folder), ``$MERTBENCH_MUQ_DIR``, the HF cache or the hub."""
    folder = checkpoint if checkpoint is not None else os.environ.get(ENV_DIR) or None
    if folder is not None:
        path = Path(folder).expanduser()
        if not path.is_dir():
            raise ModelError(f"checkpoint={str(folder)!r}: no such folder; {_how()}")
        if not (path / CONFIG).is_file():
            raise ModelError(f"{path / CONFIG}: MuQ file missing; {_how()}")
        weights = next((path / w for w in WEIGHTS if (path / w).is_file()), None)
        if weights is None:
            raise ModelError(f"{path / WEIGHTS[0]}: MuQ file missing (nor {WEIGHTS[1]}); {_how()}")
        return path / CONFIG, weights
    config = Path(hub_file(HUB_REPO, CONFIG, revision=revision, download=download, how=_how()))
    try:
        return config, Path(hub_file(HUB_REPO, WEIGHTS[0], revision=revision, download=download, how=_how()))
    except ModelError as first:  # PyTorchModelHubMixin wrote pytorch_model.bin before safetensors
        try:
            return config, Path(hub_file(HUB_REPO, WEIGHTS[1], revision=revision, download=download, how=_how()))
        except ModelError:
            raise first from None


def geometry_from_config(cfg: dict[str, Any], source: str) -> tuple[Geometry, float, float]:
    """``(geometry, mel mean, mel std)`` of a MuQ ``config.json``."""
    try:
        w2v2 = cfg.get("w2v2_config") or {}
        missing = [f for f in W2V2_FIELDS if f not in w2v2]
        if missing:
            raise KeyError(f"w2v2_config.{missing[0]}")
        n_fold = int(100 // cfg.get("label_rate", 25))
        if n_fold not in STRIDES:
            raise ValueError(f"label_rate {cfg.get('label_rate')} (supported: 25, 50)")
        if int(cfg.get("hop_length", HOP)) != HOP or list(cfg.get("features", ["melspec_2048"])) != ["melspec_2048"]:
            raise ValueError("only hop_length 240 and features ['melspec_2048'] are MuQ's front end")
        pos = str(w2v2["position_embeddings_type"])
        g = Geometry(n_mels=int(cfg.get("n_mels", 128)), conv_dim=int(cfg.get("conv_dim", 512)),
                     dim=int(cfg.get("encoder_dim", 1024)), depth=int(cfg.get("encoder_depth", 12)),
                     heads=int(w2v2["num_attention_heads"]), ffn=int(w2v2["intermediate_size"]),
                     time_strides=STRIDES[n_fold], depthwise_kernel=int(w2v2["conv_depthwise_kernel_size"]),
                     pos_conv_kernel=int(w2v2["num_conv_pos_embeddings"]),
                     pos_conv_groups=int(w2v2["num_conv_pos_embedding_groups"]), hidden_act=str(w2v2["hidden_act"]),
                     position_embeddings=pos, rotary_base=int(float(w2v2.get("rotary_embedding_base", 10000))),
                     max_source_positions=int(w2v2.get("max_source_positions", 5000)),
                     layer_norm_eps=float(w2v2["layer_norm_eps"]))
        stat = cfg["stat"]
        return g, float(stat["melspec_2048_mean"]), float(stat["melspec_2048_std"])
    except (KeyError, ValueError, TypeError) as exc:
        raise ModelError(f"{source}: not a MuQ config.json ({type(exc).__name__}: {exc})") from exc


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """The released state dict (``model.safetensors`` or ``pytorch_model.bin``) without the ``model.`` prefix."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            sd = load_file(str(path))
        else:
            sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - truncated download, not a weights file
        raise ModelError(f"{path}: cannot read the MuQ weights ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''}); download it again") from exc
    bad = [k for k in sd if not str(k).startswith(PREFIX)]
    if bad or not sd:
        raise ModelError(f"{path}: MuQ state dict keys must start with {PREFIX!r} (MuQ.model); found {bad[:3]}")
    return {k[len(PREFIX):]: v for k, v in sd.items()}


def split_heads(sd: dict[str, torch.Tensor], cfg: dict[str, Any], g: Geometry, source: str) -> list[str]:
    """Remove MuQModel's pretraining heads from ``sd`` (checked against the config); their keys."""
    size = int(cfg.get("codebook_size", 4096))
    fixed = {"linear.weight": (size, g.dim), "linear.bias": (size,), "cls_token": (g.dim,)}
    rvq_like = any(cfg.get(k) for k in ("use_rvq_target", "use_vq_target", "use_encodec_target"))
    if not rvq_like:
        n_fold = 4 if g.time_strides == (2, 2) else 2
        fixed.update({"quantizer_melspec_2048.random_projection": (g.n_mels * n_fold, int(cfg.get("codebook_dim", 16))),
                      "quantizer_melspec_2048.codebook": (size, int(cfg.get("codebook_dim", 16)))})
    heads = []
    for key, shape in fixed.items():
        if key not in sd:
            raise ModelError(f"{source}: no {PREFIX}{key}, which MuQModel has with this config.json")
        if tuple(sd[key].shape) != shape:
            raise ModelError(f"{source}: {PREFIX}{key} has shape {tuple(sd[key].shape)}, expected {shape}")
        sd.pop(key)
        heads.append(key)
    prefixes = (["rvq."] if rvq_like else []) + (["recon_proj."] if cfg.get("recon_loss_ratio") else [])
    for key in [k for k in sd if any(k.startswith(p) for p in prefixes)]:
        sd.pop(key)
        heads.append(key)
    return sorted(heads)


def load_muq(checkpoint: str | os.PathLike | None = None, revision: str | None = None, download: bool = True,
             device: str | None = None, window_s: float | None = 30.0, window_overlap_s: float = 5.0,
             name: str = "muq-large") -> MelConformerEncoder:
    """MuQ with its released weights (see the module doc)."""
    config_path, weights_path = muq_files(checkpoint, revision=revision, download=download)
    try:
        cfg = json.loads(config_path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"{config_path}: unreadable JSON ({exc})") from exc
    if not isinstance(cfg, dict):
        raise ModelError(f"{config_path}: not a MuQ config.json (not a JSON object)")
    g, mean, std = geometry_from_config(cfg, str(config_path))
    sd = read_weights(weights_path)
    heads = split_heads(sd, cfg, g, str(weights_path))
    net = MelConformer(g, mean, std)
    n = load_released(net, sd, str(weights_path), computed=("frontend.window", "frontend.fb"))
    enc = MelConformerEncoder(net, name, window_s=window_s, window_overlap_s=window_overlap_s,
                              weights_info={"config": str(config_path), "weights": str(weights_path), "tensors": n,
                                            "training_heads": heads})
    if device is not None:
        enc.to(device)
    return enc.eval()


@register_encoder("muq-large", "MuQ-large trained on the Million Song Dataset (weights you download: "
                  "OpenMuQ/MuQ-large-msd-iter config.json + model.safetensors, CC-BY-NC 4.0; checkpoint=DIR, "
                  "$MERTBENCH_MUQ_DIR or the HF cache/hub): 13 x 1024 at 25 Hz (docs/models.md)",
                  sample_rate=24000, frame_rate=25.0, num_layers=13, dim=1024,
                  parameters=Geometry().num_parameters(), family="MuQ", weights=f"hub:{HUB_REPO}",
                  hub_file=WEIGHTS[0], folder_env=ENV_DIR)
def muq_large(checkpoint: str | None = None, revision: str | None = None, download: bool = True,
              device: str | None = None, window_s: float | None = 30.0,
              window_overlap_s: float = 5.0) -> MelConformerEncoder:
    return load_muq(checkpoint, revision, download, device, window_s, window_overlap_s)


def _dir_loader(path: Path, **options: Any) -> MelConformerEncoder | None:
    """A MuQ folder: its config.json has MuQConfig's ``encoder_dim`` and ``w2v2_config``."""
    cfg_path = Path(path) / CONFIG
    if not cfg_path.is_file():
        return None
    try:
        cfg = json.loads(cfg_path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(cfg, dict) or "w2v2_config" not in cfg or "encoder_dim" not in cfg:
        return None
    return load_muq(checkpoint=path, name=Path(path).name, **options)


register_directory_loader("muq", _dir_loader, priority=8)
