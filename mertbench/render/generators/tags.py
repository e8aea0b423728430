"""render-tags (like MagnaTagATune / MTG-Jamendo): multi-label clips with exact tags.

Tags (18), all read off what was written into the MIDI file:

- instruments present: piano, mallets, organ, guitar, bass, strings, brass, woodwind, voice, synth
  (a part is tagged by the pool of its program, :data:`~mertbench.render.instruments.TAG_PROGRAMS`);
- drums: a drum part is present;
- fast: tempo >= 130 beats per minute; slow: tempo <= 80 (beats of the piece's meter);
- major / minor: the mode of the piece (pieces whose key is not major/minor are not used);
- solo: exactly one instrument (one pitched part, no drums);
- dense: >= 6 distinct note onsets per second; sparse: <= 2.5 onsets per second.

Major clips come from all four sources (chorales, classical movements, fiddle tunes, folk
songs), minor clips from chorales (minor folk songs, fiddle tunes and quartet movements are too
rare in the corpus to search for). Each clip has a *focus* tag (cycling through the vocabulary)
that its random draw must contain (up to 25 redraws), so every tag occurs in every split.
"""
from __future__ import annotations

from mertbench.render import instruments as gm
from mertbench.render.drums import drum_track
from mertbench.render.generators.common import (
    arrange,
    beats_per_bar,
    choose_parts,
    excerpt_start,
    is_compound,
    onset_rate,
    simple_tempo,
    span_for,
)
from mertbench.render.library import SPLITS, cycle
from mertbench.render.plan import Item, PlanContext, TaskPlan
from mertbench.render.score import Score
from mertbench.render.sizes import SIZES

NAME = "render-tags"
GAIN = 2.0
INSTRUMENT_TAGS = list(gm.TAG_PROGRAMS)
TAGS = INSTRUMENT_TAGS + ["drums", "fast", "slow", "major", "minor", "solo", "dense", "sparse"]
FAST_BPM, SLOW_BPM = 130.0, 80.0
DENSE_RATE, SPARSE_RATE = 6.0, 2.5
SOURCES = ("chorale", "classical", "fiddle", "folk")
POLYPHONIC = ("chorale", "classical")
MINOR_SOURCES = ("chorale",)
_PROGRAM_TAG = {p: tag for tag, progs in gm.TAG_PROGRAMS.items() for p in progs}


def tags_of(programs: list[int], drums: bool, bpm: float, mode: str, rate: float) -> list[str]:
    """The tag list (vocabulary order) of a clip with these properties."""
    found = {_PROGRAM_TAG[p] for p in programs}
    if drums:
        found.add("drums")
    if bpm >= FAST_BPM:
        found.add("fast")
    if bpm <= SLOW_BPM:
        found.add("slow")
    found.add(mode)
    if len(programs) == 1 and not drums:
        found.add("solo")
    if rate >= DENSE_RATE:
        found.add("dense")
    if rate <= SPARSE_RATE:
        found.add("sparse")
    return [t for t in TAGS if t in found]


def generate(ctx: PlanContext) -> TaskPlan:
    size = SIZES[ctx.size][NAME]
    plan = TaskPlan(NAME, [], vocabulary=list(TAGS))
    for split in SPLITS:
        n = size.counts[split]
        streams = {}
        for src in SOURCES:
            for mode in ("major", "minor"):
                if mode == "minor" and src not in MINOR_SOURCES:
                    continue  # few folk songs / fiddle tunes are in minor: not worth parsing hundreds
                k = max(2, -(-n // (len(SOURCES) * 2 * size.reuse)))
                pieces = ctx.take(plan, src, split, k, lambda p, m=mode: p.mode == m)
                if pieces:
                    streams[(src, mode)] = cycle(pieces, f"{NAME} ({src}, {mode}, {split})")
        if not streams:
            raise RuntimeError(f"{NAME}: no pieces with a major/minor key for {split}")
        for j in range(n):
            focus = TAGS[j % len(TAGS)]
            draw = None
            for attempt in range(25):
                rng = ctx.rng(NAME, split, j, attempt)
                mode = focus if focus in ("major", "minor") else str(rng.choice(["major", "minor"]))
                pool = [s for s in (POLYPHONIC if focus == "bass" else SOURCES) if (s, mode) in streams]
                if not pool:
                    pool = [s for s, m in streams if m == mode] or [s for s, _ in streams]
                    mode = mode if any(m == mode for _, m in streams) else next(iter(streams))[1]
                src = str(rng.choice(pool))
                _, piece = next(streams[(src, mode)])
                if focus == "fast":
                    bpm = float(rng.uniform(135, 180))
                elif focus == "slow":
                    bpm = float(rng.uniform(55, 78))
                else:
                    bpm = float(rng.uniform(55, 180))
                n_parts = 1 if focus == "solo" else int(rng.integers(1, min(4, len(piece.parts)) + 1))
                parts = [0] if n_parts == 1 else choose_parts(piece, rng, n_parts)[:n_parts]
                fams = [str(rng.choice([t for t in INSTRUMENT_TAGS if t != "bass"])) for _ in parts]
                if len(parts) > 1 and (focus == "bass" or rng.random() < 0.35):
                    fams[-1] = "bass"
                if focus in INSTRUMENT_TAGS and focus != "bass" and focus not in fams:
                    fams[int(rng.integers(len(fams)))] = focus
                programs = [int(rng.choice(gm.TAG_PROGRAMS[f])) for f in fams]
                drums = focus == "drums" or (focus != "solo" and bool(rng.random() < 0.3))
                span = span_for(bpm, piece.beat_ql, size.clip_s)
                start, period = excerpt_start(piece, rng, span)
                tmap = simple_tempo(piece, bpm, start)
                tracks = arrange(piece, parts, programs, tmap, size.clip_s, start, span, period, rng,
                                 velocity=float(rng.uniform(60, 100)))
                if len(tracks) != len(parts):
                    continue  # a part was silent in the excerpt: its tag would be wrong
                rate = onset_rate(tracks, size.clip_s)
                if drums:
                    tracks.append(drum_track(tmap, size.clip_s, beats_per_bar(piece), 0, is_compound(piece), rng))
                tags = tags_of(programs, drums, bpm, mode, rate)
                draw = Item(f"{j:05d}-{focus}", split, Score(size.clip_s, tracks), GAIN, label=tags,
                            meta={"piece": piece.key, "source": src, "bpm": round(bpm, 3), "mode": mode,
                                  "programs": programs, "onsets_per_s": round(rate, 3), "focus": focus})
                if focus in tags:
                    break
            else:
                plan.skipped["focus tag not reached in 25 draws (kept the last draw)"] += 1
            if draw is None:
                raise RuntimeError(f"{NAME}: could not draw clip {j} of {split}")
            plan.items.append(draw)
    return plan

