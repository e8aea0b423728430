"""General MIDI facts the render tasks rely on: families, playable ranges, instrument pools, drums.

Program numbers are 0-based GM programs (0 = Acoustic Grand Piano). Pitches are MIDI note
numbers (60 = middle C, 69 = A4 = 440 Hz).
"""
from __future__ import annotations

#: The 16 GM instrument families, eight consecutive programs each (family i = programs 8i..8i+7).
GM_FAMILIES: list[str] = [
    "piano", "chromatic_percussion", "organ", "guitar", "bass", "strings", "ensemble", "brass",
    "reed", "pipe", "synth_lead", "synth_pad", "synth_effects", "ethnic", "percussive", "sound_effects",
]

#: Families used by render-instrument (sound effects are noises, not instruments).
INSTRUMENT_FAMILIES: list[str] = GM_FAMILIES[:15]

#: Programs left out of the isolated-note tasks: the reverse cymbal stays below -50 dBFS for most
#: of a 2 s note (it swells over several seconds).
SILENT_PROGRAMS: frozenset[int] = frozenset({119})

#: Programs whose notes have no clear pitch (left out of render-pitch): tubular bells (inharmonic),
#: timpani, orchestra hit, the synth-effects family, the percussive family and sound effects.
UNPITCHED_PROGRAMS: frozenset[int] = frozenset({14, 47, 55, *range(96, 104), *range(112, 128)})

#: Per program, the notes (lowest, highest) that sound at their MIDI pitch in TimGM6mb: measured by
#: ``python -m mertbench.render.calibrate`` (lowest strong partial within 0.3 semitone of the
#: note at velocities 25, 75 and 127, longest run of such notes, at least an octave). Programs
#: missing here (organs with a 16' stop, guitar harmonics, the fifth-saw lead, chorus-detuned
#: ensembles, ...) are not used by render-pitch.
PITCH_SAFE_RANGE: dict[int, tuple[int, int]] = {
    0: (33, 96),  # Piano 1
    1: (33, 96),  # Piano 2
    2: (33, 96),  # Piano 3
    3: (33, 96),  # Honky Tonk
    4: (33, 96),  # E.Piano 1
    5: (33, 96),  # E.Piano 2
    6: (33, 96),  # Harpsichord
    7: (49, 96),  # Clavinet
    8: (60, 96),  # Celesta
    9: (72, 105),  # Glockenspiel
    10: (60, 96),  # MusicBox
    11: (61, 96),  # Vibraphone
    12: (62, 96),  # Marimba
    13: (69, 87),  # Xylophone
    15: (55, 96),  # Dulcimer
    # 16: excluded (Organ 1: None)
    # 17: excluded (Organ 2: None)
    # 18: excluded (Organ 3: None)
    # 19: excluded (Church Organ: None)
    20: (36, 73),  # Reed Organ
    21: (36, 72),  # Accordion
    22: (36, 70),  # Harmonica
    23: (36, 72),  # Bandoneon
    24: (40, 84),  # Nylon Guitar
    25: (40, 84),  # Steel Guitar
    26: (40, 84),  # Jazz Guitar
    27: (40, 84),  # Clean Guitar
    28: (40, 84),  # Guitar Mutes
    29: (40, 84),  # Overdrive Guitar
    30: (40, 64),  # DistortionGuitar
    # 31: excluded (Guitar Harmonics: None)
    32: (32, 60),  # Acoustic Bass
    33: (28, 60),  # Fingered Bass
    34: (28, 60),  # Picked Bass
    35: (28, 60),  # Fretless Bass
    36: (28, 60),  # Slap Bass 1
    37: (28, 60),  # Slap Bass 2
    38: (31, 55),  # Synth Bass 1
    39: (28, 60),  # Synth Bass 2
    40: (62, 96),  # Violin
    41: (62, 84),  # Viola
    42: (36, 56),  # Cello
    43: (28, 55),  # Contrabass
    # 44: excluded (Strings (Tremelo): (49, 54))
    # 45: excluded (Pizzicato: (43, 44))
    46: (36, 96),  # Harp LP
    # 48: excluded (Strings CLP: (41, 43))
    49: (55, 67),  # Slow Strings LP
    50: (68, 84),  # Synth Strings 1
    # 51: excluded (Synth Strings 2: (77, 84))
    # 52: excluded (Choir Aahs: (74, 77))
    53: (40, 84),  # Voice Oohs
    54: (52, 67),  # Synth Vox
    56: (43, 80),  # SoloTrumpet
    57: (40, 72),  # Trombone
    58: (28, 58),  # Tuba
    59: (43, 82),  # Mute Trumpet
    60: (41, 72),  # French Horns
    61: (43, 82),  # Brass
    62: (43, 82),  # Synth Brass 1
    63: (43, 82),  # Synth Brass 2
    64: (56, 87),  # SopSax (TB) v2.3
    65: (65, 84),  # AltoSax (TB) v2.3
    66: (44, 76),  # Tenor Sax (TB) v2.3
    67: (36, 69),  # BariSax (TB) v2.3
    68: (48, 84),  # Oboe (Orch)
    69: (52, 81),  # English Horn
    70: (34, 69),  # Bassoon
    71: (62, 84),  # Clarinet
    72: (74, 102),  # Piccolo
    73: (60, 96),  # Flute TB
    74: (60, 96),  # Recorder
    75: (60, 96),  # Pan Flute
    76: (60, 76),  # Bottle Chiff
    77: (76, 96),  # Shakuhachi
    # 78: excluded (Whistle: None)
    79: (60, 91),  # Ocarina
    80: (40, 88),  # Square Wave
    81: (40, 88),  # Saw Wave
    82: (59, 88),  # Synth Calliope
    83: (40, 88),  # Chiffer Lead
    84: (40, 72),  # Charang
    85: (40, 68),  # Solo Vox
    # 86: excluded (5th Saw Wave: None)
    87: (40, 88),  # Bass & Lead
    88: (62, 79),  # Fantasia
    89: (62, 80),  # Warm Pad
    90: (66, 84),  # Poly Synth
    # 91: excluded (Space Voice: (40, 51))
    92: (62, 79),  # Bowed Glass
    93: (62, 84),  # Metal Pad
    94: (62, 77),  # Halo Pad
    95: (66, 84),  # Sweep Pad
    104: (48, 84),  # Sitar
    105: (64, 84),  # Banjo
    106: (68, 84),  # Shamisen
    107: (59, 84),  # Koto
    108: (53, 84),  # Kalimba
    109: (48, 84),  # Bagpipe
    110: (63, 84),  # Fiddle
    111: (48, 84),  # Shenai
}


