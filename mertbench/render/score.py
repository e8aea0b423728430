"""What to render: a :class:`Score` of :class:`Track` s with notes in seconds, and its MIDI file.

Scores are plain data (picklable, JSON-able); the hash of a score decides whether an audio file
on disk is still valid. MIDI is written with pretty_midi at :data:`~mertbench.render.timing.TICKS_PER_SECOND`
ticks per second, after :data:`PREROLL_S` seconds in which pitch-bend ranges are set (so that
events at clip time 0 already use them); the renderer drops the pre-roll.
"""
from __future__ import annotations

import io
from dataclasses import asdict, dataclass, field
from typing import Any

from mertbench.render.timing import MIDI_RESOLUTION, MIDI_TEMPO, TICKS_PER_SECOND, quantize

#: Silence before clip time 0 in the MIDI file (seconds; a whole number of ticks and samples).
PREROLL_S = 0.01


@dataclass
class Track:
    """One instrument.

    Attributes:
        program: GM program 0..127 (for drums: the kit, bank 128 program).
        notes: ``[start_s, end_s, pitch, velocity]`` in clip time; pitch/velocity 0..127.
        drum: True for the GM percussion channel.
        bends: ``[time_s, value]`` pitch-bend events, value in -8192..8191.
        bend_range: pitch-bend range in semitones (RPN 0); None keeps the GM default (2).
        name: free text (stored in the MIDI file).
    """

    program: int
    notes: list[list[float]] = field(default_factory=list)
    drum: bool = False
    bends: list[list[float]] = field(default_factory=list)
    bend_range: int | None = None
    name: str = ""


@dataclass
class Score:
    """A clip: tracks plus its exact duration (the audio has ``round(duration * sr)`` samples)."""

    duration: float
    tracks: list[Track]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def note_count(self) -> int:
        return sum(len(t.notes) for t in self.tracks)


def clamp_velocity(v: float) -> int:
    return int(min(127, max(1, round(v))))


def to_midi_bytes(score: Score) -> bytes:
    """Standard MIDI file (bytes) for ``score``; events shifted by :data:`PREROLL_S`.

    Each track gets its own channel (pretty_midi allots them by position: at most 15 tracks).
    """
    import pretty_midi

    if not score.tracks or len(score.tracks) > 15:
        raise ValueError(f"a score needs 1..15 tracks (one MIDI channel each), got {len(score.tracks)}")
    pm = pretty_midi.PrettyMIDI(resolution=MIDI_RESOLUTION, initial_tempo=MIDI_TEMPO)
    tick = 1.0 / TICKS_PER_SECOND
    end = PREROLL_S + score.duration
    for tr in score.tracks:
        inst = pretty_midi.Instrument(program=int(tr.program), is_drum=bool(tr.drum), name=tr.name[:40])
        if tr.bend_range is not None:
            # RPN 0 (pitch-bend sensitivity) on distinct ticks so the order survives sorting.
            for k, (num, val) in enumerate([(101, 0), (100, 0), (6, int(tr.bend_range)), (38, 0),
                                            (101, 127), (100, 127)]):
                inst.control_changes.append(pretty_midi.ControlChange(num, val, (k + 1) * tick))
        for start, stop, pitch, vel in tr.notes:
            s = quantize(PREROLL_S + max(0.0, start))
            e = quantize(PREROLL_S + min(stop, score.duration))
            if e <= s:
                e = s + tick
            inst.notes.append(pretty_midi.Note(clamp_velocity(vel), int(pitch), s, e))
        for t, value in tr.bends:
            inst.pitch_bends.append(pretty_midi.PitchBend(int(max(-8192, min(8191, round(value)))),
                                                          quantize(PREROLL_S + max(0.0, t))))
        pm.instruments.append(inst)
    # An inert controller (CC 110, undefined in GM) at the end keeps the synthesiser running until
    # the clip ends; otherwise rendering stops at the last note-off and cuts the release.
    pm.instruments[0].control_changes.append(pretty_midi.ControlChange(110, 0, quantize(end)))
    buf = io.BytesIO()
    pm.write(buf)
    return buf.getvalue()
