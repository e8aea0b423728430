"""Source-separation probe: mask heads over the mixture spectrogram, Wiener filtering, iSTFT, SDR.

What MARBLE does (``marble_tasks.md`` §2.14): frame features of the frozen encoder aligned with the
mixture STFT (n_fft 2048, hop 320 at 24 kHz = the 75 Hz token rate), one open-unmix-like network per
target stem predicting a mask on the mixture magnitude, MSE on magnitudes, Wiener filtering (1 EM
iteration, residual source, 600-frame windows) and iSTFT, global SDR per stem.

Heads (``probe.head`` / ``--head``):

- ``openunmix``: MARBLE's head (:class:`mertbench.probe.sequence_heads.OpenUnmixHead`), one network per
  stem trained side by side on excerpts of ``train_excerpt_s`` seconds read as sequences; options
  ``lstm_layers`` (3) and ``lstm_bidirectional`` (MARBLE's code: false; its paper: true); the spec's
  ``hidden`` and ``dropout`` are the LSTM width and dropout. Used by ``musdb-separation``.
- ``mlp`` / ``linear``: the shared per-frame probe head, sigmoid masks (cheap; ``render-separation``).

Every head: estimated magnitude = mask x mixture magnitude, loss = MSE against each stem's magnitude.
Waveforms: with ``wiener_iterations`` 0 the magnitudes take the mixture phase; otherwise open-unmix's
multichannel Wiener filtering through ``norbert`` (``wiener_residual``, ``wiener_window_frames``).
``channels``: ``mono`` (channel-averaged, MARBLE's head) or ``data`` (one mask per channel of the
mixture STFT: stereo estimates for stereo data); the encoder always hears its own (mono) input. The
STFT hop is ``sample_rate / frame_rate`` so STFT frames and encoder frames coincide; features are
trimmed/extended (last frame repeated) to the STFT length.

Training: ``excerpts_per_track`` (default 64, as MARBLE) random excerpts per training track per
epoch. Without augmentation they are excerpts of the real mixtures and their features come from the
cache. MARBLE's augmentation (open-unmix's training data) is three options:

- ``random_track_mix``: every source of an excerpt comes from its own random training track at its
  own random offset (open-unmix's ``random_track_mix``; the stems are trained side by side, so every
  stem is a target and every other stem an interferer from another track, as MARBLE);
- ``source_gain: [lo, hi]``: each source is scaled by a gain drawn uniformly from ``[lo, hi]``
  (MARBLE: ``[0.25, 1.25]``);
- ``channel_swap``: each source's left and right channels are swapped with probability 1/2 (no effect
  on channel-averaged audio, i.e. with ``channels: mono``, exactly as in MARBLE's mono head).

The mixture is then the sum of the augmented sources, so its features cannot come from the cache:
with any of the three on, the frozen encoder runs on every training batch (the channel-averaged
excerpt, normalised as the task's windowing says, ``torch.no_grad``, float32) and the heads see those
frame features, standardised with the cached training split's moments. Every random draw comes from
the seed's generator in :meth:`SeparationFamily.epoch_plan`. Evaluation: whole tracks (or the first
``eval_crop_s``) from the cache, which encodes long tracks in pieces of ``audio.window_s``.
"""
from __future__ import annotations

import math
import warnings
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


@dataclass(frozen=True)
class _Source:
    """One source of an augmented training excerpt: its track, first frame, gain and channel swap."""

    track: int
    start: int
    gain: float
    swap: bool


