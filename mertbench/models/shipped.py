"""Encoders whose weights ship inside the mertbench package (no download, works offline).

``mert-tiny-render``: the reference tiny MERT pretrained by mertbench itself on the rendered suite's
pretraining corpus only (never on task audio), with the recipe and command documented in
docs/pretrain.md ("A tiny recipe that learns"). Its folder, ``mertbench/models/weights/mert-tiny-render/``,
is an HF MERT-v1 folder (``config.json``, ``model.safetensors``, ``preprocessor_config.json``) plus
its provenance (``pretraining.json``), its training curve (``metrics.csv``, ``eval_curves.png``) and
``SHA256SUMS``; the weights are checked against it before loading (safetensors: no code runs).

``random-mert-tiny-render``: the same architecture with random weights (fairseq initialisation,
seed 0), the baseline every claim about the pretrained model is measured against.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from mertbench.errors import ModelError
from mertbench.models.registry import register_encoder

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
TINY_RENDER = "mert-tiny-render"


def shipped_dir(name: str) -> Path:
    """The folder of a shipped model, after checking its files against ``SHA256SUMS``."""
    folder = WEIGHTS_DIR / name
    sums = folder / "SHA256SUMS"
    if not sums.is_file():
        raise ModelError(f"shipped model {name!r}: {sums} is missing; reinstall mertbench (pip install -e .)")
    for line in sums.read_text().splitlines():
        if not line.strip():
            continue
        digest, fname = line.split(maxsplit=1)
        path = folder / fname.strip()
        if not path.is_file():
            raise ModelError(f"shipped model {name!r}: {path} is missing; reinstall mertbench")
        actual = hashlib.sha256(path.read_bytes()).hexdigest()
        if actual != digest:
            raise ModelError(f"shipped model {name!r}: {path} does not match its SHA256SUMS entry "
                             f"({actual[:12]} != {digest[:12]}); the install is damaged, reinstall mertbench")
    return folder


def _info(name: str) -> dict[str, Any]:
    cfg_path = WEIGHTS_DIR / name / "config.json"
    if not cfg_path.is_file():
        return {}
    d = json.loads(cfg_path.read_text())
    info: dict[str, Any] = dict(sample_rate=24000, frame_rate=75.0, num_layers=int(d["num_hidden_layers"]) + 1,
                                dim=int(d["hidden_size"]))
    weights = WEIGHTS_DIR / name / "model.safetensors"
    if weights.is_file():  # parameter count from the file's header (no tensor is read)
        from math import prod

        from safetensors import safe_open

        with safe_open(str(weights), framework="pt") as f:
            info["parameters"] = sum(prod(f.get_slice(k).get_shape()) for k in f.keys())
    return info


def _load_shipped(name: str, shown_as: str, **options: Any):  # noqa: ANN202 (an Encoder)
    from mertbench.models.mert import load_mert_dir

    folder = shipped_dir(name)
    enc = load_mert_dir(folder, name=shown_as, **options)
    if enc is None:
        raise ModelError(f"shipped model {name!r}: {folder} is not a MERT-v1 folder; reinstall mertbench")
    return enc


@register_encoder(TINY_RENDER, "tiny MERT pretrained by mertbench on the rendered pretraining corpus "
                  "(shipped weights, offline; docs/pretrain.md)", **_info(TINY_RENDER),
                  family="MERT", weights="shipped")
def _tiny_render(**options: Any):  # noqa: ANN202 (an Encoder)
    return _load_shipped(TINY_RENDER, TINY_RENDER, **options)


def pretraining_seed(name: str) -> int:
    """``run.seed`` of the run that trained a shipped model (its encoder was initialised with it)."""
    info = json.loads((WEIGHTS_DIR / name / "pretraining.json").read_text())
    return int(info["config"]["run"]["seed"])


@register_encoder(f"random-{TINY_RENDER}", f"{TINY_RENDER}'s architecture and initial weights before "
                  "pretraining (fairseq init with its run seed): its random-init baseline", **_info(TINY_RENDER),
                  family="MERT", weights="shipped")
def _tiny_render_random(seed: int | None = None, **options: Any):  # noqa: ANN202 (an Encoder)
    enc = _load_shipped(TINY_RENDER, f"random-{TINY_RENDER}", **options)
    enc.model.reset_parameters(seed=pretraining_seed(TINY_RENDER) if seed is None else int(seed))
    return enc
