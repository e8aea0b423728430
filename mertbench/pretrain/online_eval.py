"""Online evaluation during pretraining: is the model learning anything that generalises?

Every ``run.eval_every`` steps (and once at step 0, the random-init value) the trainer calls
:meth:`OnlineEval.run`, which measures two things on data the optimiser never sees:

1. **Teacher prediction on held-out corpus clips** (``data.holdout_clips`` clips, chosen by seed
   and left out of every training batch): for one fixed crop and one fixed mask per clip, the
   cross-entropy (nats per frame, summed over codebooks) and accuracy (mean over codebooks) at the
   masked and at the unmasked frames, next to the label prior (the entropy of the codebooks' label
   frequencies in the training clips, summed over codebooks): a model that only learned the label
   frequencies sits at the prior.
2. **A cheap frozen probe** on one or more multiclass tasks (``run.eval_probe_tasks``, default the
   rendered ``render-pitch`` and ``render-key``): time-mean features of every layer of at most
   ``run.eval_probe_train`` training and ``run.eval_probe_valid`` validation examples (the first
   ``run.eval_probe_seconds`` of each), standardised with the training moments, a closed-form
   ridge classifier (one-hot targets) per layer with the ridge strength chosen on the validation
   split from a fixed grid; reported: validation accuracy per layer and the best layer's.
   Only the *validation* split is used, never the test split, so choosing a checkpoint by this
   figure does not touch the benchmark's test numbers. It is an indicator, not a benchmark figure
   (use ``mertbench probe`` for those).

Waveforms of the held-out clips and probe examples are read once, at construction. The evaluation
runs in ``eval()`` mode without gradients, and restores the model's mode afterwards; it draws no
random numbers from the training generators, so it does not change the training run (resume stays
exact with or without it).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from mertbench.audio import load_audio
from mertbench.constants import HOP, SAMPLE_RATE
from mertbench.errors import SpecError
from mertbench.pretrain.data import Corpus, read_crop
from mertbench.pretrain.losses import pretraining_loss

#: the label prior is counted over at most this many training clips (a seeded sample of large corpora)
PRIOR_CLIPS = 2000
#: ridge strengths tried per layer, as multiples of the mean diagonal of X^T X / n
RIDGE_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0)


def holdout_split(num_clips: int, holdout: int, seed: int) -> tuple[list[int], list[int]]:
    """``(train_indices, heldout_indices)`` of a corpus of ``num_clips`` clips; seeded, sorted.

    At most a fifth of the corpus may be held out (more would starve the training).
    """
    if holdout <= 0:
        return list(range(num_clips)), []
    if holdout * 5 > num_clips:
        raise SpecError(f"data.holdout_clips is {holdout} but the corpus has only {num_clips} clips; hold out at "
                        f"most a fifth ({num_clips // 5}), or set data.holdout_clips=0 (and run.eval_every=0) "
                        "to train on every clip without online evaluation")
    order = np.random.default_rng([seed, 0x401D]).permutation(num_clips)
    held = sorted(int(i) for i in order[:holdout])
    held_set = set(held)
    return [i for i in range(num_clips) if i not in held_set], held


def label_prior_entropy(labels: Any, indices: list[int], codebook_sizes: tuple[int, ...]) -> float:
    """Summed over codebooks: the entropy (nats) of the label frequencies over the frames of ``indices``."""
    counts = [np.zeros(c, dtype=np.int64) for c in codebook_sizes]
    for i in indices:
        arr = np.asarray(labels.file(i))
        for k, c in enumerate(codebook_sizes):
            counts[k] += np.bincount(arr[:, k].astype(np.int64), minlength=c)[:c]
    total = 0.0
    for cnt in counts:
        p = cnt[cnt > 0] / max(int(cnt.sum()), 1)
        total += float(-(p * np.log(p)).sum())
    return total


def ridge_scores(train_x: np.ndarray, train_y: np.ndarray, valid_x: np.ndarray, valid_y: np.ndarray,
                 num_classes: int, grid: tuple[float, ...] = RIDGE_GRID) -> float:
    """Best validation accuracy of a ridge classifier (one-hot targets) over the strengths in ``grid``.

    ``train_x [n, d]``, ``valid_x [m, d]`` are standardised with the training moments inside;
    ``train_y``/``valid_y`` are integer class ids. The bias is the training mean of the targets.
    """
    mu = train_x.mean(0, keepdims=True)
    sd = train_x.std(0, keepdims=True)
    sd[sd < 1e-8] = 1.0
    xt = (train_x - mu) / sd
    xv = (valid_x - mu) / sd
    y = np.zeros((len(train_y), num_classes))
    y[np.arange(len(train_y)), train_y] = 1.0
    y_mean = y.mean(0, keepdims=True)
    n, d = xt.shape
    # dual form when n < d: W = X^T (X X^T + lam I)^-1 Y
    gram = xt @ xt.T if n < d else xt.T @ xt
    scale = float(np.trace(gram)) / gram.shape[0] if gram.shape[0] else 1.0
    best = 0.0
    for lam in grid:
        a = gram + lam * max(scale, 1e-12) * np.eye(gram.shape[0])
        if n < d:
            w = xt.T @ np.linalg.solve(a, y - y_mean)
        else:
            w = np.linalg.solve(a, xt.T @ (y - y_mean))
        pred = (xv @ w + y_mean).argmax(1)
        best = max(best, float((pred == valid_y).mean()))
    return best


@dataclass
class _ProbeSet:
    task: str
    num_classes: int
    train_wav: list[np.ndarray]
    train_y: np.ndarray
    valid_wav: list[np.ndarray]
    valid_y: np.ndarray
    skipped: int = 0


def _load_probe_set(task_name: str, max_train: int, max_valid: int, seconds: float, seed: int,
                    min_samples: int) -> _ProbeSet | None:
    """The probe examples of ``task_name``; None when its data is not found (the caller reports it)."""
    from mertbench.tasks import get_task

    task = get_task(task_name)
    if task.spec.type not in ("multiclass", "key"):
        raise SpecError(f"run.eval_probe_tasks: {task_name} is a {task.spec.type} task; the online probe "
                        "takes multiclass or key tasks (e.g. render-pitch, render-key)")
    if not task.data_found():
        return None
    data = task.load()
    vocab = list(data.vocabulary or task.spec.labels.vocabulary or [])
    index = {v: i for i, v in enumerate(vocab)}
    rng = np.random.default_rng([seed, 0x0E7A])
    skipped = 0

    def take(split: str, cap: int) -> tuple[list[np.ndarray], np.ndarray]:
        nonlocal skipped
        examples = list(data.splits.get(split, []))
        if not examples:
            raise SpecError(f"run.eval_probe_tasks: {task_name} has no {split!r} split")
        if len(examples) > cap:
            examples = [examples[i] for i in sorted(rng.choice(len(examples), cap, replace=False))]
        wavs, ys = [], []
        for ex in examples:
            label = str(ex.label)
            if label not in index:
                skipped += 1
                continue
            dur = seconds if ex.end_s is None else min(seconds, ex.end_s - ex.start_s)
            try:
                wav, _ = load_audio(ex.path, SAMPLE_RATE, start_s=ex.start_s, duration_s=dur)
            except Exception:  # unreadable files are counted, as everywhere else
                skipped += 1
                continue
            if wav.shape[0] < min_samples or not np.isfinite(wav).all():
                skipped += 1
                continue
            wavs.append(np.ascontiguousarray(wav, dtype=np.float32))
            ys.append(index[label])
        return wavs, np.asarray(ys, dtype=np.int64)

    tw, ty = take("train", max_train)
    vw, vy = take("valid", max_valid)
    if len(tw) < 2 or len(vw) < 1:
        raise SpecError(f"run.eval_probe_tasks: {task_name} has too few readable examples "
                        f"({len(tw)} train, {len(vw)} valid) for the online probe")
    return _ProbeSet(task_name, len(vocab), tw, ty, vw, vy, skipped)


@dataclass
class EvalSettings:
    """What the online evaluation measures (from the ``run`` and ``data`` config sections)."""

    holdout: list[int]
    crop_samples: int
    probe_tasks: tuple[str, ...] = ()
    probe_train: int = 256
    probe_valid: int = 96
    probe_seconds: float = 4.0
    seed: int = 0
    batch: int = 8
    mask: Any = None  # the MaskSection of the run (same span statistics as training)
    codebook_sizes: tuple[int, ...] = ()


class OnlineEval:
    """Held-out teacher metrics and frozen per-layer probes for a pretraining model (see module doc)."""

    def __init__(self, settings: EvalSettings, corpus: Corpus, labels: Any, num_frames: Callable[[int], int],
                 num_layers: int, min_samples: int, train_indices: list[int],
                 log: Callable[[str], None] = print) -> None:
        from mertbench.pretrain.masking import compute_mask_indices

        self.settings = settings
        self.num_layers = num_layers
        self.codebooks = settings.codebook_sizes if labels is not None else ()
        # ---- held-out crops: the middle of each clip, frame-aligned; fixed masks
        self.clips: list[tuple[np.ndarray, np.ndarray | None, np.ndarray]] = []
        rng = np.random.default_rng([settings.seed, 0xE7A1])
        for i in settings.holdout:
            clip = corpus.clips[i]
            length = min(settings.crop_samples, clip.samples_24k // HOP * HOP)
            start = (clip.samples_24k - length) // 2 // HOP
            wav = read_crop(clip, start * HOP, length)
            frames = num_frames(length)
            lab = labels.get(i, start, frames) if labels is not None else None
            m = compute_mask_indices((1, frames), None, settings.mask.prob, settings.mask.length, rng,
                                     min_masks=settings.mask.min_masks, require_same_masks=True)[0]
            self.clips.append((wav, lab, m))
        # the label frequencies of (at most PRIOR_CLIPS of) the training clips
        prior_idx = train_indices
        if len(prior_idx) > PRIOR_CLIPS:
            prior_idx = sorted(np.random.default_rng([settings.seed, 0x9A1]).choice(prior_idx, PRIOR_CLIPS, False))
        self.prior = (label_prior_entropy(labels, [int(i) for i in prior_idx], self.codebooks)
                      if labels is not None and self.codebooks else float("nan"))
        self.probes: list[_ProbeSet] = []
        self.missing: list[str] = []  # probe tasks whose data is not found: reported, not probed
        for t in settings.probe_tasks:
            probe = _load_probe_set(t, settings.probe_train, settings.probe_valid, settings.probe_seconds,
                                    settings.seed, min_samples)
            if probe is None:
                self.missing.append(t)
                log(f"online probe {t}: SKIPPED, its data is not found (run `mertbench data render`, or set "
                    "run.eval_probe_tasks to tasks you have)")
            else:
                self.probes.append(probe)
        for p in self.probes:
            log(f"online probe {p.task}: {len(p.train_wav)} train / {len(p.valid_wav)} valid examples, "
                f"{settings.probe_seconds:g} s each" + (f", {p.skipped} skipped" if p.skipped else ""))
        if self.clips:
            log(f"online eval: {len(self.clips)} held-out corpus clips; label prior {self.prior:.3f} nats")

    def columns(self) -> list[str]:
        """The metrics.csv columns this evaluation fills."""
        cols = []
        if self.clips and self.codebooks:
            cols += ["eval_ce_masked", "eval_acc_masked", "eval_ce_unmasked", "eval_acc_unmasked", "eval_prior_ce"]
        for p in self.probes:
            cols += [f"probe_{p.task}_L{i}" for i in range(self.num_layers + 1)] + [f"probe_{p.task}_best"]
        if cols:
            cols.append("eval_s")
        return cols

    # ------------------------------------------------------------------ measuring
    @torch.no_grad()
    def run(self, model: Any, device: torch.device) -> dict[str, float]:
        """Measure ``model`` (a :class:`MertPretrainingModel`); returns the row for metrics.csv."""
        t0 = time.time()
        was_training = model.training
        model.eval()
        row: dict[str, float] = {}
        try:
            if self.clips and self.codebooks:
                row.update(self._teacher_metrics(model, device))
            for p in self.probes:
                train = self._pooled(model.encoder, p.train_wav, device)
                valid = self._pooled(model.encoder, p.valid_wav, device)
                scores = [ridge_scores(train[i], p.train_y, valid[i], p.valid_y, p.num_classes)
                          for i in range(train.shape[0])]
                for i, s in enumerate(scores):
                    row[f"probe_{p.task}_L{i}"] = s
                row[f"probe_{p.task}_best"] = max(scores)
        finally:
            model.train(was_training)
        if row:
            row["eval_s"] = time.time() - t0
        return row

    def _teacher_metrics(self, model: Any, device: torch.device) -> dict[str, float]:
        ce = {"m": 0.0, "u": 0.0}
        correct = {"m": 0.0, "u": 0.0}
        count = {"m": 0, "u": 0}
        embs = model.label_embeddings()
        for wav, lab, m in self.clips:
            mask = torch.from_numpy(m)[None].to(device)
            out_m, out_u = model.heads(torch.from_numpy(wav)[None].to(device), mask, nomask=True)
            labels = torch.from_numpy(lab.astype(np.int64))[None].to(device)
            for key, out, sel in (("m", out_m, mask), ("u", out_u, ~mask)):
                if out is None or out.num_frames == 0:
                    continue
                terms = pretraining_loss(out, label_embs=embs, targets=labels[sel], cqt_target=None,
                                         num_special=model.num_special, logit_temp=model.logit_temp,
                                         pred_weight=1.0, cqt_weight=0.0, pen_weight=0.0)
                ce[key] += sum(terms.ce)
                correct[key] += sum(terms.correct) / len(self.codebooks)
                count[key] += out.num_frames
        def per_frame(x: dict[str, float], key: str) -> float:
            return x[key] / count[key] if count[key] else math.nan

        return {"eval_ce_masked": per_frame(ce, "m"), "eval_acc_masked": per_frame(correct, "m"),
                "eval_ce_unmasked": per_frame(ce, "u"), "eval_acc_unmasked": per_frame(correct, "u"),
                "eval_prior_ce": self.prior}

    def _pooled(self, encoder: Any, wavs: list[np.ndarray], device: torch.device) -> np.ndarray:
        """Time-mean features ``[layers + 1, n, H]`` (float64) of each waveform."""
        # group equal lengths so that no padding enters the means
        order = sorted(range(len(wavs)), key=lambda i: wavs[i].shape[0])
        result: list[np.ndarray | None] = [None] * len(wavs)
        b = self.settings.batch
        i = 0
        while i < len(order):
            n = wavs[order[i]].shape[0]
            group = [order[i]]
            while len(group) < b and i + len(group) < len(order) and wavs[order[i + len(group)]].shape[0] == n:
                group.append(order[i + len(group)])
            batch = torch.from_numpy(np.stack([wavs[j] for j in group])).to(device)
            states = encoder(batch).hidden_states
            pooled = torch.stack([s.float().mean(1) for s in states], 0).cpu().double().numpy()  # [L+1, b, H]
            for col, j in enumerate(group):
                result[j] = pooled[:, col]
            i += len(group)
        return np.stack([r for r in result if r is not None], 1)


def summary_line(step: int, row: dict[str, float], tasks: tuple[str, ...]) -> str:
    """One log line: held-out CE/accuracy against the prior, best-layer probe scores."""
    parts = [f"eval step {step}:"]
    if "eval_ce_masked" in row:
        parts.append(f"held-out CE masked {row['eval_ce_masked']:.3f} / unmasked {row['eval_ce_unmasked']:.3f} "
                     f"(prior {row['eval_prior_ce']:.3f}), acc {row['eval_acc_masked']:.3f} / "
                     f"{row['eval_acc_unmasked']:.3f};")
    for t in tasks:
        key = f"probe_{t}_best"
        if key in row:
            layers = [row.get(f"probe_{t}_L{i}", math.nan) for i in range(64) if f"probe_{t}_L{i}" in row]
            parts.append(f"{t} {row[key]:.3f} (layers {' '.join(f'{v:.2f}' for v in layers)})")
    if "eval_s" in row:
        parts.append(f"[{row['eval_s']:.1f} s]")
    return " ".join(parts)
