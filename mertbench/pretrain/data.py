"""Pretraining data: the corpus, deterministic micro-batches, random crops, masks and mixture.

**Corpus** (:class:`Corpus`): an audio folder (recursive, every format ``mertbench.audio`` reads)
or a manifest: a fairseq ``.tsv`` (first line the root folder, then ``relative/path<TAB>num_samples``
with ``num_samples`` at 24 kHz, fairseq's convention), a ``.jsonl`` with one object per line whose
``audio`` (or ``path``) field is the file (mertbench's rendered corpus), or a ``.txt``/``.csv`` list of
paths (relative to the manifest's folder; a ``path`` header line is allowed). Clips shorter than ``min_seconds``
(3 s, MERT's ``min_sample_size``) and unreadable files are skipped and *counted* (and listed in
``skipped``). ``max_hours > 0`` keeps a seeded random subset of at most that much audio.

**Micro-batches**: a training step consumes ``G = world_size x accum`` micro-batches of
``micro_batch`` clips. Micro-batch ``g`` of step ``s`` is a pure function of ``(seed, s, g)``:
clips come from an epoch-wise seeded permutation of the corpus at stream position
``(s * G + g) * micro_batch``, and crops, noise mixture and masks draw from
``numpy.random.default_rng([seed, s, g])``. Rank ``r`` handles ``g = a * world_size + r`` for
accumulation index ``a``. Hence a run resumed at step ``s`` sees exactly the batches an
uninterrupted run sees, and 2 processes with accum 1 see exactly what 1 process with accum 2 sees.

**Crops** follow MERT's collater: the micro-batch is cut to ``min(shortest clip, crop_seconds)``
(rounded down to a multiple of 320 samples), each clip at a random start. Starts are multiples of
320 samples so that label ``f`` of the file is exactly frame 0 of the crop (MERT rounds the start to
the nearest label frame, up to +-160 samples of jitter). Audio is resampled to 24 kHz on the fly.
"""
from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from mertbench.audio import audio_info, find_audio_files, load_audio
from mertbench.constants import HOP, SAMPLE_RATE
from mertbench.errors import AudioError, DataError
from mertbench.pretrain.masking import compute_mask_indices
from mertbench.pretrain.mixture import inbatch_noise_mixture


@dataclass(frozen=True)
class ClipInfo:
    """One audio file of the corpus."""

    path: str
    sample_rate: int
    frames: int  # samples at the native rate
    size: int = 0
    mtime_ns: int = 0

    @property
    def samples_24k(self) -> int:
        """Length at 24 kHz (rounded down)."""
        return self.frames * SAMPLE_RATE // self.sample_rate

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate


@dataclass
class Corpus:
    """The clips used for pretraining, and those skipped (with reasons)."""

    source: str
    clips: list[ClipInfo]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    skipped_short: int = 0
    skipped_unreadable: int = 0
    not_selected: int = 0  # dropped by max_hours

    @property
    def hours(self) -> float:
        return sum(c.seconds for c in self.clips) / 3600.0

    def key(self) -> str:
        """Fingerprint of the selected files (path, size, mtime, length): keys the label caches."""
        h = hashlib.sha256()
        for c in self.clips:
            h.update(f"{c.path}|{c.size}|{c.mtime_ns}|{c.frames}|{c.sample_rate}\n".encode())
        return h.hexdigest()[:16]

    def summary(self) -> str:
        parts = [f"{len(self.clips)} clips, {self.hours:.2f} h"]
        if self.skipped_short:
            parts.append(f"{self.skipped_short} skipped as shorter than the minimum length")
        if self.skipped_unreadable:
            parts.append(f"{self.skipped_unreadable} skipped as unreadable")
        if self.not_selected:
            parts.append(f"{self.not_selected} left out by data.max_hours")
        return "; ".join(parts)

    @classmethod
    def scan(cls, source: str | os.PathLike, *, min_seconds: float = 3.0, max_hours: float = 0.0,
             seed: int = 0) -> "Corpus":
        """Index an audio folder or a manifest (see the module docstring)."""
        src = Path(source).expanduser()
        if not str(source):
            raise DataError("pretraining data: no data path given; pass --data DIR (an audio folder or a manifest)")
        if not src.exists():
            raise DataError(f"{src}: pretraining data not found; pass an audio folder or a manifest (.tsv/.txt/.csv)")
        entries: list[tuple[Path, int | None]] = []
        if src.is_dir():
            entries = [(p, None) for p in find_audio_files(src)]
        else:
            entries = _read_manifest(src)
        clips: list[ClipInfo] = []
        skipped: list[tuple[str, str]] = []
        short = unreadable = 0
        for path, n24 in entries:
            try:
                st = path.stat()
                if n24 is not None:
                    info_sr, frames = SAMPLE_RATE, int(n24)
                else:
                    info = audio_info(path)
                    info_sr, frames = info.sample_rate, info.frames
            except (AudioError, OSError) as exc:
                unreadable += 1
                skipped.append((str(path), f"unreadable: {exc}"))
                continue
            if frames < min_seconds * info_sr:
                short += 1
                skipped.append((str(path), f"shorter than {min_seconds:g} s ({frames / info_sr:.2f} s)"))
                continue
            clips.append(ClipInfo(str(path), info_sr, frames, st.st_size, st.st_mtime_ns))
        if not clips:
            raise DataError(f"{src}: no usable audio clip (found {len(entries)} files; {short} shorter than "
                            f"{min_seconds:g} s, {unreadable} unreadable); pretraining needs clips of at least "
                            f"{min_seconds:g} s (data.min_seconds)")
        not_selected = 0
        if max_hours and max_hours > 0 and sum(c.seconds for c in clips) > max_hours * 3600:
            order = np.random.default_rng(seed).permutation(len(clips))
            keep, total = [], 0.0
            for i in order:
                if total >= max_hours * 3600:
                    break
                keep.append(int(i))
                total += clips[i].seconds
            not_selected = len(clips) - len(keep)
            clips = [clips[i] for i in sorted(keep)]
        return cls(str(src), clips, skipped, short, unreadable, not_selected)


