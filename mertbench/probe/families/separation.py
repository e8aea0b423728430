"""Source-separation probe: per-frame mask heads over the mixture spectrogram, iSTFT, SDR.

What MARBLE describes (``marble_tasks.md`` §2.14): frame features of the frozen encoder aligned with
the mixture STFT (n_fft 2048, hop 320 at 24 kHz = the 75 Hz token rate), an open-unmix-like head
(3-layer LSTM) predicting magnitude spectrograms through a mask on the mixture magnitude, MSE loss,
Wiener filtering and iSTFT, global SDR per stem.

What this family does, and the simplifications (also recorded in each result's hyperparameters):

- Head: the shared probe head (MLP 512 / linear, per frame, no LSTM, no batch norm) outputs
  ``len(stems) x (n_fft/2 + 1)`` values; a sigmoid turns them into one soft mask per stem.
- Estimated magnitude = mask x mixture magnitude; loss = MSE against each stem's magnitude.
- Waveforms: mask x complex mixture STFT, iSTFT with the mixture phase (no Wiener filtering).
- Mono throughout (channels averaged); the STFT hop is ``sample_rate / frame_rate`` so STFT frames
  and encoder frames coincide; features are trimmed/extended (last frame repeated) to the STFT length.
- Training: ``excerpts_per_track`` (default 64, as MARBLE) random excerpts of ``train_excerpt_s``
  (default 6 s) per training track per epoch, from the real mixtures (no random re-mixing of stems,
  since features are cached per mixture). Evaluation: whole tracks (or the first ``eval_crop_s``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from mertbench.audio import load_audio
from mertbench.constants import SAMPLE_RATE
from mertbench.errors import DataError, ModelError, SpecError
from mertbench.probe.families.base import USED, Batch, FamilyContext, ProbeFamily, weighted_mean
from mertbench.probe.registry import register_family
from mertbench.tasks.data import Example


@dataclass
class _Track:
    example: Example
    offset: int
    frames: int




@register_family("separation")
class SeparationFamily(ProbeFamily):
    """Mask-predicting heads on frame features of the mixture.

    Options (names as in the shipped ``musdb-separation`` spec): ``n_fft_at_24k`` (2048, scaled to the
    encoder's rate), ``hop_length_at_24k`` (320; checked against ``sample_rate / frame_rate``),
    ``train_excerpt_s`` (6), ``excerpts_per_track`` (64), ``eval_crop_s`` (null = whole tracks),
    ``eval_sample_rate`` (``model``). MARBLE's open-unmix LSTM head, its augmentation (random
    track re-mixing, gains, channel swap) and Wiener filtering are not implemented yet: the
    ``separation-head`` choice of the ``marble-v1`` protocol records it (docs/protocol.md), and a
    spec naming those options is refused.
    """

    loss_name = "mse on magnitudes (sigmoid mask x mixture magnitude)"
    OPTIONS = {
        "n_fft_at_24k": USED, "hop_length_at_24k": USED, "train_excerpt_s": USED, "excerpts_per_track": USED,
        "eval_crop_s": USED, "eval_sample_rate": USED,
    }

    def __init__(self, ctx: FamilyContext) -> None:
        super().__init__(ctx)
        o = self.options
        info = ctx.extraction.encoder_info
        self.sr = int(info["sample_rate"])
        self.fps = float(info["frame_rate"])
        hop = self.sr / self.fps
        if abs(hop - round(hop)) > 1e-6:
            raise ModelError(f"separation needs an integer STFT hop = sample_rate / frame_rate; got {hop}")
        self.hop = int(round(hop))
        want_hop = o.get("hop_length_at_24k")
        if want_hop is not None and int(round(float(want_hop) * self.sr / SAMPLE_RATE)) != self.hop:
            raise SpecError(f"task {self.spec.name}: hop_length_at_24k={want_hop} does not match the encoder frame "
                            f"rate ({self.fps} Hz at {self.sr} Hz = hop {self.hop}); STFT and features must align")
        if o.get("eval_sample_rate", "model") != "model":
            raise SpecError(f"task {self.spec.name}: only eval_sample_rate 'model' is implemented")
        self.n_fft = int(round(float(o.get("n_fft_at_24k", 2048)) * self.sr / SAMPLE_RATE))
        self.bins = self.n_fft // 2 + 1
        self.window = torch.hann_window(self.n_fft, device=self.device)
        first = next(iter(ctx.dataset.splits["train"]))
        self.stems = list(self.spec.labels.names or sorted(first.label))
        self.out_dim = len(self.stems) * self.bins
        self.excerpt = max(1, int(round(float(o.get("train_excerpt_s", 6.0)) * self.fps)))
        self.samples_per_track = int(o.get("excerpts_per_track", 64))
        em = o.get("eval_crop_s")
        self.eval_max_frames = None if em is None else max(1, int(round(float(em) * self.fps)))
        self.crop_s = ctx.extraction.windowing.crop_s
        def check(split: str, examples: list[Example]) -> None:
            for ex in examples:
                missing = [s for s in self.stems if s not in ex.label]
                if missing:
                    raise DataError(f"{split}: example {ex.id!r} has no stem(s) {missing} (labels.names = {self.stems})")

        self.stores, self.tracks = self.frame_splits(_Track, check)
        self._audio_cache: dict[tuple[str, int], dict[str, np.ndarray]] = {}
        self._audio_bytes = 0
        self._audio_budget = int(ctx.ram_budget_gb * 1e9)

    # --- audio --------------------------------------------------------------------------------
    def _read(self, ex: Example, path: str, start: int, n: int | None) -> np.ndarray:
        """Mono float32 at the encoder rate: ``n`` samples from sample ``start`` of the excerpt
        (zero-padded), or the whole (cropped) excerpt when ``n`` is None."""
        limit = ex.duration_s
        if self.crop_s is not None:
            limit = self.crop_s if limit is None else min(limit, self.crop_s)
        dur = None if n is None else n / self.sr
        if limit is not None:
            rest = limit - start / self.sr
            dur = rest if dur is None else min(dur, rest)
        if dur is not None and dur <= 0:
            return np.zeros(n or 0, dtype=np.float32)
        audio, _ = load_audio(path, self.sr, start_s=ex.start_s + start / self.sr, duration_s=dur)
        if n is not None:
            audio = audio[:n] if audio.size >= n else np.pad(audio, (0, n - audio.size))
        return audio.astype(np.float32, copy=False)

    def _track_audio(self, split: str, t: int) -> dict[str, np.ndarray]:
        """Whole (cropped) mixture + stems of a track, kept in memory while the budget allows."""
        key = (split, t)
        if key in self._audio_cache:
            return self._audio_cache[key]
        ex = self.tracks[split][t].example
        out = {"mixture": self._read(ex, str(ex.path), 0, None)}
        n = out["mixture"].size
        for s in self.stems:
            a = self._read(ex, ex.label[s], 0, None)
            out[s] = a[:n] if a.size >= n else np.pad(a, (0, n - a.size))
        size = sum(a.nbytes for a in out.values())
        if self._audio_bytes + size <= self._audio_budget:
            self._audio_cache[key] = out
            self._audio_bytes += size
        return out

    def _excerpt_audio(self, t: int, start_frame: int) -> dict[str, np.ndarray]:
        """Mixture and stems, ``excerpt * hop`` samples from frame ``start_frame`` (zero-padded):
        sliced from memory when the track is (or can be) held, else read from disk."""
        n = self.excerpt * self.hop
        start = start_frame * self.hop
        key = ("train", t)
        tr = self.tracks["train"][t]
        track_bytes = (tr.frames + 1) * self.hop * 4 * (1 + len(self.stems))
        if key in self._audio_cache or self._audio_bytes + track_bytes <= self._audio_budget:
            full = self._track_audio("train", t)
            return {k: np.pad(v[start:start + n], (0, max(0, n - v[start:start + n].size))) for k, v in full.items()}
        ex = tr.example
        out = {"mixture": self._read(ex, str(ex.path), start, n)}
        for s in self.stems:
            out[s] = self._read(ex, ex.label[s], start, n)
        return out

    def stft(self, audio: torch.Tensor) -> torch.Tensor:
        """Complex STFT ``[..., bins, frames]`` (hann window, centred)."""
        return torch.stft(audio, self.n_fft, self.hop, window=self.window, center=True, return_complex=True)

    # --- training -----------------------------------------------------------------------------
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.tracks["train"]) * self.samples_per_track / self.batch_size)

    def epoch_plan(self, gen: torch.Generator) -> list[Any]:
        tracks = self.tracks["train"]
        items = torch.arange(len(tracks)).repeat(self.samples_per_track)
        items = items[torch.randperm(len(items), generator=gen)].tolist()
        plan = []
        for b in range(0, len(items), self.batch_size):
            batch = []
            for t in items[b:b + self.batch_size]:
                span = max(tracks[t].frames - self.excerpt, 0)
                batch.append((t, int(torch.randint(0, span + 1, (1,), generator=gen))))
            plan.append(batch)
        return plan

    def make_batch(self, items: list[tuple[int, int]]) -> Batch:
        w = self.excerpt
        rows = np.empty(len(items) * w, dtype=np.int64)
        weight = np.zeros(len(items) * w, dtype=np.float32)
        mixes, targets = [], []
        for k, (t, start) in enumerate(items):
            tr = self.tracks["train"][t]
            n = min(w, tr.frames - start)
            rows[k * w:(k + 1) * w] = tr.offset + np.minimum(start + np.arange(w), tr.frames - 1)
            weight[k * w:k * w + n] = 1.0
            audio = self._excerpt_audio(t, start)
            mixes.append(audio["mixture"])
            targets.append(np.stack([audio[s] for s in self.stems]))
        mix = torch.as_tensor(np.stack(mixes), device=self.device)  # [B, n]
        stems = torch.as_tensor(np.stack(targets), device=self.device)  # [B, S, n]
        mix_mag = self.stft(mix).abs()[..., :w]  # [B, F, w]
        stem_mag = self.stft(stems.reshape(-1, stems.shape[-1])).abs()[..., :w]
        stem_mag = stem_mag.reshape(len(items), len(self.stems), self.bins, w)
        mix_rows = mix_mag.permute(0, 2, 1).reshape(-1, self.bins)  # [B*w, F]
        tgt_rows = stem_mag.permute(0, 3, 1, 2).reshape(-1, len(self.stems), self.bins)  # [B*w, S, F]
        x = self.stores["train"].gather(rows)
        return Batch(x, (mix_rows, tgt_rows), torch.as_tensor(weight, device=self.device))

    def loss(self, out: torch.Tensor, batch: Batch) -> torch.Tensor:
        mix, tgt = batch.target
        hg, b, _ = out.shape
        est = torch.sigmoid(out).view(hg, b, len(self.stems), self.bins) * mix.view(1, b, 1, self.bins)
        per = ((est - tgt.unsqueeze(0)) ** 2).mean(dim=(2, 3))
        return weighted_mean(per, batch.weight)

    # --- evaluation ---------------------------------------------------------------------------
    def evaluate(self, bank: Any, split: str, names: Sequence[str] | None,
                 contexts: list[dict[str, Any]]) -> list[dict[str, float]]:
        specs = self.metric_specs(names)
        tracks = self.tracks[split]
        lengths = []
        for t in range(len(tracks)):
            n = self._track_audio(split, t)["mixture"].size
            if self.eval_max_frames is not None:
                n = min(n, self.eval_max_frames * self.hop)
            lengths.append(n)
        per_head = sum(lengths) * len(self.stems)
        max_frames = max(n // self.hop + 1 for n in lengths)
        heads_per_pass = max(1, min(bank.num_heads, (1 << 28) // max(1, per_head),
                                    (1 << 27) // max(1, max_frames * self.out_dim)))
        results: list[dict[str, float]] = []
        refs: list[dict[str, np.ndarray]] | None = None
        for h0 in range(0, bank.num_heads, heads_per_pass):
            heads = list(range(h0, min(h0 + heads_per_pass, bank.num_heads)))
            sub = bank if len(heads) == bank.num_heads else bank.subset(heads)
            ests: list[list[dict[str, np.ndarray]]] = [[] for _ in heads]
            track_refs = []
            for t, tr in enumerate(tracks):
                audio = self._track_audio(split, t)
                n = lengths[t]
                mix = torch.as_tensor(audio["mixture"][:n], device=self.device)
                spec = self.stft(mix)  # [F, T]
                frames = spec.shape[-1]
                rows = tr.offset + np.minimum(np.arange(frames), tr.frames - 1)
                x = self.stores[split].gather(rows)
                masks = torch.sigmoid(sub.predict(x)).view(len(heads), frames, len(self.stems), self.bins)
                for j in range(len(heads)):
                    est_spec = masks[j].permute(1, 2, 0) * spec.unsqueeze(0)  # [S, F, T]
                    wav = torch.istft(est_spec, self.n_fft, self.hop, window=self.window, center=True, length=n)
                    arr = wav.cpu().numpy()
                    ests[j].append({s: arr[k][None, :] for k, s in enumerate(self.stems)})
                if refs is None:
                    track_refs.append({s: audio[s][:n][None, :] for s in self.stems})
            if refs is None:
                refs = track_refs
            for j in range(len(heads)):
                # the evaluation rate reaches rate-dependent metrics (museval's 1 s windows)
                results.append({m.name: self.metric(m, refs, ests[j], {"sample_rate": self.sr}) for m in specs})
        return results

    def hyperparameters(self) -> dict[str, Any]:
        return {
            "loss": self.loss_name, "stems": self.stems, "n_fft": self.n_fft, "hop": self.hop,
            "train_excerpt_frames": self.excerpt, "samples_per_track": self.samples_per_track,
            "eval_max_frames": self.eval_max_frames,
            "simplifications": ("per-frame probe head (no LSTM, no batch norm); sigmoid masks on the mono "
                                "mixture magnitude; mixture phase, no Wiener filtering; no random re-mixing "
                                "of stems in training"),
        }
