"""MERT pretraining core: teachers, masked prediction, CQT reconstruction, noise mixture, trainer.

Python API::

    from mertbench.pretrain import PretrainConfig, train

    cfg = PretrainConfig.preset("tiny").override({"data.path": "my_audio/", "run.out": "runs/tiny"})
    encoder_dir = train(cfg)          # runs/tiny/export/final (HF MERT-v1 folder)

Command line: ``mertbench pretrain --data DIR --preset tiny --steps 300 --out runs/X``
(works under ``torchrun --nproc_per_node K -m mertbench pretrain ...``). See docs/pretrain.md.
"""
from __future__ import annotations

from pathlib import Path

from mertbench.pretrain.config import PRESETS, PretrainConfig


def train(config: PretrainConfig) -> Path:
    """Pretrain as configured; returns the folder of the exported encoder (``<out>/export/final``)."""
    from mertbench.pretrain.trainer import train as _train

    return _train(config)


__all__ = ["PRESETS", "PretrainConfig", "train"]