def _read_manifest(path: Path) -> list[tuple[Path, int | None]]:
    """Entries of a fairseq .tsv (root line + ``rel<TAB>num_samples``) or a list of paths."""
    lines = [ln.rstrip("\n") for ln in path.read_text().splitlines()]
    lines = [ln for ln in lines if ln.strip()]
    if not lines:
        raise DataError(f"{path}: manifest is empty")
    out: list[tuple[Path, int | None]] = []
    if path.suffix == ".tsv":
        root = Path(lines[0].strip())
        if not root.is_absolute():
            root = path.parent / root
        for i, ln in enumerate(lines[1:], start=2):
            cols = ln.split("\t")
            if len(cols) < 1 or not cols[0]:
                raise DataError(f"{path}:{i}: expected 'relative/path<TAB>num_samples'")
            n = None
            if len(cols) > 1 and cols[1].strip():
                try:
                    n = int(cols[1])
                except ValueError as exc:
                    raise DataError(f"{path}:{i}: num_samples {cols[1]!r} is not an integer") from exc
            out.append((root / cols[0], n))
        return out
    if path.suffix == ".jsonl":
        import json

        for i, ln in enumerate(lines, start=1):
            try:
                row = json.loads(ln)
                rel = row.get("audio") or row.get("path")
            except (json.JSONDecodeError, AttributeError) as exc:
                raise DataError(f"{path}:{i}: not a JSON object ({exc})") from exc
            if not rel:
                raise DataError(f"{path}:{i}: needs an 'audio' (or 'path') field with the file path")
            p = Path(rel)
            out.append((p if p.is_absolute() else path.parent / p, None))
        return out
    rows = list(csv.reader(lines)) if path.suffix == ".csv" else [[ln] for ln in lines]
    if rows and rows[0] and rows[0][0].strip().lower() == "path":
        rows = rows[1:]
    for row in rows:
        p = Path(row[0].strip())
        out.append((p if p.is_absolute() else path.parent / p, None))
    return out


def read_crop(clip: ClipInfo, start24: int, length24: int) -> np.ndarray:
    """``length24`` samples at 24 kHz from sample ``start24`` (at 24 kHz) of ``clip``, float32 ``[L]``."""
    wav, _ = load_audio(clip.path, SAMPLE_RATE, start_s=start24 / SAMPLE_RATE,
                        duration_s=length24 / SAMPLE_RATE)
    if wav.shape[0] < length24:
        wav = np.pad(wav, (0, length24 - wav.shape[0]))
    return np.ascontiguousarray(wav[:length24], dtype=np.float32)


