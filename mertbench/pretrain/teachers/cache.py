"""Precompute teacher labels (and optionally CQT targets) once per corpus, into memory-mapped shards.

Layout under the cache root (``$MERTBENCH_CACHE/pretrain`` or ``run.cache_dir``)::

    corpus-<corpus key>/
        teacher-<fit key>/            fitted teacher state (k-means centres, fallback statistics)
        labels-<teacher key>/         shard_00000.npy  int32 [frames, K]  + shard_00000.json
        cqt-<cqt key>/                shard_00000.npy  float16 [frames, 336] + shard_00000.json
            complete.json             written last, with provenance

* ``corpus key``: hash of the selected files (path, size, mtime, length), see ``Corpus.key``.
* ``teacher key``: hash of ``Teacher.identity()`` (settings + fingerprints of weights, centres,
  projections); the offline EnCodec fallback's name is part of it, so its labels can never be
  mistaken for real EnCodec codes.
* A shard holds consecutive files (at most 256 files / 30 min of audio). Its ``.json`` (frame
  count per file) is written after its ``.npy``, both atomically, so an interrupted precompute
  resumes at the first incomplete shard. Under torchrun, rank ``r`` computes shards
  ``r, r + world, ...``; all ranks then open every shard with ``numpy.load(mmap_mode="r")``.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from mertbench.audio import load_audio
from mertbench.constants import SAMPLE_RATE
from mertbench.errors import AudioError, DataError
from mertbench.io import atomic_save_npy, atomic_write_json
from mertbench.provenance import config_hash, provenance

SHARD_FILES = 256
SHARD_SECONDS = 1800.0


class FrameStore:
    """Per-file frame arrays (``[frames, D]``) spread over shard files; opened lazily per process."""

    def __init__(self, folder: Path, entries: list[tuple[int, int, int]]) -> None:
        self.folder = folder
        self.entries = entries  # file index -> (shard, offset, frames)
        self._arrays: dict[int, np.ndarray] = {}

    def __getstate__(self) -> dict[str, Any]:  # memmaps are reopened in each worker process
        return {"folder": self.folder, "entries": self.entries, "_arrays": {}}

    def frames(self, i: int) -> int:
        """Number of frames stored for file ``i``."""
        return self.entries[i][2]

    def _shard(self, s: int) -> np.ndarray:
        if s not in self._arrays:
            self._arrays[s] = np.load(self.folder / f"shard_{s:05d}.npy", mmap_mode="r")
        return self._arrays[s]

    def file(self, i: int) -> np.ndarray:
        """All frames of file ``i`` (a read-only memmap view)."""
        shard, offset, n = self.entries[i]
        return self._shard(shard)[offset:offset + n]

    def get(self, i: int, start: int, count: int) -> np.ndarray:
        """Frames ``[start, start + count)`` of file ``i``; rows past the end repeat the last frame."""
        arr = self.file(i)
        out = np.asarray(arr[start:start + count])
        if out.shape[0] < count:
            if arr.shape[0] == 0:
                raise DataError(f"{self.folder}: file {i} has no stored frames")
            pad = np.repeat(np.asarray(arr[-1:]), count - out.shape[0], axis=0)
            out = np.concatenate([out, pad]) if out.shape[0] else pad
        return out


def shard_plan(clips: list[Any]) -> list[list[int]]:
    """Split file indices into consecutive shards (<= SHARD_FILES files, <= SHARD_SECONDS audio)."""
    shards: list[list[int]] = [[]]
    seconds = 0.0
    for i, c in enumerate(clips):
        if shards[-1] and (len(shards[-1]) >= SHARD_FILES or seconds + c.seconds > SHARD_SECONDS):
            shards.append([])
            seconds = 0.0
        shards[-1].append(i)
        seconds += c.seconds
    return shards


def _barrier() -> None:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()


def _fit_sample(clips: list[Any], fraction: float, seed: int) -> list[int]:
    """A seeded random subset of files holding about ``fraction`` of the audio (at least one file)."""
    order = np.random.default_rng([seed, 104729]).permutation(len(clips))
    total = sum(c.seconds for c in clips)
    keep, acc = [], 0.0
    for i in order:
        keep.append(int(i))
        acc += clips[i].seconds
        if acc >= fraction * total:
            break
    return keep


def prepare_targets(
    corpus: Any,
    teacher: Any | None,
    cqt_module: Any | None,
    cache_root: Path,
    *,
    fit_fraction: float = 0.1,
    teacher_model_dir: str = "",
    seed: int = 0,
    rank: int = 0,
    world: int = 1,
    device: torch.device | str = "cpu",
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> tuple[FrameStore | None, FrameStore | None, dict[str, Any]]:
    """Fit the teacher if needed, then precompute missing label / CQT shards; open the stores.

    Args:
        corpus: the :class:`~mertbench.pretrain.data.Corpus`.
        teacher: a :class:`~mertbench.pretrain.teachers.Teacher`, or None (no labels).
        cqt_module: a :class:`~mertbench.pretrain.cqt.CQTTarget` to precompute CQT targets, or None.
        cache_root: folder holding ``corpus-<key>/``.
        fit_fraction: share of the corpus (by duration) the teacher is fitted on.
        teacher_model_dir: a folder with a saved fitted teacher to reuse instead of fitting.
        rank, world: this process and the number of processes (shards are split across them).
        device: where the teacher and the CQT run.

    Returns:
        ``(labels, cqt, info)`` where ``info`` records keys, folders and timings, and
        ``info["bad_clips"]``: ``{corpus index: reason}`` of the files whose samples could not be
        decoded (NaN/inf samples, a truncated or damaged file found only when read in full). They
        get no frames in the stores; the trainer leaves them out and lists them, as it does for
        clips skipped at the scan.
    """
    base = cache_root / f"corpus-{corpus.key()}"
    info: dict[str, Any] = {"cache": str(base)}
    t0 = time.time()
    needs_cqt_for_teacher = bool(teacher is not None and teacher.needs_cqt)
    cqt_for_features = cqt_module
    if needs_cqt_for_teacher and cqt_for_features is None:
        from mertbench.pretrain.cqt import CQTTarget

        cqt_for_features = CQTTarget().to(device)

    def decode(i: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        wav, _ = load_audio(corpus.clips[i].path, SAMPLE_RATE)
        w = torch.from_numpy(wav)
        c = None
        if cqt_for_features is not None and (needs_cqt_for_teacher or cqt_module is not None):
            c = cqt_for_features.frames_first(w.to(device).unsqueeze(0))[0].cpu()
        return w, c

    # 1. fit the teacher (k-means centres / fallback statistics), once per corpus and teacher config
    if teacher is not None and teacher.needs_fit:
        if teacher_model_dir:
            folder = Path(teacher_model_dir).expanduser()
            if not teacher.load(folder):
                raise DataError(f"{folder}: no fitted {teacher.name} teacher there (teacher.kmeans_model); "
                                "point it at a folder written by an earlier run (corpus-*/teacher-*)")
        else:
            folder = base / f"teacher-{config_hash(teacher.identity())}"
            if not teacher.load(folder):
                if rank == 0:
                    sample = _fit_sample(corpus.clips, fit_fraction, seed)
                    log(f"fitting teacher {teacher.name} on {len(sample)} files "
                        f"({sum(corpus.clips[i].seconds for i in sample) / 60:.1f} min)")

                    def samples() -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
                        for i in sample:
                            try:
                                yield decode(i)
                            except AudioError as exc:  # listed again (and skipped) by the precompute below
                                log(f"teacher fit: skipping {corpus.clips[i].path}: {exc.problem}")

                    summary = teacher.fit(samples())
                    teacher.save(folder)
                    log(f"teacher fitted: {summary}")
                _barrier()
                if rank != 0 and not teacher.load(folder):
                    raise DataError(f"{folder}: rank {rank} cannot read the teacher fitted by rank 0; "
                                    "use a cache folder shared by all ranks (run.cache_dir)")
        info["teacher_dir"] = str(folder)

    # 2. precompute label and CQT shards
    stores: dict[str, tuple[Path, Any]] = {}
    if teacher is not None:
        stores["labels"] = (base / f"labels-{config_hash(teacher.identity())}", teacher.identity())
    if cqt_module is not None:
        stores["cqt"] = (base / f"cqt-{config_hash(cqt_module.settings_dict())}", cqt_module.settings_dict())
    plan = shard_plan(corpus.clips)
    for _name, (folder, ident) in stores.items():
        folder.mkdir(parents=True, exist_ok=True)
        if rank == 0:
            atomic_write_json(folder / "identity.json", {"identity": ident, "files": len(corpus.clips)})
    todo = [s for s in range(len(plan)) if s % world == rank
            and any(not (folder / f"shard_{s:05d}.json").is_file() for folder, _ in stores.values())]
    if todo:
        from mertbench.progress import progress_bar

        seconds = sum(corpus.clips[i].seconds for s in todo for i in plan[s])
        what = " + ".join(stores)
        log(f"precomputing {what} for {sum(len(plan[s]) for s in todo)} files ({seconds / 60:.1f} min of audio)"
            + (f" with {teacher.name}" if teacher is not None else ""))
        bar = progress_bar() if progress and rank == 0 else None
        task = bar.add_task(f"{what}", total=round(seconds)) if bar else None
        if bar:
            bar.start()
        try:
            for s in todo:
                arrays: dict[str, list[np.ndarray]] = {k: [] for k in stores}
                bad: dict[str, str] = {}
                for i in plan[s]:
                    try:
                        wav, cqt = decode(i)
                    except AudioError as exc:
                        bad[str(i)] = exc.problem
                        log(f"skipping {corpus.clips[i].path}: {exc.problem}")
                        if "labels" in stores:
                            arrays["labels"].append(np.zeros((0, len(teacher.codebook_sizes)), dtype=np.int32))
                        if "cqt" in stores:
                            arrays["cqt"].append(np.zeros((0, cqt_module.settings.n_bins), dtype=np.float16))
                        continue
                    if "labels" in stores:
                        lab = teacher.labels(wav, cqt)
                        if lab.ndim != 2 or lab.shape[1] != len(teacher.codebook_sizes):
                            raise DataError(f"teacher {teacher.name} returned labels of shape {lab.shape}")
                        arrays["labels"].append(lab.astype(np.int32))
                    if "cqt" in stores:
                        arrays["cqt"].append(cqt.numpy().astype(np.float16))
                    if bar:
                        bar.advance(task, corpus.clips[i].seconds)
                for key, (folder, _) in stores.items():
                    if (folder / f"shard_{s:05d}.json").is_file():
                        continue
                    atomic_save_npy(folder / f"shard_{s:05d}.npy", np.concatenate(arrays[key]))
                    atomic_write_json(folder / f"shard_{s:05d}.json",
                                      {"files": plan[s], "frames": [int(a.shape[0]) for a in arrays[key]],
                                       "bad": bad})
        finally:
            if bar:
                bar.stop()
    _barrier()

    # 3. open the stores
    opened: dict[str, FrameStore] = {}
    bad_clips: dict[int, str] = {}
    for key, (folder, ident) in stores.items():
        entries: list[tuple[int, int, int]] = [(0, 0, 0)] * len(corpus.clips)
        for s, files in enumerate(plan):
            meta_path = folder / f"shard_{s:05d}.json"
            if not meta_path.is_file():
                raise DataError(f"{folder}: shard {s} is missing after precompute; another process may have "
                                "failed; rerun to resume")
            meta = json.loads(meta_path.read_text())
            if meta["files"] != files:
                raise DataError(f"{meta_path}: shard holds other files than this corpus expects; delete {folder}")
            bad_clips.update({int(i): str(why) for i, why in (meta.get("bad") or {}).items()})
            offset = 0
            for i, n in zip(files, meta["frames"]):
                entries[i] = (s, offset, int(n))
                offset += int(n)
        if rank == 0 and not (folder / "complete.json").is_file():
            atomic_write_json(folder / "complete.json", {"identity": ident, "corpus": corpus.key(),
                                                         "files": len(corpus.clips),
                                                         "provenance": provenance(config=ident)})
        opened[key] = FrameStore(folder, entries)
        info[f"{key}_dir"] = str(folder)
    info["bad_clips"] = dict(sorted(bad_clips.items()))
    info["seconds"] = round(time.time() - t0, 2)
    return opened.get("labels"), opened.get("cqt"), info
