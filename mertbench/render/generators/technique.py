"""render-technique (like VocalSet technique): the same melodies played with eight articulations.

Every articulation is made in MIDI from the melody's written notes (onset s, written end e):

==========  ===========================================================================
straight    each note held 85 % of its written length, even velocity
legato      each note held until 40 ms after the next one starts (overlapping), softer
staccato    each note held 30 % of its length, at most 180 ms
vibrato     as straight, plus a 5-7 Hz sinusoidal pitch bend of +-0.2 to +-0.35 semitone
trill       every note of >= 180 ms alternates with the note 1 or 2 semitones above, 10-14/s
glissando   legato, each note slides from the previous pitch (pitch-bend range 12 semitones,
            slide 120-250 ms)
tremolo     every note re-struck at 12-16 Hz (60 % duty cycle)
accented    notes on a beat at velocity 118-127, the others at 45-60
==========  ===========================================================================

Presets are sustaining instruments, split between train/valid/test (13/4/4, seeded) so that
test performers are unseen, as VocalSet's test singers; melodies (folk songs, fiddle tunes) are
split by piece as well.
"""
from __future__ import annotations

import math

import numpy as np

from mertbench.render import instruments as gm
from mertbench.render.generators.common import excerpt_start, fit_range, qpm_to_bpm, simple_tempo, span_for, window
from mertbench.render.library import SPLITS, cycle
from mertbench.render.plan import Item, PlanContext, TaskPlan
from mertbench.render.score import Score, Track
from mertbench.render.sizes import SIZES

NAME = "render-technique"
GAIN = 4.0
TECHNIQUES = ["straight", "legato", "staccato", "vibrato", "trill", "glissando", "tremolo", "accented"]
SOURCES = ("folk", "fiddle")
BEND_STEP_S = 0.01


def preset_split(ctx: PlanContext) -> dict[int, str]:
    progs = list(gm.TECHNIQUE_PROGRAMS)
    perm = ctx.rng(NAME, "preset-split").permutation(len(progs))
    n = len(progs)
    n_test = n_valid = max(1, round(n * 0.19))
    out = {}
    for rank, i in enumerate(perm):
        out[progs[i]] = "test" if rank < n_test else "valid" if rank < n_test + n_valid else "train"
    return out


def articulate(technique: str, melody: list[list[float]], on_beat: list[bool], clip_s: float,
               rng: np.random.Generator) -> tuple[list[list[float]], list[list[float]], int | None]:
    """Notes ``[start, end, pitch, velocity]``, bends ``[time, value]`` and bend range for a melody.

    ``melody`` holds ``[start_s, written_end_s, pitch]`` in order (monophonic).
    """
    base = float(rng.uniform(70, 100))
    notes: list[list[float]] = []
    bends: list[list[float]] = []
    bend_range = None
    nxt = [melody[i + 1][0] if i + 1 < len(melody) else clip_s for i in range(len(melody))]

    def vel(v: float, j: int = 4) -> float:
        return float(np.clip(v + rng.integers(-j, j + 1), 1, 127))

    for i, (s, e, p) in enumerate(melody):
        d = e - s
        if technique == "straight":
            notes.append([s, s + 0.85 * d, p, vel(base, 3)])
        elif technique == "legato":
            notes.append([s, max(e, nxt[i] + 0.04) if nxt[i] - e < 0.08 else e, p, vel(base - 12, 3)])
        elif technique == "staccato":
            notes.append([s, s + max(0.04, min(0.3 * d, 0.18)), p, vel(base, 4)])
        elif technique == "vibrato":
            notes.append([s, s + 0.95 * d, p, vel(base, 3)])
        elif technique == "trill":
            if d >= 0.18:
                rate = float(rng.uniform(10, 14))
                step = 1.0 / rate
                up = int(rng.choice([1, 2]))
                k, t = 0, s
                while t < e - 0.02:
                    notes.append([t, min(t + 0.9 * step, e), p + (up if k % 2 else 0), vel(base, 5)])
                    t += step
                    k += 1
            else:
                notes.append([s, s + 0.9 * d, p, vel(base, 3)])
        elif technique == "glissando":
            notes.append([s, nxt[i] if nxt[i] - e < 0.08 else e, p, vel(base - 5, 3)])
        elif technique == "tremolo":
            period = 1.0 / float(rng.uniform(12, 16))
            t = s
            while t < e - 0.02:
                notes.append([t, min(t + 0.6 * period, e), p, vel(base, 6)])
                t += period
        elif technique == "accented":
            notes.append([s, s + 0.85 * d, p, float(rng.integers(118, 128)) if on_beat[i]
                          else float(rng.integers(45, 61))])
        else:
            raise ValueError(f"unknown technique {technique!r}")
    if technique == "vibrato":
        rate = float(rng.uniform(5, 7))
        depth = float(rng.uniform(0.2, 0.35))  # semitones, bend range 2 -> 8191 = 2 semitones
        phase = float(rng.uniform(0, 2 * math.pi))
        for k in range(int(clip_s / BEND_STEP_S)):
            t = k * BEND_STEP_S
            bends.append([t, depth / 2.0 * 8191 * math.sin(2 * math.pi * rate * t + phase)])
    if technique == "glissando":
        bend_range = 12
        bends.append([0.0, 0.0])
        for i in range(1, len(melody)):
            s, e, p = melody[i]
            d = int(np.clip(melody[i - 1][2] - p, -12, 12))
            if d == 0:
                continue
            glide = min(float(rng.uniform(0.12, 0.25)), 0.6 * (e - s))
            steps = max(2, int(glide / BEND_STEP_S))
            for k in range(steps + 1):
                frac = 1.0 - k / steps
                bends.append([s + k * glide / steps, d / 12.0 * 8191 * frac])
    return notes, bends, bend_range


