"""Benchmarks of feature extraction and probing.

- ``probe-layers``: ``--layer all`` in one pass (every layer + the weighted sum as heads of one
  batched model) vs the same heads trained one after another (the same trainer with a single head,
  each run building its own data view, as L separate runs would) on the same cached features and
  seeds. Reports the speed ratio and checks that every head's test metric is identical.
- ``extract``: end-to-end extraction throughput (decoding, resampling, windowing, encoder, cache
  writes) in audio seconds per wall second, next to a naive one-file-at-a-time loop.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from mertbench.bench import BenchResult, register_benchmark


@register_benchmark("probe-layers", "one-pass --layer all vs sequential single-layer probes: speed-up, equal metrics")
def probe_layers(layers: int = 13, dim: int = 768, classes: int = 10, train: int = 2000, valid: int = 500,
                 test: int = 500, epochs: int = 10, seeds: int = 1, lrs: str | float | tuple = "0.001", hidden: int = 512,
                 repeats: int = 1, threads: int | None = None, device: str = "cpu") -> BenchResult:
    """Both ways on one synthetic feature cache (``layers`` x ``dim``, multiclass, MARBLE MLP head,
    batch 64, early stopping patience 6, ``epochs`` max). With ``repeats`` > 1 the two ways alternate
    and the fastest time of each is kept (robust to other load on the machine)."""
    import os

    from mertbench.probe.run import head_configs, parse_layers
    from mertbench.probe.synthetic import synthetic_clip_setup
    from mertbench.probe.trainer import TrainStats

    if threads:
        torch.set_num_threads(int(threads))
    lr_list = ([float(x) for x in lrs] if isinstance(lrs, (list, tuple))
               else [float(x) for x in str(lrs).split(",") if x.strip()])
    t_one = t_seq = c_one = c_seq = float("inf")
    with tempfile.TemporaryDirectory() as tmp:
        setup = synthetic_clip_setup(Path(tmp), num_layers=layers, dim=dim, n_classes=classes,
                                     counts={"train": train, "valid": valid, "test": test}, max_epochs=epochs,
                                     hidden=hidden, device=device)
        configs = head_configs(parse_layers("all", setup.extraction.cache.layers), lr_list, list(range(seeds)))
        for _ in range(max(1, int(repeats))):
            w0, c0 = time.perf_counter(), time.process_time()
            st = TrainStats()
            one, _ = setup.train(configs, stats=st)
            t_one, c_one = min(t_one, time.perf_counter() - w0), min(c_one, time.process_time() - c0)
            w0, c0 = time.perf_counter(), time.process_time()
            seq = []
            for c in configs:
                seq += setup.train([c])[0]
            t_seq, c_seq = min(t_seq, time.perf_counter() - w0), min(c_seq, time.process_time() - c0)
    diffs = [abs(a.test[k] - b.test[k]) for a, b in zip(one, seq) for k in a.test]
    same_epochs = all(a.best_epoch == b.best_epoch for a, b in zip(one, seq))
    ratio = t_seq / t_one
    best = max(one, key=lambda r: r.valid["accuracy"])
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return BenchResult(
        figure=ratio,
        meaning=(f"x faster: {len(configs)} heads ({layers} layers + weighted sum, {len(lr_list)} lr, {seeds} seed) "
                 f"in one pass vs one after another, {layers}x{dim} features; test metrics "
                 f"{'identical' if max(diffs) == 0 else f'max |diff| {max(diffs):.2e}'}"),
        details={"one_pass_s": t_one, "sequential_s": t_seq, "cpu_time_ratio": c_seq / c_one,
                 "heads": len(configs), "steps_one_pass": st.steps, "epochs_one_pass": st.epochs,
                 "max_abs_test_diff": float(max(diffs)), "best_epochs_equal": same_epochs,
                 "selected_head": f"{best.config.key} lr {best.config.lr:g}",
                 "selected_test_accuracy": best.test["accuracy"], "torch_threads": torch.get_num_threads(),
                 "device": device, "load_average_1min": load, "repeats": int(repeats)},
    )


@register_benchmark("extract", "end-to-end feature extraction throughput (audio seconds per second)")
def extract(model: str = "logmel", files: int = 24, seconds: float = 10.0, sample_rate: int = 44100,
            batch_size: int = 16, workers: int = 2, window_s: float | None = None, device: str = "cpu",
            threads: int | None = None) -> BenchResult:
    """Synthetic wav files (``sample_rate`` Hz, resampled to the model's rate) through
    :func:`extract_features` into a fresh cache, vs a naive loop (one file at a time: decode, run the
    encoder per window, time-mean; no batching, no decode threads, nothing written)."""
    import soundfile as sf

    from mertbench.extract import ExtractOptions, extract_features
    from mertbench.extract.windowing import prepare_example, windowing_for
    from mertbench.models.registry import load_model
    from mertbench.tasks.data import Example
    from mertbench.tasks.registry import Task
    from mertbench.tasks.spec import parse_spec

    if threads:
        torch.set_num_threads(int(threads))
    rng = np.random.default_rng(0)
    encoder = load_model(model)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        (root / "audio").mkdir(parents=True)
        rows = []
        n = int(seconds * sample_rate)
        t = np.arange(n) / sample_rate
        for i in range(files):
            audio = 0.3 * np.sin(2 * np.pi * (200 + 20 * i) * t) + 0.05 * rng.standard_normal(n)
            sf.write(str(root / "audio" / f"{i:04d}.wav"), audio.astype(np.float32), sample_rate, subtype="PCM_16")
            rows.append(f'{{"audio": "audio/{i:04d}.wav", "label": "c{i % 2}"}}')
        for split in ("train", "valid", "test"):
            (root / f"{split}.jsonl").write_text("\n".join(rows) + "\n")
        spec = parse_spec({"name": "bench-extract", "version": 1, "type": "multiclass", "splits": ["train"],
                           "dataset": {"loader": "manifest", "dirname": "bench-extract"},
                           "audio": {"window_s": window_s}, "metrics": [{"name": "accuracy"}],
                           "primary_metric": "accuracy"}, "bench-extract")
        task = Task(spec, Path(tmp) / "bench-extract.yaml")
        opts = ExtractOptions(batch_size=batch_size, workers=workers)
        t0 = time.perf_counter()
        ext = extract_features(encoder, task, root=root, device=device, options=opts, progress=False,
                               cache_root=Path(tmp) / "cache", model_spec=model)
        t_ours = time.perf_counter() - t0
        audio_s = ext.stats["train"]["audio_seconds"]
        # naive reference: one file at a time
        w = windowing_for(spec, encoder.sample_rate, encoder.normalize, "clip")
        dev = torch.device(device)
        encoder.to(dev)
        t0 = time.perf_counter()
        for ex in ext.dataset.splits["train"]:
            for win in prepare_example(Example(ex.id, ex.path, ex.label), w):
                with torch.inference_mode():
                    encoder(torch.from_numpy(win)[None].to(dev)).mean(dim=2).cpu()
        t_naive = time.perf_counter() - t0
    ours = audio_s / t_ours
    naive = audio_s / t_naive
    return BenchResult(
        figure=ours,
        meaning=(f"audio s/s extracting {files} x {seconds:g} s files ({sample_rate} Hz -> {encoder.sample_rate} Hz) "
                 f"with {model} on {device}, decoding and cache writes included ({ours / naive:.2f}x a naive "
                 f"one-file-at-a-time loop)"),
        details={"audio_seconds": audio_s, "ours_s": t_ours, "naive_s": t_naive, "naive_audio_s_per_s": naive,
                 "ratio_vs_naive": ours / naive, "batch_size": batch_size, "workers": workers,
                 "layers": encoder.num_layers, "dim": encoder.dim, "torch_threads": torch.get_num_threads()},
        fmt="{:.1f}",
    )
