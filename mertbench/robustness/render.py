"""Deformed copies of a task's test split, rendered once into the cache and reused.

:func:`render_deformed_split` decodes each example's excerpt at its file's native rate, applies the
deformation (:func:`mertbench.deform.apply_to_example`: audio, label rule, stems) and writes a
32-bit float WAV per example (and per stem for separation) under
``<cache>/deformed/<task>/<deformation>-<key>/``. The key hashes the task (name, version), the
split's dataset and audio-file fingerprints and the deformation's hash (parameters, seed, library
versions), so a changed deformation or dataset never reuses stale audio. Each example ends with an
atomic ``done/<index>.json`` record written after its audio (temp name, fsync, rename): an
interrupted render resumes where it stopped and never leaves a half-written file in use. The
finished split gets an ``index.json``.

The deformed examples start at 0 s in their own files; time labels (beat times, downbeats) are
shifted to that origin after the deformation's label rule has scaled them. An example the
deformation cannot apply to (a MIDI pitch moved out of range, a silent clip under an SNR) is left
out and counted with its reason; a task-deformation pair that is invalid as a whole is not rendered.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from mertbench.audio import load_audio
from mertbench.deform import Deformation, DeformationInvalid, apply_to_example, check_valid, pick_noise_source
from mertbench.errors import AudioError, DataError
from mertbench.io import atomic_path, atomic_write_json, remove_stale_temps
from mertbench.provenance import config_hash
from mertbench.tasks.data import Example, LoadedDataset

#: bump when the rendered files or their records change
RENDER_FORMAT = 1
#: where ``stem_noise`` deformations draw their noise tracks: this task's training split (its stems)
NOISE_TASK = "render-separation"


@dataclass
class DeformedSplit:
    """A deformed split: ``status`` ``ready`` (``examples`` usable), ``invalid`` (the pair is never
    scored, ``reason`` says why) or ``unavailable`` (a requirement such as a noise source is missing)."""

    deformation: Deformation
    status: str
    reason: str
    examples: list[Example] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    folder: Path | None = None

    def record(self) -> dict[str, Any]:
        """What a robustness result stores about this split."""
        return {"status": self.status, "reason": self.reason, "examples": len(self.examples),
                "skipped": dict(self.skipped), "problems": list(self.problems[:20]),
                "deformation": self.deformation.provenance()}


def deformed_key(task: Any, dataset: LoadedDataset, split: str, deformation: Deformation) -> str:
    """The cache key of ``deformation`` applied to ``split`` of ``task``'s ``dataset``."""
    sub = LoadedDataset(splits={split: dataset.splits[split]}, vocabulary=dataset.vocabulary)
    return config_hash({"format": RENDER_FORMAT, "task": task.name, "task_version": task.spec.version,
                        "split": split, "dataset": sub.fingerprint(), "files": sub.files_fingerprint(),
                        "deformation": deformation.hash})


def noise_candidates(stem: str, data_root: Path | None = None) -> list[str]:
    """Stem files ``stem`` of the training tracks of :data:`NOISE_TASK` (empty when it is absent)."""
    from mertbench.tasks.registry import get_task

    try:
        task = get_task(NOISE_TASK)
        root = None if data_root is None else Path(data_root) / task.spec.dataset.dirname
        ds = task.load(root)
    except Exception:  # noqa: BLE001 - a missing noise task makes the deformation unavailable, said by the caller
        return []
    out = []
    for ex in ds.splits.get("train", []):
        if isinstance(ex.label, dict) and stem in ex.label:
            out.append(str(ex.label[stem]))
    return sorted(out)


def _write_wav(dest: Path, audio: np.ndarray, sample_rate: int) -> None:
    import soundfile as sf

    data = np.asarray(audio, dtype=np.float32)
    data = data.T if data.ndim == 2 else data
    with atomic_path(dest) as tmp:
        sf.write(str(tmp), data, sample_rate, subtype="FLOAT", format="WAV")


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


def _shift_times(values: Any, origin: float) -> Any:
    return [float(t) - origin for t in values]