@register_family("separation")
class SeparationFamily(ProbeFamily):
    """Mask-predicting heads on frame features of the mixture (see the module docstring).

    Options: ``n_fft_at_24k`` (2048, scaled to the encoder's rate), ``hop_length_at_24k`` (320: MARBLE's,
    for a 75 Hz encoder; the STFT hop is always ``sample_rate / frame_rate`` so that STFT frames and
    features align, and a model at another frame rate gets a note saying so), ``train_excerpt_s`` (6), ``excerpts_per_track`` (64),
    ``eval_crop_s`` (null = whole tracks), ``eval_sample_rate`` (``model``), ``channels`` (``mono``),
    ``wiener_iterations`` (0), ``wiener_residual`` (true), ``wiener_window_frames`` (600), the
    augmentation ``random_track_mix`` (false), ``source_gain`` (null or ``[lo, hi]``), ``channel_swap``
    (false), and for the ``openunmix`` head ``lstm_layers`` (3), ``lstm_bidirectional`` (true). An option
    that does not apply to the chosen head or setting is a SpecError.
    """

    loss_name = "mse on magnitudes (mask x mixture magnitude)"
    OPTIONS = {
        "n_fft_at_24k": USED, "hop_length_at_24k": USED, "train_excerpt_s": USED, "excerpts_per_track": USED,
        "eval_crop_s": USED, "eval_sample_rate": USED, "channels": USED, "wiener_iterations": USED,
        "wiener_residual": USED, "wiener_window_frames": USED, "lstm_layers": USED, "lstm_bidirectional": USED,
        "random_track_mix": USED, "source_gain": USED, "channel_swap": USED,
    }
    HEADS = ("mlp", "linear", "openunmix")
    #: options that only the open-unmix head reads (an error with another head: never silently ignored)
    OPENUNMIX_OPTIONS = ("lstm_layers", "lstm_bidirectional")

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
            # the spec's hop is MARBLE's for a 75 Hz encoder at 24 kHz; STFT frames must align with the
            # features, so the hop follows the encoder (recorded: hyperparameters.hop and this note)
            self.notes[f"STFT hop {self.hop} at {self.sr} Hz follows the encoder's {self.fps:g} Hz frames instead of "
                       f"hop_length_at_24k={want_hop} (the spec's value aligns a 75 Hz encoder only)"] = None
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

        self.head = ctx.head
        stray = [k for k in self.OPENUNMIX_OPTIONS if k in o and self.head != "openunmix"]
        if stray:
            raise SpecError(f"task {self.spec.name}: probe.options {', '.join(stray)} apply to the openunmix head "
                            f"only; this probe uses head {self.head!r}")
        self.lstm_layers = int(o.get("lstm_layers", 3))
        self.lstm_bidirectional = _as_bool(o.get("lstm_bidirectional", True), "lstm_bidirectional", self.spec.name)
        self.wiener_iterations = int(o.get("wiener_iterations", 0))
        self.wiener_residual = _as_bool(o.get("wiener_residual", True), "wiener_residual", self.spec.name)
        self.wiener_window = int(o.get("wiener_window_frames", 600))
        if self.wiener_iterations < 0 or self.wiener_window < 1 or self.lstm_layers < 1:
            raise SpecError(f"task {self.spec.name}: wiener_iterations must be >= 0, wiener_window_frames and "
                            "lstm_layers >= 1")
        if self.wiener_iterations == 0 and ("wiener_residual" in o or "wiener_window_frames" in o):
            raise SpecError(f"task {self.spec.name}: wiener_residual / wiener_window_frames need "
                            "wiener_iterations >= 1 (0 = masks on the mixture STFT, no Wiener filtering)")
        mode = str(o.get("channels", "mono"))
        if mode not in ("mono", "data"):
            raise SpecError(f"task {self.spec.name}: probe.options.channels must be 'mono' (channel-averaged, "
                            f"MARBLE) or 'data' (as many channels as the mixtures), got {mode!r}")
        self.channel_mode = mode
        self.channels = 1
        if mode == "data":
            from mertbench.audio import audio_info

            self.channels = int(audio_info(first.path).channels)
        self.out_dim = len(self.stems) * self.channels * self.bins
        self.random_track_mix = _as_bool(o.get("random_track_mix", False), "random_track_mix", self.spec.name)
        self.channel_swap = _as_bool(o.get("channel_swap", False), "channel_swap", self.spec.name)
        self.source_gain = _gain_range(o.get("source_gain"), self.spec.name)
        self.augment = self.random_track_mix or self.channel_swap or self.source_gain is not None
        self.stores, self.tracks = self.frame_splits(_Track, check)
        self._encoder: Any = None
        if self.augment:
            self._encoder = self._online_encoder()
        self._audio_cache: dict[tuple[str, int], dict[str, np.ndarray]] = {}
        self._audio_bytes = 0
        self._audio_budget = int(ctx.ram_budget_gb * 1e9)

    # --- audio --------------------------------------------------------------------------------
    def _read(self, ex: Example, path: str, start: int, n: int | None) -> np.ndarray:
        """``[C, samples]`` float32 at the encoder rate (``C`` = :attr:`channels`: channel-averaged
        when 1; a mono file is repeated on every channel): ``n`` samples from sample ``start`` of the
        excerpt (zero-padded), or the whole (cropped) excerpt when ``n`` is None."""
        limit = ex.duration_s
        if self.crop_s is not None:
            limit = self.crop_s if limit is None else min(limit, self.crop_s)
        dur = None if n is None else n / self.sr
        if limit is not None:
            rest = limit - start / self.sr
            dur = rest if dur is None else min(dur, rest)
        c = self.channels
        if dur is not None and dur <= 0:
            return np.zeros((c, n or 0), dtype=np.float32)
        audio, _ = load_audio(path, self.sr, start_s=ex.start_s + start / self.sr, duration_s=dur, mono=c == 1)
        audio = np.atleast_2d(audio)
        if audio.shape[0] != c:
            if audio.shape[0] != 1:
                raise DataError(f"{path}: {audio.shape[0]} channels where the task's mixtures have {c}")
            audio = np.repeat(audio, c, axis=0)
        if n is not None:
            k = audio.shape[1]
            audio = audio[:, :n] if k >= n else np.pad(audio, ((0, 0), (0, n - k)))
        return np.ascontiguousarray(audio, dtype=np.float32)

    def _track_audio(self, split: str, t: int) -> dict[str, np.ndarray]:
        """Whole (cropped) mixture + stems of a track, kept in memory while the budget allows."""
        key = (split, t)
        if key in self._audio_cache:
            return self._audio_cache[key]
        ex = self.tracks[split][t].example
        out = {"mixture": self._read(ex, str(ex.path), 0, None)}
        n = out["mixture"].shape[1]
        for s in self.stems:
            a = self._read(ex, ex.label[s], 0, None)
            out[s] = a[:, :n] if a.shape[1] >= n else np.pad(a, ((0, 0), (0, n - a.shape[1])))
        size = sum(a.nbytes for a in out.values())
        if self._audio_bytes + size <= self._audio_budget:
            self._audio_cache[key] = out
            self._audio_bytes += size
        return out

    def _excerpt_audio(self, t: int, start_frame: int, parts: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Mixture and stems (or only ``parts``: ``"mixture"`` and stem names) of training track ``t``,
        ``excerpt * hop`` samples from frame ``start_frame`` (zero-padded): sliced from memory when the
        track is (or can be) held, else read from disk."""
        n = self.excerpt * self.hop
        start = start_frame * self.hop
        key = ("train", t)
        tr = self.tracks["train"][t]
        track_bytes = (tr.frames + 1) * self.hop * 4 * (1 + len(self.stems)) * self.channels
        if key in self._audio_cache or self._audio_bytes + track_bytes <= self._audio_budget:
            full = self._track_audio("train", t)
            return {k: np.pad(v[:, start:start + n], ((0, 0), (0, max(0, n - v[:, start:start + n].shape[1]))))
                    for k, v in full.items() if parts is None or k in parts}
        ex = tr.example
        wanted = ["mixture", *self.stems] if parts is None else list(parts)
        return {k: self._read(ex, str(ex.path) if k == "mixture" else ex.label[k], start, n) for k in wanted}

    # --- online features (augmented excerpts) ------------------------------------------------
    def _online_encoder(self) -> Any:
        """The extraction's encoder (loaded again from its spec when the extraction has none), on the
        training device, in eval mode, with the hidden-state indices the heads read."""
        ext = self.ctx.extraction
        encoder = ext.encoder
        if encoder is None:
            from mertbench.models.registry import load_model

            encoder = load_model(ext.model_spec)
        if int(encoder.sample_rate) != self.sr:
            raise ModelError(f"model {ext.model_spec!r} runs at {encoder.sample_rate} Hz but its cached features "
                             f"were made at {self.sr} Hz")
        encoder.eval().to(self.device)
        cached = list(ext.cache.layers)
        self._hidden = torch.as_tensor([cached[p] for p in self.ctx.positions], dtype=torch.long, device=self.device)
        return encoder

    def encode_excerpts(self, mono: np.ndarray) -> torch.Tensor:
        """Frame features ``[B * excerpt, L', D]`` of mono excerpts ``[B, excerpt * hop]`` (samples at
        the encoder rate): each excerpt normalised as the cache's windowing (``zmuv``/``peak``/none),
        encoded in one batch, the selected hidden states, frames trimmed or extended (last frame
        repeated) to ``excerpt``, standardised as the cached training features."""
        from mertbench.audio import normalize

        mode = self.ctx.extraction.windowing.normalize
        wav = torch.as_tensor(np.stack([normalize(m, mode) for m in mono]).astype(np.float32), device=self.device)
        with torch.no_grad():
            out = self._encoder(wav)  # [L, B, T, D]
        out = out.index_select(0, self._hidden).float().permute(1, 2, 0, 3)  # [B, T, L', D]
        w, t = self.excerpt, out.shape[1]
        if t < w:
            out = torch.cat([out, out[:, -1:].expand(-1, w - t, -1, -1)], dim=1)
        x = out[:, :w].reshape(-1, out.shape[2], out.shape[3])
        return self.stores["train"]._apply(x)

    def _source_audio(self, src: _Source, stem: str) -> np.ndarray:
        """``[C, excerpt * hop]`` samples of ``stem`` of training track ``src.track`` from frame
        ``src.start`` (zero-padded), channel-swapped and scaled by ``src.gain``."""
        audio = self._excerpt_audio(src.track, src.start, [stem])[stem]
        if src.swap and audio.shape[0] == 2:
            audio = audio[::-1]
        return np.ascontiguousarray(audio * np.float32(src.gain), dtype=np.float32)

    def _augmented_batch(self, items: list[tuple[_Source, ...]]) -> Batch:
        w = self.excerpt
        weight = np.zeros(len(items) * w, dtype=np.float32)
        targets, mixes = [], []
        for k, sources in enumerate(items):
            stems = np.stack([self._source_audio(src, s) for src, s in zip(sources, self.stems)])  # [S, C, n]
            targets.append(stems)
            mixes.append(stems.sum(axis=0))
            valid = max(min(w, self.tracks["train"][src.track].frames - src.start) for src in sources)
            weight[k * w:k * w + valid] = 1.0
        mix_np = np.stack(mixes)  # [B, C, n]
        x = self.encode_excerpts(mix_np.mean(axis=1))
        mix = torch.as_tensor(mix_np, device=self.device)
        stems_t = torch.as_tensor(np.stack(targets), device=self.device)
        mix_rows, tgt_rows = self._magnitude_rows(mix, stems_t)
        return Batch(x, (mix_rows, tgt_rows), torch.as_tensor(weight, device=self.device))

    def _magnitude_rows(self, mix: torch.Tensor, stems: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mixture ``[B, C, n]`` and stems ``[B, S, C, n]`` -> magnitude rows ``[B*w, C, F]`` and
        ``[B*w, S, C, F]`` (the first ``excerpt`` STFT frames of each excerpt)."""
        w, b, c, n_s = self.excerpt, mix.shape[0], self.channels, len(self.stems)
        mix_mag = self.stft(mix.reshape(b * c, -1)).abs()[..., :w].reshape(b, c, self.bins, w)
        stem_mag = self.stft(stems.reshape(b * n_s * c, -1)).abs()[..., :w].reshape(b, n_s, c, self.bins, w)
        return (mix_mag.permute(0, 3, 1, 2).reshape(-1, c, self.bins),
                stem_mag.permute(0, 4, 1, 2, 3).reshape(-1, n_s, c, self.bins))

    def stft(self, audio: torch.Tensor) -> torch.Tensor:
        """Complex STFT ``[..., bins, frames]`` (hann window, centred)."""
        return torch.stft(audio, self.n_fft, self.hop, window=self.window, center=True, return_complex=True)

    # --- training -----------------------------------------------------------------------------
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.tracks["train"]) * self.samples_per_track / self.batch_size)

    def epoch_plan(self, gen: torch.Generator) -> list[Any]:
        """Batches of ``(track, start frame)`` items, or with augmentation of one :class:`_Source` per
        stem: with ``random_track_mix`` each source's track and start are drawn on their own, else all
        sources share the item's track and start; gain and swap are drawn per source."""
        tracks = self.tracks["train"]
        items = torch.arange(len(tracks)).repeat(self.samples_per_track)
        items = items[torch.randperm(len(items), generator=gen)].tolist()

        def start(t: int) -> int:
            return int(torch.randint(0, max(tracks[t].frames - self.excerpt, 0) + 1, (1,), generator=gen))

        def source(t: int, shared_start: int) -> _Source:
            first = shared_start
            if self.random_track_mix:
                t = int(torch.randint(0, len(tracks), (1,), generator=gen))
                first = start(t)
            gain = 1.0
            if self.source_gain is not None:
                lo, hi = self.source_gain
                gain = lo + (hi - lo) * float(torch.rand((), generator=gen))
            swap = bool(self.channel_swap and float(torch.rand((), generator=gen)) < 0.5)
            return _Source(t, first, gain, swap)

        plan = []
        for b in range(0, len(items), self.batch_size):
            if self.augment:
                batch = []
                for t in items[b:b + self.batch_size]:
                    first = -1 if self.random_track_mix else start(t)  # without re-mixing: one excerpt
                    batch.append(tuple(source(t, first) for _ in self.stems))
                plan.append(batch)
            else:
                plan.append([(t, start(t)) for t in items[b:b + self.batch_size]])
        return plan

    def make_batch(self, items: list[Any]) -> Batch:
        if self.augment:
            return self._augmented_batch(items)
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
        mix = torch.as_tensor(np.stack(mixes), device=self.device)  # [B, C, n]
        stems = torch.as_tensor(np.stack(targets), device=self.device)  # [B, S, C, n]
        mix_rows, tgt_rows = self._magnitude_rows(mix, stems)
        x = self.stores["train"].gather(rows)
        return Batch(x, (mix_rows, tgt_rows), torch.as_tensor(weight, device=self.device))

    def loss(self, out: torch.Tensor, batch: Batch) -> torch.Tensor:
        mix, tgt = batch.target
        hg, b, _ = out.shape
        est = self.masks(out).view(hg, b, len(self.stems), self.channels, self.bins) * mix.unsqueeze(0).unsqueeze(2)
        per = ((est - tgt.unsqueeze(0)) ** 2).mean(dim=(2, 3, 4))
        return weighted_mean(per, batch.weight)

    def masks(self, out: torch.Tensor) -> torch.Tensor:
        """Head outputs -> non-negative masks: a sigmoid for the per-frame heads; the open-unmix head's
        outputs are already ReLU masks (unbounded, as open-unmix)."""
        return out if self.head == "openunmix" else torch.sigmoid(out)

    def make_bank(self, configs: Sequence[Any], positions: dict[int, int], weighted_positions: list[int],
                  dim: int, settings: Any, device: torch.device | str,
                  params: dict[str, torch.Tensor] | None = None) -> Any:
        if self.head != "openunmix":
            return super().make_bank(configs, positions, weighted_positions, dim, settings, device, params)
        from mertbench.probe.sequence_heads import OpenUnmixHead, SequenceHeadBank

        hidden = int(settings.hidden or 512)
        stems, per_stem = len(self.stems), self.channels * self.bins
        layers, bidi, drop = self.lstm_layers, self.lstm_bidirectional, float(settings.dropout)

        def make() -> OpenUnmixHead:
            return OpenUnmixHead(dim, stems, per_stem, hidden=hidden, layers=layers, bidirectional=bidi, dropout=drop)

        return SequenceHeadBank(configs, positions, weighted_positions, dim, self.out_dim, make, self.excerpt,
                                device, params)

    def waveforms(self, mag: torch.Tensor, spec: torch.Tensor, n: int) -> np.ndarray:
        """Stem waveforms ``[S, C, n]`` from estimated magnitudes ``mag`` ``[S, C, F, T]`` and the mixture
        STFT ``spec`` ``[C, F, T]``: the mixture phase when ``wiener_iterations`` is 0, else open-unmix's
        multichannel Wiener filtering (initial estimates with the mixture phase, optional residual
        source = mixture minus the estimates, ``wiener_iterations`` EM iterations of ``norbert``, in
        windows of ``wiener_window_frames`` frames), then the iSTFT."""
        if self.wiener_iterations == 0:
            est = mag * torch.exp(1j * torch.angle(spec)).unsqueeze(0)
        else:
            est = torch.as_tensor(self._wiener(mag.cpu().numpy(), spec.cpu().numpy()), device=spec.device)
        s, c, f, t = est.shape
        wav = torch.istft(est.reshape(s * c, f, t), self.n_fft, self.hop, window=self.window, center=True, length=n)
        return wav.reshape(s, c, n).cpu().numpy()

    def _wiener(self, mag: np.ndarray, spec: np.ndarray) -> np.ndarray:
        try:
            with warnings.catch_warnings():  # norbert 0.2.1 imports a deprecated scipy.ndimage path
                warnings.simplefilter("ignore", DeprecationWarning)
                import norbert
        except ImportError as e:  # pragma: no cover - a core dependency
            raise ModelError("Wiener filtering needs norbert: pip install norbert") from e
        x_all = np.transpose(spec, (2, 1, 0)).astype(np.complex128)  # [T, F, C]
        v_all = np.transpose(mag, (3, 2, 1, 0)).astype(np.float64)  # [T, F, C, S]
        out = np.empty(v_all.shape, dtype=np.complex128)
        for t0 in range(0, x_all.shape[0], self.wiener_window):
            x, v = x_all[t0:t0 + self.wiener_window], v_all[t0:t0 + self.wiener_window]
            y = v * np.exp(1j * np.angle(x))[..., None]
            if self.wiener_residual:
                y = np.concatenate([y, x[..., None] - y.sum(axis=-1, keepdims=True)], axis=-1)
            scale = max(1.0, float(np.abs(x).max()) / 10.0)
            y = norbert.expectation_maximization(y / scale, x / scale, self.wiener_iterations)[0] * scale
            out[t0:t0 + self.wiener_window] = y[..., :v.shape[-1]]
        return np.transpose(out, (3, 2, 1, 0))  # [S, C, F, T]

    # --- evaluation ---------------------------------------------------------------------------
    def evaluate(self, bank: Any, split: str, names: Sequence[str] | None,
                 contexts: list[dict[str, Any]]) -> list[dict[str, float]]:
        specs = self.metric_specs(names)
        tracks = self.tracks[split]
        lengths = []
        for t in range(len(tracks)):
            n = self._track_audio(split, t)["mixture"].shape[1]
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
                mix = torch.as_tensor(audio["mixture"][:, :n], device=self.device)
                spec = self.stft(mix)  # [C, F, T]
                frames = spec.shape[-1]
                rows = tr.offset + np.minimum(np.arange(frames), tr.frames - 1)
                x = self.stores[split].gather(rows)
                masks = self.masks(sub.predict(x)).view(len(heads), frames, len(self.stems), self.channels,
                                                        self.bins)
                for j in range(len(heads)):
                    mag = masks[j].permute(1, 2, 3, 0) * spec.abs().unsqueeze(0)  # [S, C, F, T]
                    arr = self.waveforms(mag, spec, n)
                    ests[j].append({s: arr[k] for k, s in enumerate(self.stems)})
                if refs is None:
                    track_refs.append({s: audio[s][:, :n] for s in self.stems})
            if refs is None:
                refs = track_refs
            for j in range(len(heads)):
                # the evaluation rate reaches rate-dependent metrics (museval's 1 s windows)
                results.append({m.name: self.metric(m, refs, ests[j], {"sample_rate": self.sr}) for m in specs})
        return results

    def hyperparameters(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "loss": self.loss_name, "separation_head": self.head, "stems": self.stems, "n_fft": self.n_fft,
            "hop": self.hop, "channels": self.channels, "channel_mode": self.channel_mode,
            "train_excerpt_frames": self.excerpt, "samples_per_track": self.samples_per_track,
            "eval_max_frames": self.eval_max_frames, "wiener_iterations": self.wiener_iterations,
        }
        if self.augment:
            out["augmentation"] = {
                "random_track_mix": self.random_track_mix, "source_gain": list(self.source_gain or (1.0, 1.0)),
                "channel_swap": (False if not self.channel_swap else "per source, p = 0.5" if self.channels == 2
                                 else "per source, p = 0.5 (no effect on channel-averaged audio)"),
                "training_features": "online: the frozen encoder on each re-mixed excerpt (float32, no_grad)",
            }
        else:
            out["augmentation"] = "none: excerpts of the real mixtures, features from the cache"
        if self.wiener_iterations:
            out.update(wiener_residual=self.wiener_residual, wiener_window_frames=self.wiener_window,
                       wiener_library=f"norbert {_version('norbert')}")
        if self.head == "openunmix":
            out.update(lstm_layers=self.lstm_layers, lstm_bidirectional=self.lstm_bidirectional,
                       heads_per_stem="one open-unmix network per stem (trained side by side, summed loss)")
        else:
            out["mask"] = "sigmoid, per frame"
        return out


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def _gain_range(value: Any, task: str) -> tuple[float, float] | None:
    """``probe.options.source_gain``: null, or ``[lo, hi]`` with ``0 <= lo <= hi``."""
    if value is None:
        return None
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise SpecError(f"task {task}: probe.options.source_gain must be [lo, hi] (MARBLE: [0.25, 1.25]) or "
                        f"null, got {value!r}") from None
    if not (0.0 <= lo <= hi) or not math.isfinite(hi):
        raise SpecError(f"task {task}: probe.options.source_gain needs 0 <= lo <= hi, got {value!r}")
    return lo, hi


def _as_bool(value: Any, name: str, task: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise SpecError(f"task {task}: probe.options.{name} must be true or false, got {value!r}")
