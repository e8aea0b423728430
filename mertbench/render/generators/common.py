"""Helpers shared by the task generators: excerpts, tempo, orchestration, key profiles."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from mertbench.render import instruments as gm
from mertbench.render.corpus import Piece
from mertbench.render.score import Track
from mertbench.render.timing import TempoMap, constant

#: Typical tempo of each source in quarter notes per minute (low, high).
SOURCE_QPM: dict[str, tuple[float, float]] = {
    "chorale": (60, 100), "renaissance": (110, 170), "madrigal": (80, 140), "trecento": (90, 160),
    "fiddle": (150, 230), "folk": (80, 150), "classical": (70, 160),
}

#: Keys in MARBLE/GiantSteps order and spelling: 12 major then 12 minor, flats for black keys.
TONICS = ["C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B"]
KEY_VOCABULARY = [f"{t} major" for t in TONICS] + [f"{t} minor" for t in TONICS]

# Krumhansl-Kessler key profiles (probe-tone ratings), index 0 = tonic.
_KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def key_name(tonic: int, mode: str) -> str:
    return f"{TONICS[tonic % 12]} {mode}"


def pitch_class_profile(notes: Sequence[Sequence[float]]) -> np.ndarray:
    """Duration-weighted pitch-class histogram ``[12]`` of ``[onset, dur, midi, ...]`` notes."""
    h = np.zeros(12)
    for n in notes:
        h[int(n[2]) % 12] += float(n[1])
    return h


def key_ranking(profile: np.ndarray) -> list[tuple[int, str]]:
    """All 24 keys ``(tonic, mode)``, best Krumhansl-Kessler correlation with ``profile`` first."""
    scores = []
    for mode, prof in (("major", _KK_MAJOR), ("minor", _KK_MINOR)):
        for t in range(12):
            r = float(np.corrcoef(np.roll(prof, t), profile)[0, 1]) if profile.std() > 0 else -1.0
            scores.append((-r, 0 if mode == "major" else 1, t, mode))
    return [(t, m) for _, _, t, m in sorted(scores)]


def best_key(profile: np.ndarray) -> tuple[int, str]:
    """Key whose Krumhansl-Kessler profile correlates best with a pitch-class profile."""
    return key_ranking(profile)[0]


def qpm_to_bpm(qpm: float, beat_ql: float) -> float:
    """Quarter notes per minute -> beats per minute for a beat of ``beat_ql`` quarters."""
    return qpm / beat_ql


def source_bpm(piece: Piece, rng: np.random.Generator) -> float:
    lo, hi = SOURCE_QPM[piece.source]
    return qpm_to_bpm(float(rng.uniform(lo, hi)), piece.beat_ql)


def window(notes: list[list[float]], start_ql: float, end_ql: float, period_ql: float | None = None
           ) -> list[list[float]]:
    """Notes with onsets in ``[start_ql, end_ql)``, as absolute ``[onset, dur, midi]``.

    With ``period_ql`` the piece repeats (da capo) so that windows past its end are filled.
    """
    out = [[a, b, c] for a, b, c in notes if start_ql - 1e-9 <= a < end_ql - 1e-9]
    if period_ql and end_ql > period_ql:
        k = 1
        while start_ql < end_ql and k < 64 and k * period_ql < end_ql:
            out += [[a + k * period_ql, b, c] for a, b, c in notes
                    if start_ql - 1e-9 <= a + k * period_ql < end_ql - 1e-9]
            k += 1
    return out


def to_seconds(notes: list[list[float]], tmap: TempoMap, clip_s: float, *, transpose: int = 0,
               articulation: float = 0.92, min_len: float = 0.04) -> list[list[float]]:
    """``[onset_ql, dur_ql, midi]`` -> ``[start_s, end_s, midi]`` inside ``[0, clip_s)``."""
    out = []
    for on, dur, midi in notes:
        s = tmap.time(on)
        if s < 0 or s >= clip_s - 0.03:
            continue
        e = tmap.time(on + dur)
        e = s + max(min_len, (e - s) * articulation)
        out.append([s, min(e, clip_s), int(midi) + transpose])
    return out


def fit_range(notes: list[list[float]], program: int, lo_hi: tuple[int, int] | None = None,
              recenter: bool = True) -> list[list[float]]:
    """Shift a part by whole octaves so that most of it lies in the program's range.

    Then fold any remaining outliers into the range by octaves (keeps pitch classes). With
    ``recenter=False`` only the folding happens (the register is kept).
    """
    if not notes:
        return notes
    lo, hi = lo_hi or gm.program_range(program)
    pitches = np.array([n[2] for n in notes])
    centre = (lo + hi) / 2
    shift = int(round((centre - float(np.median(pitches))) / 12.0)) * 12 if recenter else 0
    out = []
    for n in notes:
        p = int(n[2]) + shift
        while p < lo:
            p += 12
        while p > hi:
            p -= 12
        out.append([n[0], n[1], p] + list(n[3:]))
    return out


def velocities(notes: list[list[float]], base: float, rng: np.random.Generator, jitter: int = 6) -> list[list[float]]:
    """Append a velocity ``base +- jitter`` to each ``[start, end, pitch]`` note."""
    return [[n[0], n[1], n[2], float(np.clip(base + rng.integers(-jitter, jitter + 1), 1, 127))] for n in notes]


def choose_parts(piece: Piece, rng: np.random.Generator, max_parts: int = 4) -> list[int]:
    """Indices of at most ``max_parts`` parts: always the top and bottom part, then random inner ones."""
    n = len(piece.parts)
    if n <= max_parts:
        return list(range(n))
    inner = sorted(rng.choice(np.arange(1, n - 1), size=max_parts - 2, replace=False).tolist())
    return [0] + inner + [n - 1]


def measure_starts(piece: Piece) -> list[float]:
    starts = sorted({float(m[0]) for m in piece.measures})
    return starts or [0.0]


def excerpt_start(piece: Piece, rng: np.random.Generator, span_ql: float) -> tuple[float, float | None]:
    """A measure start from which ``span_ql`` quarter lengths of music follow.

    Returns ``(start_ql, period_ql)``; ``period_ql`` is set when the piece is shorter than the
    span and has to be repeated.
    """
    starts = [s for s in measure_starts(piece) if s + span_ql <= piece.duration_ql + 1e-6]
    if starts:
        return float(starts[int(rng.integers(len(starts)))]), None
    return 0.0, piece.duration_ql


def span_for(bpm: float, beat_ql: float, clip_s: float) -> float:
    """Quarter lengths played in ``clip_s`` seconds at ``bpm`` beats of ``beat_ql``."""
    return clip_s * bpm / 60.0 * beat_ql + beat_ql


def arrange(piece: Piece, parts: list[int], programs: list[int], tmap: TempoMap, clip_s: float,
            start_ql: float, span_ql: float, period_ql: float | None, rng: np.random.Generator, *,
            transpose: int = 0, velocity: float = 80.0, jitter: int = 6, fit: bool = True,
            ranges: list[tuple[int, int] | None] | None = None, articulation: float = 0.92) -> list[Track]:
    """Tracks playing ``parts`` of ``piece`` with ``programs`` from ``start_ql`` for ``clip_s``.

    ``fit``: move each part by octaves into its program's (or ``ranges``') range; with
    ``fit=False`` parts keep their register and only notes outside ``ranges`` are folded in.
    """
    tracks = []
    for i, (part, program) in enumerate(zip(parts, programs)):
        ql = window(piece.parts[part], start_ql, start_ql + span_ql, period_ql)
        notes = to_seconds(ql, tmap, clip_s, transpose=transpose, articulation=articulation)
        if fit:
            notes = fit_range(notes, program, ranges[i] if ranges else None)
        elif ranges and ranges[i]:
            notes = fit_range(notes, program, ranges[i], recenter=False)
        notes = velocities(notes, velocity, rng, jitter)
        if notes:
            tracks.append(Track(int(program), notes, name=f"part{part}:{gm.gm_name(program)}"))
    return tracks


def simple_tempo(piece: Piece, bpm: float, start_ql: float) -> TempoMap:
    return constant(start_ql, piece.beat_ql, bpm)


def is_compound(piece: Piece) -> bool:
    """6/8, 9/8, 12/8, ...: the beat is a dotted note divided in three."""
    if not piece.meter:
        return False
    beat = piece.beat_ql
    return abs(beat / 0.5 - round(beat / 0.5)) < 1e-6 and round(beat / 0.5) % 3 == 0


def beats_per_bar(piece: Piece) -> int:
    return max(1, int(round(piece.bar_ql / piece.beat_ql)))


def onset_rate(tracks: list[Track], clip_s: float) -> float:
    """Distinct pitched onsets per second (onsets within 10 ms merged)."""
    times = sorted({round(n[0] / 0.01) for t in tracks if not t.drum for n in t.notes})
    return len(times) / clip_s
