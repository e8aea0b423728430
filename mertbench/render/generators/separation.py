"""render-separation (like MUSDB18): four stems rendered alone and summed into the mixture.

Stems (MUSDB names): ``vocals`` = the top part (the lead line) on a voice-like preset (choir
aahs, voice oohs, synth voice, solo vox); ``bass`` = the lowest part on a bass preset (moved by
octaves into the bass range); ``other`` = the inner parts on accompaniment presets (piano, guitar,
organ, strings, pads, brass); ``drums`` = a drum part on the GM percussion channel following the
piece's meter. Pieces: Bach chorales, Haydn/Mozart/Beethoven quartet movements, Palestrina.

Every stem is synthesised on its own, all with one gain, and written as mono 24 kHz PCM16; the
mixture file is the sample-wise sum of the four 16-bit stems (exactly, no clipping: a common
scale keeps the sum within range). Stems are mono (the mixture too); SDR metrics accept [C, N].
"""
from __future__ import annotations

from mertbench.render import instruments as gm
from mertbench.render.drums import drum_track
from mertbench.render.generators.common import (
    arrange,
    beats_per_bar,
    excerpt_start,
    is_compound,
    simple_tempo,
    source_bpm,
    span_for,
)
from mertbench.render.library import SPLITS, cycle
from mertbench.render.plan import Item, PlanContext, TaskPlan
from mertbench.render.score import Score
from mertbench.render.sizes import SIZES

NAME = "render-separation"
GAIN = 2.0
STEMS = ["vocals", "drums", "bass", "other"]
SOURCES = ("chorale", "classical", "renaissance")
BASS_RANGE = (28, 55)


def generate(ctx: PlanContext) -> TaskPlan:
    size = SIZES[ctx.size][NAME]
    plan = TaskPlan(NAME, [], info={"stems": STEMS})
    for split in SPLITS:
        n = size.counts[split]
        pieces = []
        for src in SOURCES:
            pieces += ctx.take(plan, src, split, -(-n // (len(SOURCES) * size.reuse)), lambda p: len(p.parts) >= 4)
        stream = cycle(pieces, f"{NAME} ({split})")
        for j in range(n):
            for attempt in range(10):
                _, piece = next(stream)
                rng = ctx.rng(NAME, split, j, attempt)
                bpm = source_bpm(piece, rng)
                span = span_for(bpm, piece.beat_ql, size.clip_s)
                start, period = excerpt_start(piece, rng, span)
                tmap = simple_tempo(piece, bpm, start)
                n_parts = min(len(piece.parts), 5)
                inner = list(range(1, n_parts - 1))
                lead_prog = int(rng.choice(gm.VOICE_POOL))
                bass_prog = int(rng.choice(gm.BASS_POOL))
                other_progs = [int(rng.choice(gm.OTHER_POOL))] * len(inner) if rng.random() < 0.5 else \
                    [int(rng.choice(gm.OTHER_POOL)) for _ in inner]
                vel = float(rng.uniform(65, 100))
                kw = dict(velocity=vel)
                vocals = arrange(piece, [0], [lead_prog], tmap, size.clip_s, start, span, period, rng, **kw)
                bass = arrange(piece, [n_parts - 1], [bass_prog], tmap, size.clip_s, start, span, period, rng,
                               ranges=[BASS_RANGE], **kw)
                other = arrange(piece, inner, other_progs, tmap, size.clip_s, start, span, period, rng, **kw)
                if vocals and bass and other:
                    break
                plan.skipped["a stem was silent in the excerpt (redrawn)"] += 1
            else:
                raise RuntimeError(f"{NAME}: no excerpt with four sounding stems for {split}")
            drums = drum_track(tmap, size.clip_s, beats_per_bar(piece), 0, is_compound(piece), rng)
            stems = {"vocals": Score(size.clip_s, vocals), "drums": Score(size.clip_s, [drums]),
                     "bass": Score(size.clip_s, bass), "other": Score(size.clip_s, other)}
            plan.items.append(Item(f"{j:05d}-{piece.source}", split, None, GAIN, stems=stems,
                                   meta={"piece": piece.key, "source": piece.source, "bpm": round(bpm, 3),
                                         "programs": {"vocals": lead_prog, "bass": bass_prog, "other": other_progs,
                                                      "drums_kit": drums.program}}))
    return plan