# Comfortable range (lowest, highest MIDI pitch) per family, with per-program overrides where the
# family range is wrong for one instrument (contrabass, piccolo, tuba, ...).
_FAMILY_RANGE: dict[str, tuple[int, int]] = {
    "piano": (33, 96), "chromatic_percussion": (55, 96), "organ": (36, 91), "guitar": (40, 84),
    "bass": (28, 60), "strings": (43, 91), "ensemble": (40, 84), "brass": (43, 82), "reed": (48, 84),
    "pipe": (60, 96), "synth_lead": (40, 88), "synth_pad": (40, 84), "synth_effects": (40, 84),
    "ethnic": (48, 84), "percussive": (48, 84), "sound_effects": (48, 72),
}
_PROGRAM_RANGE: dict[int, tuple[int, int]] = {
    8: (60, 96), 9: (72, 105), 10: (60, 96), 12: (45, 96), 13: (60, 96),  # celesta, glock, box, marimba, xylo
    32: (28, 60), 43: (28, 55), 42: (36, 72), 41: (48, 84), 40: (55, 96), 46: (36, 96),  # bass, strings, harp
    57: (40, 72), 58: (28, 58), 60: (41, 77),  # trombone, tuba, horn
    64: (56, 88), 65: (65, 84), 66: (44, 76), 67: (36, 69), 70: (34, 69), 69: (52, 81),  # saxes, bassoon,
    72: (74, 102), 78: (60, 78), 79: (60, 91),  # cor anglais, piccolo, whistle, ocarina (TimGM6mb: alto
    # sax is silent at E4 for soft notes, the whistle above F#5)
}


