"""Exported encoders: HF MERT-v1 folders that ``mertbench.load_model`` and ``mertbench probe`` open.

Layout of a run folder ``runs/X``::

    runs/X/export/init/        the encoder at step 0 (same architecture, random weights: the baseline)
    runs/X/export/step_0001000/ periodic exports (run.export_every)
    runs/X/export/final/       the encoder after the last step

Each export is written by :func:`mertbench.models.mert.save_pretrained` (``config.json``,
``model.safetensors``, ``preprocessor_config.json`` with ``do_normalize: false`` because MERT
pretrains on unnormalised waveforms, ``mertbench.json``) plus ``pretraining.json`` (step, teacher,
loss, config, provenance). Only the encoder is exported; the pretraining heads stay in checkpoints.

:func:`resolve_run_dir` maps a run folder to its newest export (``final`` first), and
:func:`run_dir_loader` is a directory loader registered when this module is imported (the trainer
imports it), so ``load_model("runs/X")`` works in a process that trained; an export folder itself
(``load_model("runs/X/export/final")``) is a plain HF MERT-v1 folder and always loads.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mertbench.io import atomic_write_json

RUN_MARKER = "pretrain_run.json"


def export_encoder(encoder: Any, folder: Path, info: dict[str, Any]) -> Path:
    """Write ``encoder`` (a MertModel) as an HF MERT-v1 folder plus ``pretraining.json``."""
    from mertbench.models.mert import save_pretrained

    folder.mkdir(parents=True, exist_ok=True)
    was_training = encoder.training
    save_pretrained(encoder, folder, normalize=False)
    encoder.train(was_training)
    atomic_write_json(folder / "pretraining.json", info)
    return folder


def resolve_run_dir(path: Path) -> Path | None:
    """The export to load for a run folder: ``export/final``, else the newest ``export/step_*``, else None."""
    exports = path / "export"
    if not (path / RUN_MARKER).is_file() or not exports.is_dir():
        return None
    if (exports / "final" / "config.json").is_file():
        return exports / "final"
    steps = sorted((int(m.group(1)), p) for p in exports.iterdir()
                   if (m := re.match(r"^step_(\d+)$", p.name)) and (p / "config.json").is_file())
    return steps[-1][1] if steps else None


def run_dir_loader(path: Path, **options: Any) -> Any:
    """Directory loader: a pretraining run folder loads its newest exported encoder."""
    target = resolve_run_dir(Path(path))
    if target is None:
        return None
    from mertbench.models import load_model

    return load_model(str(target), **options)


def _register() -> None:
    from mertbench.models import register_directory_loader

    register_directory_loader("mertbench-pretrain-run", run_dir_loader, priority=5)


_register()