class MicroBatches(torch.utils.data.Dataset):
    """Map ``(step, g)`` to a ready micro-batch (a dict of tensors); see the module docstring.

    Items: ``audio`` float32 ``[B, L]`` (network input, mixed); ``clean`` float32 ``[B, L]`` (only
    when the CQT target is computed online); ``labels`` int64 ``[B, T, K]`` (teacher codes);
    ``cqt`` float32 ``[B, T, bins]`` (precomputed CQT target); ``mask`` bool ``[B, T]``; and
    counters ``mixed`` (clips that received noise), ``step``, ``g``.
    """

    def __init__(self, corpus: Corpus, *, micro_batch: int, per_step: int, crop_seconds: float,
                 num_frames: Any, seed: int, mask: Any, mixture: Any, labels: Any = None, cqt: Any = None,
                 need_clean: bool = False, indices: list[int] | None = None) -> None:
        self.clips = corpus.clips
        #: corpus indices batches are drawn from (all clips unless some are held out for evaluation)
        self.indices = list(range(len(corpus.clips))) if indices is None else list(indices)
        if not self.indices:
            raise DataError(f"{corpus.source}: no training clips left after holding some out (data.holdout_clips)")
        self.micro_batch = micro_batch
        self.per_step = per_step
        self.max_len = int(round(crop_seconds * SAMPLE_RATE)) // HOP * HOP
        self.num_frames = num_frames
        self.seed = seed
        self.mask = mask
        self.mixture = mixture
        self.labels = labels
        self.cqt = cqt
        self.need_clean = need_clean
        self._perms: dict[int, np.ndarray] = {}

    def __len__(self) -> int:  # map-style datasets need a length; keys are (step, g) pairs
        return 2**62

    def clip_indices(self, step: int, g: int) -> list[int]:
        """Corpus indices of micro-batch ``g`` of ``step``."""
        n = len(self.indices)
        start = (step * self.per_step + g) * self.micro_batch
        out = []
        for p in range(start, start + self.micro_batch):
            epoch, pos = divmod(p, n)
            if epoch not in self._perms:
                if len(self._perms) > 4:
                    self._perms.clear()
                self._perms[epoch] = np.random.default_rng([self.seed, 7919, epoch]).permutation(n)
            out.append(self.indices[int(self._perms[epoch][pos])])
        return out

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Any]:
        step, g = key
        rng = np.random.default_rng([self.seed, int(step), int(g)])
        idx = self.clip_indices(step, g)
        clips = [self.clips[i] for i in idx]
        length = min(self.max_len, min(c.samples_24k for c in clips) // HOP * HOP)
        frames = self.num_frames(length)
        starts = [int(rng.integers(0, (c.samples_24k - length) // HOP + 1)) for c in clips]
        clean = np.stack([read_crop(c, f * HOP, length) for c, f in zip(clips, starts)])
        m = self.mixture
        if m.prob > 0 and len(clips) > 1:
            audio, stats = inbatch_noise_mixture(
                clean, rng, prob=m.prob, num_segments=(m.min_segments, m.max_segments),
                segment_samples=(int(m.min_seconds * SAMPLE_RATE), int(m.max_seconds * SAMPLE_RATE)),
                volume=m.volume)
            mixed = stats.mixed
        else:
            audio, mixed = clean, 0
        mask = compute_mask_indices((len(clips), frames), None, self.mask.prob, self.mask.length, rng,
                                    min_masks=self.mask.min_masks, require_same_masks=self.mask.require_same_masks)
        item: dict[str, Any] = {
            "audio": torch.from_numpy(np.ascontiguousarray(audio)),
            "mask": torch.from_numpy(mask),
            "mixed": mixed,
            "step": int(step),
            "g": int(g),
            "indices": torch.tensor(idx),
        }
        if self.need_clean:
            item["clean"] = torch.from_numpy(clean)
        if self.labels is not None:
            item["labels"] = torch.from_numpy(np.stack(
                [self.labels.get(i, f, frames) for i, f in zip(idx, starts)]).astype(np.int64))
        if self.cqt is not None:
            item["cqt"] = torch.from_numpy(np.stack(
                [self.cqt.get(i, f, frames) for i, f in zip(idx, starts)]).astype(np.float32))
        return item


class MicroBatchKeys(torch.utils.data.Sampler):
    """The ``(step, g)`` keys rank ``rank`` processes, from ``start_step`` to ``end_step`` (exclusive)."""

    def __init__(self, start_step: int, end_step: int, rank: int, world: int, accum: int) -> None:
        self.start, self.end, self.rank, self.world, self.accum = start_step, end_step, rank, world, accum

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for step in range(self.start, self.end):
            for a in range(self.accum):
                yield step, a * self.world + self.rank

    def __len__(self) -> int:
        return max(0, self.end - self.start) * self.accum


def make_loader(dataset: MicroBatches, sampler: MicroBatchKeys, num_workers: int,
                pin_memory: bool = False) -> torch.utils.data.DataLoader:
    """A DataLoader yielding ready micro-batches in sampler order (``num_workers`` processes)."""
    return torch.utils.data.DataLoader(
        dataset, sampler=sampler, batch_size=None, num_workers=num_workers, pin_memory=pin_memory,
        persistent_workers=False, prefetch_factor=4 if num_workers > 0 else None,
        multiprocessing_context="fork" if num_workers > 0 and os.name == "posix" else None,
    )