def family_of(program: int) -> str:
    """GM family name of a 0-based program."""
    if not 0 <= program <= 127:
        raise ValueError(f"GM program must be in 0..127, got {program}")
    return GM_FAMILIES[program // 8]


def family_programs(family: str) -> list[int]:
    """The eight programs of a GM family."""
    i = GM_FAMILIES.index(family)
    return list(range(8 * i, 8 * i + 8))


def program_range(program: int) -> tuple[int, int]:
    """Comfortable (lowest, highest) MIDI pitch of a program."""
    return _PROGRAM_RANGE.get(program, _FAMILY_RANGE[family_of(program)])


def gm_name(program: int) -> str:
    """Name of the TimGM6mb preset for a program (e.g. ``'Violin'``)."""
    from mertbench.render.soundfont import preset_names

    return preset_names().get((0, program), f"program {program}")


def slug(text: str) -> str:
    """Lower-case ``a-z0-9_`` version of a name, for labels and file names."""
    out = "".join(c if c.isalnum() else "_" for c in text.lower())
    while "__" in out:
        out = out.replace("__", "_")
    return out.strip("_")


# ---- pools of programs used to orchestrate corpus pieces -------------------------------------

#: Tag name -> programs (render-tags labels a clip with the tags of the programs it uses).
TAG_PROGRAMS: dict[str, list[int]] = {
    "piano": [0, 1, 2, 4, 5],
    "mallets": [8, 11, 12, 13],
    "organ": [16, 17, 19],
    "guitar": [24, 25, 26, 27],
    "bass": [32, 33, 34, 35, 38],
    "strings": [40, 41, 42, 48, 49],
    "brass": [56, 57, 60, 61],
    "woodwind": [65, 68, 70, 71, 73, 74],
    "voice": [52, 53, 54],
    "synth": [80, 81, 89, 90],
}

#: Programs for the pitched parts of an ensemble (every render task that orchestrates corpus
#: pieces draws from this one pool, so that instrumentation says nothing about genre or key).
ENSEMBLE_POOL: list[int] = sorted({p for tag, progs in TAG_PROGRAMS.items() if tag != "bass" for p in progs}
                                  | {6, 21, 46, 50})

#: Programs for a bass line.
BASS_POOL: list[int] = [32, 33, 34, 35, 38, 39]

#: Lead ("vocals") programs of render-separation: the voice-like presets.
VOICE_POOL: list[int] = [52, 53, 54, 85]

#: Accompaniment ("other") programs of render-separation.
OTHER_POOL: list[int] = [0, 1, 4, 6, 16, 19, 24, 25, 26, 46, 48, 49, 50, 61, 89, 90]

#: render-performer: the classes (program -> label); at least 12 distinct presets.
PERFORMER_PROGRAMS: list[int] = [0, 4, 12, 21, 22, 24, 40, 42, 52, 56, 60, 65, 68, 71, 73, 74]

#: render-technique: sustaining presets that can play every articulation; split between
#: train/valid/test so that test performers are unseen (as VocalSet's test singers).
TECHNIQUE_PROGRAMS: list[int] = [22, 40, 41, 42, 52, 53, 56, 57, 60, 64, 65, 66, 68, 69, 70, 71, 73, 74, 80, 81, 110]

# ---- drums (GM percussion key map, channel 10) -------------------------------------------------

#: GM drum kits in TimGM6mb (bank 128 program numbers).
DRUM_KITS: dict[int, str] = {0: "standard", 8: "room", 16: "power", 24: "electronic", 25: "tr808",
                             32: "jazz", 40: "brush", 48: "orchestra"}
#: Kits used for pop-style patterns (the orchestra kit has no standard kick/snare mapping).
PATTERN_KITS: list[int] = [0, 8, 16, 24, 25, 32, 40]

KICK, SNARE, CLOSED_HAT, PEDAL_HAT, OPEN_HAT, CRASH, RIDE, SIDE_STICK = 36, 38, 42, 44, 46, 49, 51, 37
