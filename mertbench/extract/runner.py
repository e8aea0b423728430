"""``extract_features``: run a frozen encoder over every split of a task into the feature cache.

Pipeline per split: the examples are cut into chunks (``chunk_examples`` each); for each chunk the
audio of every example is decoded on ``workers`` background threads (the next chunk is decoded while
the encoder runs on the current one), the windows of all files in the chunk are grouped by length and
run through the encoder in batches (``batch_size`` windows, at most ``max_batch_seconds`` of audio per
call; only windows of equal length share a batch, so no padding can change the features), and the
chunk is written atomically. Finished chunks and finished splits are skipped on a re-run, so an
interrupted extraction resumes where it stopped. Unreadable files are recorded (file + problem) and
counted, never dropped silently.
"""
from __future__ import annotations

import contextlib
import shutil
import time
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from mertbench.errors import AudioError, DataError, ModelError, SpecError
from mertbench.extract.cache import CACHE_FORMAT, ChunkIndex, FeatureCache, SplitFeatures, cache_dir_for
from mertbench.extract.sharding import chunk_ranges, dist_info, local_device, rank_slice
from mertbench.extract.windowing import Windowing, prepare_example, windowing_for
from mertbench.models.contract import Encoder
from mertbench.provenance import config_hash, provenance
from mertbench.tasks.data import Example, LoadedDataset
from mertbench.tasks.registry import Task, as_task
from mertbench.tasks.spec import FEATURE_LEVELS
from mertbench.threads import cpu_threads, worker_threads

#: Default examples per chunk (the resume granularity) for clip- and frame-level caches.
DEFAULT_CHUNK = {"clip": 64, "frame": 8}


@dataclass
class ExtractOptions:
    """Knobs of an extraction.

    Attributes:
        batch_size: windows per encoder call.
        max_batch_seconds: cap on the audio (seconds) per encoder call (long windows get smaller batches).
        dtype: storage dtype ``float16``/``float32``; ``auto`` = float32 for clip-level caches
            (small; what MARBLE stores), float16 for frame-level ones (large).
        amp: autocast ``"bf16"``/``"fp16"`` or None (float32). Part of the cache key.
        workers: decoding threads.
        threads: torch intra-op threads on CPU (None: :func:`mertbench.threads.worker_threads`, i.e. the
            cores not used by the decoding threads, and one on a busy machine).
        chunk_examples: examples per chunk (default :data:`DEFAULT_CHUNK`).
        layers: hidden-state indices to store (default: all). Part of the cache key.
        normalize: override the waveform normalisation (``zmuv``/``peak``/``none``); default: the
            spec's ``audio.normalize`` (``model`` = the encoder's own).
        max_disk_fraction: refuse a frame-level extraction whose estimated size exceeds this fraction
            of the free disk space.
        force: delete this configuration's cache first and extract again (``--force``).
    """

    batch_size: int = 16
    max_batch_seconds: float = 240.0
    dtype: str = "auto"
    amp: str | None = None
    workers: int = 2
    threads: int | None = None
    chunk_examples: int | None = None
    layers: list[int] | None = None
    normalize: str | None = None
    max_disk_fraction: float = 0.9
    force: bool = False


