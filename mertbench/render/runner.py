"""Run a render: plan, synthesise in parallel, write manifests, resume, never leave half files.

Layout of the output folder (default ``$MERTBENCH_DATA/render``)::

    render/
      summary.json                  counts, durations, seed, size, versions of the whole suite
      render-key/                   one folder per task (a manifest task)
        train.jsonl valid.jsonl test.jsonl
        render.json                 the task's completion marker + provenance
        audio/<split>/<uid>_<hash>.wav
      render-separation/audio/<split>/<uid>_<hash>/{mixture,vocals,drums,bass,other}.wav
      pretrain/manifest.jsonl, pretrain/audio/train/*.wav
      .partial/<task>/              work folder of a task being rendered (resumable)

Guarantees:

- *Deterministic*: planning uses only seeded generators; synthesis is deterministic; files are
  written in a fixed format. Same seed and size give byte-identical files.
- *Atomic*: every audio file (every separation folder) is written under a temporary name and
  renamed; a task folder appears under its final name only when all its files and manifests
  exist (it is assembled in ``.partial/<task>`` and renamed).
- *Resumable and idempotent*: an item is done iff its file exists (its name carries the hash of
  what determines its samples); a task is done iff ``render.json`` holds the current plan hash.
  A re-run renders nothing that is complete and does not even parse the corpus.
"""
from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import platform
import shutil
import signal
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from mertbench._version import __version__
from mertbench.errors import DataError
from mertbench.io import atomic_path, atomic_write_json, atomic_write_text
from mertbench.provenance import config_hash, git_hash
from mertbench.render.corpus import PIECE_VERSION
from mertbench.render.generators import GENERATORS, SOURCES_USED, TASK_NAMES
from mertbench.render.library import PieceLibrary
from mertbench.render.plan import SYNTH_VERSION, Item, PlanContext, TaskPlan
from mertbench.render.sizes import PREFETCH, SIZES
from mertbench.render.synth import PEAK_LIMIT, SAMPLE_RATE

#: Bump when any generator changes what it plans (invalidates completed tasks).
RENDER_VERSION = 1
MARKER = "render.json"
SUMMARY = "summary.json"
PARTIAL = ".partial"
LOCK = ".render.lock"


@dataclass
class RenderReport:
    """What a run did."""

    out: Path
    size: str
    seed: int
    wall_s: float = 0.0
    planned_tasks: list[str] = field(default_factory=list)
    skipped_tasks: list[str] = field(default_factory=list)
    rendered_items: int = 0
    reused_items: int = 0
    pruned_files: int = 0
    summary: dict[str, Any] = field(default_factory=dict)


def default_out() -> Path:
    """``$MERTBENCH_DATA/render`` (see :mod:`mertbench.paths`)."""
    from mertbench.paths import data_root

    return data_root() / "render"


