"""Drum parts on the GM percussion channel, aligned with a piece's beat grid.

Patterns follow the meter: kick on the downbeat (and the middle beat of four-beat bars), snare on
the back beats, hi-hat on every subdivision (two per beat in simple meters, three in compound
meters such as 6/8). Every drum hit lies on the tempo map's grid, so drum onsets coincide with
the beat labels of render-beat.
"""
from __future__ import annotations

import numpy as np

from mertbench.render import instruments as gm
from mertbench.render.score import Track
from mertbench.render.timing import TempoMap

PATTERNS = ("backbeat", "halftime", "four_on_floor")


def drum_track(tmap: TempoMap, duration_s: float, beats_per_bar: int, first_beat_in_bar: int,
               compound: bool, rng: np.random.Generator, *, kit: int | None = None,
               pattern: str | None = None) -> Track:
    """A drum track covering ``[0, duration_s)``.

    Args:
        tmap: tempo map whose beat 0 is the excerpt start.
        beats_per_bar: beats per bar of the meter (e.g. 4 in 4/4, 2 in 6/8).
        first_beat_in_bar: position in its bar of beat 0 of ``tmap`` (0 = downbeat).
        compound: True for compound meters (three subdivisions per beat).
        rng: randomness for kit, pattern and velocities.
    """
    kit = int(rng.choice(gm.PATTERN_KITS)) if kit is None else kit
    pattern = str(rng.choice(PATTERNS)) if pattern is None else pattern
    sub = 3 if compound else 2
    notes: list[list[float]] = []
    b = 0
    while True:
        t = tmap.beat_time(b)
        if t >= duration_s - 0.05:
            break
        pos = (first_beat_in_bar + b) % beats_per_bar
        spb = tmap.seconds_per_beat(b)
        hits: list[tuple[int, float]] = []
        if pos == 0:
            hits.append((gm.KICK, 112))
        elif pattern == "four_on_floor":
            hits.append((gm.KICK, 100))
        if beats_per_bar >= 4 and pos == beats_per_bar // 2 and pattern != "halftime":
            hits.append((gm.KICK, 100))
        backbeat = pos % 2 == 1 if beats_per_bar % 2 == 0 else pos > 0
        if pattern == "halftime":
            backbeat = pos == beats_per_bar // 2 and beats_per_bar > 1
        if backbeat:
            hits.append((gm.SNARE, 108))
        if b == 0 and pos == 0 and rng.random() < 0.5:
            hits.append((gm.CRASH, 100))
        for k in range(sub):
            ts = t + k * spb / sub
            if ts < duration_s - 0.05:
                notes.append([ts, ts + 0.08, gm.CLOSED_HAT if k == 0 else gm.PEDAL_HAT if pattern == "halftime"
                              else gm.CLOSED_HAT, 85 if k == 0 else 65])
        for pitch, vel in hits:
            notes.append([t, t + 0.1, pitch, vel])
        b += 1
    for n in notes:
        n[3] = float(np.clip(n[3] + rng.integers(-8, 9), 30, 127))
    notes.sort(key=lambda n: (n[0], n[2]))
    return Track(kit, notes, drum=True, name=f"drums:{gm.DRUM_KITS.get(kit, kit)}:{pattern}")
