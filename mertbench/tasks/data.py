"""The uniform shape every dataset loader returns."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Example:
    """One labelled item of a split.

    Attributes:
        id: unique within the task (e.g. ``"blues/blues.00029.wav"``).
        path: audio file (for separation: the mixture).
        label: by task type: multiclass/key -> class name (``str``); multilabel -> ``list[str]``;
            regression -> ``list[float]`` in ``labels.names`` order; beat -> ``list[float]`` beat
            times in seconds; separation -> ``dict[str, str]`` stem name -> audio path.
        start_s: start of the excerpt in the file (seconds).
        end_s: end of the excerpt (seconds), None for the end of the file.
        group: items sharing a group are aggregated together at evaluation (e.g. GS clips of one
            song); None means the example is its own group.
        meta: anything else (artist, downbeats, tempo, ...).
    """

    id: str
    path: Path
    label: Any
    start_s: float = 0.0
    end_s: float | None = None
    group: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float | None:
        return None if self.end_s is None else self.end_s - self.start_s


@dataclass
class LoadedDataset:
    """What a loader returns: examples per split, the label vocabulary, and what it skipped.

    ``skipped`` counts items left out on purpose (e.g. known-corrupt files), keyed by reason;
    ``problems`` lists human-readable problems, each naming the file concerned.
    """

    splits: dict[str, list[Example]]
    vocabulary: list[str] | None = None
    skipped: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.splits.items()}

    def fingerprint(self) -> str:
        """Hash of the ids, labels and excerpt bounds of every split (not the audio bytes)."""
        h = hashlib.sha256()
        for split in sorted(self.splits):
            for ex in self.splits[split]:
                h.update(f"{split}|{ex.id}|{ex.label!r}|{ex.start_s}|{ex.end_s}\n".encode())
        return h.hexdigest()[:16]

    def files_fingerprint(self) -> str:
        """Hash of the size and modification time (ns) of every audio file the splits read
        (the mixture and, for separation, each stem): a replaced or re-encoded file changes it, so
        features (and "unreadable" verdicts) cached for the old file are not reused. A missing file
        hashes as missing. Local to this copy of the data (a copy elsewhere has other mtimes)."""
        h = hashlib.sha256()
        for split in sorted(self.splits):
            for ex in self.splits[split]:
                paths = [ex.path]
                if isinstance(ex.label, dict):
                    paths += [Path(v) for v in ex.label.values() if isinstance(v, (str, Path))]
                for p in paths:
                    try:
                        st = os.stat(p)
                        h.update(f"{p}|{st.st_size}|{st.st_mtime_ns}\n".encode())
                    except OSError:
                        h.update(f"{p}|missing\n".encode())
        return h.hexdigest()[:16]

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + n