def versions() -> dict[str, Any]:
    """Versions of everything that shapes the rendered audio."""
    from importlib.metadata import PackageNotFoundError, version

    import music21
    import pretty_midi
    import soundfile
    import soxr

    def ver(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:  # pragma: no cover
            return None

    from mertbench.render.soundfont import SOUNDFONT_NAME, soundfont_sha256

    return {
        "mertbench": __version__, "git_hash": git_hash(), "python": platform.python_version(),
        "numpy": np.__version__, "music21": music21.__version__, "pretty_midi": pretty_midi.__version__,
        "midirenderer": ver("midirenderer"), "soxr": soxr.__version__, "soundfile": soundfile.__version__,
        "soundfont": {"name": SOUNDFONT_NAME, "sha256": soundfont_sha256()},
        "render_version": RENDER_VERSION, "synth_version": SYNTH_VERSION, "piece_version": PIECE_VERSION,
    }


def plan_hash(task: str, size: str, seed: int) -> str:
    """Hash of everything that determines a task's plan and audio (not the git hash)."""
    import music21

    from mertbench.render.soundfont import soundfont_sha256

    return config_hash({
        "task": task, "size": size, "seed": seed, "size_config": asdict(SIZES[size][task]),
        "render": RENDER_VERSION, "synth": SYNTH_VERSION, "piece": PIECE_VERSION,
        "music21": music21.__version__, "soundfont": soundfont_sha256(), "sample_rate": SAMPLE_RATE,
    }, 16)


def task_complete(folder: Path, phash: str) -> bool:
    """True if ``folder`` holds a finished task with plan hash ``phash``."""
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if marker.get("plan_hash") != phash:
        return False
    return all((folder / f).is_file() for f in marker.get("manifests", []))


# ---- worker side ------------------------------------------------------------------------------

def _worker_init() -> None:
    """Workers ignore Ctrl-C (the main process handles it and terminates the pool); the SIGTERM
    that ``pool.terminate()`` sends becomes SystemExit, so atomic writes remove their temporary
    file on the way out."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))


def _pcm_stats(pcm: np.ndarray) -> tuple[float, float]:
    x = pcm.astype(np.float64) / 32767.0
    return float(np.abs(x).max(initial=0.0)), float(np.sqrt(np.mean(x ** 2))) if x.size else 0.0


def ensure_item(job: tuple[str, str, Item]) -> dict[str, Any]:
    """Render one item unless its file exists; return its level statistics."""
    import soundfile as sf

    from mertbench.render.synth import render, render_stems, to_pcm16, write_wav

    task, workdir, item = job
    target = Path(workdir) / item.relpath
    if item.stems is None:
        if target.is_file():
            pcm, _ = sf.read(str(target), dtype="int16")
            rendered = False
        else:
            pcm = to_pcm16(render(item.score, item.gain).audio)  # type: ignore[arg-type]
            with atomic_path(target) as tmp:
                write_wav(tmp, pcm)
            rendered = True
    else:
        if (target / "mixture.wav").is_file():
            pcm, _ = sf.read(str(target / "mixture.wav"), dtype="int16")
            rendered = False
        else:
            stems, pcm, _ = render_stems(item.stems, item.gain)
            tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
            try:
                shutil.rmtree(tmp, ignore_errors=True)
                tmp.mkdir(parents=True)
                write_wav(tmp / "mixture.wav", pcm)
                for name, stem in stems.items():
                    write_wav(tmp / f"{name}.wav", stem)
                os.replace(tmp, target)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            rendered = True
    peak, rms = _pcm_stats(pcm)
    return {"task": task, "uid": item.uid, "peak": peak, "rms": rms, "rendered": rendered}


# ---- main side --------------------------------------------------------------------------------

@contextlib.contextmanager
def _lock(out: Path) -> Iterator[None]:
    out.mkdir(parents=True, exist_ok=True)
    path = out / LOCK
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        try:
            pid = int(path.read_text().strip() or 0)
        except (OSError, ValueError):
            pid = 0
        alive = False
        if pid > 0:
            try:
                os.kill(pid, 0)
                alive = True
            except ProcessLookupError:
                alive = False
            except PermissionError:
                alive = True
        if alive and pid != os.getpid():
            raise DataError(f"{out}: another `mertbench data render` (pid {pid}) is writing here; "
                            f"wait for it or remove {path} if that process is gone") from None
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    try:
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        yield
    finally:
        path.unlink(missing_ok=True)


def _manifest_rows(task: str, plan: TaskPlan) -> dict[str, list[dict[str, Any]]]:
    rows: dict[str, list[dict[str, Any]]] = {}
    for item in plan.items:
        rel = item.relpath
        if item.stems is not None:
            row = {"id": item.uid, "audio": f"{rel}/mixture.wav",
                   "label": {s: f"{rel}/{s}.wav" for s in item.stems}}
        elif task == "pretrain":
            row = {"id": item.uid, "audio": rel}
        else:
            row = {"id": item.uid, "audio": rel, "label": item.label}
        row["duration"] = round(item.duration, 6)
        for k, v in item.meta.items():
            row.setdefault(k, v)
        rows.setdefault("manifest" if task == "pretrain" else item.split, []).append(row)
    return rows


def _label_counts(plan: TaskPlan) -> dict[str, dict[str, int]] | None:
    if plan.vocabulary is None:
        return None
    out: dict[str, dict[str, int]] = {}
    for item in plan.items:
        labels = item.label if isinstance(item.label, list) else [item.label]
        c = out.setdefault(item.split, {})
        for lab in labels:
            c[lab] = c.get(lab, 0) + 1
    return {s: dict(sorted(c.items())) for s, c in out.items()}


def _prune(workdir: Path, keep: set[str]) -> int:
    """Remove files/folders under ``workdir/audio`` that are not in ``keep`` (relative paths)."""
    audio = workdir / "audio"
    removed = 0
    if not audio.is_dir():
        return 0
    for split_dir in sorted(p for p in audio.iterdir()):
        if not split_dir.is_dir():
            split_dir.unlink()
            removed += 1
            continue
        for entry in sorted(split_dir.iterdir()):
            rel = entry.relative_to(workdir).as_posix()
            if rel in keep:
                continue
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed += 1
        if not any(split_dir.iterdir()):
            split_dir.rmdir()
    return removed


def _finish_task(out: Path, task: str, plan: TaskPlan, phash: str, size: str, seed: int,
                 stats: list[dict[str, Any]], failures: dict[str, int]) -> int:
    """Write manifests and the marker into the work folder, prune, and move it into place."""
    work = out / PARTIAL / task
    final = out / task
    rows = _manifest_rows(task, plan)
    splits = ["manifest"] if task == "pretrain" else ["train", "valid", "test"]
    for split in splits:
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows.get(split, []))
        atomic_write_text(work / f"{split}.jsonl", text)
    removed = _prune(work, {i.relpath for i in plan.items})
    durations: dict[str, float] = {}
    for item in plan.items:
        durations[item.split] = durations.get(item.split, 0.0) + item.duration
    peaks = [s["peak"] for s in stats]
    rmss = [s["rms"] for s in stats]
    marker = {
        "task": task, "plan_hash": phash, "size": size, "seed": seed, "sample_rate": SAMPLE_RATE,
        "counts": plan.counts(), "duration_s": {k: round(v, 3) for k, v in sorted(durations.items())},
        "clip_s": SIZES[size][task].clip_s, "vocabulary": plan.vocabulary, "label_counts": _label_counts(plan),
        "manifests": [f"{s}.jsonl" for s in splits],
        "levels": None if not stats else {
            "peak_max": round(max(peaks), 6), "rms_min": round(min(rmss), 6),
            "rms_median": round(float(np.median(rmss)), 6),
            "limited": int(sum(p >= PEAK_LIMIT - 2 / 32767 for p in peaks))},
        "skipped": dict(sorted(plan.skipped.items())), "corpus_skipped": dict(sorted(failures.items())),
        "info": plan.info, "versions": versions(),
    }
    atomic_write_json(work / MARKER, marker)
    if final.exists():
        trash = out / PARTIAL / f".trash-{task}"
        shutil.rmtree(trash, ignore_errors=True)
        os.replace(final, trash)
        os.replace(work, final)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(work, final)
    return removed


def _write_summary(out: Path, size: str, seed: int) -> dict[str, Any]:
    tasks: dict[str, Any] = {}
    for name in list(GENERATORS):
        try:
            m = json.loads((out / name / MARKER).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        tasks[name] = {k: m[k] for k in ("size", "seed", "counts", "duration_s", "clip_s", "levels", "plan_hash")}
        tasks[name]["folder"] = name
    summary = {
        "suite": "mertbench rendered music suite", "size": size, "seed": seed, "sample_rate": SAMPLE_RATE,
        "channels": 1, "format": "WAV PCM16", "tasks": tasks,
        "total_duration_s": round(sum(sum(t["duration_s"].values()) for t in tasks.values()), 3),
        "versions": versions(),
    }
    atomic_write_json(out / SUMMARY, summary)
    return summary


def _pool_context() -> mp.context.BaseContext:
    methods = mp.get_all_start_methods()
    return mp.get_context("fork" if "fork" in methods else "spawn")


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS / Windows
        return max(1, os.cpu_count() or 1)


def render_suite(out: str | os.PathLike | None = None, size: str = "small", seed: int = 0,
                 tasks: list[str] | None = None, workers: int | None = None,
                 cache_dir: str | os.PathLike | None = None, progress: bool = True,
                 log: Callable[[str], None] | None = None) -> RenderReport:
    """Render the suite (or ``tasks``) into ``out``; see the module docstring.

    Args:
        out: output folder (default ``$MERTBENCH_DATA/render``).
        size: ``tiny``, ``small`` or ``full`` (:data:`~mertbench.render.sizes.SIZES`).
        seed: render seed; same seed and size give byte-identical files.
        tasks: subset of task names (``render-...`` or ``pretrain``); default all.
        workers: processes (default: the CPU cores this process may use).
        cache_dir: piece cache (default ``$MERTBENCH_CACHE/render``).
        progress: show rich progress bars on stderr.
        log: where to print one-line messages (default: nowhere).
    """
    from mertbench.paths import cache_root

    t0 = time.perf_counter()
    if size not in SIZES:
        raise DataError(f"unknown size {size!r}; choose one of {', '.join(SIZES)}")
    if int(seed) < 0:
        raise DataError(f"--seed must be a non-negative integer, got {seed}")
    if workers is not None and workers < 1:
        raise DataError(f"--workers must be at least 1, got {workers}")
    names = list(GENERATORS) if not tasks else list(tasks)
    unknown = [n for n in names if n not in GENERATORS]
    if unknown:
        raise DataError(f"unknown render task(s) {unknown}; choose from {', '.join(GENERATORS)}")
    names = [n for n in GENERATORS if n in names]  # canonical order
    out = Path(out).expanduser() if out is not None else default_out()
    cache = Path(cache_dir).expanduser() if cache_dir is not None else cache_root() / "render"
    workers = workers or default_workers()
    say = log or (lambda _msg: None)
    report = RenderReport(out, size, int(seed))

    with _lock(out):
        from mertbench.io import remove_stale_temps

        remove_stale_temps(out / PARTIAL)  # files and item folders of a killed render (dead writers only)
        if cache.is_dir():
            remove_stale_temps(cache)  # parsed pieces a killed render was writing (the cache may be shared)
        for trash in (out / PARTIAL).glob(".trash-*"):
            # a finished folder being replaced when a render was killed: its successor is complete
            # in .partial (marker written before the swap), so the old copy is never needed again
            shutil.rmtree(trash, ignore_errors=True)
        hashes = {n: plan_hash(n, size, seed) for n in names}
        pending = [n for n in names if not task_complete(out / n, hashes[n])]
        report.skipped_tasks = [n for n in names if n not in pending]
        for n in report.skipped_tasks:
            say(f"{n}: complete, nothing to do")
        if pending:
            _render_pending(out, cache, size, int(seed), pending, hashes, workers, progress, report, say)
        report.summary = _write_summary(out, size, int(seed))
    report.wall_s = time.perf_counter() - t0
    return report


def _render_pending(out: Path, cache: Path, size: str, seed: int, pending: list[str], hashes: dict[str, str],
                    workers: int, progress: bool, report: RenderReport, say: Callable[[str], None]) -> None:
    from mertbench.progress import progress_bar

    pool = _pool_context().Pool(workers, initializer=_worker_init) if workers > 1 else None
    bar = progress_bar() if progress else None
    try:
        if bar is not None:
            bar.start()
        parse_id = bar.add_task("corpus: parse pieces", total=None) if bar else None

        def mapper(fn, items):  # noqa: ANN001, ANN202
            return pool.imap(fn, items, chunksize=1) if pool is not None else map(fn, items)

        def on_parsed(n: int) -> None:
            if bar is not None:
                bar.update(parse_id, advance=n)

        lib = PieceLibrary(seed, cache, mapper, on_parsed)
        ctx = PlanContext(seed, size, lib)
        if pool is not None:
            used = {src for name in pending for src in SOURCES_USED[name]}
            lib.prefetch({src: n for src, n in PREFETCH.get(size, {}).items() if src in used})
        plans: dict[str, TaskPlan] = {}
        for name in pending:
            lib.current_task = name
            if bar is not None:
                bar.update(parse_id, description=f"corpus: parse pieces (planning {name})")
            plans[name] = GENERATORS[name](ctx)
            lib.current_task = None
        if bar is not None:
            bar.update(parse_id, description="corpus: parse pieces", total=lib.parsed_count(),
                       completed=lib.parsed_count())

        # Work folders: resume from .partial, or move a stale finished folder there to reuse files.
        for name in pending:
            work, final = out / PARTIAL / name, out / name
            if final.exists() and not work.exists():
                work.parent.mkdir(parents=True, exist_ok=True)
                os.replace(final, work)
            work.mkdir(parents=True, exist_ok=True)

        jobs = [(name, str(out / PARTIAL / name), item) for name in pending for item in plans[name].items]
        jobs.sort(key=lambda j: -j[2].cost)
        bar_ids = {n: bar.add_task(f"render {n}", total=len(plans[n].items)) for n in pending} if bar else {}
        stats: dict[str, list[dict[str, Any]]] = {n: [] for n in pending}
        left = {n: len(plans[n].items) for n in pending}
        results = pool.imap_unordered(ensure_item, jobs, chunksize=1) if pool is not None else map(ensure_item, jobs)
        for res in results:
            name = res["task"]
            stats[name].append(res)
            if res["rendered"]:
                report.rendered_items += 1
            else:
                report.reused_items += 1
            left[name] -= 1
            if bar is not None:
                bar.update(bar_ids[name], advance=1)
            if left[name] == 0:
                failures = dict(lib.task_failures.get(name, Counter()))
                report.pruned_files += _finish_task(out, name, plans[name], hashes[name], size, seed,
                                                    stats[name], failures)
                report.planned_tasks.append(name)
                say(f"{name}: {plans[name].counts()}")
        for name in pending:  # a task without items still gets its (empty) manifests
            if left[name] == 0 and name not in report.planned_tasks:
                failures = dict(lib.task_failures.get(name, Counter()))
                report.pruned_files += _finish_task(out, name, plans[name], hashes[name], size, seed, [], failures)
                report.planned_tasks.append(name)
        partial = out / PARTIAL
        if partial.is_dir() and not any(partial.iterdir()):
            partial.rmdir()
    except BaseException:
        if pool is not None:
            pool.terminate()
            pool.join()
            pool = None
        raise
    finally:
        if pool is not None:
            pool.close()
            pool.join()
        if bar is not None:
            bar.stop()


__all__ = ["RenderReport", "render_suite", "default_out", "plan_hash", "versions", "TASK_NAMES"]
