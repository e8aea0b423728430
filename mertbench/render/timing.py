"""Tempo maps: musical time (quarter lengths) to clip time (seconds).

A :class:`TempoMap` holds one tempo per beat (piecewise-constant tempo, changing only on beats),
so beat times are exact sums and a ramp (accelerando/ritardando) is a staircase of per-beat
tempi. ``bpm`` always counts the piece's beat (the music21 beat of its time signature: a quarter
in 4/4, a dotted quarter in 6/8, a half note in 2/2).

All event times are finally quantised to the MIDI tick grid (:data:`TICKS_PER_SECOND`), and
labels are computed from the quantised times, so labels equal what the synthesiser plays.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

#: MIDI files are written at 120 BPM with 1200 ticks per quarter: 2400 ticks per second,
#: i.e. exactly 10 output samples (24 kHz) or 20 synthesiser samples (48 kHz) per tick.
MIDI_RESOLUTION = 1200
MIDI_TEMPO = 120.0
TICKS_PER_SECOND = MIDI_RESOLUTION * MIDI_TEMPO / 60.0


def quantize(t: float) -> float:
    """Round a time in seconds to the MIDI tick grid."""
    return round(t * TICKS_PER_SECOND) / TICKS_PER_SECOND


def label_time(t: float) -> float:
    """A label time: on the tick grid, written with 6 decimals (microseconds)."""
    return round(quantize(t), 6)


@dataclass
class TempoMap:
    """Beat ``b`` (``b >= 0``) starts at ``start_ql + b * beat_ql`` and lasts ``60 / bpms[b]`` s.

    Attributes:
        start_ql: musical position of beat 0 (the excerpt start).
        beat_ql: length of one beat in quarter lengths.
        bpms: tempo of each beat (beats per minute); the last value holds beyond the list.
        lead_s: clip time of beat 0 (seconds of silence before the music).
    """

    start_ql: float
    beat_ql: float
    bpms: list[float]
    lead_s: float = 0.0

    def __post_init__(self) -> None:
        if not self.bpms or min(self.bpms) <= 0:
            raise ValueError("a tempo map needs positive tempi")
        self._starts = [self.lead_s]
        for bpm in self.bpms:
            self._starts.append(self._starts[-1] + 60.0 / bpm)

    def beat_time(self, b: int) -> float:
        """Clip time (s) of beat ``b``."""
        if b < len(self.bpms):
            return self._starts[b]
        return self._starts[-1] + (b - len(self.bpms)) * 60.0 / self.bpms[-1]

    def seconds_per_beat(self, b: int) -> float:
        return 60.0 / self.bpms[min(max(b, 0), len(self.bpms) - 1)]

    def time(self, q: float) -> float:
        """Clip time (s) of musical position ``q`` (quarter lengths from the score start)."""
        x = (q - self.start_ql) / self.beat_ql
        b = math.floor(x + 1e-9)
        if b < 0:
            return self.lead_s + x * self.seconds_per_beat(0)
        return self.beat_time(b) + (x - b) * self.seconds_per_beat(b)

    def beats_until(self, end_s: float) -> list[float]:
        """Quantised times of all beats in ``[0, end_s)``."""
        out = []
        b = 0
        while True:
            t = self.beat_time(b)
            if t >= end_s:
                return out
            if t >= 0:
                out.append(label_time(t))
            b += 1

    def ql_until(self, end_s: float) -> float:
        """Musical position reached at clip time ``end_s``."""
        b = 0
        while self.beat_time(b + 1) < end_s:
            b += 1
        frac = (end_s - self.beat_time(b)) / self.seconds_per_beat(b)
        return self.start_ql + (b + frac) * self.beat_ql


def constant(start_ql: float, beat_ql: float, bpm: float, lead_s: float = 0.0) -> TempoMap:
    """A constant-tempo map."""
    return TempoMap(start_ql, beat_ql, [bpm], lead_s)


def ramp(start_ql: float, beat_ql: float, bpm0: float, bpm1: float, n_beats: int, lead_s: float = 0.0) -> TempoMap:
    """Tempo moving linearly (per beat) from ``bpm0`` to ``bpm1`` over ``n_beats`` beats, then holding."""
    n = max(n_beats, 1)
    bpms = [bpm0 + (bpm1 - bpm0) * min(b / n, 1.0) for b in range(n + 1)]
    return TempoMap(start_ql, beat_ql, bpms, lead_s)


def step(start_ql: float, beat_ql: float, bpm0: float, bpm1: float, at_beat: int, lead_s: float = 0.0) -> TempoMap:
    """Tempo ``bpm0`` for beats ``< at_beat``, then ``bpm1``."""
    return TempoMap(start_ql, beat_ql, [bpm0] * max(at_beat, 1) + [bpm1], lead_s)
