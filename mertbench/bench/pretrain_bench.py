"""`mertbench bench pretrain`: training throughput of the pretraining loop (audio-hours per hour).

Runs the real trainer (``mertbench.pretrain.train``) twice on the same corpus and teacher labels:

* **ours**: the preset as configured (tiny: CQT targets precomputed once per corpus with the exact
  grouped CQT, labels precomputed);
* **reference**: the naive way MERT computes its CQT target, nnAudio's ``CQT1992v2`` on every batch
  (``loss.cqt_precompute=false, loss.cqt_impl=nnaudio``), everything else identical.

Throughput = seconds of audio in the global batch / seconds per training step, measured over
``steps`` steps after ``warmup`` steps (setup, label precompute and the first steps excluded);
audio-seconds per second equals audio-hours per hour. On a GPU the details add the model FLOPs
per step (forward + backward, counted by ``torch.utils.flop_counter``) and the model FLOPs
utilisation against the device's peak (``peak_tflops`` option; a table of known GPUs otherwise).

Options (``-o KEY=VALUE``): ``preset`` (tiny), ``steps`` (20), ``warmup`` (3), ``data`` (an audio
folder; default a synthetic corpus of harmonic note sequences), ``device`` (auto), ``threads``
(0 = torch default), ``reference`` (True), ``peak_tflops``, ``precision`` (preset default),
``micro_batch`` (preset default), ``clips`` (12 synthetic clips of 6 s).
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from mertbench.bench import BenchResult, register_benchmark
from mertbench.constants import HOP, SAMPLE_RATE

#: dense bf16/fp16 tensor-core peak in TFLOP/s (vendor data sheets; SXM parts)
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0, "L4": 121.0,
               "V100": 125.0, "RTX 4090": 165.0, "RTX 3090": 71.0, "T4": 65.0}


def _synthetic_corpus(folder: Path, clips: int = 12, seconds: float = 6.0, seed: int = 0) -> Path:
    import soundfile as sf

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    sr = SAMPLE_RATE
    for i in range(clips):
        n = int(seconds * sr)
        out = np.zeros(n)
        pos = 0
        while pos < n:
            dur = int(rng.uniform(0.2, 0.6) * sr)
            f0 = 440.0 * 2 ** ((rng.integers(40, 84) - 69) / 12)
            t = np.arange(min(dur, n - pos)) / sr
            env = np.minimum(1.0, t / 0.01) * np.exp(-t * rng.uniform(1.0, 4.0))
            out[pos:pos + t.size] += env * sum((0.25 / h) * np.sin(2 * np.pi * f0 * h * t) for h in range(1, 7))
            pos += dur
        out += 0.01 * rng.standard_normal(n)
        sf.write(folder / f"clip_{i:03d}.wav", out.astype(np.float32), sr)
    return folder


def _throughput(metrics_csv: Path, warmup: int) -> tuple[float, float, int]:
    from mertbench.pretrain.metrics import read_metrics

    rows = [r for r in read_metrics(metrics_csv) if r["step"] > warmup and "step_s" in r]
    audio = sum(r["audio_h_per_h"] * r["step_s"] for r in rows)  # audio seconds of each step
    secs = sum(r["step_s"] for r in rows)
    return audio / secs, secs / max(len(rows), 1), len(rows)


def _model_flops(cfg: Any, device: str) -> float:
    """FLOPs of one forward + backward of the pretraining model on one micro-batch (flop counter)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from mertbench.models.mert import MertModel
    from mertbench.pretrain.heads import MertPretrainingModel

    enc = MertModel(cfg.model.to_mert_config())
    codebooks = (1024,) * 8 if cfg.teacher.kind == "encodec" else tuple(cfg.teacher.kmeans_clusters)
    model = MertPretrainingModel(enc, cfg.model.hidden_size, codebooks, final_dim=cfg.loss.final_dim,
                                 cqt_bins=cfg.loss.cqt_bins).to(device).train()
    n = int(round(cfg.data.crop_seconds * SAMPLE_RATE)) // HOP * HOP
    b = cfg.data.micro_batch
    t = enc.num_frames(n)
    wav = torch.randn(b, n, device=device) * 0.1
    mask = torch.rand(b, t, device=device) < 0.55
    tg = torch.randint(0, min(codebooks), (b, t, len(codebooks)), device=device)
    cq = torch.rand(b, t, cfg.loss.cqt_bins, device=device)
    with FlopCounterMode(display=False) as counter:
        model(wav, mask, tg, cq).total.backward()
    return float(counter.get_total_flops()) * cfg.optim.accum


