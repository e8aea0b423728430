"""Synthetic encoders and tiny tasks for tests, benchmarks and smoke runs (no downloads needed).

- :class:`ToyLayeredEncoder` (plugin ``mertbench.probe.synthetic:toy_encoder``): a deterministic
  multi-layer encoder at 24 kHz / 75 Hz whose *informative* layers hold log band energies of each
  320-sample frame (pitch, loudness and onsets are linearly visible) and whose other layers hold
  pseudo-random noise seeded by the input itself (deterministic, batch-independent, unrelated to any
  label). Probing it checks a harness end to end: informative layers must score far above chance,
  noise layers must not.
- ``write_*_task`` functions write a manifest dataset (wav files + ``<split>.jsonl``) and its task
  spec YAML: pitch classes of sine tones (multiclass / multilabel / regression), noise bursts on a
  beat grid (beat) and a tone + noise mixture (separation).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import yaml

from mertbench.constants import HOP, SAMPLE_RATE
from mertbench.models.contract import Encoder


class ToyLayeredEncoder(Encoder):
    """``num_layers`` layers of ``dim`` features at 75 frames/s; ``informative`` layers carry log band
    energies (``dim`` linear bands of the frame spectrum up to ``max_hz``), the others noise."""

    def __init__(self, num_layers: int = 5, dim: int = 32, informative: Sequence[int] = (2,),
                 max_hz: float = 4000.0, name: str = "toy") -> None:
        super().__init__()
        self.name = name
        self.sample_rate = SAMPLE_RATE
        self.frame_rate = SAMPLE_RATE / HOP
        self.num_layers = int(num_layers)
        self.dim = int(dim)
        self.informative = tuple(int(i) for i in informative)
        n_bins = HOP // 2 + 1
        edges = np.linspace(0, min(max_hz, SAMPLE_RATE / 2) * HOP / SAMPLE_RATE, dim + 1)
        fb = np.zeros((n_bins, dim), dtype=np.float32)
        for k in range(dim):
            lo, hi = int(np.floor(edges[k])), max(int(np.ceil(edges[k + 1])), int(np.floor(edges[k])) + 1)
            fb[lo:hi, k] = 1.0
        self.register_buffer("fb", torch.from_numpy(fb))
        self.register_buffer("window", torch.hann_window(HOP, periodic=True))

    def num_frames(self, num_samples: int) -> int:
        return num_samples // HOP

    def forward(self, wav: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        b, n = wav.shape
        t = n // HOP
        frames = wav[:, : t * HOP].float().reshape(b, t, HOP) * self.window
        power = torch.fft.rfft(frames, dim=-1).abs() ** 2  # [B, T, bins]
        info = torch.log(power @ self.fb + 1e-4)  # [B, T, dim]
        info = (info + 4.0) / 4.0
        layers = []
        for layer in range(self.num_layers):
            if layer in self.informative:
                layers.append(info)
                continue
            noise = []
            for i in range(b):
                key = float(frames[i].abs().sum()) * 1000.0 + layer
                gen = torch.Generator().manual_seed(int(abs(key)) % (2 ** 31))
                noise.append(torch.randn(t, self.dim, generator=gen))
            layers.append(torch.stack(noise).to(wav.device))
        return torch.stack(layers)  # [L, B, T, D]


def toy_encoder(num_layers: int = 5, dim: int = 32, informative: str | Sequence[int] = (2,)) -> ToyLayeredEncoder:
    """Plugin factory: ``mertbench.probe.synthetic:toy_encoder``."""
    if isinstance(informative, str):
        informative = [int(x) for x in informative.split(",") if x]
    return ToyLayeredEncoder(num_layers, dim, informative)


# -------------------------------------------------------------------------------------------
# tiny tasks

def _write_wav(path: Path, audio: np.ndarray, sr: int) -> None:
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.asarray(audio, dtype=np.float32), sr, subtype="FLOAT")


def _write_split(folder: Path, split: str, rows: list[dict[str, Any]]) -> None:
    (folder / f"{split}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")


def _write_spec(specs_dir: Path, spec: dict[str, Any]) -> Path:
    specs_dir.mkdir(parents=True, exist_ok=True)
    path = specs_dir / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def _probe(max_epochs: int, **extra: Any) -> dict[str, Any]:
    out = {"layer": "all", "lr": 1e-3, "lr_grid": [1e-3], "batch_size": 16, "max_epochs": max_epochs,
           "lr_patience": 2, "early_stop_patience": 4}
    out.update(extra)
    return out


def class_frequencies(n_classes: int) -> list[float]:
    """Tone frequency (Hz) of each class: 300 Hz apart from 300 Hz (each in its own band of the
    toy encoder, whose 320-sample frames resolve 75 Hz)."""
    return [300.0 * (k + 1) for k in range(n_classes)]


def write_tone_task(data_dir: Path, specs_dir: Path, name: str = "toy-tones", kind: str = "multiclass",
                    n_classes: int = 6, counts: dict[str, int] | None = None, seconds: float = 1.0,
                    sr: int = 16000, window_s: float | None = None, max_epochs: int = 30, seed: int = 0,
                    aggregate: str = "mean_logits") -> Path:
    """A task of sine tones; returns the spec path. The dataset lives in ``data_dir/name``.

    ``kind``: ``multiclass`` (one tone, label = its class), ``multilabel`` (two tones, tags = both
    classes), ``regression`` (one tone; targets = [class / n_classes, amplitude]).
    ``counts``: examples per class (multiclass) or per split (others) for train/valid/test.
    """
    rng = np.random.default_rng(seed)
    freqs = class_frequencies(n_classes)
    vocab = [f"c{k}" for k in range(n_classes)]
    counts = counts or {"train": 8, "valid": 3, "test": 4}
    folder = Path(data_dir) / name
    t = np.arange(int(seconds * sr)) / sr
    for split, count in counts.items():
        rows = []
        n_items = count * n_classes if kind == "multiclass" else count
        for i in range(n_items):
            amp = float(rng.uniform(0.2, 0.8))
            if kind == "multilabel":
                ks = sorted(rng.choice(n_classes, size=2, replace=False).tolist())
            else:
                ks = [i % n_classes if kind == "multiclass" else int(rng.integers(n_classes))]
            audio = sum(amp * np.sin(2 * np.pi * freqs[k] * t + rng.uniform(0, 2 * np.pi)) for k in ks)
            audio = audio + 0.01 * rng.standard_normal(t.size)
            rel = f"audio/{split}/{i:04d}.wav"
            _write_wav(folder / rel, audio / max(1.0, float(np.abs(audio).max())), sr)
            label: Any = {"multiclass": vocab[ks[0]], "multilabel": [vocab[k] for k in ks],
                          "regression": [ks[0] / n_classes, amp]}[kind]
            rows.append({"audio": rel, "label": label})
        _write_split(folder, split, rows)
    metrics = {
        "multiclass": [{"name": "accuracy"}],
        "multilabel": [{"name": "roc_auc", "metric": "roc_auc_macro"}, {"name": "ap", "metric": "ap_macro"}],
        "regression": [{"name": "r2_pitch", "metric": "r2", "options": {"dim": 0}},
                       {"name": "r2_amp", "metric": "r2", "options": {"dim": 1}},
                       {"name": "r2", "metric": "r2"}],
    }[kind]
    spec = {
        "name": name, "version": 1, "type": kind, "suite": "custom",
        "description": f"synthetic {kind} sine tones ({n_classes} pitch classes)",
        "dataset": {"loader": "manifest", "dirname": name},
        "audio": {"window_s": window_s, "min_window_s": 0.25},
        "aggregate": aggregate,
        "labels": ({"vocabulary": vocab} if kind != "regression" else {"names": ["pitch", "amplitude"]}),
        "metrics": metrics,
        "primary_metric": {"multiclass": "accuracy", "multilabel": "roc_auc", "regression": "r2"}[kind],
        "probe": _probe(max_epochs),
    }
    return _write_spec(Path(specs_dir), spec)


def write_beat_task(data_dir: Path, specs_dir: Path, name: str = "toy-beats", counts: dict[str, int] | None = None,
                    seconds: float = 8.0, sr: int = SAMPLE_RATE, max_epochs: int = 20, seed: int = 0) -> Path:
    """Noise bursts (20 ms) on a steady beat grid (90-150 BPM, random phase) over a quiet drone."""
    rng = np.random.default_rng(seed)
    counts = counts or {"train": 8, "valid": 3, "test": 3}
    folder = Path(data_dir) / name
    n = int(seconds * sr)
    for split, count in counts.items():
        rows = []
        for i in range(count):
            bpm = float(rng.uniform(90, 150))
            period = 60.0 / bpm
            beats = np.arange(rng.uniform(0.1, period), seconds - 0.05, period)
            audio = 0.02 * np.sin(2 * np.pi * 110 * np.arange(n) / sr)
            burst = int(0.02 * sr)
            for b in beats:
                s = int(b * sr)
                audio[s:s + burst] += 0.6 * rng.standard_normal(min(burst, n - s)) * np.hanning(burst)[: min(burst, n - s)]
            rel = f"audio/{split}/{i:04d}.wav"
            _write_wav(folder / rel, audio, sr)
            rows.append({"audio": rel, "label": [round(float(b), 4) for b in beats]})
        _write_split(folder, split, rows)
    spec = {
        "name": name, "version": 1, "type": "beat", "suite": "custom",
        "description": "synthetic beat tracking: noise bursts on a beat grid",
        "dataset": {"loader": "manifest", "dirname": name},
        "audio": {"normalize": "peak"},
        "aggregate": "none",
        "metrics": [{"name": "beat_f", "metric": "beat_f_measure"},
                    {"name": "beat_f_mir_eval", "metric": "beat_f_measure_mir_eval", "options": {"min_beat_time": 0.0}}],
        "primary_metric": "beat_f",
        "probe": _probe(max_epochs, batch_size=4, options={"train_crop_s": 4.0, "eval_crop_s": None,
                                                            "label_widen_frames": 1, "reference": "frames"}),
    }
    return _write_spec(Path(specs_dir), spec)


def write_separation_task(data_dir: Path, specs_dir: Path, name: str = "toy-stems",
                          counts: dict[str, int] | None = None, seconds: float = 3.0, sr: int = SAMPLE_RATE,
                          max_epochs: int = 10, seed: int = 0, museval: bool = False, channels: int = 1,
                          probe: dict[str, Any] | None = None, options: dict[str, Any] | None = None) -> Path:
    """Two stems: ``tone`` (a sine, 200-400 Hz, slow tremolo) and ``noise`` (white noise bursts);
    the mixture is their sum. ``museval``: also score the tone with museval's v4 SDR.

    ``channels`` 2 writes stereo files (the tone panned left, the noise right); ``probe`` updates
    the spec's probe block (e.g. ``{"head": "openunmix", "hidden": 16}``), ``options`` its
    ``probe.options``."""
    rng = np.random.default_rng(seed)
    counts = counts or {"train": 6, "valid": 2, "test": 2}
    folder = Path(data_dir) / name
    n = int(seconds * sr)
    t = np.arange(n) / sr
    for split, count in counts.items():
        rows = []
        for i in range(count):
            tone = 0.4 * np.sin(2 * np.pi * rng.uniform(200, 400) * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.7 * t))
            gate = (np.sin(2 * np.pi * rng.uniform(1, 3) * t + rng.uniform(0, 6)) > 0).astype(np.float64)
            noise = 0.2 * rng.standard_normal(n) * gate
            stems = {"tone": tone, "noise": noise}
            if channels == 2:
                stems = {"tone": np.stack([0.9 * tone, 0.3 * tone], axis=1),
                         "noise": np.stack([0.3 * noise, 0.9 * noise], axis=1)}
            elif channels != 1:
                raise ValueError("channels must be 1 or 2")
            base = f"audio/{split}/{i:04d}"
            label = {}
            for stem, audio in stems.items():
                _write_wav(folder / f"{base}/{stem}.wav", audio, sr)
                label[stem] = f"{base}/{stem}.wav"
            _write_wav(folder / f"{base}/mixture.wav", stems["tone"] + stems["noise"], sr)
            rows.append({"audio": f"{base}/mixture.wav", "label": label})
        _write_split(folder, split, rows)
    spec = {
        "name": name, "version": 1, "type": "separation", "suite": "custom",
        "description": "synthetic separation: a tone and gated noise",
        "dataset": {"loader": "manifest", "dirname": name},
        "audio": {"normalize": "none"},
        "aggregate": "none",
        "labels": {"names": ["tone", "noise"]},
        "metrics": [{"name": "sdr_tone", "metric": "sdr_global", "scale": "db", "options": {"stem": "tone"}},
                    {"name": "sdr_noise", "metric": "sdr_global", "scale": "db", "options": {"stem": "noise"}},
                    {"name": "sdr", "metric": "sdr_global", "scale": "db"}]
        + ([{"name": "sdr_museval_tone", "metric": "sdr_museval", "scale": "db", "options": {"stem": "tone"}}]
           if museval else []),
        "primary_metric": "sdr",
        "probe": {**_probe(max_epochs, batch_size=4,
                           options={"train_excerpt_s": 1.0, "excerpts_per_track": 4, **(options or {})}),
                  **(probe or {})},
    }
    return _write_spec(Path(specs_dir), spec)


# -------------------------------------------------------------------------------------------
# a synthetic feature cache (no audio, no encoder): benchmarks of the probe trainer

def synthetic_clip_setup(folder: Path, *, num_layers: int = 13, dim: int = 768, n_classes: int = 10,
                         counts: dict[str, int] | None = None, informative: Sequence[int] | None = None,
                         snr: float = 0.6, batch_size: int = 64, max_epochs: int = 20, lr_patience: int = 3,
                         early_stop_patience: int = 6, hidden: int | None = 512, dropout: float = 0.2,
                         seed: int = 0, device: str = "cpu") -> Any:
    """A :class:`mertbench.probe.run.ProbeSetup` over a synthetic multiclass feature cache in ``folder``.

    Each example is one row ``[num_layers, dim]`` (float32): Gaussian noise, plus in ``informative``
    layers ``snr`` times a class centroid (its strength ramps up and down around the middle layer,
    so layers differ). No audio or encoder is involved; the cache goes through the real writer
    (chunks, merge, done markers) and reader (memmap).
    """
    from mertbench.extract.cache import ChunkIndex, FeatureCache
    from mertbench.extract.runner import Extraction
    from mertbench.extract.windowing import Windowing
    from mertbench.probe.run import ProbeSetup
    from mertbench.probe.trainer import TrainSettings
    from mertbench.tasks.data import Example, LoadedDataset
    from mertbench.tasks.registry import Task
    from mertbench.tasks.spec import parse_spec

    counts = counts or {"train": 2000, "valid": 500, "test": 500}
    if informative is None:  # the middle layer and its neighbours
        informative = sorted({min(max(num_layers // 2 + d, 0), num_layers - 1) for d in (-1, 0, 1)})
    rng = np.random.default_rng(seed)
    vocab = [f"class{k}" for k in range(n_classes)]
    spec = parse_spec({
        "name": "synthetic-clip", "version": 1, "type": "multiclass",
        "dataset": {"loader": "manifest", "dirname": "synthetic-clip"},
        "labels": {"vocabulary": vocab}, "metrics": [{"name": "accuracy"}], "primary_metric": "accuracy",
        "probe": {"batch_size": batch_size, "max_epochs": max_epochs, "lr_patience": lr_patience,
                  "early_stop_patience": early_stop_patience},
    }, "synthetic-clip")
    centroids = rng.standard_normal((n_classes, dim)).astype(np.float32)
    config = {"synthetic": True, "layers": list(range(num_layers)), "dim": dim, "counts": counts, "seed": seed,
              "windowing": {"level": "clip"}}
    folder = Path(folder)
    cache = FeatureCache.open(folder, config, "synthetic")
    splits: dict[str, list[Example]] = {}
    mid = float(np.mean(informative)) if informative else 0.0
    for split, n in counts.items():
        labels = rng.integers(0, n_classes, size=n)
        feats = rng.standard_normal((n, num_layers, dim)).astype(np.float32)
        for layer in informative:
            strength = snr / (1.0 + abs(layer - mid))
            feats[:, layer] += strength * centroids[labels]
        examples = [Example(f"{split}-{i:06d}", folder / "none.wav", vocab[int(y)]) for i, y in enumerate(labels)]
        splits[split] = examples
        if not cache.is_done(split):
            cache.write_chunk(split, 0, feats, ChunkIndex(0, n, [e.id for e in examples], [1] * n))
            cache.merge(split, 1, (num_layers, dim), "float32")
    dataset = LoadedDataset(splits=splits, vocabulary=vocab)
    w = Windowing("clip", SAMPLE_RATE, SAMPLE_RATE, None, None, None, 1.0, None)
    info = {"name": "synthetic", "sample_rate": SAMPLE_RATE, "frame_rate": SAMPLE_RATE / HOP,
            "num_layers": num_layers, "dim": dim, "fingerprint": "synthetic"}
    ext = Extraction(cache, dataset, "synthetic", info, "synthetic", w, list(counts))
    task = Task(spec, folder / "synthetic-clip.yaml")
    settings = TrainSettings(hidden=hidden, dropout=dropout if hidden else 0.0, max_epochs=max_epochs,
                             lr_patience=lr_patience, early_stop_patience=early_stop_patience)
    import torch

    from mertbench.tasks.protocol import resolve_protocol

    return ProbeSetup(task, ext, settings, batch_size, {}, torch.device(device), resolve_protocol(spec),
                      "mlp" if hidden else "linear")
