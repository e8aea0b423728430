"""Beat tracking probe: a per-frame head on frame-level features, DBN decoding, beat F-measure.

Protocol (MARBLE v1 GTZAN beat, ``marble_tasks.md`` §2.4), with the choices made here:

- Features: every frame of the encoder (75 Hz for MERT-v1) from the frame-level cache.
- Targets: frame ``round(t * fps)`` of each beat is class 1, all others class 0; in training the
  frames right before and after a beat are also class 1 (MARBLE v1's +-1 frame widening; option
  ``label_widen_frames``, default 1; the v2 weighted 0.5/0.25 neighbours are not used). Two outputs +
  softmax cross-entropy, as MARBLE v1.
- Training: each epoch every training track gives one random excerpt of ``train_crop_s`` seconds
  (default 10 s); ``batch_size`` excerpts per batch (frames of all excerpts form the batch).
- Evaluation: the first ``eval_crop_s`` seconds of each track (default 30 s; ``null`` = whole
  track; MARBLE uses a 30 s window at a random offset that is ~0 for GTZAN's 30 s files). The beat
  probability (softmax class 1) is decoded by :func:`mertbench.metrics.beat.dbn_decode` (madmom's
  DBNBeatTrackingProcessor defaults; option ``decoder`` passes keyword options). References are the
  annotated beat times inside the evaluated window (relative to the excerpt start), quantised to the
  frame grid (``reference: frames``, MARBLE) through the metrics' ``reference_fps``. The beat metrics
  receive decoded beat times (metric options ``fps``/``dbn`` are folded into this decoding).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from mertbench.errors import SpecError
from mertbench.probe.families.base import USED, Batch, FamilyContext, ProbeFamily, weighted_mean
from mertbench.probe.registry import register_family
from mertbench.tasks.data import Example
from mertbench.tasks.spec import MetricSpec


@dataclass
class _Track:
    offset: int
    frames: int
    beats: np.ndarray  # seconds from the excerpt start


@register_family("beat")
class BeatFamily(ProbeFamily):
    """Per-frame beat/no-beat classification on frame features.

    Options (names as in the shipped ``gtzan-beat`` spec): ``train_crop_s`` (10), ``train_random_crop``
    (true), ``eval_crop_s`` (30; null = whole track), ``label_widen_frames`` (1), ``reference``
    (``frames``: reference beats quantised to the frame grid as MARBLE; ``times``: annotated times),
    ``decoder`` (``{name: dbn, <dbn_decode keyword options>}``), ``num_outputs`` (2) and
    ``activation`` (softmax) as checks, ``frame_level`` (informational).
    """

    loss_name = "frame cross_entropy (beat vs no beat)"
    out_dim = 2
    OPTIONS = {"train_crop_s": USED, "train_random_crop": USED, "eval_crop_s": USED, "label_widen_frames": USED,
               "reference": USED, "decoder": USED, "num_outputs": USED, "activation": USED, "frame_level": USED}

    def __init__(self, ctx: FamilyContext) -> None:
        super().__init__(ctx)
        o = self.options
        self.fps = float(ctx.extraction.encoder_info["frame_rate"])
        if int(o.get("num_outputs", 2)) != 2 or o.get("activation", "softmax") != "softmax":
            raise SpecError(f"task {self.spec.name}: the beat probe has 2 outputs with a softmax "
                            f"(got num_outputs={o.get('num_outputs')}, activation={o.get('activation')!r})")
        self.train_window = max(1, int(round(float(o.get("train_crop_s", 10.0)) * self.fps)))
        self.random_crop = bool(o.get("train_random_crop", True))
        ev = o.get("eval_crop_s", 30.0)
        self.eval_frames = None if ev is None else max(1, int(round(float(ev) * self.fps)))
        self.widen = int(o.get("label_widen_frames", 1))
        self.reference = str(o.get("reference", "frames"))
        if self.reference not in ("frames", "times"):
            raise SpecError(f"task {self.spec.name}: probe.options.reference must be 'frames' or 'times'")
        decoder = dict(o.get("decoder") or {})
        if decoder.pop("name", "dbn") != "dbn":
            raise SpecError(f"task {self.spec.name}: only the 'dbn' beat decoder is implemented")
        self.dbn: dict[str, Any] = decoder

        def track(ex: Example, offset: int, frames: int) -> _Track:
            beats = np.asarray(ex.label, dtype=np.float64) - ex.start_s
            return _Track(offset, frames, np.sort(beats[beats >= 0]))

        self.stores, self.tracks = self.frame_splits(track)
        self._train_labels = [self._frame_labels(t, self.widen) for t in self.tracks["train"]]

    def _frame_labels(self, track: _Track, widen: int) -> np.ndarray:
        y = np.zeros(track.frames, dtype=np.int64)
        idx = np.round(track.beats * self.fps).astype(np.int64)
        for d in range(-widen, widen + 1):
            j = idx + d
            y[j[(j >= 0) & (j < track.frames)]] = 1
        return y

    # --- training ---------------------------------------------------------------------------
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.tracks["train"]) / self.batch_size)

    def epoch_plan(self, gen: torch.Generator) -> list[Any]:
        tracks = self.tracks["train"]
        perm = torch.randperm(len(tracks), generator=gen).tolist()
        plan = []
        for b in range(0, len(perm), self.batch_size):
            items = []
            for t in perm[b:b + self.batch_size]:
                span = max(tracks[t].frames - self.train_window, 0)
                start = int(torch.randint(0, span + 1, (1,), generator=gen)) if self.random_crop else 0
                items.append((t, start))
            plan.append(items)
        return plan

    def make_batch(self, items: list[tuple[int, int]]) -> Batch:
        w = self.train_window
        rows = np.empty(len(items) * w, dtype=np.int64)
        target = np.zeros(len(items) * w, dtype=np.int64)
        weight = np.zeros(len(items) * w, dtype=np.float32)
        for k, (t, start) in enumerate(items):
            tr = self.tracks["train"][t]
            n = min(w, tr.frames - start)
            sl = slice(k * w, k * w + n)
            rows[sl] = tr.offset + start + np.arange(n)
            rows[k * w + n:(k + 1) * w] = tr.offset  # padding rows (weight 0)
            target[sl] = self._train_labels[t][start:start + n]
            weight[sl] = 1.0
        x = self.stores["train"].gather(rows)
        return Batch(x, torch.as_tensor(target, device=self.device), torch.as_tensor(weight, device=self.device))

    def loss(self, out: torch.Tensor, batch: Batch) -> torch.Tensor:
        hg, b, c = out.shape
        per = F.cross_entropy(out.reshape(hg * b, c), batch.target.repeat(hg), reduction="none").view(hg, b)
        return weighted_mean(per, batch.weight)

    # --- evaluation -------------------------------------------------------------------------
    def activations(self, bank: Any, split: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Per track: beat probabilities ``[H, T]`` and reference beat times in the window."""
        acts, refs = [], []
        store = self.stores[split]
        for tr in self.tracks[split]:
            n = tr.frames if self.eval_frames is None else min(tr.frames, self.eval_frames)
            out = bank.predict(store.slice(tr.offset, tr.offset + n))
            acts.append(torch.softmax(out.float(), dim=-1)[..., 1].cpu().numpy().astype(np.float64))
            refs.append(tr.beats[tr.beats < n / self.fps])
        return acts, refs

    def evaluate(self, bank: Any, split: str, names: Sequence[str] | None,
                 contexts: list[dict[str, Any]]) -> list[dict[str, float]]:
        from mertbench.metrics.beat import dbn_decode

        acts, refs = self.activations(bank, split)
        specs = [MetricSpec(**{**m.model_dump(), "options": {k: v for k, v in m.options.items()
                                                             if k not in ("fps", "dbn")}})
                 for m in self.metric_specs(names)]
        dbn = dict(self.dbn)
        for m in self.metric_specs(names):
            dbn.update(m.options.get("dbn", {}) or {})
        extras = {"reference_fps": self.fps} if self.reference == "frames" else {}
        results = []
        for h in range(bank.num_heads):
            ests = [dbn_decode(np.clip(a[h], 0.0, 1.0), self.fps, **dbn) for a in acts]
            results.append({m.name: self.metric(m, refs, ests, extras) for m in specs})
        return results

    def hyperparameters(self) -> dict[str, Any]:
        return {"loss": self.loss_name, "fps": self.fps, "train_window_frames": self.train_window,
                "train_random_crop": self.random_crop, "eval_window_frames": self.eval_frames,
                "target_widening_frames": self.widen, "reference": self.reference,
                "decoder": {"name": "dbn", **self.dbn}}
