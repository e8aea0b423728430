"""Where MERT weights come from: random init of a preset, a HF MERT-v1 folder, the HF hub (released
checkpoints), a fairseq checkpoint. Registers the ``mert-*``, ``random-mert-*``, ``toy``, ``small`` and
``mert-fairseq`` model names and the HF-folder directory loader."""
from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import torch

from mertbench.errors import ModelError
from mertbench.models.contract import Encoder
from mertbench.models.mert.checkpoint import load_fairseq, load_mert_model
from mertbench.models.mert.config import _PRESETS, MertConfig, resolve_normalize, torch_dtype
from mertbench.models.mert.encoder import MertEncoder
from mertbench.models.mert.model import MertModel
from mertbench.models.registry import register_directory_loader, register_encoder

#: seed of the random-init baselines
RANDOM_SEED = 0


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
        model.to(device=device, dtype=torch_dtype(dtype))
    name = preset if preset in ("toy", "small") else f"random-{preset.removeprefix('random-')}"
    return MertEncoder(model.eval(), name, resolve_normalize(normalize, None), window_s=window_s,
                       window_overlap_s=window_overlap_s, source=f"random init, preset {preset}, seed {seed}")



def load_mert_dir(path: Path, normalize: object = "model", device: str | None = None,
                  dtype: str | torch.dtype | None = None, window_s: float | None = 60.0,
                  window_overlap_s: float = 5.0, name: str | None = None) -> MertEncoder | None:
    """A MERT-v1 HF checkpoint folder as a :class:`MertEncoder`; None when ``path`` is another format.

    Geometry from config.json (sample rate from its ``sample_rate``, else
    preprocessor_config.json ``sampling_rate``); waveform normalisation from
    preprocessor_config.json ``do_normalize`` (``"zmuv"`` when true) unless ``normalize`` overrides
    it (``"zmuv"``, ``"peak"``, ``"none"``). Zero missing and zero unexpected keys are required.
    """
    path = Path(path).expanduser()
    loaded = load_mert_model(path)
    if loaded is None:
        return None
    model, report = loaded
    if device is not None or dtype is not None:
        model.to(device=device, dtype=torch_dtype(dtype))
    default_norm = "zmuv" if report["do_normalize"] else None
    enc = MertEncoder(model.eval(), name or path.name, resolve_normalize(normalize, default_norm),
                      window_s=window_s, window_overlap_s=window_overlap_s, source=str(path))
    enc.load_report = report  # type: ignore[attr-defined]
    return enc


#: HF hub ids of the released checkpoints.
RELEASED = {"mert-95m": "m-a-p/MERT-v1-95M", "mert-330m": "m-a-p/MERT-v1-330M"}


def released_mert(preset: str, checkpoint: str | None = None, revision: str | None = None,
                  **options: Any) -> MertEncoder:
    """The released MERT-v1 weights: ``checkpoint`` folder, else the HF hub cache / the hub.

    Raises ModelError with the fix (download the folder and pass it, or use ``random-<preset>``)
    when neither is available.
    """
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
                  **_info("mert-95m"), family="MERT", weights="hub:m-a-p/MERT-v1-95M")
def _mert_95m(**options: Any) -> MertEncoder:
    return released_mert("mert-95m", **options)


@register_encoder("mert-330m", "MERT-v1-330M released weights (HF m-a-p/MERT-v1-330M; checkpoint=DIR or HF cache)",
                  **_info("mert-330m"), family="MERT", weights="hub:m-a-p/MERT-v1-330M")
def _mert_330m(**options: Any) -> MertEncoder:
    return released_mert("mert-330m", **options)


@register_encoder("random-mert-95m", "MERT-v1-95M geometry, random init (fairseq init, seed 0): baseline",
                  **_info("mert-95m"), family="MERT", weights="random")
def _random_95m(**options: Any) -> MertEncoder:
    return random_mert("mert-95m", **options)


@register_encoder("random-mert-330m", "MERT-v1-330M geometry (pre-LN), random init (seed 0): baseline",
                  **_info("mert-330m"), family="MERT", weights="random")
def _random_330m(**options: Any) -> MertEncoder:
    return random_mert("mert-330m", **options)


@register_encoder("toy", "toy MERT geometry (H=32, 2 layers), random init: CPU tests/smoke runs", **_info("toy"),
                  family="MERT", weights="random")
def _toy(**options: Any) -> MertEncoder:
    return random_mert("toy", **options)


@register_encoder("small", "small MERT geometry (H=256, 4 layers), random init: CPU experiments", **_info("small"),
                  family="MERT", weights="random")
def _small(**options: Any) -> MertEncoder:
    return random_mert("small", **options)


def _dir_loader(path: Path, **options: Any) -> Encoder | None:
    return load_mert_dir(path, **options)


register_directory_loader("hf-mert", _dir_loader, priority=10)


@register_encoder("mert-fairseq", "a fairseq MERT checkpoint: load_model('mert-fairseq', path='MERT-v1-95M_fairseq.pt')",
                  family="MERT", weights="user")
def _mert_fairseq(path: str, config: str | None = None, normalize: object = "none", **options: Any) -> MertEncoder:
    model, _report = load_fairseq(path, config)
    enc = MertEncoder(model, Path(path).stem, resolve_normalize(normalize, None), source=str(path), **options)
    enc.load_report = _report  # type: ignore[attr-defined]
    return enc