@dataclass
class Extraction:
    """What :func:`extract_features` returns.

    Attributes:
        cache: the feature cache (``cache.split(name)`` for a finished split).
        dataset: the loaded dataset (labels, vocabulary, loader skips).
        model_spec: the model as given; ``encoder_info``: ``Encoder.describe()`` + fingerprint.
        key: the cache key; ``windowing``: the audio preparation used.
        stats: per split ``{"examples", "rows", "audio_seconds", "wall_s", "skipped": {...}}`` for the
            splits extracted in this call (empty for splits found done).
        complete: every requested split is done (False on a non-zero torchrun rank).
        encoder: the encoder itself (not stored in the cache).
    """

    cache: FeatureCache
    dataset: LoadedDataset
    model_spec: str
    encoder_info: dict[str, Any]
    key: str
    windowing: Windowing
    splits: list[str]
    stats: dict[str, dict[str, Any]] = field(default_factory=dict)
    complete: bool = True
    #: the encoder that made (or would make) these features, in eval mode: for probes that must encode
    #: audio of their own (the separation probe's re-mixed training excerpts). Not part of the cache.
    encoder: Encoder | None = field(default=None, repr=False, compare=False)

    def split(self, name: str) -> SplitFeatures:
        return self.cache.split(name)

    def skipped_files(self) -> list[dict[str, str]]:
        """Every example left out, one ``{"split", "id", "path", "reason", "problem"}`` each: the
        extraction's (unreadable, too short, refused by the model) and the loader's problems."""
        out = [{"split": "loader", "id": "", "path": "", "reason": "loader", "problem": p}
               for p in self.dataset.problems]
        for s in self.splits:
            if self.cache.is_done(s):
                out += [{"split": s, **{k: str(v) for k, v in item.items()}} for item in self.cache.split(s).skipped]
        return out

    def skipped(self) -> dict[str, int]:
        """``{"<split>/<reason>": count}`` over the extraction and the dataset loader."""
        out = {f"loader/{k}": v for k, v in self.dataset.skipped.items()}
        for s in self.splits:
            if self.cache.is_done(s):
                for reason, n in self.cache.done_info(s).get("skipped", {}).items():
                    out[f"{s}/{reason}"] = n
        return out


def feature_level(task_type: str) -> str:
    """``"clip"`` or ``"frame"``: what tasks of ``task_type`` are probed on (declared in
    :data:`mertbench.tasks.spec.FEATURE_LEVELS`, not asked of the probe layer)."""
    try:
        return FEATURE_LEVELS[task_type]
    except KeyError:
        raise SpecError(f"unknown task type {task_type!r}; known: {sorted(FEATURE_LEVELS)}") from None


def _storage_dtype(opts: ExtractOptions, level: str) -> str:
    if opts.dtype == "auto":
        return "float32" if level == "clip" else "float16"
    if opts.dtype not in ("float16", "float32"):
        raise ValueError(f"dtype must be float16, float32 or auto, got {opts.dtype!r}")
    return opts.dtype


def cache_config(model_spec: str, fingerprint: str, task: Task, dataset_fp: str, windowing: Windowing,
                 layers: list[int], dtype: str, amp: str | None, files_fp: str | None = None) -> dict[str, Any]:
    """The configuration whose hash is the cache key (``files_fp``: sizes and mtimes of the audio,
    :meth:`LoadedDataset.files_fingerprint`)."""
    return {
        "format": CACHE_FORMAT,
        "model": {"spec": model_spec, "fingerprint": fingerprint},
        "task": {"name": task.name, "version": task.spec.version, "type": task.spec.type},
        "dataset_fingerprint": dataset_fp,
        "audio_files": files_fp,
        "windowing": windowing.as_dict(),
        "layers": list(layers),
        "dtype": dtype,
        "amp": amp,
    }


def _autocast(device: torch.device, amp: str | None) -> contextlib.AbstractContextManager:
    if amp is None:
        return contextlib.nullcontext()
    dtypes = {"bf16": torch.bfloat16, "fp16": torch.float16}
    if amp not in dtypes:
        raise ValueError(f"amp must be 'bf16', 'fp16' or None, got {amp!r}")
    return torch.autocast(device_type=device.type, dtype=dtypes[amp])