def render_deformed_split(task: Any, dataset: LoadedDataset, deformation: Deformation, *, split: str = "test",
                          cache_root: str | Path | None = None, data_root: str | Path | None = None,
                          progress: Callable[[int, int], None] | None = None) -> DeformedSplit:
    """Render (or find rendered) ``deformation`` of ``split``; see the module docstring.

    ``progress(done, total)`` is called after each example."""
    from mertbench.paths import cache_root as default_cache

    valid, reason = check_valid(deformation, task)
    if not valid:
        return DeformedSplit(deformation, "invalid", reason)
    examples = list(dataset.splits[split])
    noise_pool: list[str] = []
    if deformation.needs_noise_source:
        stem = deformation.params.stem
        noise_pool = noise_candidates(stem, Path(data_root) if data_root is not None else None)
        if len(noise_pool) < 2:
            return DeformedSplit(deformation, "unavailable",
                                 f"needs at least two {stem!r} stems of {NOISE_TASK}'s training split as noise "
                                 f"sources; render it (`mertbench data render`)")
    key = deformed_key(task, dataset, split, deformation)
    base = Path(cache_root) if cache_root is not None else default_cache()
    folder = base / "deformed" / task.name / f"{deformation.name}-{key}"
    index = folder / "index.json"
    if index.is_file():
        return _from_index(deformation, folder, json.loads(index.read_text(encoding="utf-8")))
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(folder)
    (folder / "done").mkdir(exist_ok=True)
    (folder / "audio").mkdir(exist_ok=True)
    records: list[dict[str, Any]] = []
    for i, ex in enumerate(examples):
        rec_path = folder / "done" / f"{i:06d}.json"
        if rec_path.is_file():
            records.append(json.loads(rec_path.read_text(encoding="utf-8")))
        else:
            rec = _render_one(task, ex, i, deformation, folder, noise_pool)
            atomic_write_json(rec_path, rec)
            records.append(rec)
        if progress is not None:
            progress(i + 1, len(examples))
    done = {"format": RENDER_FORMAT, "key": key, "task": task.name, "split": split,
            "deformation": deformation.provenance(), "records": records}
    atomic_write_json(index, done)
    return _from_index(deformation, folder, done)


def _render_one(task: Any, ex: Example, i: int, deformation: Deformation, folder: Path,
                noise_pool: list[str]) -> dict[str, Any]:
    """Deform one example; its record (``ok`` with paths and label, or the reason it was left out)."""
    try:
        audio, sr = load_audio(ex.path, None, mono=False, start_s=ex.start_s, duration_s=ex.duration_s)
    except AudioError as exc:
        return {"id": ex.id, "ok": False, "reason": "unreadable_audio", "problem": str(exc)}
    audio = audio[0] if audio.shape[0] == 1 else audio  # mono files stay [N]
    stems = None
    if isinstance(ex.label, dict):
        stems = {}
        for name, p in ex.label.items():
            s, _ = load_audio(Path(p), sr, mono=audio.ndim == 1, start_s=ex.start_s, duration_s=ex.duration_s)
            stems[name] = s
    noise = None
    if deformation.needs_noise_source:
        own = str(ex.path)
        noise = pick_noise_source(ex.id, [c for c in noise_pool if Path(c).parent != Path(own).parent],
                                  deformation.seed)
    try:
        out = apply_to_example(deformation, ex, task, audio, sr, stems=stems, noise=noise)
    except DeformationInvalid as exc:
        return {"id": ex.id, "ok": False, "reason": "deformation_invalid", "problem": exc.reason}
    mix_path = folder / "audio" / f"{i:06d}.wav"
    _write_wav(mix_path, out.audio, sr)
    label: Any = out.label
    meta = dict(out.meta)
    if task.spec.type == "separation":
        # keep: the clean stems (as excerpts at the same origin); apply_to_stems: the deformed ones
        source = out.label if isinstance(out.label, dict) and all(isinstance(v, np.ndarray) for v in out.label.values()) \
            else stems
        label = {}
        for name, s in (source or {}).items():
            p = folder / "audio" / f"{i:06d}.{name}.wav"
            _write_wav(p, s, sr)
            label[name] = p.name
    elif task.spec.type == "beat":
        label = _shift_times(out.label, ex.start_s)
        if meta.get("downbeats") is not None:
            meta["downbeats"] = _shift_times(meta["downbeats"], ex.start_s)
    rec = {"id": ex.id, "ok": True, "path": mix_path.name, "label": _jsonable(label), "group": ex.group,
           "meta": _jsonable(meta), "rule": out.reason, "example_seed": out.provenance.get("example_seed")}
    if noise is not None:
        rec["noise_source"] = str(noise)
    return rec


def _from_index(deformation: Deformation, folder: Path, index: dict[str, Any]) -> DeformedSplit:
    examples: list[Example] = []
    skipped: dict[str, int] = {}
    problems: list[str] = []
    audio = folder / "audio"
    for rec in index["records"]:
        if not rec.get("ok"):
            skipped[rec["reason"]] = skipped.get(rec["reason"], 0) + 1
            problems.append(f"{rec['id']}: {rec.get('problem', rec['reason'])}")
            continue
        label = rec["label"]
        if isinstance(label, dict):
            label = {k: str(audio / v) for k, v in label.items()}
        path = audio / rec["path"]
        if not path.is_file():
            raise DataError(f"{path}: a deformed file listed in {folder / 'index.json'} is missing; delete "
                            f"{folder} and run again")
        examples.append(Example(id=rec["id"], path=path, label=label, group=rec.get("group"),
                                meta=dict(rec.get("meta") or {})))
    if not examples:
        return DeformedSplit(deformation, "unavailable", "no example of the split could be deformed", [], skipped,
                             problems, folder)
    return DeformedSplit(deformation, "ready", "", examples, skipped, problems, folder)
