"""The unlabelled pretraining corpus: longer clips of train-split pieces only.

Pieces are taken round-robin from all sources, **only from the train split** (see
:mod:`mertbench.render.library`), so no piece of any task's valid or test split is heard in
pretraining. Orchestration: each part an independent draw from the ensemble pool, the lowest
part on a bass preset in a third of the clips, drums in a third of the clips with a meter.
"""
from __future__ import annotations

from mertbench.render import instruments as gm
from mertbench.render.corpus import SOURCES
from mertbench.render.drums import drum_track
from mertbench.render.generators.common import (
    arrange,
    beats_per_bar,
    choose_parts,
    excerpt_start,
    is_compound,
    simple_tempo,
    source_bpm,
    span_for,
)
from mertbench.render.library import cycle
from mertbench.render.plan import Item, PlanContext, TaskPlan
from mertbench.render.score import Score
from mertbench.render.sizes import SIZES

NAME = "pretrain"
GAIN = 2.5


def generate(ctx: PlanContext) -> TaskPlan:
    size = SIZES[ctx.size][NAME]
    plan = TaskPlan(NAME, [])
    n = size.counts["train"]
    sources = list(SOURCES)
    streams = {s: cycle(ctx.take(plan, s, "train", max(1, -(-n // len(sources)))), f"{NAME} ({s})")
               for s in sources}
    for j in range(n):
        src = sources[j % len(sources)]
        for attempt in range(8):
            _, piece = next(streams[src])
            rng = ctx.rng(NAME, j, attempt)
            bpm = source_bpm(piece, rng)
            span = span_for(bpm, piece.beat_ql, size.clip_s)
            start, period = excerpt_start(piece, rng, span)
            tmap = simple_tempo(piece, bpm, start)
            parts = choose_parts(piece, rng, 4)
            programs = [int(rng.choice(gm.ENSEMBLE_POOL)) for _ in parts]
            if len(parts) > 1 and rng.random() < 0.33:
                programs[-1] = int(rng.choice(gm.BASS_POOL))
            tracks = arrange(piece, parts, programs, tmap, size.clip_s, start, span, period, rng,
                             velocity=float(rng.uniform(55, 105)))
            if tracks:
                break
        else:
            raise RuntimeError(f"{NAME}: no playable excerpt from {src}")
        if piece.meter and rng.random() < 0.33:
            tracks.append(drum_track(tmap, size.clip_s, beats_per_bar(piece), 0, is_compound(piece), rng))
        plan.items.append(Item(f"{j:05d}-{src}", "train", Score(size.clip_s, tracks), GAIN,
                               meta={"piece": piece.key, "source": src, "bpm": round(bpm, 3), "programs": programs}))
    return plan