@register_benchmark("pretrain", "training throughput of the tiny preset (audio-h/h), ours vs MERT's per-batch nnAudio CQT")
def bench_pretrain(preset: str = "tiny", steps: int = 20, warmup: int = 3, data: str = "", device: str = "auto",
                   threads: int = 0, reference: bool = True, peak_tflops: float = 0.0, precision: str = "",
                   micro_batch: int = 0, clips: int = 12) -> BenchResult:
    import torch

    from mertbench.pretrain import PretrainConfig, train
    from mertbench.pretrain.distributed import resolve_device

    dev = resolve_device(device)
    with tempfile.TemporaryDirectory(prefix="mertbench-bench-pretrain-") as tmp:
        root = Path(tmp)
        corpus = Path(data) if data else _synthetic_corpus(root / "corpus", clips=clips)
        over: dict[str, Any] = {
            "data.path": str(corpus), "optim.steps": warmup + steps, "run.log_every": 1,
            "run.checkpoint_every": 10**9, "run.progress": False, "run.tensorboard": False,
            "run.cache_dir": str(root / "cache"), "run.device": str(dev), "run.threads": threads,
            "teacher.device": str(dev),
            # the benchmark times the CQT-target path (precomputed vs nnAudio per batch), so the CQT term
            # is on even for the tiny recipe (which trains without it); no hold-out, no online evaluation
            "loss.cqt": True, "data.holdout_clips": 0, "run.eval_every": 0,
        }
        if precision:
            over["optim.precision"] = precision
        if micro_batch:
            over["data.micro_batch"] = micro_batch
        cfg = PretrainConfig.preset(preset).override(over)
        t0 = time.time()
        train(cfg.override({"run.out": str(root / "ours")}))
        ours, ours_step, n = _throughput(root / "ours" / "metrics.csv", warmup)
        details: dict[str, Any] = {
            "preset": preset, "device": str(dev), "threads": cfg.run.threads or torch.get_num_threads(),
            "global_batch_audio_s": cfg.data.micro_batch * cfg.optim.accum * cfg.data.crop_seconds,
            "measured_steps": n, "ours_step_s": ours_step, "ours_audio_h_per_h": ours,
        }
        meaning = f"audio-hours per hour ({preset} preset, {dev.type})"
        if reference:
            ref_cfg = cfg.override({"run.out": str(root / "reference"), "loss.cqt_precompute": False,
                                    "loss.cqt_impl": "nnaudio"})
            train(ref_cfg)
            ref, ref_step, _ = _throughput(root / "reference" / "metrics.csv", warmup)
            details.update(reference_step_s=ref_step, reference_audio_h_per_h=ref, ratio_ours_over_reference=ours / ref)
            meaning += f"; {ours / ref:.2f}x the per-batch nnAudio-CQT reference"
        flops = _model_flops(cfg, str(dev))
        details["model_gflop_per_step"] = flops / 1e9
        details["achieved_model_tflops"] = flops / ours_step / 1e12
        if dev.type == "cuda":
            peak = peak_tflops
            if not peak:
                name = torch.cuda.get_device_name(dev)
                peak = next((v for k, v in PEAK_TFLOPS.items() if k in name), 0.0)
            if peak:
                details["peak_tflops"] = peak
                details["mfu"] = flops / ours_step / (peak * 1e12)
                meaning += f"; MFU {100 * details['mfu']:.1f}%"
        details["wall_s"] = time.time() - t0
    return BenchResult(figure=ours, meaning=meaning, details=details, fmt="{:.1f}")
