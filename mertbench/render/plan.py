"""The plan of a render: items (what to synthesise, with labels) grouped per task.

Planning is deterministic: every random choice comes from :meth:`PlanContext.rng`, seeded by the
render seed and names/indices (never by order of execution), and every item's audio file name
carries the hash of exactly what determines its samples, so a file on disk is valid iff its
name is in the plan.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mertbench.provenance import config_hash
from mertbench.render.library import PieceLibrary, stable_int
from mertbench.render.score import Score

#: Bump when synthesis or post-processing changes the samples of an unchanged score.
SYNTH_VERSION = 1


@dataclass
class Item:
    """One clip to render (or one separation track: ``stems`` instead of ``score``).

    Attributes:
        uid: unique within its task; safe as a file name.
        split: ``train``, ``valid`` or ``test``.
        score: the clip (None for separation items).
        stems: stem name -> score (separation); the mixture is their sum.
        gain: linear gain applied to the synthesiser output.
        label: label in the manifest convention of the task type (see mertbench.tasks.data).
        meta: extra manifest fields (piece, source, tempo, ...).
    """

    uid: str
    split: str
    score: Score | None
    gain: float
    label: Any = None
    meta: dict[str, Any] = field(default_factory=dict)
    stems: dict[str, Score] | None = None

    @property
    def duration(self) -> float:
        if self.score is not None:
            return self.score.duration
        assert self.stems
        return next(iter(self.stems.values())).duration

    def audio_hash(self) -> str:
        """Hash of everything that determines the samples (8 hex digits)."""
        body: dict[str, Any] = {"synth": SYNTH_VERSION, "gain": self.gain}
        if self.score is not None:
            body["score"] = self.score.to_json()
        if self.stems is not None:
            body["stems"] = {k: v.to_json() for k, v in sorted(self.stems.items())}
        return config_hash(body, 8)

    @property
    def relpath(self) -> str:
        """Audio path relative to the task folder (a folder for separation items)."""
        name = f"{self.uid}_{self.audio_hash()}"
        return f"audio/{self.split}/{name}" + ("" if self.stems is not None else ".wav")

    @property
    def cost(self) -> float:
        """Rough rendering cost, for scheduling the longest items first."""
        if self.stems is not None:
            return sum(s.duration * (1 + len(s.tracks)) for s in self.stems.values())
        assert self.score is not None
        return self.score.duration * (1 + len(self.score.tracks))


@dataclass
class TaskPlan:
    """All items of one task plus what the manifests and summary need."""

    task: str
    items: list[Item]
    vocabulary: list[str] | None = None
    #: items or pieces left out while planning, by reason
    skipped: Counter = field(default_factory=Counter)
    info: dict[str, Any] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Items per split, in train/valid/test order (only splits that have items)."""
        out = Counter(i.split for i in self.items)
        return {s: out[s] for s in ("train", "valid", "test") if s in out}


@dataclass
class PlanContext:
    """What generators need: the seed, the piece library and the size's settings."""

    seed: int
    size: str
    library: PieceLibrary

    def take(self, plan: TaskPlan, source: str, split: str, n: int, predicate: Any = None) -> list:
        """``library.take``; a shortfall (pieces then get reused more often) is noted in ``plan.skipped``."""
        pieces = self.library.take(source, split, n, predicate)
        if len(pieces) < n:
            plan.skipped[f"{source}/{split}: {len(pieces)} of {n} wanted pieces exist (reused more often)"] += 1
        return pieces

    def rng(self, *keys: str | int) -> np.random.Generator:
        """An independent generator for ``keys`` (e.g. task, split, index)."""
        ints = [self.seed] + [k if isinstance(k, int) else stable_int(str(k)) for k in keys]
        return np.random.default_rng(ints)
