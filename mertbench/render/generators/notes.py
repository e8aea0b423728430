"""render-pitch and render-instrument (like NSynth): isolated notes of GM presets.

Each clip is one note: on at 0 s, held for 75 % of the clip, then released; velocity one of
NSynth's five levels (25, 50, 75, 100, 127). Presets are split per GM family (of a family's eight
programs, two go to test, one to valid, the other five to train, in a seeded order; the reverse
cymbal, silent for most of a 2 s note, is left out), so no preset is in
two splits and test presets are unseen in training. The same preset split serves both tasks.

render-pitch: label = MIDI pitch ("0".."127", 128 classes as NSynth), pitch uniform in the
range of notes measured to sound at their MIDI pitch
(:data:`~mertbench.render.instruments.PITCH_SAFE_RANGE`; presets that sound an octave away from
the key, e.g. organs with a 16' stop, are not used).
render-instrument: label = GM family (15 families, sound effects excluded), balanced per family.
"""
from __future__ import annotations

from mertbench.render import instruments as gm
from mertbench.render.library import SPLITS
from mertbench.render.plan import Item, PlanContext, TaskPlan
from mertbench.render.score import Score, Track
from mertbench.render.sizes import SIZES

PITCH = "render-pitch"
INSTRUMENT = "render-instrument"
GAIN = 4.0
VELOCITIES = (25, 50, 75, 100, 127)
PITCH_VOCABULARY = [str(p) for p in range(128)]
HOLD = 0.75  # fraction of the clip the key is held


def preset_splits(ctx: PlanContext) -> dict[str, str]:
    """``{str(program): split}`` for the programs of the 15 families: per family, in a seeded
    order, two test presets, one valid preset, the rest (five, or four) train."""
    out: dict[str, str] = {}
    for fam in gm.INSTRUMENT_FAMILIES:
        progs = [p for p in gm.family_programs(fam) if p not in gm.SILENT_PROGRAMS]
        perm = ctx.rng("preset-split", fam).permutation(len(progs))
        for rank, i in enumerate(perm):
            out[str(progs[i])] = "test" if rank < 2 else "valid" if rank < 3 else "train"
    return out


def note_score(program: int, pitch: int, velocity: int, clip_s: float) -> Score:
    return Score(clip_s, [Track(program, [[0.0, HOLD * clip_s, pitch, velocity]], name=gm.gm_name(program))])


def _meta(program: int, pitch: int, velocity: int) -> dict:
    return {"program": program, "preset": gm.gm_name(program), "family": gm.family_of(program),
            "pitch": pitch, "velocity": velocity}


def generate_pitch(ctx: PlanContext) -> TaskPlan:
    size = SIZES[ctx.size][PITCH]
    splits = preset_splits(ctx)
    plan = TaskPlan(PITCH, [], vocabulary=list(PITCH_VOCABULARY), info={"preset_split": splits})
    for split in SPLITS:
        programs = [int(p) for p, s in splits.items() if s == split and int(p) in gm.PITCH_SAFE_RANGE]
        order = ctx.rng(PITCH, split, "order").permutation(len(programs))
        for k in range(size.counts[split]):
            rng = ctx.rng(PITCH, split, k)
            program = programs[int(order[k % len(programs)])]
            lo, hi = gm.PITCH_SAFE_RANGE[program]
            pitch = int(rng.integers(lo, hi + 1))
            vel = int(rng.choice(VELOCITIES))
            plan.items.append(Item(f"{k:05d}-p{program:03d}-n{pitch:03d}-v{vel:03d}", split,
                                   note_score(program, pitch, vel, size.clip_s), GAIN, label=str(pitch),
                                   meta=_meta(program, pitch, vel)))
    return plan


def generate_instrument(ctx: PlanContext) -> TaskPlan:
    size = SIZES[ctx.size][INSTRUMENT]
    splits = preset_splits(ctx)
    plan = TaskPlan(INSTRUMENT, [], vocabulary=list(gm.INSTRUMENT_FAMILIES), info={"preset_split": splits})
    for split in SPLITS:
        for fam in gm.INSTRUMENT_FAMILIES:
            programs = [p for p in gm.family_programs(fam) if splits.get(str(p)) == split]
            for k in range(size.counts[split]):
                rng = ctx.rng(INSTRUMENT, split, fam, k)
                program = programs[k % len(programs)]
                lo, hi = gm.program_range(program)
                pitch = int(rng.integers(lo, hi + 1))
                vel = int(rng.choice(VELOCITIES))
                plan.items.append(Item(f"{fam}-{k:04d}-p{program:03d}-n{pitch:03d}-v{vel:03d}", split,
                                       note_score(program, pitch, vel, size.clip_s), GAIN, label=fam,
                                       meta=_meta(program, pitch, vel)))
    return plan

