"""render-performer (like VocalSet singer): which of 16 presets plays a melody.

Melodies are folk songs and fiddle tunes (split by piece, so test melodies are unseen); each clip
transposes its melody into the preset's comfortable range and draws tempo (70-150 quarter notes
per minute) and dynamics (velocity 60-110), so only the timbre identifies the class.
"""
from __future__ import annotations

from mertbench.render import instruments as gm
from mertbench.render.generators.common import arrange, excerpt_start, qpm_to_bpm, simple_tempo, span_for
from mertbench.render.library import SPLITS, cycle
from mertbench.render.plan import Item, PlanContext, TaskPlan
from mertbench.render.score import Score
from mertbench.render.sizes import SIZES

NAME = "render-performer"
GAIN = 4.0
SOURCES = ("folk", "fiddle")
#: program -> class label
PERFORMERS: dict[int, str] = {
    0: "piano", 4: "electric_piano", 12: "marimba", 21: "accordion", 22: "harmonica", 24: "nylon_guitar",
    40: "violin", 42: "cello", 52: "choir_aahs", 56: "trumpet", 60: "french_horn", 65: "alto_sax",
    68: "oboe", 71: "clarinet", 73: "flute", 74: "recorder",
}
assert sorted(PERFORMERS) == sorted(gm.PERFORMER_PROGRAMS)


def melodic(p) -> bool:  # noqa: ANN001 - Piece
    return len(p.parts[0]) >= 12


def generate(ctx: PlanContext) -> TaskPlan:
    size = SIZES[ctx.size][NAME]
    plan = TaskPlan(NAME, [], vocabulary=sorted(PERFORMERS.values()))
    for split in SPLITS:
        n = size.counts[split] * len(PERFORMERS)
        pieces = []
        for src in SOURCES:
            pieces += ctx.take(plan, src, split, -(-n // (len(SOURCES) * size.reuse)), melodic)
        stream = cycle(pieces, f"{NAME} ({split})")
        for k in range(size.counts[split]):
            for program, label in PERFORMERS.items():
                for attempt in range(8):
                    _, piece = next(stream)
                    rng = ctx.rng(NAME, split, program, k, attempt)
                    bpm = qpm_to_bpm(float(rng.uniform(70, 150)), piece.beat_ql)
                    span = span_for(bpm, piece.beat_ql, size.clip_s)
                    start, period = excerpt_start(piece, rng, span)
                    tracks = arrange(piece, [0], [program], simple_tempo(piece, bpm, start), size.clip_s, start,
                                     span, period, rng, velocity=float(rng.uniform(60, 110)), articulation=0.9)
                    if tracks and len(tracks[0].notes) >= 3:
                        break
                else:
                    raise RuntimeError(f"{NAME}: no playable excerpt for {label} in {split}")
                plan.items.append(Item(f"{label}-{k:04d}", split, Score(size.clip_s, tracks), GAIN, label=label,
                                       meta={"piece": piece.key, "source": piece.source, "program": program,
                                             "preset": gm.gm_name(program), "bpm": round(bpm, 3)}))
    return plan
