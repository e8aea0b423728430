"""Validation of a user's dataset copy (``mertbench data check``).

:func:`check_task` loads the task's data in collecting mode (every problem gathered, nothing
raised), then checks:

- presence: every file a split refers to exists (the loaders record missing files);
- structure: annotation and split files parse, splits are disjoint and non-empty, labels are in
  the vocabulary, beat annotations are sorted and inside the audio;
- counts per split against the official counts of the task spec (``dataset.counts``) — a
  difference is a *warning* (the copy is usable; results are not comparable with MARBLE);
- audio: a sample of the files of each split is decoded completely (all of them with ``full``);
  a file that cannot be decoded, is truncated or holds NaN/inf is an *error* naming the file;
- checksums where they are published (GiantSteps ``md5/*.md5``; checked with ``full``).

Known defects of official copies are handled as MARBLE does and reported with severity ``info``
(the corrupt Kaggle ``jazz.00054.wav``, the three corrupt MTT mp3s).

A copy is *usable* when there is no error-level problem; the CLI exits non-zero otherwise.
"""
from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mertbench.audio import audio_info, load_audio
from mertbench.datasets._base import IMPLS, Collector, Problem
from mertbench.errors import AudioError, DataError, MertbenchError
from mertbench.tasks.data import Example, LoadedDataset
from mertbench.tasks.loaders import get_loader
from mertbench.tasks.registry import Task

#: Files decoded per split when ``full`` is not set.
DEFAULT_SAMPLE = 8


@dataclass
class CheckReport:
    """Outcome of :func:`check_task`."""

    task: str
    root: str
    splits: dict[str, int] = field(default_factory=dict)
    num_classes: int | None = None
    problems: list[Problem] = field(default_factory=list)
    official_counts: dict[str, int] | None = None
    skipped: dict[str, int] = field(default_factory=dict)
    decoded: int = 0
    audio_files: int = 0

    @property
    def usable(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)

    def to_json(self) -> dict[str, Any]:
        """The JSON object printed by ``mertbench data check --json``."""
        return {"task": self.task, "root": self.root, "splits": self.splits, "num_classes": self.num_classes,
                "problems": [p.to_json() for p in self.problems], "usable": self.usable,
                "official_counts": self.official_counts, "skipped": self.skipped,
                "audio_files": self.audio_files, "decoded": self.decoded}


def _load(task: Task, root: Path, col: Collector) -> LoadedDataset | None:
    spec = task.spec
    impl = IMPLS.get(spec.dataset.loader)
    n_errors = len(col.errors)
    try:
        if impl is not None:
            return impl(root, spec, col)
        return get_loader(spec.dataset.loader)(root, spec)
    except DataError as exc:
        if len(col.errors) == n_errors:  # not recorded by Collector.fatal
            col.error(None, str(exc))
        return None
    except MertbenchError as exc:
        col.error(None, str(exc))
        return None


def _audio_files(exs: list[Example]) -> dict[Path, list[Example]]:
    files: dict[Path, list[Example]] = {}
    for ex in exs:
        files.setdefault(Path(ex.path), []).append(ex)
        if isinstance(ex.label, dict):
            for p in ex.label.values():
                files.setdefault(Path(p), []).append(ex)
    return files


def _check_labels(task: Task, ds: LoadedDataset, col: Collector) -> None:
    ttype = task.spec.type
    vocab = set(ds.vocabulary or [])
    for _split, exs in ds.splits.items():
        for ex in exs:
            if ttype in ("multiclass", "key") and vocab and ex.label not in vocab:
                col.error(ex.path, f"label {ex.label!r} is outside the vocabulary")
            elif ttype == "multilabel" and vocab and any(t not in vocab for t in ex.label):
                col.error(ex.path, f"tags {[t for t in ex.label if t not in vocab]} are outside the vocabulary")
            elif ttype == "regression" and not all(math.isfinite(v) for v in ex.label):
                col.error(ex.path, f"target {ex.label} is not finite")
            elif ttype == "beat":
                beats = list(ex.label)
                if any(b < 0 for b in beats) or beats != sorted(beats):
                    col.error(ex.path, "beat times must be non-negative and sorted")


