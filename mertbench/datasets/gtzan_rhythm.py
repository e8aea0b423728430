"""GTZAN beat tracking (loader ``gtzan_beat``): GTZAN audio + GTZAN-Rhythm v2 annotations.

Layout under ``$MERTBENCH_DATA/GTZAN`` (or ``--root``): the GTZAN audio and split lists exactly as
for :mod:`mertbench.datasets.gtzan`, plus the Marchand & Peeters archive
``GTZAN-Rhythm_v2_ismir2015_lbd_2015-10-28.tar_.gz`` extracted in place:

- ``GTZAN-Rhythm_v2_ismir2015_lbd/jams/<genre>.000NN.wav.jams`` (archive layout), or
- ``GTZAN-Rhythm_v2_ismir2015_lbd/<genre>.000NN.wav.jams`` (where MARBLE's config looks).

Both places are tried, in that order. Each JAMS file holds ``beat``-namespace annotations whose
``sandbox.annotation_type`` is ``beat`` or ``downbeat``; only the observation times are used.
Files are parsed as plain JSON (no schema validation, so older JAMS versions load too).

Splits: the same fault-filtered lists as the genre task (MARBLE trains on GTZAN only).
Label: beat times in seconds (sorted); ``meta["downbeats"]`` holds the downbeat times.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from mertbench.datasets._base import Collector, check_disjoint, official_loader
from mertbench.datasets.gtzan import audio_dir, audio_path, read_split_lists
from mertbench.tasks.data import Example, LoadedDataset

if TYPE_CHECKING:
    from mertbench.tasks.spec import TaskSpec

RHYTHM_DIR = "GTZAN-Rhythm_v2_ismir2015_lbd"


def jams_path(root: Path, basename: str) -> Path:
    """Where the annotation of ``<genre>.000NN.wav`` lives (``jams/`` first, then the archive root)."""
    base = root / RHYTHM_DIR
    first = base / "jams" / f"{basename}.jams"
    if first.exists():
        return first
    second = base / f"{basename}.jams"
    return second if second.exists() else first


def parse_rhythm_jams(path: Path) -> tuple[list[float], list[float], dict]:
    """``(beats, downbeats, extra)`` from a GTZAN-Rhythm JAMS file (times in seconds, sorted).

    Raises:
        ValueError: not JSON, or no beat annotation.
    """
    doc = json.loads(path.read_text(encoding="utf-8"))
    beats: list[float] | None = None
    downbeats: list[float] = []
    extra: dict = {}
    untyped: list[list[float]] = []
    for ann in doc.get("annotations", []):
        ns = ann.get("namespace")
        if ns == "beat":
            data = ann.get("data", [])
            # JAMS 0.3 stores observations as a list of dicts; older files as column dicts
            if isinstance(data, dict):
                times = [float(t) for t in data.get("time", [])]
            else:
                times = [float(obs["time"]) for obs in data]
            kind = (ann.get("sandbox") or {}).get("annotation_type")
            if kind == "beat":
                beats = times
            elif kind == "downbeat":
                downbeats = times
            else:
                untyped.append(times)
        elif ns == "tag_open":
            sandbox = ann.get("sandbox") or {}
            extra.update({k: v for k, v in sandbox.items() if isinstance(v, (str, int, float, bool))})
    if beats is None and untyped:
        beats = untyped[0]
    if beats is None:
        raise ValueError("no 'beat' annotation (namespace beat, sandbox annotation_type beat)")
    return sorted(beats), sorted(downbeats), extra


@official_loader("gtzan_beat")
def load_gtzan_beat(root: Path, spec: "TaskSpec", col: Collector) -> LoadedDataset:
    """GTZAN-Rhythm beat times on the fault-filtered GTZAN splits."""
    skipped: dict[str, int] = {}
    lists = read_split_lists(root, spec, col, skipped)
    adir = audio_dir(root, col)
    if not (root / RHYTHM_DIR).is_dir():
        raise col.fatal(root / RHYTHM_DIR, "GTZAN-Rhythm annotations not found: extract "
                        "GTZAN-Rhythm_v2_ismir2015_lbd_2015-10-28.tar_.gz (Marchand & Peeters) in the dataset folder")
    splits: dict[str, list[Example]] = {}
    for split, lines in lists.items():
        exs = []
        for ln in lines:
            path = audio_path(adir, ln)
            ann = jams_path(root, Path(ln).name)
            ok = col.require(path, f"audio file listed in the {split} split")
            if not col.require(ann, "GTZAN-Rhythm annotation (.jams)"):
                continue
            try:
                beats, downbeats, extra = parse_rhythm_jams(ann)
            except (ValueError, KeyError, TypeError) as exc:
                col.error(ann, f"unreadable beat annotation ({exc})")
                continue
            if not beats:
                col.error(ann, "beat annotation is empty")
                continue
            if ok:
                exs.append(Example(id=ln, path=path, label=beats,
                                   meta={"downbeats": downbeats, "genre": ln.split("/")[0], **extra}))
        splits[split] = exs
    check_disjoint(splits, col, key=lambda ex: ex.id, what="track")
    return LoadedDataset(splits=splits, vocabulary=None, skipped=skipped)
