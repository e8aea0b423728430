"""render-beat (like GTZAN beat tracking): tunes at 60-180 BPM, some with tempo changes.

Excerpts are cut from runs of complete, equal measures (so the beat grid is exact), starting a
random fraction of a beat before a beat. Half the clips keep a constant tempo, a quarter ramp
linearly (per beat) by 15-35 % up or down over the clip, a quarter jump by 15-35 % at a beat in
the middle. Beat labels are the tempo map's beat times (quantised to the MIDI tick grid, so
they are exactly when the synthesiser plays the notes on the beat); downbeats are the beats
that start a measure. Half the clips add a drum part whose hits lie on the same grid.
"""
from __future__ import annotations

import numpy as np

from mertbench.render import instruments as gm
from mertbench.render.corpus import Piece
from mertbench.render.drums import drum_track
from mertbench.render.generators.common import arrange, beats_per_bar, choose_parts, is_compound
from mertbench.render.library import SPLITS, cycle
from mertbench.render.plan import Item, PlanContext, TaskPlan
from mertbench.render.score import Score
from mertbench.render.sizes import SIZES
from mertbench.render.timing import TempoMap, constant, quantize, ramp, step

NAME = "render-beat"
GAIN = 2.0
BPM_RANGE = (60.0, 180.0)
SOURCES = ("fiddle", "folk", "chorale")


def usable(piece: Piece) -> bool:
    """A meter and at least four consecutive complete measures."""
    if not piece.meter or piece.beat_ql <= 0:
        return False
    return any(end - start >= 4 * piece.bar_ql - 1e-6 for start, end in piece.regular_runs())


def tempo_map(rng: np.random.Generator, start_ql: float, beat_ql: float, lead_s: float, clip_s: float
              ) -> tuple[TempoMap, str, float, float]:
    """A random tempo map (constant / ramp / step) and its description."""
    bpm0 = float(rng.uniform(*BPM_RANGE))
    kind = str(rng.choice(["constant", "constant", "ramp", "step"]))
    if kind == "constant":
        return constant(start_ql, beat_ql, bpm0, lead_s), kind, bpm0, bpm0
    factor = float(rng.uniform(1.15, 1.35))
    bpm1 = bpm0 * factor if rng.random() < 0.5 else bpm0 / factor
    bpm1 = float(np.clip(bpm1, 55.0, 190.0))
    n_beats = max(2, int(clip_s * (bpm0 + bpm1) / 120.0))
    if kind == "ramp":
        return ramp(start_ql, beat_ql, bpm0, bpm1, n_beats, lead_s), kind, bpm0, bpm1
    at = int(rng.integers(max(1, n_beats // 3), max(2, 2 * n_beats // 3)))
    return step(start_ql, beat_ql, bpm0, bpm1, at, lead_s), kind, bpm0, bpm1


def make_item(piece: Piece, rng: np.random.Generator, clip_s: float) -> dict | None:
    """Score, beats and downbeats for one clip of ``piece``, or None if no run is long enough.

    The clip starts ``frac`` of a beat before beat 0 (``frac`` in [0, 0.95)); beat 0 lies inside
    a run of complete measures that also holds the whole clip.
    """
    beat = piece.beat_ql
    bpb = beats_per_bar(piece)
    for _ in range(4):
        frac = float(rng.uniform(0.0, 0.95))
        tm0, kind, bpm0, bpm1 = tempo_map(rng, 0.0, beat, 0.0, clip_s)
        need = tm0.ql_until(clip_s) + beat  # quarter lengths from beat 0 to past the clip end
        first = 1 if frac > 0 else 0
        options = []
        for run_start, run_end in piece.regular_runs():
            last = int(np.floor((run_end - run_start - need) / beat + 1e-9))
            options += [(run_start, b) for b in range(first, last + 1)]
        if not options:
            continue
        run_start, b0 = options[int(rng.integers(len(options)))]
        start_ql = run_start + b0 * beat
        lead_s = frac * 60.0 / bpm0
        tmap = TempoMap(start_ql, beat, tm0.bpms, lead_s)
        pos0 = b0 % bpb  # runs start on a downbeat
        beats = tmap.beats_until(clip_s)
        downbeats = [t for k, t in enumerate(beats) if (pos0 + k) % bpb == 0]
        parts = choose_parts(piece, rng, 3)
        programs = [int(rng.choice(gm.ENSEMBLE_POOL)) for _ in parts]
        tracks = arrange(piece, parts, programs, tmap, clip_s, start_ql - frac * beat, need + frac * beat,
                         None, rng, velocity=float(rng.uniform(70, 105)), articulation=0.85)
        if not tracks:
            continue
        drums = bool(rng.random() < 0.5)
        if drums:
            tracks.append(drum_track(tmap, clip_s, bpb, pos0, is_compound(piece), rng))
        return {"score": Score(clip_s, tracks), "beats": beats, "downbeats": downbeats,
                "meta": {"tempo_curve": kind, "bpm_start": round(bpm0, 3), "bpm_end": round(bpm1, 3),
                         "meter": piece.meter[0] if piece.meter else None, "drums": drums,
                         "programs": programs, "lead_s": round(quantize(lead_s), 6)}}
    return None


def generate(ctx: PlanContext) -> TaskPlan:
    size = SIZES[ctx.size][NAME]
    plan = TaskPlan(NAME, [])
    for split in SPLITS:
        n = size.counts[split]
        per_source = [-(-n // len(SOURCES)) for _ in SOURCES]
        streams = []
        for src, k in zip(SOURCES, per_source):
            pieces = ctx.take(plan, src, split, -(-k // size.reuse), usable)
            streams.append(cycle(pieces, f"{NAME} ({src}, {split})"))
        made = attempts = 0
        while made < n and attempts < 50 * n + 100:
            attempts += 1
            src_i = attempts % len(SOURCES)
            _, piece = next(streams[src_i])
            rng = ctx.rng(NAME, split, made, attempts)
            res = make_item(piece, rng, size.clip_s)
            if res is None:
                plan.skipped["no run of full measures long enough at the drawn tempo (redrawn)"] += 1
                continue
            meta = {"piece": piece.key, "source": piece.source, "downbeats": res["downbeats"], **res["meta"]}
            plan.items.append(Item(f"{made:05d}-{piece.source}", split, res["score"], GAIN,
                                   label=res["beats"], meta=meta))
            made += 1
        if made < n:
            plan.skipped[f"{split}: clips missing"] += n - made
    return plan