def _decode(path: Path, exs: list[Example], task: Task, col: Collector, full: bool) -> bool:
    try:
        info = audio_info(path)
        load_audio(path)
    except AudioError as exc:
        col.error(path, f"audio cannot be used: {exc.problem}")
        return False
    for ex in exs:
        if ex.end_s is not None and ex.end_s > info.duration_s + 0.05 and Path(ex.path) == path:
            col.error(path, f"excerpt {ex.id} ends at {ex.end_s:.2f} s, the file lasts {info.duration_s:.2f} s")
        if task.spec.type == "beat" and Path(ex.path) == path and ex.label and ex.label[-1] > info.duration_s + 0.1:
            col.warn(path, f"beat annotation runs to {ex.label[-1]:.2f} s, past the end of the audio "
                           f"({info.duration_s:.2f} s); beats after the end are ignored (MARBLE clips them)")
    md5 = next((ex.meta.get("md5") for ex in exs if ex.meta.get("md5")), None)
    if full and md5:
        got = hashlib.md5(path.read_bytes()).hexdigest()
        if got != md5:
            col.error(path, f"checksum mismatch: md5 {got}, the published md5 is {md5} (re-download the file)")
    return True


def check_task(task: Task, root: str | Path | None = None, *, full: bool = False, sample: int = DEFAULT_SAMPLE,
               seed: int = 0, progress: bool = True) -> CheckReport:
    """Validate the copy of ``task``'s dataset at ``root`` (default: under the data root)."""
    path = task.resolve_root(root)
    report = CheckReport(task=task.name, root=str(path), official_counts=task.spec.dataset.counts)
    col = Collector(strict=False)
    if not path.is_dir():
        hint = task.spec.dataset.missing_hint or "put the dataset there or pass --root DIR"
        col.error(path, f"dataset folder not found. {hint}")
        report.problems = col.problems
        return report
    ds = _load(task, path, col)
    if ds is not None:
        report.splits = ds.counts()
        report.skipped = dict(ds.skipped)
        report.num_classes = len(ds.vocabulary) if ds.vocabulary else None
        for split in task.spec.splits:
            if not ds.splits.get(split):
                if not any(p.severity == "error" and split in p.message for p in col.problems):
                    col.error(path, f"split {split!r} has no usable example")
        for split, n in (task.spec.dataset.counts or {}).items():
            got = report.splits.get(split)
            if got is not None and got != n:
                col.warn(path, f"split {split!r} has {got} examples, the official copy has {n} "
                               "(incomplete copy or different split: results are not comparable with MARBLE)")
        _check_labels(task, ds, col)
        rng = random.Random(seed)
        to_decode: dict[Path, list[Example]] = {}
        for split in sorted(ds.splits):
            files = _audio_files(ds.splits[split])
            report.audio_files += len(files)
            chosen = sorted(files) if full or len(files) <= sample else sorted(rng.sample(sorted(files), sample))
            for f in chosen:
                to_decode.setdefault(f, []).extend(files[f])
        _decode_all(to_decode, task, col, full, progress, report)
    report.problems = col.problems
    return report


def _decode_all(files: dict[Path, list[Example]], task: Task, col: Collector, full: bool, progress: bool,
                report: CheckReport) -> None:
    if not files:
        return
    if progress:
        from mertbench.progress import progress_bar

        with progress_bar(transient=True) as bar:
            job = bar.add_task(f"decoding audio ({'all files' if full else 'sample'})", total=len(files))
            for f, exs in files.items():
                report.decoded += int(_decode(f, exs, task, col, full))
                bar.advance(job)
    else:
        for f, exs in files.items():
            report.decoded += int(_decode(f, exs, task, col, full))
