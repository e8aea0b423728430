"""render-emotion (like EMO): two continuous targets with a stated musical definition.

These are *defined* targets, after the classic findings that tempo and loudness drive arousal
and mode and register drive valence -- not listener ratings:

- ``arousal = clip(0.5 * (T - 115) / 65 + 0.5 * (V - 77.5) / 42.5, -1, 1)`` with T the tempo
  (beats per minute, drawn in [50, 180]) and V the clip's nominal MIDI velocity (drawn in
  [35, 120]; single notes vary by +-4 around it);
- ``valence = clip(0.5 * m + 0.5 * (R - 64) / 16, -1, 1)`` with m = +1 for a major piece, -1 for
  minor, and R the mean MIDI pitch of all notes of the clip (after a random transposition in
  -12..+12 semitones).

Targets are listed in the order ``[arousal, valence]`` (MARBLE's EMO order). Clips are Bach
chorales (the one corpus source with many pieces in both modes, so mode is not confounded with
style): half from major pieces, half from minor ones, each orchestrated at random. The gain is
fixed for all clips (no loudness normalisation), so velocity is audible as level.
"""
from __future__ import annotations

import numpy as np

from mertbench.render import instruments as gm
from mertbench.render.generators.common import arrange, choose_parts, excerpt_start, simple_tempo, span_for
from mertbench.render.library import SPLITS, cycle
from mertbench.render.plan import Item, PlanContext, TaskPlan
from mertbench.render.score import Score
from mertbench.render.sizes import SIZES

NAME = "render-emotion"
GAIN = 2.0
TARGETS = ["arousal", "valence"]
#: Chorales only: they come in both modes in about equal numbers, so mode is not confounded
#: with style (minor folk songs, fiddle tunes and quartet movements are rare in the corpus).
SOURCES = ("chorale",)
WIDE_RANGE = (24, 103)  # no instrument-range folding: the register is part of the target


def arousal(bpm: float, velocity: float) -> float:
    return float(np.clip(0.5 * (bpm - 115.0) / 65.0 + 0.5 * (velocity - 77.5) / 42.5, -1.0, 1.0))


def valence(mode: str, mean_pitch: float) -> float:
    m = 1.0 if mode == "major" else -1.0
    return float(np.clip(0.5 * m + 0.5 * (mean_pitch - 64.0) / 16.0, -1.0, 1.0))


def generate(ctx: PlanContext) -> TaskPlan:
    size = SIZES[ctx.size][NAME]
    plan = TaskPlan(NAME, [], info={"targets": TARGETS})
    for split in SPLITS:
        n = size.counts[split]
        streams = {}
        for mode in ("major", "minor"):
            pieces = []
            for src in SOURCES:
                pieces += ctx.take(plan, src, split, max(1, -(-n // (2 * len(SOURCES) * size.reuse))),
                                           lambda p, m=mode: p.mode == m)
            streams[mode] = cycle(pieces, f"{NAME} ({mode}, {split})")
        for j in range(n):
            mode = "major" if j % 2 == 0 else "minor"
            for attempt in range(8):
                rng = ctx.rng(NAME, split, j, attempt)
                _, piece = next(streams[mode])
                bpm = float(rng.uniform(50, 180))
                vel = float(rng.uniform(35, 120))
                shift = int(rng.integers(-12, 13))
                span = span_for(bpm, piece.beat_ql, size.clip_s)
                start, period = excerpt_start(piece, rng, span)
                tmap = simple_tempo(piece, bpm, start)
                parts = choose_parts(piece, rng, 3)
                programs = [int(rng.choice(gm.ENSEMBLE_POOL)) for _ in parts]
                tracks = arrange(piece, parts, programs, tmap, size.clip_s, start, span, period, rng,
                                 transpose=shift, velocity=vel, jitter=4, fit=False,
                                 ranges=[WIDE_RANGE] * len(parts))
                if tracks:
                    break
            else:
                raise RuntimeError(f"{NAME}: no playable excerpt for clip {j} of {split}")
            pitches = [n_[2] for t in tracks for n_ in t.notes]
            register = float(np.mean(pitches))
            label = [round(arousal(bpm, vel), 6), round(valence(mode, register), 6)]
            plan.items.append(Item(f"{j:05d}-{piece.source}", split, Score(size.clip_s, tracks), GAIN, label=label,
                                   meta={"piece": piece.key, "source": piece.source, "bpm": round(bpm, 3),
                                         "velocity": round(vel, 3), "mode": mode, "transpose": shift,
                                         "mean_pitch": round(register, 3), "programs": programs}))
    return plan
