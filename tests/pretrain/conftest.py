"""Synthetic music-like audio for the pretraining tests: note sequences of harmonic tones plus noise."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf


def melody(seconds: float, sr: int = 24000, seed: int = 0) -> np.ndarray:
    """A sequence of harmonic notes (random MIDI pitches 45-80, 0.25-0.6 s each) with a little noise."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    out = np.zeros(n, dtype=np.float64)
    pos = 0
    while pos < n:
        dur = int(rng.uniform(0.25, 0.6) * sr)
        f0 = 440.0 * 2 ** ((rng.integers(45, 81) - 69) / 12)
        t = np.arange(min(dur, n - pos)) / sr
        env = np.minimum(1.0, t / 0.01) * np.exp(-t * rng.uniform(1.0, 4.0))
        tone = sum((0.3 / h) * np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 6.28)) for h in range(1, 6))
        out[pos:pos + t.size] += env * tone
        pos += dur
    out += 0.01 * rng.standard_normal(n)
    return out.astype(np.float32)


def make_corpus(folder: Path, n: int = 6, seconds: float = 4.0, sr: int = 24000, seed: int = 0,
                short: int = 0) -> Path:
    """Write ``n`` clips of ``seconds`` seconds (plus ``short`` 1.5 s clips) as wav files in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        sf.write(folder / f"clip_{i:03d}.wav", melody(seconds, sr, seed + i), sr)
    for j in range(short):
        sf.write(folder / f"short_{j:03d}.wav", melody(1.5, sr, seed + 1000 + j), sr)
    return folder


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """The machine's 2 cores are shared: one intra-op thread avoids oversubscription stalls."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def synth_corpus(tmp_path):
    """``synth_corpus(n=6, seconds=4.0, sr=24000, seed=0, short=0, name="corpus")`` -> folder of wavs."""

    def make(n: int = 6, seconds: float = 4.0, sr: int = 24000, seed: int = 0, short: int = 0,
             name: str = "corpus") -> Path:
        return make_corpus(tmp_path / name, n=n, seconds=seconds, sr=sr, seed=seed, short=short)

    return make


@pytest.fixture
def micro_config():
    """A microscopic pretraining config (seconds per step on CPU) for a corpus folder and an output folder."""
    from mertbench.pretrain.config import PretrainConfig

    def make(data: Path, out: Path, **overrides) -> PretrainConfig:
        base = {
            "model.hidden_size": 32, "model.num_hidden_layers": 1, "model.num_attention_heads": 2,
            "model.intermediate_size": 64, "model.conv_dim": (16,) * 7, "model.num_conv_pos_embeddings": 16,
            "model.num_conv_pos_embedding_groups": 4,
            "teacher.kind": "kmeans", "teacher.kmeans_features": "mfcc", "teacher.kmeans_clusters": (16,),
            "teacher.kmeans_n_init": 1, "teacher.fit_fraction": 1.0,
            "loss.final_dim": 8, "loss.cqt_precompute": True,
            # MERT's loss terms (CQT on, masked frames only) and no online evaluation, unlike the tiny
            # preset, so that the trainer tests cover every term; tests of the tiny recipe override these
            "loss.cqt": True, "loss.pred_nomask_weight": 0.0, "data.holdout_clips": 0, "run.eval_every": 0,
            "optim.steps": 4, "optim.lr": 2e-3, "data.crop_seconds": 1.0, "data.micro_batch": 2,
            "data.num_workers": 0, "data.path": str(data), "run.out": str(out), "run.log_every": 1,
            "run.checkpoint_every": 1000, "run.progress": False, "run.tensorboard": False,
            "run.threads": 1,
        }
        base.update(overrides)
        return PretrainConfig.preset("tiny").override(base)

    return make