def generate(ctx: PlanContext) -> TaskPlan:
    size = SIZES[ctx.size][NAME]
    presets = preset_split(ctx)
    plan = TaskPlan(NAME, [], vocabulary=list(TECHNIQUES),
                    info={"preset_split": {str(k): v for k, v in presets.items()}})
    for split in SPLITS:
        n = size.counts[split] * len(TECHNIQUES)
        pieces = []
        for src in SOURCES:
            pieces += ctx.take(plan, src, split, -(-n // (len(SOURCES) * size.reuse)), lambda p: len(p.parts[0]) >= 12)
        stream = cycle(pieces, f"{NAME} ({split})")
        programs = [p for p, s in presets.items() if s == split]
        for k in range(size.counts[split]):
            for t_i, technique in enumerate(TECHNIQUES):
                for attempt in range(10):
                    _, piece = next(stream)
                    rng = ctx.rng(NAME, split, technique, k, attempt)
                    program = programs[(k * len(TECHNIQUES) + t_i) % len(programs)]
                    bpm = qpm_to_bpm(float(rng.uniform(60, 110)), piece.beat_ql)
                    span = span_for(bpm, piece.beat_ql, size.clip_s)
                    start, period = excerpt_start(piece, rng, span)
                    tmap = simple_tempo(piece, bpm, start)
                    melody, on_beat = [], []
                    last_end = -1.0
                    for on, dur, midi in window(piece.parts[0], start, start + span, period):
                        s = tmap.time(on)
                        if s >= size.clip_s - 0.05 or s < last_end - 1e-6:
                            continue  # outside the clip, or a chord tone (keep the melody monophonic)
                        e = min(tmap.time(on + dur), size.clip_s)
                        melody.append([s, e, midi])
                        last_end = e
                        x = (on - start) / piece.beat_ql
                        on_beat.append(abs(x - round(x)) < 1e-6)
                    melody = fit_range(melody, program)
                    if len(melody) < 3:
                        continue
                    if technique == "trill" and not any(e - s >= 0.18 for s, e, _ in melody):
                        continue
                    if technique == "accented" and (all(on_beat) or not any(on_beat)):
                        continue
                    notes, bends, bend_range = articulate(technique, melody, on_beat, size.clip_s, rng)
                    break
                else:
                    raise RuntimeError(f"{NAME}: no usable melody for {technique} in {split}")
                track = Track(program, notes, bends=bends, bend_range=bend_range, name=gm.gm_name(program))
                plan.items.append(Item(f"{technique}-{k:04d}", split, Score(size.clip_s, [track]), GAIN,
                                       label=technique,
                                       meta={"piece": piece.key, "source": piece.source, "program": program,
                                             "preset": gm.gm_name(program), "bpm": round(bpm, 3)}))
    return plan