class _Runner:
    """Encodes the windows of one chunk in batches of equal-length windows."""

    def __init__(self, encoder: Encoder, device: torch.device, layers: list[int], level: str, dtype: str,
                 opts: ExtractOptions, spec: str) -> None:
        self.encoder, self.device, self.level, self.opts, self.spec = encoder, device, level, opts, spec
        self.layers = torch.as_tensor(layers, dtype=torch.long, device=device)
        self.np_dtype = np.dtype(dtype)
        self.checked = False

    def _check(self, out: torch.Tensor, batch: int) -> None:
        enc = self.encoder
        if out.ndim != 4 or out.shape[0] != enc.num_layers or out.shape[1] != batch or out.shape[3] != enc.dim:
            raise ModelError(f"model {self.spec!r}: forward returned shape {tuple(out.shape)}, expected "
                             f"[num_layers={enc.num_layers}, B={batch}, T, dim={enc.dim}]; "
                             f"check it with `mertbench models validate {self.spec}`")
        self.checked = True

    def _accepts_one_second(self, sr: int) -> bool:
        """Whether the model encodes one second of silence: tells a length-specific refusal of a
        short input from a model that fails on everything (which must stop the extraction)."""
        try:
            with torch.inference_mode(), _autocast(self.device, self.opts.amp):
                self.encoder(torch.zeros(1, sr, device=self.device))
        except Exception:  # noqa: BLE001
            return False
        return True

    def encode(self, windows: list[np.ndarray], on_done: Callable[[list[int]], None],
               rejected: dict[int, str] | None = None) -> list[np.ndarray | None]:
        """Features of every window: clip ``[L', D]`` (time mean) or frame ``[T, L', D]``.

        A batch of windows shorter than one second that the model refuses while it does encode one
        second (a plugin whose ``min_samples`` understates what it needs) does not stop the
        extraction: those windows get None and ``rejected[i]`` the model's error. Any other failure
        raises as usual.
        """
        results: list[np.ndarray | None] = [None] * len(windows)
        by_len: dict[int, list[int]] = defaultdict(list)
        for i, w in enumerate(windows):
            by_len[int(w.shape[-1])].append(i)
        sr = self.encoder.sample_rate
        for n in sorted(by_len, reverse=True):
            idxs = by_len[n]
            per = max(1, min(self.opts.batch_size, int(self.opts.max_batch_seconds * sr // max(n, 1))))
            for b in range(0, len(idxs), per):
                ids = idxs[b:b + per]
                wav = torch.from_numpy(np.stack([windows[i] for i in ids])).to(self.device)
                try:
                    with torch.inference_mode(), _autocast(self.device, self.opts.amp):
                        out = self.encoder(wav)
                except Exception as exc:  # noqa: BLE001 (any model's error on a too-short input)
                    if n >= sr or rejected is None or not self._accepts_one_second(sr):
                        raise
                    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                    for i in ids:
                        rejected[i] = f"the model refused this {n}-sample input ({type(exc).__name__}: {first})"
                    on_done(ids)
                    continue
                if not self.checked:
                    self._check(out, len(ids))
                out = out.index_select(0, self.layers).float()
                if self.level == "clip":
                    vec = out.mean(dim=2).permute(1, 0, 2)  # [B, L', D]
                else:
                    vec = out.permute(1, 2, 0, 3)  # [B, T, L', D]
                arr = vec.cpu().numpy().astype(self.np_dtype)
                if not np.isfinite(arr).all():
                    hint = (" (values exceed the float16 range: extract with --dtype float32)"
                            if self.np_dtype == np.float16 and np.isfinite(vec.cpu().numpy()).all() else "")
                    raise ModelError(f"model {self.spec!r} produced non-finite features{hint}")
                for j, i in enumerate(ids):
                    results[i] = arr[j]
                on_done(ids)
        return results


def _decode(example: Example, w: Windowing) -> list[np.ndarray] | AudioError:
    try:
        return prepare_example(example, w)
    except AudioError as exc:
        return exc


def _estimate_frame_bytes(examples: list[Example], w: Windowing, frame_rate: float, per_frame: int) -> float:
    from mertbench.audio import audio_info

    total_s = 0.0
    for ex in examples:
        dur = ex.duration_s
        if dur is None:
            try:
                dur = audio_info(ex.path).duration_s - ex.start_s
            except AudioError:
                dur = 0.0
        if w.crop_s is not None:
            dur = min(dur, w.crop_s)
        total_s += max(dur, 0.0)
    return total_s * frame_rate * per_frame


def _extract_split(cache: FeatureCache, split: str, examples: list[Example], runner: _Runner, w: Windowing,
                   opts: ExtractOptions, chunk_size: int, rank: int, world: int, progress: bool,
                   wait_timeout_s: float, feature_shape: tuple[int, int], dtype: str) -> dict[str, Any]:
    """Extract one split. A single process holds ``<split>.lock`` while it works: a second
    extraction of the same model x task x configuration waits for it (saying so), then reuses the
    finished split instead of writing beside it. Under torchrun the ranks share the work by chunks
    and rank 0 merges (no lock: every rank writes its own chunks)."""
    from filelock import FileLock, Timeout

    from mertbench.io import remove_stale_temps
    from mertbench.progress import console

    if world > 1:
        return _extract_split_unlocked(cache, split, examples, runner, w, opts, chunk_size, rank, world,
                                       progress, wait_timeout_s, feature_shape, dtype)
    cache.folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(cache.folder / f"{split}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        console.print(f"another process is extracting {split} into {cache.folder}; waiting for it to finish "
                      f"(up to {wait_timeout_s:.0f} s; Ctrl-C to stop)", highlight=False)
        try:
            lock.acquire(timeout=wait_timeout_s)
        except Timeout:
            raise DataError(f"{cache.folder}/{split}.lock: still held by another extraction after "
                            f"{wait_timeout_s:.0f} s; wait for it, or stop it and run again") from None
    try:
        if cache.is_done(split):  # the other process finished it while we waited
            return {"audio_seconds": 0.0, "wall_s": 0.0, "rows_written": 0, "chunks_written": 0, "reused": True}
        for gone in remove_stale_temps(cache.folder):  # leftovers of a killed run (dead writers only)
            console.print(f"removed the leftover temporary file {gone}", highlight=False)
        return _extract_split_unlocked(cache, split, examples, runner, w, opts, chunk_size, rank, world,
                                       progress, wait_timeout_s, feature_shape, dtype)
    finally:
        lock.release()


def _extract_split_unlocked(cache: FeatureCache, split: str, examples: list[Example], runner: _Runner,
                            w: Windowing, opts: ExtractOptions, chunk_size: int, rank: int, world: int,
                            progress: bool, wait_timeout_s: float, feature_shape: tuple[int, int],
                            dtype: str) -> dict[str, Any]:
    from mertbench.progress import console, progress_bar

    wanted = chunk_size
    chunk_size = cache.chunking(split, len(examples), chunk_size)
    if chunk_size != wanted and rank == 0:
        console.print(f"resuming {split} with its recorded chunk size {chunk_size} (not {wanted}): the "
                      f"finished chunks use it", highlight=False)
    chunks = chunk_ranges(len(examples), chunk_size)
    mine = [i for i in rank_slice(len(chunks), rank, world) if not cache.chunk_done(split, i)]
    t0 = time.perf_counter()
    audio_seconds = 0.0
    n_rows = 0
    n_todo = sum(chunks[i][1] - chunks[i][0] for i in mine)
    bar = progress_bar() if progress else None
    with contextlib.ExitStack() as stack:
        if bar is not None:
            stack.enter_context(bar)
            task_id = bar.add_task(f"extract {split}" + (f" [rank {rank}/{world}]" if world > 1 else ""),
                                   total=n_todo)
        pool = stack.enter_context(ThreadPoolExecutor(max_workers=max(1, opts.workers)))

        def submit(ci: int) -> list[Future]:
            a, b = chunks[ci]
            return [pool.submit(_decode, ex, w) for ex in examples[a:b]]

        pending = submit(mine[0]) if mine else []
        stack.callback(lambda: [f.cancel() for f in pending])  # on interruption, do not decode ahead
        for k, ci in enumerate(mine):
            futures = pending
            pending = submit(mine[k + 1]) if k + 1 < len(mine) else []
            a, b = chunks[ci]
            decoded = [f.result() for f in futures]
            windows: list[np.ndarray] = []
            owner: list[int] = []
            skipped: list[dict[str, str]] = []
            remaining = [0] * (b - a)
            for j, item in enumerate(decoded):
                ex = examples[a + j]
                if isinstance(item, AudioError):
                    skipped.append({"id": ex.id, "path": str(ex.path), "reason": "unreadable_audio",
                                    "problem": item.problem})
                    continue
                if not item:
                    skipped.append({"id": ex.id, "path": str(ex.path), "reason": "too_short",
                                    "problem": f"no window of at least {w.min_window_s} s"})
                    continue
                shortest = runner.encoder.min_samples
                if any(win.shape[-1] < shortest for win in item):
                    kept = [win for win in item if win.shape[-1] >= shortest]
                    if not kept:
                        n = max(win.shape[-1] for win in item)
                        skipped.append({"id": ex.id, "path": str(ex.path), "reason": "too_short",
                                        "problem": f"{n} samples ({1000 * n / w.encoder_rate:.1f} ms) at "
                                                   f"{w.encoder_rate} Hz, shorter than the model's minimum input "
                                                   f"of {shortest} samples"})
                        continue
                    item = kept
                remaining[j] = len(item)
                for win in item:
                    windows.append(win)
                    owner.append(j)
                    audio_seconds += win.shape[-1] / w.encoder_rate
            empty = sum(1 for r in remaining if r == 0)
            if bar is not None and empty:
                bar.advance(task_id, empty)

            def on_done(ids: list[int]) -> None:
                finished = 0
                for i in ids:
                    remaining[owner[i]] -= 1  # noqa: B023 - called within this iteration of the loop
                    finished += remaining[owner[i]] == 0  # noqa: B023
                if bar is not None and finished:
                    bar.advance(task_id, finished)

            rejected: dict[int, str] = {}
            feats = runner.encode(windows, on_done, rejected) if windows else []
            per_ex: list[list[np.ndarray]] = [[] for _ in range(b - a)]
            refused: dict[int, str] = {}
            for i, f in enumerate(feats):
                if f is None:
                    refused[owner[i]] = rejected.get(i, "the model returned nothing")
                else:
                    per_ex[owner[i]].append(f)
            for j, why in sorted(refused.items()):
                if not per_ex[j]:
                    ex = examples[a + j]
                    skipped.append({"id": ex.id, "path": str(ex.path), "reason": "model_refused", "problem": why})
            rows: list[int] = []
            parts: list[np.ndarray] = []
            for fs in per_ex:
                if not fs:
                    rows.append(0)
                    continue
                arr = np.stack(fs) if runner.level == "clip" else np.concatenate(fs, axis=0)
                rows.append(int(arr.shape[0]))
                parts.append(arr)
            data = (np.concatenate(parts, axis=0) if parts
                    else np.zeros((0, *feature_shape), dtype=runner.np_dtype))
            n_rows += data.shape[0]
            cache.write_chunk(split, ci, data,
                              ChunkIndex(a, b, [ex.id for ex in examples[a:b]], rows, skipped))
            for s in skipped:
                console.print(f"[yellow]skipped[/] {split}: {s['path']}: {s['problem']}", highlight=False)
    stats = {"audio_seconds": audio_seconds, "wall_s": time.perf_counter() - t0, "rows_written": n_rows,
             "chunks_written": len(mine)}
    if rank != 0:
        return stats
    deadline = time.monotonic() + wait_timeout_s
    announced = False
    while not all(cache.chunk_done(split, i) for i in range(len(chunks))):
        if cache.is_done(split):  # merged by another process meanwhile
            return stats
        if not announced:
            console.print(f"rank 0: waiting for the other ranks to finish {split} ...")
            announced = True
        if time.monotonic() > deadline:
            missing = [i for i in range(len(chunks)) if not cache.chunk_done(split, i)]
            raise DataError(f"{cache.folder}/{split}: chunks {missing[:10]} still missing after "
                            f"{wait_timeout_s:.0f} s; did a rank crash? Re-run `mertbench extract` to finish")
        time.sleep(2.0)
    cache.merge(split, len(chunks), feature_shape, dtype,
                {"provenance": provenance(device=runner.device, wall_time_s=stats["wall_s"])},
                ids=[ex.id for ex in examples])
    return stats


def extract_features(
    model: str | Encoder,
    task: str | Task,
    *,
    root: str | Path | None = None,
    splits: list[str] | None = None,
    device: str = "cpu",
    options: ExtractOptions | None = None,
    force: bool = False,
    rank: int | None = None,
    world_size: int | None = None,
    progress: bool = True,
    cache_root: str | Path | None = None,
    dataset: LoadedDataset | None = None,
    model_spec: str | None = None,
    wait_timeout_s: float = 86400.0,
) -> Extraction:
    """Extract (or find in the cache) the frozen features of ``model`` on every split of ``task``.

    Args:
        model: a model spec (registered name, checkpoint folder, ``module:factory``) or an Encoder.
        task: task name or :class:`~mertbench.tasks.registry.Task`.
        root: the task's data folder (default ``<data root>/<dataset.dirname>``).
        splits: splits to extract (default: all of the spec's splits).
        device: ``cpu``, ``cuda``, ``cuda:1``, ... (``cuda`` maps to ``LOCAL_RANK`` under torchrun).
        options: see :class:`ExtractOptions`.
        force: delete this configuration's cache first.
        rank / world_size: shard across processes (default: torchrun's ``RANK``/``WORLD_SIZE``).
            Each rank extracts a contiguous slice of chunks; rank 0 merges.
        progress: show progress bars (stderr).
        cache_root: override ``$MERTBENCH_CACHE``.
        dataset: an already loaded dataset of ``task`` (avoids loading it twice).
        model_spec: the name recorded for an Encoder instance (default: ``encoder.name``).
        wait_timeout_s: how long rank 0 waits for the other ranks' chunks.

    Returns:
        :class:`Extraction`; ``extraction.split("train").features`` is ``[rows, L, D]``.
    """
    from mertbench.progress import console

    opts = options or ExtractOptions()
    task = as_task(task)
    if isinstance(model, str):
        from mertbench.models.registry import load_model

        model_spec = model_spec or model
        encoder = load_model(model)
    else:
        encoder = model
        model_spec = model_spec or encoder.name
    encoder.eval()
    dataset = dataset if dataset is not None else task.load(root)
    splits = list(splits or task.spec.splits)
    unknown = [s for s in splits if s not in dataset.splits]
    if unknown:
        raise DataError(f"task {task.name}: unknown split(s) {unknown}; the task has {list(dataset.splits)}")
    level = task.spec.feature_level
    w = windowing_for(task.spec, encoder.sample_rate, encoder.normalize, level, opts.normalize)  # type: ignore[arg-type]
    layers = list(range(encoder.num_layers)) if opts.layers is None else sorted(set(int(x) for x in opts.layers))
    bad = [x for x in layers if not 0 <= x < encoder.num_layers]
    if bad:
        raise ModelError(f"layers {bad} out of range: model {model_spec!r} has hidden states 0..{encoder.num_layers - 1}")
    dtype = _storage_dtype(opts, level)
    fingerprint = encoder.fingerprint()
    config = cache_config(model_spec, fingerprint, task, dataset.fingerprint(), w, layers, dtype, opts.amp,
                          dataset.files_fingerprint())
    key = config_hash(config)
    folder = cache_dir_for(model_spec, task.name, key, cache_root)
    rank, world = dist_info(rank, world_size)
    if (force or opts.force) and rank == 0 and folder.exists():
        shutil.rmtree(folder)
    cache = FeatureCache.open(folder, config, key, provenance(config=config, task_version=task.spec.version,
                                                                dataset_fingerprint=dataset.fingerprint()))
    info = dict(encoder.describe(), fingerprint=fingerprint)
    result = Extraction(cache, dataset, model_spec, info, key, w, splits, encoder=encoder)
    todo = [s for s in splits if not cache.is_done(s)]
    if not todo:
        return result
    dev = torch.device(local_device(device))
    encoder.to(dev)
    runner = _Runner(encoder, dev, layers, level, dtype, opts, model_spec)
    chunk = opts.chunk_examples or DEFAULT_CHUNK[level]
    feature_shape = (len(layers), encoder.dim)
    if level == "frame" and rank == 0:
        per_frame = len(layers) * encoder.dim * np.dtype(dtype).itemsize
        need = sum(_estimate_frame_bytes(dataset.splits[s], w, encoder.frame_rate, per_frame) for s in todo)
        folder.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(folder).free
        if need > opts.max_disk_fraction * free:
            raise DataError(
                f"frame-level features of {task.name} need about {need / 1e9:.1f} GB but {folder} has "
                f"{free / 1e9:.1f} GB free; store fewer layers (--layers 6,7 / ExtractOptions.layers), "
                f"use --dtype float16, or point MERTBENCH_CACHE at a larger disk")
        console.print(f"frame-level cache for {task.name}: about {need / 1e9:.2f} GB in {folder}")
    threads = None if dev.type != "cpu" else (opts.threads or worker_threads(reserved=max(0, opts.workers - 1)))
    with cpu_threads(threads):
        for split in todo:
            examples = dataset.splits[split]
            if not examples:
                raise DataError(f"task {task.name}: split {split!r} has no examples")
            stats = _extract_split(cache, split, examples, runner, w, opts, chunk, rank, world, progress,
                                   wait_timeout_s, feature_shape, dtype)
            if cache.is_done(split):
                done = cache.done_info(split)
                stats.update(examples=done["examples"], rows=done["rows"], skipped=done["skipped"])
            result.stats[split] = stats
    result.complete = all(cache.is_done(s) for s in splits)
    return result
