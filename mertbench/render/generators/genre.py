"""render-genre (like GTZAN genre): label = corpus style.

Classes: chorale, renaissance_polyphony, madrigal, trecento, fiddle_tune, folk_song, classical
(see :data:`mertbench.render.corpus.SOURCES`). Every clip is orchestrated from the **same**
instrument pool with the same rule whatever its style (each part an independent draw from
:data:`~mertbench.render.instruments.ENSEMBLE_POOL`), so instrumentation carries no information
about the label; tempo follows each style's usual range and texture is the piece's own.
"""
from __future__ import annotations

from mertbench.render import instruments as gm
from mertbench.render.corpus import SOURCES
from mertbench.render.generators.common import arrange, choose_parts, excerpt_start, simple_tempo, source_bpm, span_for
from mertbench.render.library import SPLITS, cycle
from mertbench.render.plan import Item, PlanContext, TaskPlan
from mertbench.render.score import Score
from mertbench.render.sizes import SIZES

NAME = "render-genre"
GAIN = 2.5
CLASSES = {name: src.genre for name, src in SOURCES.items()}


def generate(ctx: PlanContext) -> TaskPlan:
    size = SIZES[ctx.size][NAME]
    plan = TaskPlan(NAME, [], vocabulary=sorted(CLASSES.values()))
    for split in SPLITS:
        n = size.counts[split]
        for source, genre in CLASSES.items():
            pieces = ctx.take(plan, source, split, -(-n // size.reuse))
            stream = cycle(pieces, f"{NAME} ({genre}, {split})")
            for k in range(n):
                for attempt in range(8):
                    _, piece = next(stream)
                    rng = ctx.rng(NAME, split, source, k, attempt)
                    bpm = source_bpm(piece, rng)
                    span = span_for(bpm, piece.beat_ql, size.clip_s)
                    start, period = excerpt_start(piece, rng, span)
                    tmap = simple_tempo(piece, bpm, start)
                    parts = choose_parts(piece, rng, 4)
                    programs = [int(rng.choice(gm.ENSEMBLE_POOL)) for _ in parts]
                    tracks = arrange(piece, parts, programs, tmap, size.clip_s, start, span, period, rng,
                                     velocity=float(rng.uniform(60, 100)))
                    if tracks:
                        break
                    plan.skipped["excerpt without notes (redrawn)"] += 1
                else:
                    raise RuntimeError(f"{NAME}: no playable excerpt for {genre} in {split}")
                plan.items.append(Item(f"{genre}-{k:04d}", split, Score(size.clip_s, tracks), GAIN, label=genre,
                                       meta={"piece": piece.key, "source": source, "bpm": round(bpm, 3),
                                             "programs": programs, "start_ql": start}))
    return plan
